package vm

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/lucidnet/lucid/internal/edsig"
)

// TxVersion is the only transaction encoding version this package reads.
const TxVersion = 1

// TxDomain prefixes the bytes a sender signs: TxDomain ‖ the transaction's
// encoding without its signature.
const TxDomain = "lucid/vm/tx/1\n"

// Structural limits the decoder enforces regardless of parameters.
const (
	MaxTxBytes      = 1 << 20 // one transaction's encoding
	MaxOwnerLen     = 64      // RegisterSession owner key
	MaxEntityLen    = 128     // CommitTally entity
	MaxTallyEntries = 16_384  // CommitTally credit entries
	MaxClaimChunks  = 8192    // ClaimStorage chunk sizes
	MaxParamNameLen = 64
	MaxPoolLen      = 64 // SetPool pool ID; also a pool entity's ID
	MaxChunkCount   = 1<<32 - 1
	sigLen          = edsig.Size
)

// MaxClaimChunkSize bounds one sealed chunk size of a ClaimStorage, as
// consensus.NewClaimSet does.
const MaxClaimChunkSize = 1 << 40

// TxType numbers the transaction types (wire key 2).
type TxType uint64

// Transaction types.
const (
	TypeRegisterSession TxType = 1
	TypeAnchorChunk     TxType = 2
	TypeCommitTally     TxType = 3
	TypeProposeParam    TxType = 4
	TypeVote            TxType = 5
	TypeEquivocation    TxType = 6
	TypeClaimStorage    TxType = 7
	TypeSetPool         TxType = 8
)

func (t TxType) String() string {
	switch t {
	case TypeRegisterSession:
		return "register_session"
	case TypeAnchorChunk:
		return "anchor_chunk"
	case TypeCommitTally:
		return "commit_tally"
	case TypeProposeParam:
		return "propose_param"
	case TypeVote:
		return "vote"
	case TypeEquivocation:
		return "equivocation"
	case TypeClaimStorage:
		return "claim_storage"
	case TypeSetPool:
		return "set_pool"
	}
	return fmt.Sprintf("type(%d)", uint64(t))
}

// SessionID is a session's 16-byte identifier.
type SessionID [16]byte

// Body is the type-specific part of a transaction: one of
// *RegisterSession, *AnchorChunk, *CommitTally, *ProposeParam, *Vote,
// *Equivocation, *ClaimStorage, *SetPool.
type Body interface {
	Type() TxType
	wire() any
	// gas is the type's execution gas (GasPerTx and the byte charge are
	// added by TxGas).
	gas() uint64
	validate() error
}

// RegisterSession records a session's manifest commitment, once per ID.
type RegisterSession struct {
	Session  SessionID
	Manifest [32]byte // hash of the session manifest
	Root     [32]byte // BLAKE3 Merkle root over the session's chunks
	Chunks   uint64   // chunk count, [1, 2^32−1]
	Owner    []byte   // owner key, 1..64 bytes
}

// AnchorChunk anchors one chunk leaf of a registered session.
type AnchorChunk struct {
	Session SessionID
	Index   uint64
	Leaf    [32]byte
}

// Credit is one entity's micro-credits in a tally.
type Credit struct {
	Entity []byte // a consensus.EntityID
	Micro  uint64 // > 0
}

// CommitTally records an epoch's tally: its root and the credits earned by
// each entity (strictly ascending by entity bytes).
type CommitTally struct {
	Epoch   uint64
	Root    [32]byte
	Credits []Credit
}

// ProposeParam proposes setting a registry parameter.
type ProposeParam struct {
	Name  string
	Value uint64
}

// Vote casts one eligible node's vote on a proposal.
type Vote struct {
	Proposal uint64
	Yes      bool
}

// Equivocation is evidence that one proposer signed two different headers
// for one slot. A and B are held in canonical order (A's encoding sorts
// before B's), so one pair of headers has one encoding.
type Equivocation struct {
	A, B Header
}

// ClaimStorage declares that the sender stores a registered session's
// recording: its sealed chunk sizes in index order (from the manifest).
// Any node may claim a session (replicas welcome), once per (sender,
// session); a claim it cannot back with the data earns nothing, since a
// storage proof needs the real bytes.
type ClaimStorage struct {
	Session    SessionID
	ChunkSizes []uint64 // 1..MaxClaimChunks sizes, each in [1, MaxClaimChunkSize]
}

