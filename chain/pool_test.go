package chain

import (
	"testing"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// TestPoolsRankAsOneEntity: two nodes that join a pool on the chain
// publish their proofs under it; the chain includes them (membership is
// chain state), the tally ranks the pool as one entity, and its members
// propose at the pool's rank. A proof under a pool its node is not in is
// refused.
func TestPoolsRankAsOneEntity(t *testing.T) {
	s := newSim(t, 4)
	prev := s.warm(12)
	e := s.engines[0]
	pool := []byte("pi-cluster")
	for _, i := range []int{2, 3} {
		s.txs = append(s.txs, signTx(t, s.keys[i], e.HeadState().Nonce(s.ids[i]), &vm.SetPool{Pool: pool}))
	}
	s.step(13, prev)
	for _, i := range []int{2, 3} {
		if p, ok := e.HeadState().PoolOf(s.ids[i]); !ok || string(p) != string(pool) {
			t.Fatalf("node %d not in the pool: %q %v", i, p, ok)
		}
	}
	s.pools = map[int][]byte{2: pool, 3: pool}
	prev = s.beacons(13)

	// Node 1 is not in the pool: its pooled beacon is refused.
	fake, err := consensus.NewUptime(s.keys[1], pool, 13)
	if err != nil {
		t.Fatal(err)
	}
	head := e.Head().Hash()
	if err := e.checkProof(fake, e.entries[head], 14, map[[32]byte]struct{}{}); err == nil {
		t.Fatal("a pooled proof by a non-member was accepted")
	}

	poolLed := 0
	for slot := consensus.Slot(14); slot <= 45; slot++ {
		b := s.step(slot, prev)
		prev = s.beacons(slot)
		if b == nil {
			t.Fatalf("slot %d: no block", slot)
		}
		l, err := e.Leaders(b.Header.Prev, slot)
		if err != nil {
			t.Fatal(err)
		}
		if l.Primary == consensus.PoolEntity(pool) && (b.Header.Proposer == s.ids[2] || b.Header.Proposer == s.ids[3]) {
			poolLed++
		}
	}
	r, err := e.Tally(e.Head().Hash(), 46)
	if err != nil {
		t.Fatal(err)
	}
	en, ok := r.Entry(consensus.PoolEntity(pool))
	if !ok || !en.Eligible {
		t.Fatalf("pool entry %+v %v", en, ok)
	}
	for _, i := range []int{2, 3} {
		if _, ok := r.Entry(consensus.NodeEntity(s.ids[i])); ok {
			t.Fatalf("node %d still ranked alone after joining the pool", i)
		}
	}
	if poolLed == 0 {
		t.Fatal("the pool never led a slot")
	}
	t.Logf("the pool led %d of 32 slots (3 entities)", poolLed)
}
