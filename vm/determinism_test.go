package vm

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// scenario returns a fixed sequence of blocks exercising every transaction
// type, including failing ones.
func scenario(t testing.TB) []BlockInput {
	c := newChain(t)
	var nodes []actor
	for i := range 4 {
		nodes = append(nodes, newActor(t, fmt.Sprintf("d%d", i)))
		c.eligible = append(c.eligible, nodes[i].id)
	}
	bad := newActor(t, "d-bad")
	var blocks []BlockInput
	add := func(slot uint64, txs ...[]byte) {
		in := BlockInput{Height: c.s.Height() + 1, Slot: slot, Proposer: c.proposer.id, Txs: txs,
			Eligible: slices.Clone(c.eligible)}
		s, _, err := ApplyBlock(c.s, in)
		require.NoError(t, err)
		c.s = s
		blocks = append(blocks, in)
	}
	e0, e1 := nodeEntity(nodes[0].id), nodeEntity(bad.id)
	cr := []Credit{{Entity: e0, Micro: 10}, {Entity: e1, Micro: 20}}
	if bytes.Compare(e0, e1) > 0 {
		cr[0], cr[1] = cr[1], cr[0]
	}
	add(1, c.next(nodes[0], register(1, 4)), c.next(nodes[1], register(2, 2)), c.next(nodes[1], register(1, 2)))
	add(2, c.next(nodes[0], &AnchorChunk{Session: sid(1), Index: 3, Leaf: h32("l3")}),
		c.next(nodes[0], &ProposeParam{Name: "d_min", Value: 300_000}),
		c.next(nodes[2], &ClaimStorage{Session: sid(1), ChunkSizes: []uint64{10, 20, 30, 40}}),
		c.next(nodes[3], &ClaimStorage{Session: sid(2), ChunkSizes: []uint64{10}}), // fails: 2 chunks
		c.next(nodes[0], &SetPool{Pool: []byte("pool-x")}), c.next(nodes[1], &SetPool{Pool: []byte("pool-x")}),
		c.next(nodes[2], &SetPool{})) // fails: not in a pool
	add(3, c.next(nodes[1], &Vote{Proposal: 1, Yes: true}), c.next(nodes[2], &Vote{Proposal: 1, Yes: true}),
		c.next(nodes[2], &Vote{Proposal: 1, Yes: true}),
		c.next(nodes[3], &ClaimStorage{Session: sid(1), ChunkSizes: []uint64{10, 20, 30, 40}}),
		c.next(nodes[2], &ClaimStorage{Session: sid(1), ChunkSizes: []uint64{1, 2, 3, 4}}), // fails: claimed
		c.next(nodes[0], &SetPool{Pool: []byte("pool-y")}))                                 // fails: changed this epoch
	add(730, c.next(c.proposer, &CommitTally{Epoch: 0, Root: h32("tally0"), Credits: cr}))
	add(731, c.next(nodes[3], equivocate(t.(*testing.T), bad, 9)),
		c.next(nodes[0], &SetPool{Pool: []byte("pool-y")}), c.next(nodes[1], &SetPool{}))
	for range 20 {
		add(c.s.Slot() + 1)
	}
	return blocks
}

func TestDeterminismAcrossStates(t *testing.T) {
	blocks := scenario(t)
	const n = 10
	roots := make([][][32]byte, n)
	finals := make([]*State, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := testGenesis(t)
			for _, in := range blocks {
				in.Eligible = slices.Clone(in.Eligible)
				// The eligible set's order must not matter.
				for j := range i {
					if len(in.Eligible) > 1 {
						k := j % len(in.Eligible)
						in.Eligible[0], in.Eligible[k] = in.Eligible[k], in.Eligible[0]
					}
				}
				var err error
				s, _, err = ApplyBlock(s, in)
				if err != nil {
					panic(err)
				}
				roots[i] = append(roots[i], s.Root())
			}
			finals[i] = s
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		require.Equal(t, roots[0], roots[i])
		require.True(t, finals[0].Equal(finals[i]))
	}
	v, _ := finals[0].Param("d_min")
	require.Equal(t, uint64(300_000), v) // the scenario's proposal passed and applied
	require.Len(t, finals[0].StorageClaims(newActor(t, "d2").id), 1)
	require.Len(t, finals[0].StorageClaims(newActor(t, "d3").id), 1)
	require.Equal(t, []peer.ID{newActor(t, "d0").id}, finals[0].PoolMembers([]byte("pool-y")))
	require.Empty(t, finals[0].PoolMembers([]byte("pool-x")))
	// d0's change in epoch 0 failed, so its record dates from epoch 1.
	require.Equal(t, uint64(1), mustDecodePool(finals[0].kv[poolKey(newActor(t, "d0").id)]).Epoch)
}

