package chain

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// Head is the head of the chosen chain.
func (e *Engine) Head() consensus.BlockHeader { return e.fc.Head() }

// Final is the latest final block.
func (e *Engine) Final() consensus.BlockHeader { return e.final.header }

// HeadState is the state after the head.
func (e *Engine) HeadState() *vm.State { return e.entries[e.fc.Head().Hash()].state }

// FinalState is the state after the latest final block.
func (e *Engine) FinalState() *vm.State { return e.final.state }

// HeadParams are the PoOT parameters in effect after the head.
func (e *Engine) HeadParams() consensus.Params { return e.entries[e.fc.Head().Hash()].params }

// Block returns a held block with its receipts (nil for final blocks
// other than the latest, whose receipts the shell stores).
func (e *Engine) Block(hash [32]byte) (*consensus.Block, []vm.Receipt, bool) {
	x, ok := e.entries[hash]
	if !ok {
		return nil, nil, false
	}
	return &consensus.Block{Header: x.header, Body: x.body}, x.receipts, true
}

// State returns the state after a held block that is not below the final
// one.
func (e *Engine) State(hash [32]byte) (*vm.State, bool) {
	x, ok := e.entries[hash]
	if !ok || x.state == nil {
		return nil, false
	}
	return x.state, true
}

// Canonical returns the hash of the block at height on the chosen chain,
// if the engine still holds it (the shell's store has older ones).
func (e *Engine) Canonical(height uint64) ([32]byte, bool) {
	for x := e.entries[e.fc.Head().Hash()]; x != nil; x = x.parent {
		if x.header.Height == height {
			return x.hash, true
		}
		if x.header.Height < height {
			break
		}
	}
	return [32]byte{}, false
}

// OnChain reports whether a held block is on the chosen chain.
func (e *Engine) OnChain(hash [32]byte) bool {
	x, ok := e.entries[hash]
	if !ok {
		return false
	}
	h, ok := e.Canonical(x.header.Height)
	return ok && h == hash
}

// Evidence returns the equivocations found so far, oldest first.
func (e *Engine) Evidence() []consensus.Equivocation {
	return append([]consensus.Equivocation(nil), e.evidence...)
}

// Tally returns the tally the schedule of slot reads on the branch ending
// at parent (nil before the first tally).
func (e *Engine) Tally(parent [32]byte, slot consensus.Slot) (*consensus.TallyResult, error) {
	p := e.entries[parent]
	if p == nil || p.state == nil {
		return nil, consensus.ErrUnknownParent
	}
	s, err := e.schedule(p, slot)
	if err != nil {
		return nil, err
	}
	return s.tally, nil
}

// Rank returns the rank of node among the leaders of slot after parent (0
// = primary), as its pool when it is in one in parent's state. The genesis
// bootstrap node ranks as primary of slots nobody is eligible to lead.
func (e *Engine) Rank(parent [32]byte, slot consensus.Slot, node peer.ID) (int, bool, error) {
	l, err := e.Leaders(parent, slot)
	if err != nil {
		return 0, false, err
	}
	x := e.entries[parent]
	r, ok := e.blockParams(x.params, x.state).ProposerRank(parent, l, node)
	return r, ok, nil
}

// Misses returns the misses a held block recorded.
func (e *Engine) Misses(hash [32]byte) ([]consensus.Miss, bool) {
	x, ok := e.entries[hash]
	if !ok {
		return nil, false
	}
	return append([]consensus.Miss(nil), x.misses...), true
}
