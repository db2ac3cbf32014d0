package meta

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/crdt"
)

// envelopeDomain separates these signatures from every other use of a
// node's key.
const envelopeDomain = "lucid-crdt-delta-v1\x00"

// envelopeVersion is the first byte of an encoded envelope.
const envelopeVersion = 1

// maxSignatureSize bounds the signature part (Ed25519 is 64 bytes; other
// libp2p key types are longer).
const maxSignatureSize = 1024

// MaxEnvelopeSize bounds an encoded envelope: a delta and its signature.
const MaxEnvelopeSize = crdt.MaxDeltaSize + maxSignatureSize + 16

// Envelope is a delta signed by its author: the unit of gossip, of
// storage, and of state transfer over the sync stream. Signatures cannot
// survive a join of deltas, so envelopes travel as their authors signed
// them.
type Envelope struct {
	Delta crdt.Delta
	raw   []byte // the encoded envelope
}

// Bytes is the encoded envelope.
func (e Envelope) Bytes() []byte { return e.raw }

// Signer is the author, who signed it.
func (e Envelope) Signer() peer.ID { return peer.ID(e.Delta.Author()) }

// Seal signs a delta authored by the key's owner.
func Seal(key crypto.PrivKey, d crdt.Delta) (Envelope, error) {
	body := d.Encode()
	sig, err := key.Sign(signedBytes(body))
	if err != nil {
		return Envelope{}, fmt.Errorf("meta: sign delta: %w", err)
	}
	raw := make([]byte, 0, 1+binary.MaxVarintLen64+len(body)+len(sig))
	raw = append(raw, envelopeVersion)
	raw = binary.AppendUvarint(raw, uint64(len(body)))
	raw = append(raw, body...)
	raw = append(raw, sig...)
	return Envelope{Delta: d, raw: raw}, nil
}

func signedBytes(body []byte) []byte {
	return append([]byte(envelopeDomain), body...)
}

// Errors of OpenEnvelope, for counting rejections by reason.
var (
	ErrBadEnvelope  = errors.New("meta: malformed envelope")
	ErrBadSignature = errors.New("meta: bad signature")
)

// OpenEnvelope decodes an envelope and checks its signature against the
// delta's author, whose public key its peer ID carries. It does not
// authorize the delta against the map: that is Map.Authorize's job.
func OpenEnvelope(b []byte) (Envelope, error) {
	if len(b) > MaxEnvelopeSize {
		return Envelope{}, fmt.Errorf("%w: %d bytes, limit %d", crdt.ErrTooLarge, len(b), MaxEnvelopeSize)
	}
	if len(b) < 2 || b[0] != envelopeVersion {
		return Envelope{}, fmt.Errorf("%w: unknown version or empty", ErrBadEnvelope)
	}
	n, k := binary.Uvarint(b[1:])
	// A padded varint would make a second encoding of the same envelope.
	if k <= 0 || k != len(binary.AppendUvarint(nil, n)) || n > uint64(len(b)-1-k) {
		return Envelope{}, fmt.Errorf("%w: bad delta length", ErrBadEnvelope)
	}
	body := b[1+k : 1+k+int(n)]
	sig := b[1+k+int(n):]
	if len(sig) == 0 || len(sig) > maxSignatureSize {
		return Envelope{}, fmt.Errorf("%w: signature of %d bytes", ErrBadEnvelope, len(sig))
	}
	d, err := crdt.DecodeDelta(body)
	if err != nil {
		return Envelope{}, err
	}
	pub, err := peer.ID(d.Author()).ExtractPublicKey()
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: author key: %v", ErrBadSignature, err)
	}
	ok, err := pub.Verify(signedBytes(body), sig)
	if err != nil || !ok {
		return Envelope{}, fmt.Errorf("%w: by %s", ErrBadSignature, peer.ID(d.Author()))
	}
	return Envelope{Delta: d, raw: b}, nil
}
