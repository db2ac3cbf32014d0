package chain

import (
	"bytes"
	"fmt"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// Epoch accounting.
//
// The credits payouts draw on are committed per epoch by the proposers:
// the first block whose slot is more than accept_window slots past an
// epoch's end (so every proof of the epoch has had its chance to be
// included) carries a commit-tally transaction of its proposer with the
// epoch's tally, computed like the schedule's tally but over the epoch's
// slots only, from the proofs and misses the branch includes. Every node
// recomputes it and refuses a block whose commit differs (ErrBadTally);
// the VM stores the credits per entity and epoch, minus entities slashed
// for equivocation in that epoch.

// commitEpoch is the epoch whose tally a block at slot may commit: the
// latest one whose end is more than accept_window slots before slot.
func commitEpoch(p consensus.Params, slot consensus.Slot) (uint64, bool) {
	if uint64(slot) < p.AcceptWindow {
		return 0, false
	}
	n := (uint64(slot) - p.AcceptWindow) / p.EpochSlots
	if n == 0 {
		return 0, false
	}
	return n - 1, true
}

// epochCommit returns the commit-tally body of epoch on the branch ending
// at parent.
func (e *Engine) epochCommit(parent *entry, epoch uint64) (*vm.CommitTally, error) {
	p := parent.params
	p.WindowSlots = p.EpochSlots
	end := consensus.Slot((epoch+1)*p.EpochSlots - 1)
	r, err := e.tallyAt(parent, end, p)
	if err != nil {
		return nil, err
	}
	c := &vm.CommitTally{Epoch: epoch, Root: r.Hash()}
	for _, en := range r.Entries {
		if en.Credits > 0 {
			c.Credits = append(c.Credits, vm.Credit{Entity: []byte(en.Entity), Micro: en.Credits})
		}
	}
	if len(c.Credits) > vm.MaxTallyEntries {
		return nil, fmt.Errorf("%w: %d entities earned in epoch %d, a commit holds %d", ErrBadTally, len(c.Credits), epoch, vm.MaxTallyEntries)
	}
	return c, nil
}

// dueCommit returns the commit a block at slot after parent should carry,
// if any: its epoch's tally is not in the parent's state yet.
func (e *Engine) dueCommit(parent *entry, slot consensus.Slot) (*vm.CommitTally, bool) {
	epoch, ok := commitEpoch(parent.params, slot)
	if !ok {
		return nil, false
	}
	if _, done := parent.state.Tally(epoch); done {
		return nil, false
	}
	c, err := e.epochCommit(parent, epoch)
	if err != nil {
		return nil, false
	}
	return c, true
}

// checkCommits refuses a block whose commit-tally transactions are not
// the due commit of its slot on its branch.
func (e *Engine) checkCommits(parent *entry, slot consensus.Slot, txs [][]byte) error {
	for i, raw := range txs {
		tx, err := vm.DecodeTx(raw)
		if err != nil {
			continue // the VM refuses the block with the reason
		}
		c, ok := tx.Body.(*vm.CommitTally)
		if !ok {
			continue
		}
		epoch, ok := commitEpoch(parent.params, slot)
		if !ok || c.Epoch != epoch {
			return fmt.Errorf("%w: transaction %d commits epoch %d at slot %d", ErrBadTally, i, c.Epoch, slot)
		}
		want, err := e.epochCommit(parent, epoch)
		if err != nil {
			return err
		}
		if !sameCommit(c, want) {
			return fmt.Errorf("%w: transaction %d, epoch %d: root %x, computed %x", ErrBadTally, i, epoch, c.Root[:8], want.Root[:8])
		}
	}
	return nil
}

func sameCommit(a, b *vm.CommitTally) bool {
	if a.Epoch != b.Epoch || a.Root != b.Root || len(a.Credits) != len(b.Credits) {
		return false
	}
	for i := range a.Credits {
		if a.Credits[i].Micro != b.Credits[i].Micro || !bytes.Equal(a.Credits[i].Entity, b.Credits[i].Entity) {
			return false
		}
	}
	return true
}
