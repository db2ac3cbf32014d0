package meta

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Faults injects network faults on a node's receiving side, for tests
// that check convergence under loss, duplication, reordering and
// partitions on real hosts. A nil *Faults injects nothing.
type Faults struct {
	mu        sync.Mutex
	rng       *rand.Rand
	drop, dup float64
	maxDelay  time.Duration
	blocked   map[peer.ID]bool
}

// NewFaults drops a fraction drop of gossip messages, delivers a
// fraction dup of them twice, and delays each delivery by up to maxDelay
// (which reorders them).
func NewFaults(seed uint64, drop, dup float64, maxDelay time.Duration) *Faults {
	return &Faults{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), drop: drop, dup: dup, maxDelay: maxDelay, blocked: map[peer.ID]bool{}}
}

// Partition makes these peers unreachable from this node: their gossip
// is ignored and no sync runs with them, either way. Nil heals.
func (f *Faults) Partition(peers []peer.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked = map[peer.ID]bool{}
	for _, p := range peers {
		f.blocked[p] = true
	}
}

// SetLoss changes the drop and duplication rates.
func (f *Faults) SetLoss(drop, dup float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.drop, f.dup = drop, dup
}

func (f *Faults) reachable(p peer.ID) bool {
	if f == nil {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.blocked[p]
}

// deliveries says how one received gossip message is delivered: not at
// all, once or twice, each after its delay.
func (f *Faults) deliveries() []time.Duration {
	if f == nil {
		return []time.Duration{0}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() < f.drop {
		return nil
	}
	n := 1
	if f.rng.Float64() < f.dup {
		n = 2
	}
	out := make([]time.Duration, n)
	for i := range out {
		if f.maxDelay > 0 {
			out[i] = time.Duration(f.rng.Int64N(int64(f.maxDelay)))
		}
	}
	return out
}
