package consensus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func newTestForkChoice(tb testing.TB, n *blockNet, conf uint64) *ForkChoice {
	tb.Helper()
	fc, err := NewForkChoice(testBlockGenesis, n.leadersOf, n.bp, conf)
	require.NoError(tb, err)
	return fc
}

// addAllRetry adds headers in the given order, re-adding those whose
// parent was missing until no progress is made (a node's orphan buffer).
// It returns how many were left as orphans (their ancestor was refused).
func addAllRetry(tb tbLike, fc *ForkChoice, hs []BlockHeader, check func()) int {
	tb.Helper()
	pending := hs
	for len(pending) > 0 {
		var next []BlockHeader
		for _, h := range pending {
			err := fc.Add(h)
			switch {
			case err == nil:
			case errors.Is(err, ErrUnknownParent):
				next = append(next, h)
			case errors.Is(err, ErrRevertsFinal):
			default:
				tb.Fatalf("Add: %v", err)
			}
			if check != nil {
				check()
			}
		}
		if len(next) == len(pending) {
			return len(next)
		}
		pending = next
	}
	return 0
}

// genTree draws a random block tree over the test network: each block
// picks a parent among those drawn so far, a slot 1..3 after it, a rank
// and a salt (two salts for the same rank and slot are equivocation).
func genTree(t *rapid.T, tb testing.TB, n *blockNet, cache map[string]*Block) []BlockHeader {
	all := []BlockHeader{testBlockGenesis}
	seen := map[[32]byte]bool{testBlockGenesis.Hash(): true}
	k := rapid.IntRange(1, 14).Draw(t, "blocks")
	for range k {
		p := all[rapid.IntRange(0, len(all)-1).Draw(t, "parent")]
		s := p.Slot + Slot(rapid.IntRange(1, 3).Draw(t, "gap"))
		rank := rapid.IntRange(0, 3).Draw(t, "rank")
		salt := byte(rapid.IntRange(0, 1).Draw(t, "salt"))
		key := string(append(hexHash(p.Hash()), byte(s), byte(rank), salt))
		b, ok := cache[key]
		if !ok {
			b = n.block(tb, &p, s, rank, salt)
			cache[key] = b
		}
		if !seen[b.Hash()] {
			seen[b.Hash()] = true
			all = append(all, b.Header)
		}
	}
	return all[1:]
}

// referenceHead applies the chain rule as written, by comparing every
// pair of complete chains slot by slot from genesis.
func referenceHead(n *blockNet, hs []BlockHeader) [32]byte {
	byHash := map[[32]byte]BlockHeader{testBlockGenesis.Hash(): testBlockGenesis}
	isParent := map[[32]byte]bool{}
	for _, h := range hs {
		byHash[h.Hash()] = h
		isParent[h.Prev] = true
	}
	chain := func(h BlockHeader) []BlockHeader {
		var c []BlockHeader
		for h.Height > 0 {
			c = append([]BlockHeader{h}, c...)
			h = byHash[h.Prev]
		}
		return c
	}
	rank := func(h BlockHeader) int {
		l, _ := n.leaders(h.Slot)
		r, _ := ProposerRank(l, h.Proposer, nil)
		return r
	}
	// better reports whether chain x beats chain y.
	better := func(x, y []BlockHeader) bool {
		for i := 0; ; i++ {
			switch {
			case i == len(x):
				return false
			case i == len(y):
				return true
			}
			a, b := x[i], y[i]
			if a.Hash() == b.Hash() {
				continue
			}
			if a.Slot != b.Slot {
				return a.Slot < b.Slot // a block where the other chain has none
			}
			if ra, rb := rank(a), rank(b); ra != rb {
				return ra < rb
			}
			ha, hb := a.Hash(), b.Hash()
			return bytes.Compare(ha[:], hb[:]) < 0
		}
	}
	var best []BlockHeader
	for _, h := range append(hs, testBlockGenesis) {
		if isParent[h.Hash()] {
			continue
		}
		if c := chain(h); best == nil || better(c, best) {
			best = c
		}
	}
	if len(best) == 0 {
		return testBlockGenesis.Hash()
	}
	return best[len(best)-1].Hash()
}

