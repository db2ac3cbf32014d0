package consensus

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"lukechampine.com/blake3"
	"lukechampine.com/blake3/bao"

	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/sessions"
)

// ChallengeDomain prefixes the storage challenge hash.
const ChallengeDomain = "lucid/poot/storage-challenge/1\n"

// ChallengeBlock is the size of the challenged range: one BLAKE3 chunk,
// so a Bao slice of it carries exactly one 1 KiB group.
const ChallengeBlock = 1024

// StorageClaim is one recording a node claims to store, as chain state
// records it: the session, the anchored Merkle root over its sealed
// chunks, and each chunk's sealed size in index order (from the anchored
// manifest). The claim's chunk count is len(ChunkSizes).
type StorageClaim struct {
	Session    sessions.ID
	Root       [32]byte
	ChunkSizes []uint64
}

// ClaimSet is a node's claims in canonical order (by root), with the
// prefix sums the challenge uses to pick a chunk among all of them.
type ClaimSet struct {
	claims []StorageClaim
	ends   []uint64 // ends[i] = chunks in claims[0..i]
}

// NewClaimSet validates and orders claims: at least one claim, distinct
// roots, valid session IDs, 1..2^20 chunks per claim (media.MaxChunks) of
// 1..2^40 bytes each. Errors wrap ErrInvalidArgument.
func NewClaimSet(claims []StorageClaim) (*ClaimSet, error) {
	if len(claims) == 0 {
		return nil, errf(ErrInvalidArgument, "no claims")
	}
	cs := &ClaimSet{claims: make([]StorageClaim, len(claims)), ends: make([]uint64, len(claims))}
	for i, c := range claims {
		cs.claims[i] = StorageClaim{Session: c.Session, Root: c.Root, ChunkSizes: slices.Clone(c.ChunkSizes)}
	}
	slices.SortFunc(cs.claims, func(a, b StorageClaim) int { return bytes.Compare(a.Root[:], b.Root[:]) })
	var total uint64
	for i, c := range cs.claims {
		if i > 0 && cs.claims[i-1].Root == c.Root {
			return nil, errf(ErrInvalidArgument, "root %x claimed twice", c.Root[:8])
		}
		if !c.Session.Valid() {
			return nil, errf(ErrInvalidArgument, "claim %x: invalid session ID", c.Root[:8])
		}
		if n := len(c.ChunkSizes); n == 0 || n > media.MaxChunks {
			return nil, errf(ErrInvalidArgument, "claim %x: %d chunks, want 1..%d", c.Root[:8], n, media.MaxChunks)
		}
		for j, s := range c.ChunkSizes {
			if s == 0 || s > maxChunkSize {
				return nil, errf(ErrInvalidArgument, "claim %x chunk %d: size %d, want 1..%d", c.Root[:8], j, s, uint64(maxChunkSize))
			}
		}
		total += uint64(len(c.ChunkSizes))
		if total > maxClaimChunksTotal {
			return nil, errf(ErrInvalidArgument, "more than %d chunks claimed", uint64(maxClaimChunksTotal))
		}
		cs.ends[i] = total
	}
	return cs, nil
}

// Chunks is the number of chunks claimed in all.
func (cs *ClaimSet) Chunks() uint64 { return cs.ends[len(cs.ends)-1] }

// Claims returns the claims in canonical order (a copy).
func (cs *ClaimSet) Claims() []StorageClaim {
	out := make([]StorageClaim, len(cs.claims))
	for i, c := range cs.claims {
		out[i] = StorageClaim{Session: c.Session, Root: c.Root, ChunkSizes: slices.Clone(c.ChunkSizes)}
	}
	return out
}

func (cs *ClaimSet) find(root [32]byte) (int, bool) {
	return slices.BinarySearchFunc(cs.claims, root, func(c StorageClaim, r [32]byte) int { return bytes.Compare(c.Root[:], r[:]) })
}

// Challenge is what a storage proof for one node and slot must answer: a
// chunk of one claimed recording and a range of the Bao input 0x00 ‖
// sealed chunk (whose BLAKE3 hash is the chunk's leaf).
type Challenge struct {
	Session    sessions.ID
	Root       [32]byte
	Chunk      uint64 // index in the recording
	ChunkCount uint64
	Size       uint64 // sealed size
	Offset     uint64 // multiple of ChallengeBlock
	Length     uint64 // min(ChallengeBlock, 1+Size−Offset)
}

