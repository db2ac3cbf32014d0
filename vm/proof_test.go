package vm

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMerklePathsAllSizes(t *testing.T) {
	for n := 1; n <= 40; n++ {
		var leaves [][32]byte
		for i := range n {
			leaves = append(leaves, h32(fmt.Sprint(n, i)))
		}
		root := merkleRoot(leaves)
		for i := range n {
			path := auditPath(i, leaves)
			got, ok := rootFromPath(leaves[i], uint64(i), uint64(n), path)
			require.True(t, ok)
			require.Equal(t, root, got, "n=%d i=%d", n, i)
			if n > 1 {
				_, ok = rootFromPath(leaves[i], uint64(i), uint64(n), path[:len(path)-1])
				if ok {
					got, _ = rootFromPath(leaves[i], uint64(i), uint64(n), path[:len(path)-1])
					require.NotEqual(t, root, got)
				}
				got, _ = rootFromPath(leaves[i], uint64((i+1)%n), uint64(n), path)
				require.NotEqual(t, root, got)
			}
		}
	}
	require.NotEqual(t, merkleRoot(nil), merkleRoot([][32]byte{{}}))
}

func TestSessionProof(t *testing.T) {
	c := newChain(t)
	a := newActor(t, "a")
	var txs [][]byte
	for i := range 50 {
		txs = append(txs, c.next(a, register(i, uint64(i+1))))
	}
	c.block(txs...)
	for i := range 50 {
		p, root, err := c.s.ProveSession(sid(i))
		require.NoError(t, err)
		require.Equal(t, c.s.Root(), root)
		require.NoError(t, VerifySessionProof(root, p))
		q, err := DecodeSessionProof(p.Encode())
		require.NoError(t, err)
		require.Equal(t, p.Encode(), q.Encode())
		require.NoError(t, VerifySessionProof(root, q))

		bad := p
		bad.Record.Chunks++
		require.ErrorIs(t, VerifySessionProof(root, bad), ErrBadProof)
		bad = p
		bad.Session = sid(i + 100)
		require.ErrorIs(t, VerifySessionProof(root, bad), ErrBadProof)
		bad = p
		bad.Index++
		require.ErrorIs(t, VerifySessionProof(root, bad), ErrBadProof)
		bad = p
		bad.Path = append([][32]byte(nil), p.Path...)
		bad.Path[0][0] ^= 1
		require.ErrorIs(t, VerifySessionProof(root, bad), ErrBadProof)
	}
	_, _, err := c.s.ProveSession(sid(99))
	require.ErrorIs(t, err, ErrUnknownSession)
	// A proof is for one root: the next block's root differs.
	p, root, _ := c.s.ProveSession(sid(1))
	c.block()
	require.NotEqual(t, root, c.s.Root())
	require.ErrorIs(t, VerifySessionProof(c.s.Root(), p), ErrBadProof)
}
