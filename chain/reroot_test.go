package chain

import (
	"testing"

	"github.com/lucidnet/lucid/consensus"
)

// TestLongRunBoundedMemory: over far more blocks than the fork choice's
// re-rooting period, the engines agree on every head, the fork choice is
// re-rooted at the final block, and the blocks held stay within the
// history the schedule needs.
func TestLongRunBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("600 slots")
	}
	s := newSim(t, 3)
	var prev [][]byte
	for slot := consensus.Slot(1); slot <= 600; slot++ {
		if s.step(slot, prev) == nil {
			t.Fatalf("slot %d: no block", slot)
		}
		prev = s.beacons(slot)
	}
	e := s.engines[0]
	for i, o := range s.engines {
		if o.Head().Hash() != e.Head().Hash() {
			t.Fatalf("engine %d disagrees", i)
		}
	}
	if got := e.Final().Height - e.root.header.Height; got >= reRootEvery {
		t.Fatalf("fork choice rooted %d blocks below the final block", got)
	}
	limit := int(HistorySlots(e.HeadParams())) + int(e.confirm) + 4
	if len(e.entries) > limit {
		t.Fatalf("%d blocks held, want at most %d", len(e.entries), limit)
	}
	t.Logf("600 slots: root at %d, final %d, %d blocks held", e.root.header.Height, e.Final().Height, len(e.entries))
}
