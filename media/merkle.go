package media

import (
	"bytes"
	"fmt"

	"lukechampine.com/blake3"
)

// Merkle tree over a recording's sealed chunks (docs/recording-format.md,
// "Merkle tree"). Three domain bytes keep leaves, inner nodes and the
// empty tree apart, so a node can never be presented as a leaf (the
// original hashed both the same way):
//
//	leaf  = BLAKE3(0x00 ‖ sealed chunk)
//	node  = BLAKE3(0x01 ‖ left ‖ right)
//	empty = BLAKE3(0x02)
//
// Levels are built left to right; an unpaired last node is promoted to the
// next level unchanged. Duplicating it instead (the original) makes the
// lists [a, b, c] and [a, b, c, c] share a root. With promotion the tree
// has the same shape as RFC 6962's, and the chunk count fixes the shape.
const (
	leafDomain  = 0x00
	nodeDomain  = 0x01
	emptyDomain = 0x02
)

// EmptyRoot is the root of a tree without leaves.
var EmptyRoot = blake3.Sum256([]byte{emptyDomain})

// LeafHash is the leaf of one sealed chunk: the whole chunk, header
// included, so the tree commits to every byte stored.
func LeafHash(sealed []byte) [32]byte {
	h := blake3.New(32, nil)
	h.Write([]byte{leafDomain})
	h.Write(sealed)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func nodeHash(left, right [32]byte) [32]byte {
	var b [1 + 64]byte
	b[0] = nodeDomain
	copy(b[1:], left[:])
	copy(b[33:], right[:])
	return blake3.Sum256(b[:])
}

// MerkleRoot is the root over leaves in index order.
func MerkleRoot(leaves [][32]byte) [32]byte {
	if len(leaves) == 0 {
		return EmptyRoot
	}
	level := make([][32]byte, len(leaves))
	copy(level, leaves)
	for len(level) > 1 {
		level = nextLevel(level)
	}
	return level[0]
}

// nextLevel hashes pairs in place and promotes an unpaired last node.
func nextLevel(level [][32]byte) [][32]byte {
	n := len(level)
	for i := 0; i+1 < n; i += 2 {
		level[i/2] = nodeHash(level[i], level[i+1])
	}
	if n%2 == 1 {
		level[n/2] = level[n-1]
	}
	return level[:(n+1)/2]
}

// Proof shows that a leaf is at Index in a tree of Count leaves. Siblings
// run from the leaf's level upward and skip the levels where the path's
// node was promoted, so their number is determined by Index and Count.
type Proof struct {
	Index, Count uint64
	Siblings     [][32]byte
}

// proofLen is the number of siblings on the path of leaf i of n (i < n).
func proofLen(i, n uint64) int {
	k := 0
	for n > 1 {
		if i%2 == 1 || i+1 < n {
			k++
		}
		i, n = i/2, (n+1)/2
	}
	return k
}

// Prove builds the proof for leaf i. Errors wrap ErrInvalidArgument.
func Prove(leaves [][32]byte, i uint64) (Proof, error) {
	n := uint64(len(leaves))
	if i >= n {
		return Proof{}, fmt.Errorf("%w: leaf %d of %d", ErrInvalidArgument, i, n)
	}
	p := Proof{Index: i, Count: n}
	level := make([][32]byte, len(leaves))
	copy(level, leaves)
	for idx := i; len(level) > 1; idx /= 2 {
		switch {
		case idx%2 == 1:
			p.Siblings = append(p.Siblings, level[idx-1])
		case idx+1 < uint64(len(level)):
			p.Siblings = append(p.Siblings, level[idx+1])
		}
		level = nextLevel(level)
	}
	return p, nil
}

// Verify checks that leaf is at proof.Index of the tree with root. Errors
// wrap ErrBadProof.
//
// The proof's Count is trusted: as with RFC 6962 audit paths, some paths
// in trees of different sizes coincide (leaf 2 of 3 and leaf 1 of 2 have
// the same path shape), so a verifier must check that proof.Count is the
// ChunkCount anchored with the root before relying on the index.
func Verify(root, leaf [32]byte, proof Proof) error {
	if err := proof.check(); err != nil {
		return err
	}
	h := leaf
	rest := proof.Siblings
	for i, n := proof.Index, proof.Count; n > 1; i, n = i/2, (n+1)/2 {
		switch {
		case i%2 == 1:
			h, rest = nodeHash(rest[0], h), rest[1:]
		case i+1 < n:
			h, rest = nodeHash(h, rest[0]), rest[1:]
		}
	}
	if h != root {
		return fmt.Errorf("%w: leaf %d of %d does not lead to root %x", ErrBadProof, proof.Index, proof.Count, root[:8])
	}
	return nil
}

// check validates the proof's shape.
func (p Proof) check() error {
	if p.Count == 0 || p.Index >= p.Count {
		return fmt.Errorf("%w: index %d of %d leaves", ErrBadProof, p.Index, p.Count)
	}
	if want := proofLen(p.Index, p.Count); len(p.Siblings) != want {
		return fmt.Errorf("%w: %d siblings, leaf %d of %d needs %d", ErrBadProof, len(p.Siblings), p.Index, p.Count, want)
	}
	return nil
}

// maxProofLen: a tree of 2^64-1 leaves is 64 levels deep.
const maxProofLen = 64

// wireProof is the CBOR form of a Proof.
type wireProof struct {
	Index    uint64   `cbor:"1,keyasint,omitempty"`
	Count    uint64   `cbor:"2,keyasint,omitempty"`
	Siblings [][]byte `cbor:"3,keyasint,omitempty"`
}

func (p Proof) wire() wireProof {
	w := wireProof{Index: p.Index, Count: p.Count}
	if len(p.Siblings) > 0 {
		w.Siblings = make([][]byte, len(p.Siblings))
		for i := range p.Siblings {
			w.Siblings[i] = p.Siblings[i][:]
		}
	}
	return w
}

func (w *wireProof) value() (Proof, error) {
	if len(w.Siblings) > maxProofLen {
		return Proof{}, malformed("proof: %d siblings", len(w.Siblings))
	}
	p := Proof{Index: w.Index, Count: w.Count}
	if len(w.Siblings) > 0 {
		p.Siblings = make([][32]byte, len(w.Siblings))
	}
	for i, s := range w.Siblings {
		var err error
		if p.Siblings[i], err = hashFromWire(s, fmt.Sprintf("proof sibling %d", i)); err != nil {
			return Proof{}, err
		}
	}
	if err := p.check(); err != nil {
		return Proof{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return p, nil
}

// Encode returns the canonical CBOR encoding of p: a map with 1 = index
// (omitted when 0), 2 = count, 3 = siblings (32-byte strings, omitted when
// none). A proof whose shape does not fit Index and Count is refused with
// ErrMalformed.
func (p Proof) Encode() ([]byte, error) {
	w := p.wire()
	if _, err := w.value(); err != nil {
		return nil, err
	}
	return mustMarshal(&w), nil
}

// DecodeProof is the strict inverse of Encode: duplicate keys, unknown
// keys, indefinite lengths, tags, trailing bytes and non-canonical forms
// fail with ErrMalformed, as does a proof with the wrong number of
// siblings. It does not check the proof against a root; Verify does.
func DecodeProof(b []byte) (Proof, error) {
	var w wireProof
	if err := decMode.Unmarshal(b, &w); err != nil {
		return Proof{}, malformed("proof: %v", err)
	}
	p, err := w.value()
	if err != nil {
		return Proof{}, err
	}
	if canon := p.wire(); !bytes.Equal(mustMarshal(&canon), b) {
		return Proof{}, malformed("proof is not in canonical encoding")
	}
	return p, nil
}
