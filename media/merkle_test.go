package media

import (
	"fmt"
	"math/bits"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"
	"lukechampine.com/blake3"
)

func testLeaves(n int) [][32]byte {
	out := make([][32]byte, n)
	for i := range out {
		out[i] = LeafHash(fmt.Appendf(nil, "chunk %d", i))
	}
	return out
}

func TestLeafAndNodeDomains(t *testing.T) {
	data := []byte("sealed chunk")
	require.Equal(t, blake3.Sum256(append([]byte{0x00}, data...)), LeafHash(data))
	a, b := testLeaves(2)[0], testLeaves(2)[1]
	require.Equal(t, blake3.Sum256(append(append([]byte{0x01}, a[:]...), b[:]...)), nodeHash(a, b))
	require.Equal(t, blake3.Sum256([]byte{0x02}), EmptyRoot)
	// A node is never a leaf: hashing a node's preimage as chunk bytes
	// gives something else.
	require.NotEqual(t, nodeHash(a, b), LeafHash(append(a[:], b[:]...)))
}

func TestMerkleRootSmall(t *testing.T) {
	l := testLeaves(8)
	n := nodeHash
	cases := []struct {
		count int
		want  [32]byte
	}{
		{0, EmptyRoot},
		{1, l[0]},
		{2, n(l[0], l[1])},
		{3, n(n(l[0], l[1]), l[2])},
		{4, n(n(l[0], l[1]), n(l[2], l[3]))},
		{5, n(n(n(l[0], l[1]), n(l[2], l[3])), l[4])},
		{6, n(n(n(l[0], l[1]), n(l[2], l[3])), n(l[4], l[5]))},
		{7, n(n(n(l[0], l[1]), n(l[2], l[3])), n(n(l[4], l[5]), l[6]))},
		{8, n(n(n(l[0], l[1]), n(l[2], l[3])), n(n(l[4], l[5]), n(l[6], l[7])))},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, MerkleRoot(l[:tc.count]), "count %d", tc.count)
	}
}

// TestMerkleNoDuplication: the original paired an odd node with itself,
// so [a b c] and [a b c c] had one root.
func TestMerkleNoDuplication(t *testing.T) {
	l := testLeaves(3)
	require.NotEqual(t, MerkleRoot(l), MerkleRoot(append(l, l[2])))
	l5 := testLeaves(5)
	require.NotEqual(t, MerkleRoot(l5), MerkleRoot(append(l5, l5[4])))
	// Every prefix of a list has its own root.
	l = testLeaves(64)
	seen := map[[32]byte]int{}
	for n := range len(l) + 1 {
		r := MerkleRoot(l[:n])
		prev, dup := seen[r]
		require.False(t, dup, "counts %d and %d share a root", prev, n)
		seen[r] = n
	}
}

// rfc6962Root is the RFC 6962 §2.1 recursion (split at the largest power
// of two below n) with this package's hashes.
func rfc6962Root(l [][32]byte) [32]byte {
	switch len(l) {
	case 0:
		return EmptyRoot
	case 1:
		return l[0]
	}
	k := 1 << (bits.Len(uint(len(l)-1)) - 1)
	return nodeHash(rfc6962Root(l[:k]), rfc6962Root(l[k:]))
}

func TestMerkleShapeIsRFC6962(t *testing.T) {
	l := testLeaves(300)
	for n := range len(l) + 1 {
		require.Equal(t, rfc6962Root(l[:n]), MerkleRoot(l[:n]), "count %d", n)
	}
}

func TestMerkleRootDoesNotModifyLeaves(t *testing.T) {
	l := testLeaves(7)
	c := append([][32]byte(nil), l...)
	MerkleRoot(l)
	_, err := Prove(l, 3)
	require.NoError(t, err)
	require.Equal(t, c, l)
}

