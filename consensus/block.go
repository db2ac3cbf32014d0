package consensus

import (
	"bytes"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Blocks.
//
// A Block is a BlockHeader and a Body. The header commits to the body by
// two Merkle roots (TxRoot over the transactions, ProofRoot over the
// encoded PoOT proofs the block includes) and to the state after
// execution (StateRoot, which this package carries but cannot check).
// The proposer signs BlockDomain ‖ the header encoding without Sig. The
// block's identity, Hash, is a hash of that unsigned encoding, so one
// content has one hash whatever signature it carries (Ed25519 signers may
// use any nonce) and a proposer cannot make "two" blocks out of one.
//
// Encodings follow the package's wire rules (see wire.go): CBOR maps with
// small integer keys, versioned, decoded strictly and re-encoded to check
// canonicity. Header keys: 1 = version, 2 = height, 3 = slot, 4 = prev,
// 5 = proposer, 6 = tx root, 7 = proof root, 8 = state root, 9 =
// signature. Block keys: 1 = version, 2 = header, 3 = transactions, 4 =
// proofs. Roots and Prev are always 32 bytes (present even when zero).
// Transactions and proofs are non-empty byte strings; what they contain
// is checked by the layers that execute or tally them.

// BlockVersion is the only block encoding version this package reads.
const BlockVersion = 1

// BlockDomain prefixes the bytes a proposer signs for a block header.
const BlockDomain = "lucid/block/header/1\n"

const (
	blockIDDomain   = "lucid/block/id/1\n"
	txTreeDomain    = "lucid/block/tx-tree/1\n"
	proofTreeDomain = "lucid/block/proof-tree/1\n"
	maxHeaderBytes  = 1024
)

// Default block limits (BlockParams).
const (
	DefaultMaxBlockBytes = 1 << 20
	DefaultMaxBlockTxs   = 1000
)

// ArrivalAny passed as the arrival time to VerifyBlock skips the turn
// check: any leader of the slot may have produced the block (blocks
// received while syncing, or fork choice, which must not depend on when a
// node happened to receive a block).
const ArrivalAny time.Duration = -1

// BlockParams are the rules VerifyBlock applies.
type BlockParams struct {
	Params        Params // slot timing (SlotLength, SlotTimeout)
	MaxBlockBytes int    // limit on the full block encoding
	MaxBlockTxs   int    // limit on len(Body.Txs)
	// Bootstrap, when set, is the proposer of slots whose schedule has no
	// eligible leader (empty Primary; spec: the original Server node). It
	// ranks as primary there and nowhere else.
	Bootstrap peer.ID
	// PoolOf, when set, gives the pool a node belongs to on the branch
	// ending at parent (chain state): a member of a pool proposes at its
	// pool's rank.
	PoolOf func(parent [32]byte, node peer.ID) ([]byte, bool)
}

// DefaultBlockParams returns p with the default limits and no bootstrap
// proposer.
func DefaultBlockParams(p Params) BlockParams {
	return BlockParams{Params: p, MaxBlockBytes: DefaultMaxBlockBytes, MaxBlockTxs: DefaultMaxBlockTxs}
}

// BlockHeader is the signed part of a block.
type BlockHeader struct {
	Version   uint64
	Height    uint64
	Slot      Slot
	Prev      [32]byte // Hash of the parent header
	Proposer  peer.ID  // signs; its peer ID embeds its Ed25519 key
	TxRoot    [32]byte // TxRoot(Body.Txs)
	ProofRoot [32]byte // ProofRoot(Body.Proofs)
	StateRoot [32]byte // state after executing the block
	Sig       []byte   // Ed25519 over BlockDomain ‖ encoding without Sig
}

// Body is what the header's roots commit to.
type Body struct {
	Txs    [][]byte
	Proofs [][]byte // encoded PoOT proofs (Proof.Encode)
}

// Block is a header and its body.
type Block struct {
	Header BlockHeader
	Body   Body
}

type wireBlockHeader struct {
	Version   uint64 `cbor:"1,keyasint,omitempty"`
	Height    uint64 `cbor:"2,keyasint,omitempty"`
	Slot      uint64 `cbor:"3,keyasint,omitempty"`
	Prev      []byte `cbor:"4,keyasint,omitempty"`
	Proposer  []byte `cbor:"5,keyasint,omitempty"`
	TxRoot    []byte `cbor:"6,keyasint,omitempty"`
	ProofRoot []byte `cbor:"7,keyasint,omitempty"`
	StateRoot []byte `cbor:"8,keyasint,omitempty"`
	Sig       []byte `cbor:"9,keyasint,omitempty"`
}

type wireBlock struct {
	Version uint64           `cbor:"1,keyasint,omitempty"`
	Header  *wireBlockHeader `cbor:"2,keyasint,omitempty"`
	Txs     [][]byte         `cbor:"3,keyasint,omitempty"`
	Proofs  [][]byte         `cbor:"4,keyasint,omitempty"`
}

func (h BlockHeader) wire(withSig bool) *wireBlockHeader {
	w := &wireBlockHeader{Version: h.Version, Height: h.Height, Slot: uint64(h.Slot), Prev: h.Prev[:],
		Proposer: []byte(h.Proposer), TxRoot: h.TxRoot[:], ProofRoot: h.ProofRoot[:], StateRoot: h.StateRoot[:]}
	if withSig {
		w.Sig = h.Sig
	}
	return w
}

// Encode returns the canonical encoding of the header, signature
// included.
func (h BlockHeader) Encode() []byte { return mustMarshal(h.wire(true)) }

func (h BlockHeader) unsigned() []byte { return mustMarshal(h.wire(false)) }

// SigningBytes returns BlockDomain ‖ the encoding without the signature.
func (h BlockHeader) SigningBytes() []byte { return append([]byte(BlockDomain), h.unsigned()...) }

// Hash identifies the block: BLAKE3 over a domain tag and the unsigned
// header encoding. It is the next header's Prev.
func (h BlockHeader) Hash() [32]byte { return domainHash(blockIDDomain, h.unsigned()) }

// Sign sets Version if unset and signs h with priv, the Ed25519 key of
// h.Proposer.
func (h *BlockHeader) Sign(priv crypto.PrivKey) error {
	if h.Version == 0 {
		h.Version = BlockVersion
	}
	sig, err := signWith(priv, h.Proposer, h.SigningBytes())
	if err != nil {
		return err
	}
	h.Sig = sig
	return nil
}

// VerifySignature checks Sig against the key embedded in Proposer
// (ErrBlockSignature, ErrUnsupportedKey).
func (h BlockHeader) VerifySignature() error {
	if len(h.Sig) == 0 {
		return errf(ErrBlockSignature, "block is not signed")
	}
	return verifySig(h.Proposer, h.SigningBytes(), h.Sig, ErrBlockSignature)
}

// Hash is the block's header hash.
func (b *Block) Hash() [32]byte { return b.Header.Hash() }

// Encode returns the canonical encoding of the block.
func (b *Block) Encode() []byte {
	return mustMarshal(&wireBlock{Version: BlockVersion, Header: b.Header.wire(true), Txs: b.Body.Txs, Proofs: b.Body.Proofs})
}

func headerFromWire(w *wireBlockHeader) (BlockHeader, error) {
	var h BlockHeader
	if w == nil {
		return h, malformed("block without header")
	}
	if w.Version != BlockVersion {
		return h, errf(ErrUnsupportedVersion, "block header version %d, want %d", w.Version, BlockVersion)
	}
	var err error
	if h.Proposer, err = peerFromWire(w.Proposer, "block proposer"); err != nil {
		return h, err
	}
	if len(w.Sig) != 0 && len(w.Sig) != sigLen {
		return h, malformed("block signature: %d bytes, want %d", len(w.Sig), sigLen)
	}
	for _, f := range []struct {
		dst  *[32]byte
		src  []byte
		what string
	}{{&h.Prev, w.Prev, "block prev"}, {&h.TxRoot, w.TxRoot, "block tx root"},
		{&h.ProofRoot, w.ProofRoot, "block proof root"}, {&h.StateRoot, w.StateRoot, "block state root"}} {
		if *f.dst, err = hashFromWire(f.src, f.what); err != nil {
			return h, err
		}
	}
	h.Version, h.Height, h.Slot = w.Version, w.Height, Slot(w.Slot)
	if len(w.Sig) > 0 {
		h.Sig = bytes.Clone(w.Sig)
	}
	return h, nil
}

// DecodeBlockHeader is the strict inverse of BlockHeader.Encode
// (structure only; see VerifySignature and VerifyHeader).
func DecodeBlockHeader(b []byte) (BlockHeader, error) {
	if len(b) > maxHeaderBytes {
		return BlockHeader{}, malformed("block header of %d bytes", len(b))
	}
	var w wireBlockHeader
	if err := decodeStrict(b, &w, BlockVersion, "block header"); err != nil {
		return BlockHeader{}, err
	}
	return headerFromWire(&w)
}

// DecodeBlock is the strict inverse of Block.Encode. It enforces the size
// limits of bp before and after decoding (ErrBlockTooLarge,
// ErrBlockTooManyTxs) and the structure (ErrMalformed,
// ErrUnsupportedVersion), not the signature, the roots or the chain rules
// (VerifyBlock).
func DecodeBlock(b []byte, bp BlockParams) (*Block, error) {
	if len(b) > bp.MaxBlockBytes {
		return nil, errf(ErrBlockTooLarge, "block of %d bytes, limit %d", len(b), bp.MaxBlockBytes)
	}
	var w wireBlock
	if err := decodeStrict(b, &w, BlockVersion, "block"); err != nil {
		return nil, err
	}
	h, err := headerFromWire(w.Header)
	if err != nil {
		return nil, err
	}
	if len(w.Txs) > bp.MaxBlockTxs {
		return nil, errf(ErrBlockTooManyTxs, "%d transactions, limit %d", len(w.Txs), bp.MaxBlockTxs)
	}
	for _, l := range []struct {
		items [][]byte
		what  string
	}{{w.Txs, "transaction"}, {w.Proofs, "proof"}} {
		for i, it := range l.items {
			if len(it) == 0 {
				return nil, malformed("empty %s %d", l.what, i)
			}
		}
	}
	return &Block{Header: h, Body: Body{Txs: w.Txs, Proofs: w.Proofs}}, nil
}

// TxRoot is the Merkle root of a block's transactions (see merkleRoot).
func TxRoot(txs [][]byte) [32]byte { return merkleRoot(txTreeDomain, txs) }

// ProofRoot is the Merkle root of a block's encoded proofs.
func ProofRoot(proofs [][]byte) [32]byte { return merkleRoot(proofTreeDomain, proofs) }

// merkleRoot is a binary BLAKE3 Merkle tree in the layout of package
// media (pairs hashed left to right, an unpaired last node promoted), but
// with its own domain tag per tree so that a block root can never be
// passed off as a recording root or the other root of a block:
//
//	leaf  = BLAKE3(tag ‖ 0x00 ‖ item)
//	node  = BLAKE3(tag ‖ 0x01 ‖ left ‖ right)
//	empty = BLAKE3(tag ‖ 0x02)
//
// Leaves and nodes are separated, so no list of items has the root of
// another list (barring BLAKE3 collisions).
func merkleRoot(tag string, items [][]byte) [32]byte {
	if len(items) == 0 {
		return domainHash(tag, []byte{0x02})
	}
	level := make([][32]byte, len(items))
	for i, it := range items {
		level[i] = domainHash(tag, []byte{0x00}, it)
	}
	for len(level) > 1 {
		n := len(level)
		for i := 0; i+1 < n; i += 2 {
			level[i/2] = domainHash(tag, []byte{0x01}, level[i][:], level[i+1][:])
		}
		if n%2 == 1 {
			level[n/2] = level[n-1]
		}
		level = level[:(n+1)/2]
	}
	return level[0]
}

// ProposerRank returns the rank of proposer in the slot (0 = primary,
// k = k-th fallback), or false when it is not a leader of the slot. A
// proposer ranks as its node entity, or as its pool (pool non-empty)
// when it is a member of one.
func ProposerRank(leaders SlotLeaders, proposer peer.ID, pool []byte) (int, bool) {
	if proposer == "" {
		return 0, false
	}
	if len(pool) > 0 {
		return leaders.Rank(PoolEntity(pool))
	}
	return leaders.Rank(NodeEntity(proposer))
}

// ProposerRank is the rank of a block's proposer under bp: the bootstrap
// node in slots without an eligible leader, else ProposerRank with the
// proposer's pool on the branch ending at parent.
func (bp BlockParams) ProposerRank(parent [32]byte, leaders SlotLeaders, proposer peer.ID) (int, bool) {
	if leaders.Primary == "" {
		return 0, bp.Bootstrap != "" && proposer == bp.Bootstrap
	}
	var pool []byte
	if bp.PoolOf != nil {
		pool, _ = bp.PoolOf(parent, proposer)
	}
	return ProposerRank(leaders, proposer, pool)
}

// VerifyHeader checks a header against its parent and the schedule of its
// slot, in this order: version (ErrUnsupportedVersion), leaders for
// another slot (ErrInvalidArgument), height (ErrBlockHeight), slot
// (ErrBlockSlot), link (ErrBlockPrev), proposer (ErrNotProposer), turn
// (ErrProposerEarly), signature (ErrBlockSignature, ErrUnsupportedKey).
//
// arrival is how far into the block's slot the block arrived. A fallback
// of rank k is allowed once k·SlotTimeout has elapsed, the time
// LeaderAt hands it the turn; the primary is always allowed, as is any
// leader once the slot is over. ArrivalAny (any negative value) skips the
// turn check.
func VerifyHeader(h *BlockHeader, parent *BlockHeader, leaders SlotLeaders, bp BlockParams, arrival time.Duration) error {
	if h.Version != BlockVersion {
		return errf(ErrUnsupportedVersion, "block version %d, want %d", h.Version, BlockVersion)
	}
	if leaders.Slot != h.Slot {
		return errf(ErrInvalidArgument, "leaders of slot %d for a block at slot %d", leaders.Slot, h.Slot)
	}
	if parent.Height == ^uint64(0) || h.Height != parent.Height+1 {
		return errf(ErrBlockHeight, "height %d after parent height %d", h.Height, parent.Height)
	}
	if h.Slot <= parent.Slot {
		return errf(ErrBlockSlot, "slot %d after parent slot %d", h.Slot, parent.Slot)
	}
	if h.Prev != parent.Hash() {
		return errf(ErrBlockPrev, "prev %x is not the parent's hash", h.Prev[:8])
	}
	rank, ok := bp.ProposerRank(h.Prev, leaders, h.Proposer)
	if !ok {
		return errf(ErrNotProposer, "%s at slot %d", h.Proposer, h.Slot)
	}
	if arrival >= 0 && arrival < bp.Params.SlotLength && arrival < time.Duration(rank)*bp.Params.SlotTimeout {
		return errf(ErrProposerEarly, "rank %d at %v into the slot (turn at %v)", rank, arrival,
			time.Duration(rank)*bp.Params.SlotTimeout)
	}
	return h.VerifySignature()
}

// VerifyBlock checks a block: the header as VerifyHeader does, then the
// limits (ErrBlockTooLarge, ErrBlockTooManyTxs) and the roots (ErrTxRoot,
// ErrProofRoot). Every error wraps exactly one sentinel. It does not
// verify the included proofs or execute the transactions (StateRoot).
func VerifyBlock(b *Block, parent *BlockHeader, leaders SlotLeaders, bp BlockParams, arrival time.Duration) error {
	if err := VerifyHeader(&b.Header, parent, leaders, bp, arrival); err != nil {
		return err
	}
	if len(b.Body.Txs) > bp.MaxBlockTxs {
		return errf(ErrBlockTooManyTxs, "%d transactions, limit %d", len(b.Body.Txs), bp.MaxBlockTxs)
	}
	if n := len(b.Encode()); n > bp.MaxBlockBytes {
		return errf(ErrBlockTooLarge, "block of %d bytes, limit %d", n, bp.MaxBlockBytes)
	}
	if TxRoot(b.Body.Txs) != b.Header.TxRoot {
		return errf(ErrTxRoot, "header %x", b.Header.TxRoot[:8])
	}
	if ProofRoot(b.Body.Proofs) != b.Header.ProofRoot {
		return errf(ErrProofRoot, "header %x", b.Header.ProofRoot[:8])
	}
	return nil
}

// Equivocation is evidence that one proposer signed two different headers
// for one slot. A is the one with the lower hash.
type Equivocation struct {
	A, B BlockHeader
}

// DetectEquivocation reports whether a and b are equivocation evidence:
// the same slot and proposer, different content (hashes) and both
// signatures valid.
func DetectEquivocation(a, b *BlockHeader) bool {
	return a.Slot == b.Slot && a.Proposer == b.Proposer && a.Proposer != "" &&
		a.Hash() != b.Hash() && a.VerifySignature() == nil && b.VerifySignature() == nil
}