// SetPool puts the sender in a pool (1..64 bytes, the pool ID nodes
// publish under) or, with an empty Pool, takes it out of its pool. A node
// changes its pool at most once per epoch (see the package doc).
type SetPool struct {
	Pool []byte
}

// Tx is a signed transaction.
type Tx struct {
	Sender peer.ID // signs; its peer ID embeds its Ed25519 key
	Nonce  uint64  // the sender's next nonce (0 for its first transaction)
	Body   Body
	Sig    []byte // Ed25519 over TxDomain ‖ encoding without Sig
}

type wireTx struct {
	Version uint64          `cbor:"1,keyasint,omitempty"`
	Type    uint64          `cbor:"2,keyasint,omitempty"`
	Sender  []byte          `cbor:"3,keyasint,omitempty"`
	Nonce   uint64          `cbor:"4,keyasint,omitempty"`
	Body    cbor.RawMessage `cbor:"5,keyasint,omitempty"`
	Sig     []byte          `cbor:"6,keyasint,omitempty"`
}

type wireRegister struct {
	Session  []byte `cbor:"1,keyasint,omitempty"`
	Manifest []byte `cbor:"2,keyasint,omitempty"`
	Root     []byte `cbor:"3,keyasint,omitempty"`
	Chunks   uint64 `cbor:"4,keyasint,omitempty"`
	Owner    []byte `cbor:"5,keyasint,omitempty"`
}

type wireAnchor struct {
	Session []byte `cbor:"1,keyasint,omitempty"`
	Index   uint64 `cbor:"2,keyasint,omitempty"`
	Leaf    []byte `cbor:"3,keyasint,omitempty"`
}

type wireCredit struct {
	_      struct{} `cbor:",toarray"`
	Entity []byte
	Micro  uint64
}

type wireTally struct {
	Epoch   uint64       `cbor:"1,keyasint,omitempty"`
	Root    []byte       `cbor:"2,keyasint,omitempty"`
	Credits []wireCredit `cbor:"3,keyasint,omitempty"`
}

type wirePropose struct {
	Name  string `cbor:"1,keyasint,omitempty"`
	Value uint64 `cbor:"2,keyasint,omitempty"`
}

type wireVote struct {
	Proposal uint64 `cbor:"1,keyasint,omitempty"`
	Yes      bool   `cbor:"2,keyasint,omitempty"`
}

type wireEvidence struct {
	A []byte `cbor:"1,keyasint,omitempty"`
	B []byte `cbor:"2,keyasint,omitempty"`
}

type wireClaim struct {
	Session []byte   `cbor:"1,keyasint,omitempty"`
	Sizes   []uint64 `cbor:"2,keyasint,omitempty"`
}

type wireSetPool struct {
	Pool []byte `cbor:"1,keyasint,omitempty"`
}

func (*RegisterSession) Type() TxType { return TypeRegisterSession }
func (*AnchorChunk) Type() TxType     { return TypeAnchorChunk }
func (*CommitTally) Type() TxType     { return TypeCommitTally }
func (*ProposeParam) Type() TxType    { return TypeProposeParam }
func (*Vote) Type() TxType            { return TypeVote }
func (*Equivocation) Type() TxType    { return TypeEquivocation }
func (*ClaimStorage) Type() TxType    { return TypeClaimStorage }
func (*SetPool) Type() TxType         { return TypeSetPool }