func TestProveVerifyAll(t *testing.T) {
	for n := 1; n <= 70; n++ {
		leaves := testLeaves(n)
		root := MerkleRoot(leaves)
		for i := range uint64(n) {
			p, err := Prove(leaves, i)
			require.NoError(t, err)
			require.Equal(t, Proof{Index: i, Count: uint64(n), Siblings: p.Siblings}, p)
			require.Len(t, p.Siblings, proofLen(i, uint64(n)))
			require.NoError(t, Verify(root, leaves[i], p), "leaf %d of %d", i, n)

			enc, err := p.Encode()
			require.NoError(t, err)
			dec, err := DecodeProof(enc)
			require.NoError(t, err)
			require.Equal(t, p, dec)

			// Wrong leaf, index, count or sibling all fail.
			other := leaves[(i+1)%uint64(n)]
			if n > 1 {
				requireSentinel(t, Verify(root, other, p), ErrBadProof)
				q := p
				q.Index = (i + 1) % uint64(n)
				requireSentinel(t, Verify(root, leaves[i], q), ErrBadProof)
			}
			if len(p.Siblings) > 0 {
				q := p
				q.Siblings = append([][32]byte(nil), p.Siblings...)
				q.Siblings[0][0] ^= 1
				requireSentinel(t, Verify(root, leaves[i], q), ErrBadProof)
				q.Siblings = p.Siblings[1:]
				requireSentinel(t, Verify(root, leaves[i], q), ErrBadProof)
			}
		}
	}
}

// TestProofCountMustBeTrusted documents why Verify's caller must take
// Count from the manifest (anchored with the root), as with RFC 6962 audit
// paths: promotion makes some paths of different tree sizes coincide.
func TestProofCountMustBeTrusted(t *testing.T) {
	l := testLeaves(3)
	root := MerkleRoot(l)
	p, err := Prove(l, 0)
	require.NoError(t, err)
	p.Count = 4 // same path length, same hashes
	require.NoError(t, Verify(root, l[0], p))
	q := Proof{Index: 1, Count: 2, Siblings: [][32]byte{nodeHash(l[0], l[1])}}
	require.NoError(t, Verify(root, l[2], q), "leaf 2 of 3 poses as leaf 1 of 2")
}

func TestProveErrors(t *testing.T) {
	_, err := Prove(nil, 0)
	requireSentinel(t, err, ErrInvalidArgument)
	_, err = Prove(testLeaves(3), 3)
	requireSentinel(t, err, ErrInvalidArgument)
	requireSentinel(t, Verify(EmptyRoot, EmptyRoot, Proof{}), ErrBadProof)
	_, err = Proof{Index: 0, Count: 2}.Encode()
	requireSentinel(t, err, ErrMalformed)
}

func TestDecodeProofRejects(t *testing.T) {
	leaves := testLeaves(5)
	p, err := Prove(leaves, 2)
	require.NoError(t, err)
	good, err := p.Encode()
	require.NoError(t, err)
	sib := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = make([]byte, 32)
		}
		return out
	}
	enc := func(v any) []byte {
		b, err := cbor.Marshal(v)
		require.NoError(t, err)
		return b
	}
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"not a map", enc([]int{1, 2})},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"zero count", enc(map[uint64]any{3: sib(1)})},
		{"index out of range", enc(map[uint64]any{1: 5, 2: 5, 3: sib(3)})},
		{"too few siblings", enc(map[uint64]any{1: 2, 2: 5, 3: sib(2)})},
		{"too many siblings", enc(map[uint64]any{1: 2, 2: 5, 3: sib(4)})},
		{"short sibling", enc(map[uint64]any{2: 2, 3: [][]byte{make([]byte, 31)}})},
		{"explicit zero index", enc(map[uint64]any{1: 0, 2: 2, 3: sib(1)})},
		{"unknown key", enc(map[uint64]any{2: 1, 4: 1})},
		{"non-shortest integer", append([]byte{0xa1, 0x02, 0x18, 0x01}, nil...)},
		{"indefinite map", []byte{0xbf, 0x02, 0x01, 0xff}},
		{"duplicate key", []byte{0xa2, 0x02, 0x01, 0x02, 0x01}},
		{"tag", []byte{0xc0, 0xa1, 0x02, 0x01}},
		{"unsorted keys", []byte{0xa2, 0x02, 0x03, 0x01, 0x01, 0x03, 0x80}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeProof(tc.b)
			requireSentinel(t, err, ErrMalformed)
		})
	}
	// A one-leaf proof has no siblings and is just the count.
	one, err := Proof{Index: 0, Count: 1}.Encode()
	require.NoError(t, err)
	require.Equal(t, []byte{0xa1, 0x02, 0x01}, one)
}
