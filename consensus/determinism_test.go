package consensus

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"lukechampine.com/blake3"
)

// Twenty nodes, each with its own Tally, receive the same proofs and
// misses in different random orders, with duplicates, and compute the
// tally of every slot and the schedule of 1,000 slots. Every node must
// get byte-identical results.
func TestDeterminismAcrossNodes(t *testing.T) {
	p := testParams()
	p.WindowSlots = 60
	p.EpochSlots = 120
	p.CooldownSlots = 4
	const slots = 1000
	w := buildWorld(t, p, worldSpec{
		nodes: 14, pooled: 6, clients: 8, slots: slots + 10,
		beacon: 0.8, validate: 0.3, relay: 0.08, store: 0.08, leaves: 25, misses: 40,
		sign: true, seed: 1,
	})
	t.Logf("%d proofs, %d misses", len(w.proofs), len(w.misses))
	const nodes = 20
	var wantTallies, wantSchedule [32]byte
	for n := range nodes {
		rng := rand.New(rand.NewPCG(uint64(n), 7))
		perm := rng.Perm(len(w.proofs))
		for range len(perm) / 10 { // 10 % re-delivered
			perm = append(perm, rng.IntN(len(w.proofs)))
		}
		missPerm := rng.Perm(len(w.misses))
		missPerm = append(missPerm, missPerm[:5]...)
		ta := w.feed(t, perm, missPerm)

		// The schedule asks for the tally of every slot it ranks; hash them
		// all as they go by.
		src := &hashingSource{t: ta, h: blake3.New(32, nil)}
		sched, err := Schedule(p, src, w.chain, nil, 0, slots)
		require.NoError(t, err)
		require.Equal(t, slots-int(p.Lag()), src.n)
		var tallies [32]byte
		src.h.Sum(tallies[:0])
		sh := ScheduleHash(sched)
		if n == 0 {
			wantTallies, wantSchedule = tallies, sh
			// The schedule is not degenerate: many leaders, some fallbacks.
			leaders := map[EntityID]bool{}
			for _, l := range sched {
				leaders[l.Primary] = true
			}
			require.Greater(t, len(leaders), 5)
			continue
		}
		require.Equal(t, wantTallies, tallies, "node %d: tallies differ", n)
		require.Equal(t, wantSchedule, sh, "node %d: schedule differs", n)
	}
}

type hashingSource struct {
	t *Tally
	h *blake3.Hasher
	n int
}

func (s *hashingSource) TallyAt(at Slot) (*TallyResult, error) {
	r, err := s.t.TallyAt(at)
	if err == nil {
		b := r.Encode()
		s.h.Write(b)
		s.n++
	}
	return r, err
}