func (r *RegisterSession) wire() any {
	return &wireRegister{Session: r.Session[:], Manifest: r.Manifest[:], Root: r.Root[:], Chunks: r.Chunks, Owner: r.Owner}
}
func (a *AnchorChunk) wire() any {
	return &wireAnchor{Session: a.Session[:], Index: a.Index, Leaf: a.Leaf[:]}
}
func (c *CommitTally) wire() any {
	w := &wireTally{Epoch: c.Epoch, Root: c.Root[:]}
	for _, e := range c.Credits {
		w.Credits = append(w.Credits, wireCredit{Entity: e.Entity, Micro: e.Micro})
	}
	return w
}
func (p *ProposeParam) wire() any { return &wirePropose{Name: p.Name, Value: p.Value} }
func (v *Vote) wire() any         { return &wireVote{Proposal: v.Proposal, Yes: v.Yes} }
func (e *Equivocation) wire() any {
	return &wireEvidence{A: e.A.Encode(), B: e.B.Encode()}
}
func (c *ClaimStorage) wire() any {
	return &wireClaim{Session: c.Session[:], Sizes: c.ChunkSizes}
}
func (p *SetPool) wire() any { return &wireSetPool{Pool: p.Pool} }

func (r *RegisterSession) validate() error {
	switch {
	case r.Session == SessionID{}:
		return malformed("register: zero session ID")
	case r.Chunks == 0 || r.Chunks > MaxChunkCount:
		return malformed("register: chunk count %d, want [1, %d]", r.Chunks, uint64(MaxChunkCount))
	case len(r.Owner) == 0 || len(r.Owner) > MaxOwnerLen:
		return malformed("register: owner key of %d bytes, want [1, %d]", len(r.Owner), MaxOwnerLen)
	}
	return nil
}

func (a *AnchorChunk) validate() error {
	if a.Session == (SessionID{}) {
		return malformed("anchor: zero session ID")
	}
	if a.Index >= MaxChunkCount {
		return malformed("anchor: index %d", a.Index)
	}
	return nil
}

func (c *CommitTally) validate() error {
	if len(c.Credits) > MaxTallyEntries {
		return malformed("tally: %d entries, max %d", len(c.Credits), MaxTallyEntries)
	}
	for i, e := range c.Credits {
		if err := validEntity(e.Entity); err != nil {
			return malformed("tally entry %d: %v", i, err)
		}
		if e.Micro == 0 {
			return malformed("tally entry %d: zero credits", i)
		}
		if i > 0 && bytes.Compare(c.Credits[i-1].Entity, e.Entity) >= 0 {
			return malformed("tally entries not strictly ascending at %d", i)
		}
	}
	return nil
}

// validEntity accepts consensus entity IDs: 0x01 ‖ peer ID, 0x02 ‖ pool ID.
func validEntity(e []byte) error {
	if len(e) < 2 || len(e) > MaxEntityLen {
		return fmt.Errorf("entity of %d bytes", len(e))
	}
	switch e[0] {
	case 0x01:
		if _, err := peer.IDFromBytes(e[1:]); err != nil {
			return fmt.Errorf("node entity: %v", err)
		}
	case 0x02:
		if len(e)-1 > MaxPoolLen {
			return fmt.Errorf("pool ID of %d bytes", len(e)-1)
		}
	default:
		return fmt.Errorf("entity kind %#x", e[0])
	}
	return nil
}

func (p *ProposeParam) validate() error {
	if p.Name == "" || len(p.Name) > MaxParamNameLen || !utf8.ValidString(p.Name) {
		return malformed("propose: bad parameter name")
	}
	return nil
}

func (*Vote) validate() error { return nil }

func (e *Equivocation) validate() error {
	if bytes.Compare(e.A.Encode(), e.B.Encode()) >= 0 {
		return malformed("evidence: headers not in canonical order (or identical)")
	}
	return nil
}

func (c *ClaimStorage) validate() error {
	if c.Session == (SessionID{}) {
		return malformed("claim: zero session ID")
	}
	if n := len(c.ChunkSizes); n == 0 || n > MaxClaimChunks {
		return malformed("claim: %d chunk sizes, want [1, %d]", n, MaxClaimChunks)
	}
	for i, sz := range c.ChunkSizes {
		if sz == 0 || sz > MaxClaimChunkSize {
			return malformed("claim: chunk %d size %d, want [1, %d]", i, sz, uint64(MaxClaimChunkSize))
		}
	}
	return nil
}

func (p *SetPool) validate() error {
	if len(p.Pool) > MaxPoolLen {
		return malformed("set pool: pool ID of %d bytes, max %d", len(p.Pool), MaxPoolLen)
	}
	return nil
}