// Root equality iff state equality, on state pairs drawn from a small
// space so that equal pairs are common.
func TestRootIffEqual(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		gen := rapid.MapOfN(rapid.SampledFrom([]string{"a", "b", "ab", "\x00", ""}),
			rapid.SampledFrom([][]byte{{}, {0}, {1}, []byte("b")}), 0, 4)
		m1, m2 := gen.Draw(rt, "m1"), gen.Draw(rt, "m2")
		s1, s2 := newState(m1), newState(m2)
		if s1.Equal(s2) != (s1.Root() == s2.Root()) {
			rt.Fatalf("equal=%v but roots equal=%v: %q vs %q", s1.Equal(s2), s1.Root() == s2.Root(), m1, m2)
		}
	})
}

// The same property through ApplyBlock: random blocks of registrations,
// anchors, storage claims and pool changes from a small space.
func TestRootIffEqualApply(t *testing.T) {
	actors := []actor{newActor(t, "r0"), newActor(t, "r1")}
	prop := newActor(t, "rp").id
	build := func(rt *rapid.T, label string) *State {
		s := testGenesis(t)
		nonces := map[peer.ID]uint64{}
		var txs [][]byte
		k := rapid.IntRange(0, 3).Draw(rt, label+"-n")
		for j := range k {
			a := actors[rapid.IntRange(0, 1).Draw(rt, fmt.Sprint(label, j, "a"))]
			sess := rapid.IntRange(0, 1).Draw(rt, fmt.Sprint(label, j, "s"))
			var body Body = register(sess, 2)
			switch rapid.IntRange(0, 3).Draw(rt, fmt.Sprint(label, j, "kind")) {
			case 1:
				body = &AnchorChunk{Session: sid(sess), Index: 1, Leaf: h32("x")}
			case 2:
				body = &ClaimStorage{Session: sid(sess), ChunkSizes: []uint64{1, rapid.Uint64Range(1, 2).Draw(rt, fmt.Sprint(label, j, "size"))}}
			case 3:
				body = &SetPool{Pool: []byte("pq"[:sess])} // "" leaves, "p" joins
			}
			txs = append(txs, a.tx(t, nonces[a.id], body))
			nonces[a.id]++
		}
		s, _, err := ApplyBlock(s, BlockInput{Height: 1, Slot: 1, Proposer: prop, Txs: txs})
		if err != nil {
			rt.Fatal(err)
		}
		return s
	}
	rapid.Check(t, func(rt *rapid.T) {
		s1, s2 := build(rt, "x"), build(rt, "y")
		if s1.Equal(s2) != (s1.Root() == s2.Root()) {
			rt.Fatalf("equality and root equality disagree")
		}
		// The root is a function of the entries alone.
		if newState(s1.kv).Root() != s1.Root() {
			rt.Fatalf("recomputed root differs")
		}
	})
}

// ApplyBlock never modifies its input, whether the block is valid or not.
func TestApplyDoesNotMutate(t *testing.T) {
	blocks := scenario(t)
	s := testGenesis(t)
	for _, in := range blocks {
		before := s.Entries()
		root := s.Root()
		bad := in
		bad.Txs = append(slices.Clone(in.Txs), []byte{0xa0})
		_, _, err := ApplyBlock(s, bad)
		require.Error(t, err)
		next, _, err := ApplyBlock(s, in)
		require.NoError(t, err)
		require.Equal(t, before, s.Entries())
		require.Equal(t, root, s.Root())
		s = next
	}
}
