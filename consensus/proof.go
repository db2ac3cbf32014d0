package consensus

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/sessions"
)

// ProofVersion is the only proof version this package reads.
const ProofVersion = 1

// ProofDomain prefixes the bytes a node signs for a proof.
const ProofDomain = "lucid/poot/proof/1\n"

// ProofType is one of the four kinds of operational task.
type ProofType uint8

// Proof types. Their numbers are part of the encoding.
const (
	TypeRelay      ProofType = 1 // relay bandwidth, counter-signed by clients
	TypeStorage    ProofType = 2 // storage availability: answer to a challenge
	TypeValidation ProofType = 3 // signature on a validated block
	TypeUptime     ProofType = 4 // heartbeat for a slot
)

func (t ProofType) String() string {
	switch t {
	case TypeRelay:
		return "relay"
	case TypeStorage:
		return "storage"
	case TypeValidation:
		return "validation"
	case TypeUptime:
		return "uptime"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Proof is one signed task proof of one node for one slot. Exactly the
// body matching Type is set (none for uptime beacons).
type Proof struct {
	Version uint64 // ProofVersion
	Type    ProofType
	Node    peer.ID // signs; its peer ID embeds its Ed25519 key
	Pool    []byte  // optional pool ID, 1..64 bytes; ranks as one entity
	Slot    Slot

	Relay      *RelayBody
	Storage    *StorageBody
	Validation *ValidationBody

	Sig []byte // Ed25519 over ProofDomain ‖ encoding without Sig
}

// RelayBody carries the latest client receipt of each session the node
// relayed in the slot, sorted by session, one per session.
type RelayBody struct {
	Receipts []MeteringReceipt
}

// StorageBody answers the slot's storage challenge: the challenged chunk
// (recording root, session, index, sealed size), the chunk's leaf with its
// Merkle inclusion proof against the root, and a Bao slice of the
// challenged 1 KiB block of 0x00 ‖ sealed chunk, verifiable against the
// leaf.
type StorageBody struct {
	Session   sessions.ID
	Root      [32]byte
	Chunk     uint64 // index in the recording
	Size      uint64 // sealed chunk size in bytes
	Leaf      [32]byte
	Inclusion media.Proof
	Slice     []byte
}

// ValidationBody names the validated block. The proof's slot is the
// block's slot.
type ValidationBody struct {
	Block    [32]byte
	Height   uint64
	Sessions uint64 // sessions the block anchors
}

// Entity is the pool when the proof names one, else the node.
func (p *Proof) Entity() EntityID {
	if len(p.Pool) > 0 {
		return PoolEntity(p.Pool)
	}
	return NodeEntity(p.Node)
}

type wireRelay struct {
	Receipts []wireReceipt `cbor:"1,keyasint,omitempty"`
}

type wireStorage struct {
	Session   []byte          `cbor:"1,keyasint,omitempty"`
	Root      []byte          `cbor:"2,keyasint,omitempty"`
	Chunk     uint64          `cbor:"3,keyasint,omitempty"`
	Size      uint64          `cbor:"4,keyasint,omitempty"`
	Leaf      []byte          `cbor:"5,keyasint,omitempty"`
	Inclusion cbor.RawMessage `cbor:"6,keyasint,omitempty"`
	Slice     []byte          `cbor:"7,keyasint,omitempty"`
}

type wireValidation struct {
	Block    []byte `cbor:"1,keyasint,omitempty"`
	Height   uint64 `cbor:"2,keyasint,omitempty"`
	Sessions uint64 `cbor:"3,keyasint,omitempty"`
}

type wireProof struct {
	Version    uint64          `cbor:"1,keyasint,omitempty"`
	Type       uint64          `cbor:"2,keyasint,omitempty"`
	Node       []byte          `cbor:"3,keyasint,omitempty"`
	Pool       []byte          `cbor:"4,keyasint,omitempty"`
	Slot       uint64          `cbor:"5,keyasint,omitempty"`
	Relay      *wireRelay      `cbor:"6,keyasint,omitempty"`
	Storage    *wireStorage    `cbor:"7,keyasint,omitempty"`
	Validation *wireValidation `cbor:"8,keyasint,omitempty"`
	Sig        []byte          `cbor:"9,keyasint,omitempty"`
}

// wire converts p without checking it; an inclusion proof of the wrong
// shape encodes as nothing and is refused by value.
func (p *Proof) wire() wireProof {
	w := wireProof{
		Version: p.Version,
		Type:    uint64(p.Type),
		Node:    []byte(p.Node),
		Pool:    bytes.Clone(p.Pool),
		Slot:    uint64(p.Slot),
		Sig:     bytes.Clone(p.Sig),
	}
	if p.Relay != nil {
		r := &wireRelay{}
		for i := range p.Relay.Receipts {
			r.Receipts = append(r.Receipts, p.Relay.Receipts[i].wire())
		}
		w.Relay = r
	}
	if s := p.Storage; s != nil {
		inc, _ := s.Inclusion.Encode()
		w.Storage = &wireStorage{
			Session:   bytes.Clone(s.Session[:]),
			Root:      bytes.Clone(s.Root[:]),
			Chunk:     s.Chunk,
			Size:      s.Size,
			Leaf:      bytes.Clone(s.Leaf[:]),
			Inclusion: inc,
			Slice:     bytes.Clone(s.Slice),
		}
	}
	if v := p.Validation; v != nil {
		w.Validation = &wireValidation{Block: bytes.Clone(v.Block[:]), Height: v.Height, Sessions: v.Sessions}
	}
	return w
}

// value checks the structure (not signatures, not the parameters) and
// converts w to a Proof.
func (w *wireProof) value() (*Proof, error) {
	if w.Version != ProofVersion {
		return nil, errf(ErrUnsupportedVersion, "proof version %d, want %d", w.Version, ProofVersion)
	}
	p := &Proof{Version: w.Version, Type: ProofType(w.Type)}
	if w.Type < uint64(TypeRelay) || w.Type > uint64(TypeUptime) {
		return nil, errf(ErrUnknownType, "%d", w.Type)
	}
	var err error
	if p.Node, err = peerFromWire(w.Node, "node"); err != nil {
		return nil, err
	}
	if len(w.Pool) > maxPoolLen {
		return nil, malformed("pool ID: %d bytes, limit %d", len(w.Pool), maxPoolLen)
	}
	if len(w.Pool) > 0 {
		p.Pool = bytes.Clone(w.Pool)
	}
	if w.Slot > uint64(MaxSlot) {
		return nil, malformed("slot %d beyond %d", w.Slot, MaxSlot)
	}
	p.Slot = Slot(w.Slot)
	if len(w.Sig) != 0 && len(w.Sig) != sigLen {
		return nil, malformed("signature: %d bytes, want %d", len(w.Sig), sigLen)
	}
	if len(w.Sig) > 0 {
		p.Sig = bytes.Clone(w.Sig)
	}
	for _, b := range []struct {
		t       ProofType
		present bool
	}{{TypeRelay, w.Relay != nil}, {TypeStorage, w.Storage != nil}, {TypeValidation, w.Validation != nil}} {
		if b.present != (b.t == p.Type) {
			return nil, malformed("%s proof: %s body present = %v", p.Type, b.t, b.present)
		}
	}
	switch p.Type {
	case TypeRelay:
		p.Relay, err = w.Relay.value()
	case TypeStorage:
		p.Storage, err = w.Storage.value()
	case TypeValidation:
		p.Validation, err = w.Validation.value()
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (w *wireRelay) value() (*RelayBody, error) {
	n := len(w.Receipts)
	if n == 0 {
		return nil, malformed("relay proof without receipts")
	}
	if n > maxReceiptsLimit {
		return nil, errf(ErrOversize, "%d receipts, limit %d", n, maxReceiptsLimit)
	}
	b := &RelayBody{Receipts: make([]MeteringReceipt, n)}
	for i := range w.Receipts {
		r, err := w.Receipts[i].value()
		if err != nil {
			return nil, fmt.Errorf("receipt %d: %w", i, err)
		}
		if i > 0 && bytes.Compare(b.Receipts[i-1].Session[:], r.Session[:]) >= 0 {
			return nil, malformed("receipts not sorted by session, or two for one session, at %d", i)
		}
		b.Receipts[i] = r
	}
	return b, nil
}

func (w *wireStorage) value() (*StorageBody, error) {
	s := &StorageBody{Chunk: w.Chunk, Size: w.Size}
	var err error
	if s.Session, err = sessionFromWire(w.Session, "storage session"); err != nil {
		return nil, err
	}
	if s.Root, err = hashFromWire(w.Root, "storage root"); err != nil {
		return nil, err
	}
	if s.Leaf, err = hashFromWire(w.Leaf, "storage leaf"); err != nil {
		return nil, err
	}
	if w.Size == 0 || w.Size > maxChunkSize {
		return nil, malformed("chunk size %d, want 1..%d", w.Size, uint64(maxChunkSize))
	}
	if len(w.Inclusion) == 0 {
		return nil, malformed("storage proof without inclusion proof")
	}
	if s.Inclusion, err = media.DecodeProof(w.Inclusion); err != nil {
		return nil, malformed("inclusion proof: %v", err)
	}
	if len(w.Slice) == 0 || len(w.Slice) > maxSliceLen {
		return nil, malformed("slice: %d bytes, want 1..%d", len(w.Slice), maxSliceLen)
	}
	s.Slice = bytes.Clone(w.Slice)
	return s, nil
}

func (w *wireValidation) value() (*ValidationBody, error) {
	v := &ValidationBody{Height: w.Height, Sessions: w.Sessions}
	var err error
	if v.Block, err = hashFromWire(w.Block, "validated block"); err != nil {
		return nil, err
	}
	if w.Sessions > maxSessionsLimit {
		return nil, malformed("block sessions %d, limit %d", w.Sessions, maxSessionsLimit)
	}
	return v, nil
}

// Encode returns the canonical CBOR encoding, signature included: 1 =
// version, 2 = type, 3 = node, 4 = pool, 5 = slot, 6/7/8 = relay, storage
// or validation body, 9 = signature (zero values omitted). Relay body: 1 =
// receipts (their own encoding). Storage body: 1 = session, 2 = root, 3 =
// chunk index, 4 = size, 5 = leaf, 6 = inclusion proof (package media's
// encoding), 7 = slice. Validation body: 1 = block hash, 2 = height, 3 =
// sessions. Structural errors wrap ErrMalformed, ErrUnsupportedVersion,
// ErrUnknownType or ErrOversize.
func (p *Proof) Encode() ([]byte, error) {
	w := p.wire()
	if _, err := w.value(); err != nil {
		return nil, err
	}
	return mustMarshal(&w), nil
}

// DecodeProof is the strict inverse of Encode for inputs up to 1 MiB
// (ErrOversize above; Params.MaxProofSize is VerifyProof's business). It
// checks structure only.
func DecodeProof(b []byte) (*Proof, error) {
	if len(b) > maxProofSizeLimit {
		return nil, errf(ErrOversize, "proof: %d bytes, limit %d", len(b), maxProofSizeLimit)
	}
	var w wireProof
	if err := decodeStrict(b, &w, ProofVersion, "proof"); err != nil {
		return nil, err
	}
	return w.value()
}

// unsigned returns the encoding without the signature.
func (p *Proof) unsigned() []byte {
	w := p.wire()
	w.Sig = nil
	return mustMarshal(&w)
}

// ID identifies a proof's content: BLAKE3 over a domain tag and the
// encoding without the signature (a node could re-sign the same content;
// that is still the same proof).
func (p *Proof) ID() [32]byte { return domainHash("lucid/poot/proof-id/1\n", p.unsigned()) }

// Sign sets Version if unset, checks the structure and signs p with the
// node's key (which must belong to p.Node and be Ed25519).
func (p *Proof) Sign(priv crypto.PrivKey) error {
	if p.Version == 0 {
		p.Version = ProofVersion
	}
	c := *p
	c.Sig = nil
	if _, err := c.Encode(); err != nil {
		return err
	}
	sig, err := signWith(priv, p.Node, append([]byte(ProofDomain), c.unsigned()...))
	if err != nil {
		return err
	}
	p.Sig = sig
	return nil
}

// verifySignature checks the node's signature (ErrBadSignature,
// ErrUnsupportedKey).
func (p *Proof) verifySignature() error {
	if len(p.Sig) == 0 {
		return errf(ErrBadSignature, "proof is not signed")
	}
	return verifySig(p.Node, append([]byte(ProofDomain), p.unsigned()...), p.Sig, ErrBadSignature)
}

// NewUptime returns a signed uptime beacon of node for slot.
func NewUptime(priv crypto.PrivKey, pool []byte, slot Slot) (*Proof, error) {
	return newSigned(priv, &Proof{Type: TypeUptime, Pool: pool, Slot: slot})
}

// NewValidation returns a signed validation proof for a block.
func NewValidation(priv crypto.PrivKey, pool []byte, slot Slot, body ValidationBody) (*Proof, error) {
	return newSigned(priv, &Proof{Type: TypeValidation, Pool: pool, Slot: slot, Validation: &body})
}

// NewRelay returns a signed relay proof carrying receipts, sorted by
// session here. Receipts must already bear their clients' signatures.
func NewRelay(priv crypto.PrivKey, pool []byte, slot Slot, receipts []MeteringReceipt) (*Proof, error) {
	rs := append([]MeteringReceipt(nil), receipts...)
	sortReceipts(rs)
	return newSigned(priv, &Proof{Type: TypeRelay, Pool: pool, Slot: slot, Relay: &RelayBody{Receipts: rs}})
}

func newSigned(priv crypto.PrivKey, p *Proof) (*Proof, error) {
	if priv == nil {
		return nil, errf(ErrInvalidArgument, "nil private key")
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, errf(ErrInvalidArgument, "deriving peer ID: %v", err)
	}
	p.Version, p.Node = ProofVersion, id
	if err := p.Sign(priv); err != nil {
		return nil, err
	}
	return p, nil
}

func sortReceipts(rs []MeteringReceipt) {
	slices.SortFunc(rs, func(a, b MeteringReceipt) int { return bytes.Compare(a.Session[:], b.Session[:]) })
}
