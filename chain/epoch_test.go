package chain

import (
	"errors"
	"testing"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// TestEpochCommits: proposers commit each epoch's credits once the epoch
// and its acceptance window are over; every engine stores the same
// credits; a block whose commit differs from the branch's tally is
// refused.
func TestEpochCommits(t *testing.T) {
	s := newSim(t, 4)
	prev := s.warm(31)
	e := s.engines[0]
	st := e.HeadState()
	es, _ := st.Param(vm.ParamEpochSlots)
	for epoch := uint64(0); epoch < 2; epoch++ {
		rec, ok := st.Tally(epoch)
		if !ok {
			t.Fatalf("epoch %d (slots %d–%d) not committed by slot 31", epoch, epoch*es, (epoch+1)*es-1)
		}
		var total uint64
		for _, id := range s.ids {
			total += st.Credits(epoch, []byte(consensus.NodeEntity(id)))
		}
		if total == 0 {
			t.Fatalf("epoch %d committed (%+v) without credits", epoch, rec)
		}
		for i, o := range s.engines[1:] {
			if o.HeadState().Credits(epoch, []byte(consensus.NodeEntity(s.ids[1]))) != st.Credits(epoch, []byte(consensus.NodeEntity(s.ids[1]))) {
				t.Fatalf("engine %d disagrees on epoch %d credits", i+1, epoch)
			}
		}
	}
	if _, ok := st.Tally(2); ok {
		t.Fatal("epoch 2 committed before its acceptance window ended")
	}

	// Slot 32 is due to commit epoch 2 ((32 − 2) / 10 − 1): forge its
	// credits.
	head := e.Head().Hash()
	li := s.leaderOf(e, head, 32, []int{0, 1, 2, 3})
	good, err := s.engines[li].Build(head, 32, s.keys[li], Candidates{Proofs: prev})
	if err != nil {
		t.Fatal(err)
	}
	var forged [][]byte
	found := false
	for _, raw := range good.Body.Txs {
		tx, err := vm.DecodeTx(raw)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := tx.Body.(*vm.CommitTally); ok {
			found = true
			c.Credits[0].Micro *= 2
			if err := tx.Sign(s.keys[li]); err != nil {
				t.Fatal(err)
			}
			raw = tx.Encode()
		}
		forged = append(forged, raw)
	}
	if !found {
		t.Fatal("the block at slot 32 carries no commit-tally")
	}
	bad := reforge(t, good, s.keys[li], consensus.Body{Txs: forged, Proofs: good.Body.Proofs})
	if _, err := s.engines[2].Add(bad, consensus.ArrivalAny); !errors.Is(err, ErrBadTally) {
		t.Fatalf("forged commit: %v, want ErrBadTally", err)
	}
	if _, err := s.engines[2].Add(good, consensus.ArrivalAny); err != nil {
		t.Fatal(err)
	}
}