// Every order of arrival gives the same head, and it is the head the
// chain rule defines (no finality in the way: confirmations exceed the
// tree's depth).
func TestForkChoiceOrderIndependent(t *testing.T) {
	n := newBlockNet(t)
	cache := map[string]*Block{}
	rapid.Check(t, func(rt *rapid.T) {
		hs := genTree(rt, t, n, cache)
		t := rt
		want := referenceHead(n, hs)
		for i := range 3 {
			order := rapid.Permutation(hs).Draw(t, "order")
			fc, err := NewForkChoice(testBlockGenesis, n.leadersOf, n.bp, 100)
			require.NoError(t, err)
			require.Zero(t, addAllRetry(t, fc, order, nil))
			head := fc.Head()
			require.Equal(t, want, head.Hash(), "order %d", i)
			require.Equal(t, testBlockGenesis.Hash(), fc.Final().Hash())
		}
	})
}

// Finality only moves forward along one chain, the head always descends
// from it, and a block that would revert it is refused.
func TestForkChoiceFinalityNeverReverted(t *testing.T) {
	n := newBlockNet(t)
	cache := map[string]*Block{}
	rapid.Check(t, func(rt *rapid.T) {
		hs := genTree(rt, t, n, cache)
		t := rt
		conf := uint64(rapid.IntRange(1, 3).Draw(t, "confirmations"))
		byHash := map[[32]byte]BlockHeader{testBlockGenesis.Hash(): testBlockGenesis}
		for _, h := range hs {
			byHash[h.Hash()] = h
		}
		descends := func(x, anc BlockHeader) bool {
			for x.Height > anc.Height {
				x = byHash[x.Prev]
			}
			return x.Hash() == anc.Hash()
		}
		fc, err := NewForkChoice(testBlockGenesis, n.leadersOf, n.bp, conf)
		require.NoError(t, err)
		prev := fc.Final()
		addAllRetry(t, fc, rapid.Permutation(hs).Draw(t, "order"), func() {
			f, h := fc.Final(), fc.Head()
			require.True(t, descends(f, prev), "final block reverted")
			require.True(t, descends(h, f), "head does not descend from the final block")
			require.LessOrEqual(t, h.Height, f.Height+conf, "finality lags the head")
			prev = f
		})
		for _, h := range hs {
			if fc.Contains(h.Hash()) {
				continue
			}
			// Anything not held is refused as reverting finality (or, if
			// its parent was dropped, as an orphan).
			err := fc.Add(h)
			requireBlockSentinel(t, err, ErrRevertsFinal, ErrUnknownParent)
		}
	})
}