// StorageChallenge derives the challenge of node for slot:
//
//	h = BLAKE3-512(ChallengeDomain ‖ seed ‖ slot (8 bytes, big-endian) ‖ node ID bytes)
//	g = (h[0:16] as a 128-bit big-endian integer) mod (chunks claimed)
//	b = (h[16:32] as a 128-bit big-endian integer) mod ⌈(1+size)/1024⌉
//
// where chunk g counts through the claims in canonical order (by root),
// and block b of the Bao input 0x00 ‖ sealed chunk is challenged. The seed
// is the hash the schedule uses for the slot (Chain.Seed): the latest
// block at a slot ≤ slot−Lookahead, so nobody knows the challenge before
// that block exists.
func StorageChallenge(seed [32]byte, slot Slot, node peer.ID, set *ClaimSet) (Challenge, error) {
	if set == nil || len(set.claims) == 0 {
		return Challenge{}, errf(ErrNoClaims, "%s", node)
	}
	h := blake3.New(64, nil)
	h.Write([]byte(ChallengeDomain))
	h.Write(seed[:])
	h.Write(be64(uint64(slot)))
	h.Write([]byte(node))
	var d [64]byte
	h.Sum(d[:0])
	g := bits.Rem64(binary.BigEndian.Uint64(d[0:8]), binary.BigEndian.Uint64(d[8:16]), set.Chunks())
	i, _ := slices.BinarySearch(set.ends, g+1) // first i with ends[i] ≥ g+1
	c := set.claims[i]
	chunk := g
	if i > 0 {
		chunk -= set.ends[i-1]
	}
	size := c.ChunkSizes[chunk]
	n := 1 + size
	blocks := (n + ChallengeBlock - 1) / ChallengeBlock
	b := bits.Rem64(binary.BigEndian.Uint64(d[16:24]), binary.BigEndian.Uint64(d[24:32]), blocks)
	off := b * ChallengeBlock
	return Challenge{
		Session:    c.Session,
		Root:       c.Root,
		Chunk:      chunk,
		ChunkCount: uint64(len(c.ChunkSizes)),
		Size:       size,
		Offset:     off,
		Length:     min(ChallengeBlock, n-off),
	}, nil
}

// ProveStorage answers the storage challenge of the key's node for slot.
// The caller first asks StorageChallenge which chunk is challenged, then
// passes that chunk's sealed bytes and the leaves of its recording (from
// the manifest). Errors: ErrChunkMismatch when the bytes or leaves are not
// the claimed chunk or recording; ErrOversize when the proof exceeds
// p.MaxProofSize.
func ProveStorage(priv crypto.PrivKey, pool []byte, p Params, seed [32]byte, slot Slot, set *ClaimSet, sealed []byte, leaves [][32]byte) (*Proof, error) {
	if priv == nil {
		return nil, errf(ErrInvalidArgument, "nil private key")
	}
	node, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, errf(ErrInvalidArgument, "deriving peer ID: %v", err)
	}
	ch, err := StorageChallenge(seed, slot, node, set)
	if err != nil {
		return nil, err
	}
	if uint64(len(leaves)) != ch.ChunkCount || media.MerkleRoot(leaves) != ch.Root {
		return nil, errf(ErrChunkMismatch, "leaves do not form the claimed root %x", ch.Root[:8])
	}
	leaf := leaves[ch.Chunk]
	if uint64(len(sealed)) != ch.Size || media.LeafHash(sealed) != leaf {
		return nil, errf(ErrChunkMismatch, "bytes are not chunk %d of %x", ch.Chunk, ch.Root[:8])
	}
	inclusion, err := media.Prove(leaves, ch.Chunk)
	if err != nil {
		return nil, errf(ErrChunkMismatch, "%v", err)
	}
	slice, err := BaoSlice(sealed, ch.Offset, ch.Length)
	if err != nil {
		return nil, err
	}
	pr := &Proof{Type: TypeStorage, Pool: pool, Slot: slot, Storage: &StorageBody{
		Session: ch.Session, Root: ch.Root, Chunk: ch.Chunk, Size: ch.Size, Leaf: leaf, Inclusion: inclusion, Slice: slice,
	}}
	if pr, err = newSigned(priv, pr); err != nil {
		return nil, err
	}
	if b, _ := pr.Encode(); uint64(len(b)) > p.MaxProofSize {
		return nil, errf(ErrOversize, "storage proof: %d bytes, limit %d", len(b), p.MaxProofSize)
	}
	return pr, nil
}

// BaoSlice extracts the Bao slice (group 0, from an outboard encoding) of
// [off, off+length) of the input 0x00 ‖ sealed, whose Bao root is
// media.LeafHash(sealed). Exported for provers that cache outboards and for
// tests.
func BaoSlice(sealed []byte, off, length uint64) ([]byte, error) {
	input := make([]byte, 1+len(sealed))
	copy(input[1:], sealed)
	n := uint64(len(input))
	if off%ChallengeBlock != 0 || length == 0 || length > ChallengeBlock || off+length > n {
		return nil, errf(ErrInvalidArgument, "range [%d, +%d) of %d bytes", off, length, n)
	}
	outboard, _ := bao.EncodeBuf(input, 0, true)
	var buf bytes.Buffer
	if err := bao.ExtractSlice(&buf, bytes.NewReader(input[off:off+length]), bytes.NewReader(outboard), 0, off, length); err != nil {
		return nil, errf(ErrInvalidArgument, "extracting slice: %v", err)
	}
	return buf.Bytes(), nil
}

// verifySlice checks that slice is the Bao slice of [ch.Offset,
// +ch.Length) of a 1+ch.Size-byte input whose root is leaf. The length
// header is compared with the claimed size first: a slice that does not
// include the last chunk does not authenticate the length by itself.
func verifySlice(slice []byte, leaf [32]byte, ch Challenge) error {
	if len(slice) < 8 || binary.LittleEndian.Uint64(slice[:8]) != 1+ch.Size {
		return errf(ErrBadSlice, "length header does not match the %d-byte chunk", ch.Size)
	}
	if _, ok := bao.VerifySlice(slice, 0, ch.Offset, ch.Length, leaf); !ok {
		return errf(ErrBadSlice, "block at %d of chunk %d does not verify against leaf %x", ch.Offset, ch.Chunk, leaf[:8])
	}
	return nil
}