// Gas schedule. A transaction costs GasPerTx + GasPerByte·len(encoding) +
// its type's gas; failed transactions are charged in full.
//
// ClaimStorage costs GasClaimBase (a session read and one state write,
// as a registration) + GasClaimChunk per chunk size (checked and stored
// in the claim's one value; its bytes already pay GasPerByte). The
// largest claim, MaxClaimChunks sizes of 2^40 (about 74 KB), costs about
// 710,000 gas, within the lowest max_block_gas (10^6).
//
// SetPool costs GasSetPool, as a Vote: one record read and one write.
const (
	GasPerTx        = 1_000
	GasPerByte      = 4
	GasRegister     = 4_000
	GasAnchor       = 2_000
	GasTallyBase    = 5_000
	GasTallyEntry   = 200
	GasPropose      = 10_000
	GasVote         = 2_000
	GasEquivocation = 20_000
	GasClaimBase    = 4_000
	GasClaimChunk   = 50
	GasSetPool      = 2_000
)

func (*RegisterSession) gas() uint64 { return GasRegister }
func (*AnchorChunk) gas() uint64     { return GasAnchor }
func (c *CommitTally) gas() uint64   { return GasTallyBase + GasTallyEntry*uint64(len(c.Credits)) }
func (*ProposeParam) gas() uint64    { return GasPropose }
func (*Vote) gas() uint64            { return GasVote }
func (*Equivocation) gas() uint64    { return GasEquivocation }
func (c *ClaimStorage) gas() uint64  { return GasClaimBase + GasClaimChunk*uint64(len(c.ChunkSizes)) }
func (*SetPool) gas() uint64         { return GasSetPool }

// TxGas returns the gas of a transaction whose encoding is size bytes.
func TxGas(tx *Tx, size int) uint64 {
	return GasPerTx + GasPerByte*uint64(size) + tx.Body.gas()
}

func (t *Tx) wire(withSig bool) *wireTx {
	w := &wireTx{Version: TxVersion, Type: uint64(t.Body.Type()), Sender: []byte(t.Sender), Nonce: t.Nonce,
		Body: mustMarshal(t.Body.wire())}
	if withSig {
		w.Sig = t.Sig
	}
	return w
}

// Encode returns the canonical encoding: a map with 1 = version, 2 = type,
// 3 = sender peer ID, 4 = nonce, 5 = body (a map of the type's fields),
// 6 = signature.
func (t *Tx) Encode() []byte { return mustMarshal(t.wire(true)) }

// SigningBytes returns TxDomain ‖ the encoding without the signature.
func (t *Tx) SigningBytes() []byte {
	return append([]byte(TxDomain), mustMarshal(t.wire(false))...)
}

// Hash identifies a transaction: BLAKE3 over a domain tag and its encoding.
func (t *Tx) Hash() [32]byte { return domainHash("lucid/vm/txid/1\n", t.Encode()) }

// Sign sets Sig with priv, which must be the Ed25519 key of t.Sender.
func (t *Tx) Sign(priv crypto.PrivKey) error {
	sig, err := signWith(priv, t.Sender, t.SigningBytes())
	if err != nil {
		return err
	}
	t.Sig = sig
	return nil
}

// VerifySignature checks Sig against the key embedded in Sender.
func (t *Tx) VerifySignature() error { return verifySig(t.Sender, t.SigningBytes(), t.Sig) }

func signWith(priv crypto.PrivKey, want peer.ID, msg []byte) ([]byte, error) {
	sig, err := edsig.Sign(priv, want, msg)
	switch {
	case err == nil:
		return sig, nil
	case errors.Is(err, edsig.ErrSign):
		return nil, fmt.Errorf("vm: %w", err)
	}
	return nil, errf(ErrInvalidArgument, "%v", err)
}

func verifySig(id peer.ID, msg, sig []byte) error {
	if err := edsig.Verify(id, msg, sig); err != nil {
		return errf(ErrBadSignature, "%v", err)
	}
	return nil
}

