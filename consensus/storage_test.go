package consensus

import (
	"testing"

	"github.com/stretchr/testify/require"
	"lukechampine.com/blake3/bao"

	"github.com/lucidnet/lucid/media"
)

// The chunk leaf is the Bao root (group 0) of 0x00 ‖ sealed chunk: that is
// what lets anyone verify a slice of a chunk against its leaf.
func TestLeafIsBaoRoot(t *testing.T) {
	for _, n := range []int{1, 1023, 1024, 1025, 5000, 70_000} {
		rec := newRecording(sid(n), 1, n)
		input := append([]byte{0}, rec.chunks[0]...)
		_, root := bao.EncodeBuf(input, 0, true)
		require.Equal(t, media.LeafHash(rec.chunks[0]), root, "size %d", n)
	}
}

func TestStorageProofRoundTrip(t *testing.T) {
	p := testParams()
	node := newActor(t, "storer")
	f := newFakeChain(p)
	recs := []recording{newRecording(sid(1), 7, 3000, 1024, 5), newRecording(sid(2), 3, 10_000)}
	set, err := NewClaimSet([]StorageClaim{recs[0].claim(), recs[1].claim()})
	require.NoError(t, err)
	f.claims[node.id] = set
	for s := Slot(0); s < 40; s++ {
		f.addBlock(t, s, 1)
	}
	hit := map[[32]byte]bool{}
	for s := Slot(2); s < 40; s++ {
		pr := proveFor(t, p, node, nil, f, s, recs...)
		require.NoError(t, VerifyProof(pr, p, s, f.ctx()))
		b := mustEncode(t, pr)
		d, err := DecodeProof(b)
		require.NoError(t, err)
		require.NoError(t, VerifyProof(d, p, s, f.ctx()))
		hit[pr.Storage.Root] = true
	}
	require.Len(t, hit, 2, "challenges reach every claim")
}

func TestClaimSetBounds(t *testing.T) {
	r := newRecording(sid(1), 2, 100)
	_, err := NewClaimSet(nil)
	requireSentinel(t, err, ErrInvalidArgument)
	_, err = NewClaimSet([]StorageClaim{r.claim(), r.claim()})
	requireSentinel(t, err, ErrInvalidArgument)
	c := r.claim()
	c.ChunkSizes[1] = 0
	_, err = NewClaimSet([]StorageClaim{c})
	requireSentinel(t, err, ErrInvalidArgument)
	c = r.claim()
	c.ChunkSizes = nil
	_, err = NewClaimSet([]StorageClaim{c})
	requireSentinel(t, err, ErrInvalidArgument)
}