// A partition: nodes 0, 1 on side A and 2, 3 on side B, each side
// producing with the best leader it has. After healing, every order of
// arrival converges on side A, whose first block after the split (slot 5,
// primary node 1) beats side B's (slot 5, fallback node 2).
func TestForkChoicePartitionHeals(t *testing.T) {
	n := newBlockNet(t)
	var common []BlockHeader
	parent := testBlockGenesis
	for s := Slot(1); s <= 4; s++ {
		b := n.block(t, &parent, s, 0, 0)
		common = append(common, b.Header)
		parent = b.Header
	}
	side := func(members map[int]bool) []BlockHeader {
		var out []BlockHeader
		p := parent
		for s := Slot(5); s <= 9; s++ {
			for r := 0; r < 4; r++ {
				if members[(int(s)+r)%4] {
					b := n.block(t, &p, s, r, 0)
					out = append(out, b.Header)
					p = b.Header
					break
				}
			}
		}
		return out
	}
	a, b := side(map[int]bool{0: true, 1: true}), side(map[int]bool{2: true, 3: true})
	all := append(append(append([]BlockHeader(nil), common...), a...), b...)
	rapid.Check(t, func(t *rapid.T) {
		fc, err := NewForkChoice(testBlockGenesis, n.leadersOf, n.bp, DefaultConfirmations)
		require.NoError(t, err)
		// Each side first sees its own blocks, then the other's.
		first, second := a, b
		if rapid.Bool().Draw(t, "b first") {
			first, second = b, a
		}
		require.Zero(t, addAllRetry(t, fc, append(append(rapid.Permutation(common).Draw(t, "common"),
			rapid.Permutation(first).Draw(t, "first")...), rapid.Permutation(second).Draw(t, "second")...), nil))
		require.Equal(t, a[len(a)-1].Hash(), fc.Head().Hash())
		require.Equal(t, referenceHead(n, all), fc.Head().Hash())
	})
	// A partition longer than the finality depth does not heal: the side
	// that finalized keeps its chain.
	fc := newTestForkChoice(t, n, 2)
	addAllRetry(t, fc, append(append(append([]BlockHeader(nil), common...), b...), a...), nil)
	require.Equal(t, b[len(b)-1].Hash(), fc.Head().Hash())
	requireBlockSentinel(t, fc.Add(a[len(a)-1]), ErrRevertsFinal, ErrUnknownParent)
}

func TestForkChoiceEquivocationAndErrors(t *testing.T) {
	n := newBlockNet(t)
	fc := newTestForkChoice(t, n, DefaultConfirmations)
	x := n.block(t, &testBlockGenesis, 1, 0, 1).Header
	y := n.block(t, &testBlockGenesis, 1, 0, 2).Header
	require.NoError(t, fc.Add(x))
	require.NoError(t, fc.Add(x), "re-adding is a no-op")
	require.NoError(t, fc.Add(y))
	ev := fc.Equivocations()
	require.Len(t, ev, 1)
	require.True(t, DetectEquivocation(&ev[0].A, &ev[0].B))
	lo := x
	if hx, hy := x.Hash(), y.Hash(); bytes.Compare(hy[:], hx[:]) < 0 {
		lo = y
	}
	require.Equal(t, lo.Hash(), ev[0].A.Hash())
	require.Equal(t, lo.Hash(), fc.Head().Hash(), "lowest hash wins an equivocation")
	// A fallback's block at the same slot loses to the primary's.
	z := n.block(t, &testBlockGenesis, 1, 1, 0).Header
	require.NoError(t, fc.Add(z))
	require.Equal(t, lo.Hash(), fc.Head().Hash())
	// Errors.
	orphanParent := n.block(t, &testBlockGenesis, 2, 0, 9).Header
	requireBlockSentinel(t, fc.Add(n.block(t, &orphanParent, 3, 0, 0).Header), ErrUnknownParent)
	require.NoError(t, fc.Add(testBlockGenesis), "the root is held")
	noSchedule, err := NewForkChoice(testBlockGenesis, func([32]byte, Slot) (SlotLeaders, bool) { return SlotLeaders{}, false }, n.bp, 1)
	require.NoError(t, err)
	requireBlockSentinel(t, noSchedule.Add(x), ErrUnknownSeed)
	forged := x
	forged.StateRoot[9] ^= 1
	requireBlockSentinel(t, fc.Add(forged), ErrBlockSignature)
	_, err = NewForkChoice(testBlockGenesis, n.leadersOf, n.bp, 0)
	requireBlockSentinel(t, err, ErrInvalidArgument)
	anc, ok := fc.Ancestors(lo.Hash(), 5)
	require.True(t, ok)
	require.Equal(t, []BlockHeader{testBlockGenesis}, anc)
	_, ok = fc.Ancestors(orphanParent.Hash(), 5)
	require.False(t, ok)
}
