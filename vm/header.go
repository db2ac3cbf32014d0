package vm

import (
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// HeaderVersion is the only header encoding version this package reads.
const HeaderVersion = 1

// HeaderDomain prefixes the bytes a proposer signs for a header.
const HeaderDomain = "lucid/vm/header/1\n"

// Header is the minimal signed block header the VM needs to judge
// equivocation evidence. The chain layer may carry more around it, but
// what a proposer signs for a slot must be (at least) this: two different
// signed Headers for one slot by one proposer are equivocation.
type Header struct {
	Slot      uint64
	Height    uint64
	Prev      [32]byte // hash of the parent header
	TxRoot    [32]byte // TxRoot of the block's transactions
	StateRoot [32]byte // state root after the block
	Proposer  peer.ID  // signs; its peer ID embeds its Ed25519 key
	Sig       []byte   // Ed25519 over HeaderDomain ‖ encoding without Sig
}

type wireHeader struct {
	Version   uint64 `cbor:"1,keyasint,omitempty"`
	Slot      uint64 `cbor:"2,keyasint,omitempty"`
	Height    uint64 `cbor:"3,keyasint,omitempty"`
	Prev      []byte `cbor:"4,keyasint,omitempty"`
	TxRoot    []byte `cbor:"5,keyasint,omitempty"`
	StateRoot []byte `cbor:"6,keyasint,omitempty"`
	Proposer  []byte `cbor:"7,keyasint,omitempty"`
	Sig       []byte `cbor:"8,keyasint,omitempty"`
}

func (h *Header) wire(withSig bool) *wireHeader {
	w := &wireHeader{Version: HeaderVersion, Slot: h.Slot, Height: h.Height, Prev: h.Prev[:],
		TxRoot: h.TxRoot[:], StateRoot: h.StateRoot[:], Proposer: []byte(h.Proposer)}
	if withSig {
		w.Sig = h.Sig
	}
	return w
}

// Encode returns the canonical encoding (keys 1 = version, 2 = slot,
// 3 = height, 4 = prev, 5 = tx root, 6 = state root, 7 = proposer,
// 8 = signature).
func (h *Header) Encode() []byte { return mustMarshal(h.wire(true)) }

// SigningBytes returns HeaderDomain ‖ the encoding without the signature.
func (h *Header) SigningBytes() []byte {
	return append([]byte(HeaderDomain), mustMarshal(h.wire(false))...)
}

// Hash identifies a header (the next header's Prev).
func (h *Header) Hash() [32]byte { return domainHash("lucid/vm/header-id/1\n", h.Encode()) }

// Sign sets Sig with priv, the Ed25519 key of h.Proposer.
func (h *Header) Sign(priv crypto.PrivKey) error {
	sig, err := signWith(priv, h.Proposer, h.SigningBytes())
	if err != nil {
		return err
	}
	h.Sig = sig
	return nil
}

// VerifySignature checks Sig against the key embedded in Proposer.
func (h *Header) VerifySignature() error { return verifySig(h.Proposer, h.SigningBytes(), h.Sig) }

// DecodeHeader is the strict inverse of Encode (structure only; see
// VerifySignature).
func DecodeHeader(b []byte) (*Header, error) {
	if len(b) > 1024 {
		return nil, malformed("header of %d bytes", len(b))
	}
	var w wireHeader
	if err := decodeStrict(b, &w, HeaderVersion, "header"); err != nil {
		return nil, err
	}
	p, err := peer.IDFromBytes(w.Proposer)
	if err != nil {
		return nil, malformed("header proposer: %v", err)
	}
	if len(w.Sig) != sigLen {
		return nil, malformed("header signature of %d bytes, want %d", len(w.Sig), sigLen)
	}
	h := &Header{Slot: w.Slot, Height: w.Height, Proposer: p, Sig: w.Sig}
	if h.Prev, err = hash32(w.Prev, "header prev"); err != nil {
		return nil, err
	}
	if h.TxRoot, err = hash32(w.TxRoot, "header tx root"); err != nil {
		return nil, err
	}
	if h.StateRoot, err = hash32(w.StateRoot, "header state root"); err != nil {
		return nil, err
	}
	return h, nil
}
