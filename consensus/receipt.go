package consensus

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/internal/edsig"
	"github.com/lucidnet/lucid/sessions"
)

// ReceiptVersion is the only metering-receipt version this package reads.
const ReceiptVersion = 1

// ReceiptDomain prefixes the bytes a client signs for a metering receipt.
const ReceiptDomain = "lucid/poot/metering-receipt/1\n"

// MeteringReceipt is the client's signed statement that, in Slot, it had
// received Bytes bytes in total from Host in Session since the session
// started in slot Start. The client signs receipts as data arrives; the
// host embeds the latest receipt of each session in its relay proof for
// the slot. Receipts are cumulative so a lost receipt loses nothing: a
// later one covers it.
type MeteringReceipt struct {
	Session sessions.ID
	Host    peer.ID // the node carrying the session; must be the proof's node
	Client  peer.ID // signs; must differ from Host
	Slot    Slot    // must be the proof's slot
	Start   Slot    // slot of the session's first receipt; Start ≤ Slot
	Bytes   uint64  // cumulative bytes received in the session
	Sig     []byte  // the client's Ed25519 signature; empty = not signed
}

type wireReceipt struct {
	Version uint64 `cbor:"1,keyasint,omitempty"`
	Session []byte `cbor:"2,keyasint,omitempty"`
	Host    []byte `cbor:"3,keyasint,omitempty"`
	Client  []byte `cbor:"4,keyasint,omitempty"`
	Slot    uint64 `cbor:"5,keyasint,omitempty"`
	Start   uint64 `cbor:"6,keyasint,omitempty"`
	Bytes   uint64 `cbor:"7,keyasint,omitempty"`
	Sig     []byte `cbor:"8,keyasint,omitempty"`
}

func (r *MeteringReceipt) wire() wireReceipt {
	return wireReceipt{
		Version: ReceiptVersion,
		Session: bytes.Clone(r.Session[:]),
		Host:    []byte(r.Host),
		Client:  []byte(r.Client),
		Slot:    uint64(r.Slot),
		Start:   uint64(r.Start),
		Bytes:   r.Bytes,
		Sig:     bytes.Clone(r.Sig),
	}
}

// value checks structure only; signatures are Verify's business.
func (w *wireReceipt) value() (MeteringReceipt, error) {
	var r MeteringReceipt
	var err error
	if w.Version != ReceiptVersion {
		return r, errf(ErrUnsupportedVersion, "receipt version %d, want %d", w.Version, ReceiptVersion)
	}
	if r.Session, err = sessionFromWire(w.Session, "receipt session"); err != nil {
		return r, err
	}
	if r.Host, err = peerFromWire(w.Host, "receipt host"); err != nil {
		return r, err
	}
	if r.Client, err = peerFromWire(w.Client, "receipt client"); err != nil {
		return r, err
	}
	if w.Slot > uint64(MaxSlot) {
		return r, malformed("receipt slot %d beyond %d", w.Slot, MaxSlot)
	}
	if w.Start > w.Slot {
		return r, malformed("receipt start %d after its slot %d", w.Start, w.Slot)
	}
	if len(w.Sig) != 0 && len(w.Sig) != sigLen {
		return r, malformed("receipt signature: %d bytes, want %d", len(w.Sig), sigLen)
	}
	r.Slot, r.Start, r.Bytes = Slot(w.Slot), Slot(w.Start), w.Bytes
	if len(w.Sig) > 0 {
		r.Sig = bytes.Clone(w.Sig)
	}
	return r, nil
}

// Encode returns the canonical CBOR encoding, signature included: 1 =
// version, 2 = session, 3 = host, 4 = client, 5 = slot, 6 = start, 7 =
// bytes, 8 = signature (zero values omitted). Errors wrap ErrMalformed.
func (r MeteringReceipt) Encode() ([]byte, error) {
	w := r.wire()
	if _, err := w.value(); err != nil {
		return nil, err
	}
	return mustMarshal(&w), nil
}

// DecodeReceipt is the strict inverse of Encode. It checks structure only;
// Verify checks the signature.
func DecodeReceipt(b []byte) (MeteringReceipt, error) {
	if len(b) > 1024 {
		return MeteringReceipt{}, errf(ErrOversize, "receipt: %d bytes", len(b))
	}
	var w wireReceipt
	if err := decodeStrict(b, &w, ReceiptVersion, "receipt"); err != nil {
		return MeteringReceipt{}, err
	}
	return w.value()
}

// signedBytes is what the client signs: the domain, then the encoding
// without the signature.
func (r *MeteringReceipt) signedBytes() []byte {
	w := r.wire()
	w.Sig = nil
	return append([]byte(ReceiptDomain), mustMarshal(&w)...)
}

// Sign signs r with the client's key, which must belong to r.Client and be
// Ed25519 (ErrInvalidArgument, ErrUnsupportedKey).
func (r *MeteringReceipt) Sign(priv crypto.PrivKey) error {
	c := *r
	c.Sig = nil
	if _, err := c.Encode(); err != nil {
		return err
	}
	sig, err := signWith(priv, r.Client, c.signedBytes())
	if err != nil {
		return err
	}
	r.Sig = sig
	return nil
}

// Verify checks the structure (ErrMalformed) and the client's signature:
// ErrMissingCounterSignature when absent, ErrUnsupportedKey for a client
// whose peer ID does not embed an Ed25519 key, ErrBadCounterSignature when
// it does not verify. It does not check Host, Slot or Client ≠ Host; the
// proof verification does.
func (r MeteringReceipt) Verify() error {
	w := r.wire()
	if _, err := w.value(); err != nil {
		return err
	}
	if len(r.Sig) == 0 {
		return errf(ErrMissingCounterSignature, "session %s", r.Session)
	}
	return verifySig(r.Client, r.signedBytes(), r.Sig, ErrBadCounterSignature)
}

// signWith signs msg with priv after checking that priv is the Ed25519 key
// of want.
func signWith(priv crypto.PrivKey, want peer.ID, msg []byte) ([]byte, error) {
	sig, err := edsig.Sign(priv, want, msg)
	switch {
	case err == nil:
		return sig, nil
	case errors.Is(err, edsig.ErrNotEd25519):
		return nil, errf(ErrUnsupportedKey, "%v", err)
	case errors.Is(err, edsig.ErrSign):
		return nil, fmt.Errorf("consensus: %w", err)
	}
	return nil, errf(ErrInvalidArgument, "%v", err)
}

// verifySig checks an Ed25519 signature by the key embedded in id; bad is
// the sentinel for a signature that does not verify.
func verifySig(id peer.ID, msg, sig []byte, bad error) error {
	err := edsig.Verify(id, msg, sig)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, edsig.ErrBadSignature):
		return errf(bad, "%v", err)
	}
	return errf(ErrUnsupportedKey, "%v", err)
}