// DecodeTx is the strict inverse of Encode. It checks structure only: the
// signature is checked by VerifySignature, everything that depends on state
// by ApplyBlock.
func DecodeTx(b []byte) (*Tx, error) {
	if len(b) > MaxTxBytes {
		return nil, malformed("transaction of %d bytes, max %d", len(b), MaxTxBytes)
	}
	var w wireTx
	if err := decodeStrict(b, &w, TxVersion, "transaction"); err != nil {
		return nil, err
	}
	sender, err := peer.IDFromBytes(w.Sender)
	if err != nil {
		return nil, malformed("sender: %v", err)
	}
	if len(w.Sig) != sigLen {
		return nil, malformed("signature of %d bytes, want %d", len(w.Sig), sigLen)
	}
	body, err := decodeBody(TxType(w.Type), w.Body)
	if err != nil {
		return nil, err
	}
	return &Tx{Sender: sender, Nonce: w.Nonce, Body: body, Sig: w.Sig}, nil
}

func decodeBody(t TxType, raw []byte) (Body, error) {
	var body Body
	what := t.String()
	switch t {
	case TypeRegisterSession:
		var w wireRegister
		if err := decodeStrict(raw, &w, 0, what); err != nil {
			return nil, err
		}
		r := &RegisterSession{Chunks: w.Chunks, Owner: w.Owner}
		if err := sessionID(w.Session, &r.Session); err != nil {
			return nil, err
		}
		var err error
		if r.Manifest, err = hash32(w.Manifest, "manifest hash"); err != nil {
			return nil, err
		}
		if r.Root, err = hash32(w.Root, "merkle root"); err != nil {
			return nil, err
		}
		body = r
	case TypeAnchorChunk:
		var w wireAnchor
		if err := decodeStrict(raw, &w, 0, what); err != nil {
			return nil, err
		}
		a := &AnchorChunk{Index: w.Index}
		if err := sessionID(w.Session, &a.Session); err != nil {
			return nil, err
		}
		var err error
		if a.Leaf, err = hash32(w.Leaf, "leaf"); err != nil {
			return nil, err
		}
		body = a
	case TypeCommitTally:
		var w wireTally
		if err := decodeStrict(raw, &w, 0, what); err != nil {
			return nil, err
		}
		c := &CommitTally{Epoch: w.Epoch}
		var err error
		if c.Root, err = hash32(w.Root, "tally root"); err != nil {
			return nil, err
		}
		for _, e := range w.Credits {
			c.Credits = append(c.Credits, Credit{Entity: e.Entity, Micro: e.Micro})
		}
		body = c
	case TypeProposeParam:
		var w wirePropose
		if err := decodeStrict(raw, &w, 0, what); err != nil {
			return nil, err
		}
		body = &ProposeParam{Name: w.Name, Value: w.Value}
	case TypeVote:
		var w wireVote
		if err := decodeStrict(raw, &w, 0, what); err != nil {
			return nil, err
		}
		if w.Proposal == 0 {
			return nil, malformed("vote: proposal 0")
		}
		body = &Vote{Proposal: w.Proposal, Yes: w.Yes}
	case TypeEquivocation:
		var w wireEvidence
		if err := decodeStrict(raw, &w, 0, what); err != nil {
			return nil, err
		}
		a, err := DecodeHeader(w.A)
		if err != nil {
			return nil, err
		}
		b, err := DecodeHeader(w.B)
		if err != nil {
			return nil, err
		}
		body = &Equivocation{A: *a, B: *b}
	case TypeClaimStorage:
		var w wireClaim
		if err := decodeStrict(raw, &w, 0, what); err != nil {
			return nil, err
		}
		c := &ClaimStorage{ChunkSizes: w.Sizes}
		if err := sessionID(w.Session, &c.Session); err != nil {
			return nil, err
		}
		body = c
	case TypeSetPool:
		var w wireSetPool
		if err := decodeStrict(raw, &w, 0, what); err != nil {
			return nil, err
		}
		body = &SetPool{Pool: w.Pool}
	default:
		return nil, malformed("unknown transaction type %d", uint64(t))
	}
	if err := body.validate(); err != nil {
		return nil, err
	}
	return body, nil
}

func sessionID(b []byte, out *SessionID) error {
	if len(b) != len(out) {
		return malformed("session ID of %d bytes, want %d", len(b), len(out))
	}
	copy(out[:], b)
	return nil
}
