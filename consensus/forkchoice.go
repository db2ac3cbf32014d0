package consensus

import (
	"bytes"
	"slices"
)

// Fork choice.
//
// Every node applies the same rule to the same set of valid headers, so
// nodes that hold the same blocks choose the same head, whatever order
// the blocks arrived in and whenever they arrived (arrival times differ
// between nodes, so fork choice verifies headers with ArrivalAny).
//
// Blocks of one slot are ordered by their proposer's rank in the slot's
// schedule (primary first, then the fallbacks in order), then by hash,
// lowest first. Two blocks of one slot with the same rank come from one
// proposer: that is equivocation, recorded as evidence (Equivocations),
// and the lower hash is preferred so that nodes still agree.
//
// Chains are compared from their fork point, slot by slot: the first slot
// at which they differ decides. A chain with a block at that slot beats a
// chain without one, and two blocks at that slot are ordered as above.
// Since the blocks right after the fork point always differ, the rule
// comes down to a greedy walk: from the final block, repeatedly step to
// the best child, where children are ordered by (slot, rank, hash)
// ascending; the leaf reached is the head. A child at an earlier slot
// beats one at a later slot because the later one skipped a slot that
// had a block: that is how a withholding or partitioned producer would
// orphan a block, and the rule refuses to reward it. Extending a chain
// always wins over stopping at its tip, so the head only moves forward
// while no competing block appears.
//
// Convergence. The rule is a total order on chains computed from headers
// and the schedule alone, and the schedule of a slot is fixed Lookahead
// slots ahead from chain data. When a partition heals and every node
// holds both sides' blocks, every node picks the same branch at the fork
// point: the one whose first block after the split has the earlier slot,
// or, at the same slot, the better-ranked proposer.
//
// Finality. A block is final once Confirmations blocks follow it on the
// chosen chain (the head is at least Confirmations higher). Finality only
// moves forward: the greedy walk starts at the final block, and Add
// refuses a block that does not descend from it (ErrRevertsFinal), even if
// the rule would prefer it. This is the trade-off: a partition (or a
// withheld better-ranked block) that lasts Confirmations blocks can no
// longer reorganise the chain, which gives clients a fixed settlement
// depth, but two sides of a partition that both finalize keep their own
// chains when it heals and need an operator decision to rejoin. Below
// Confirmations, a withheld block from a better-ranked leader of an
// earlier slot does reorganise the chain when it appears; the primary
// that withholds is also recorded as missing, which costs it its rank.
//
// Memory: blocks that no longer descend from the final block are dropped
// when finality advances; the final block's ancestors are kept (for
// Ancestors) until the caller starts a new ForkChoice from a later final
// block.

// DefaultConfirmations is the finality depth.
const DefaultConfirmations = 6

// LeadersFunc returns the schedule of slot for a block whose parent has
// hash parent, or false while it is not known. The parent is there
// because the schedule is a function of the branch: its seed is the hash
// of the branch's latest block Lookahead slots back, and its tally counts
// what the branch committed, so two forks older than Lookahead slots may
// schedule a slot differently. Each block is ranked under its own
// branch's schedule, which every node computes alike.
type LeadersFunc func(parent [32]byte, slot Slot) (SlotLeaders, bool)

type fcNode struct {
	h        BlockHeader
	hash     [32]byte
	rank     int
	parent   *fcNode
	children []*fcNode
}

// better reports whether a precedes b among siblings: earlier slot, then
// better rank, then lower hash.
func (a *fcNode) better(b *fcNode) bool {
	if a.h.Slot != b.h.Slot {
		return a.h.Slot < b.h.Slot
	}
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return bytes.Compare(a.hash[:], b.hash[:]) < 0
}

type slotProposer struct {
	slot     Slot
	proposer string
}

// ForkChoice is an in-memory block tree rooted at a trusted final block.
// It is not safe for concurrent use.
type ForkChoice struct {
	bp            BlockParams
	leaders       LeadersFunc
	confirmations uint64
	nodes         map[[32]byte]*fcNode
	bySlot        map[slotProposer][]*fcNode
	final, head   *fcNode
	evidence      []Equivocation
}

// NewForkChoice starts a tree at root, a block the caller trusts as final
// (genesis, or a final block it stored); root is not verified.
// confirmations must be at least 1.
func NewForkChoice(root BlockHeader, leaders LeadersFunc, bp BlockParams, confirmations uint64) (*ForkChoice, error) {
	if leaders == nil || confirmations == 0 {
		return nil, errf(ErrInvalidArgument, "fork choice needs a leaders function and confirmations ≥ 1")
	}
	n := &fcNode{h: root, hash: root.Hash()}
	return &ForkChoice{bp: bp, leaders: leaders, confirmations: confirmations,
		nodes: map[[32]byte]*fcNode{n.hash: n}, bySlot: map[slotProposer][]*fcNode{}, final: n, head: n}, nil
}

// Add verifies h against its parent and its slot's schedule (VerifyHeader
// with ArrivalAny) and inserts it. A header already held is accepted
// again without effect. Errors: ErrUnknownParent (add it later),
// ErrUnknownSeed (schedule not known yet), ErrRevertsFinal, and those of
// VerifyHeader. A valid second header of a proposer for one slot is
// inserted and recorded as Equivocation.
func (fc *ForkChoice) Add(h BlockHeader) error {
	hash := h.Hash()
	if _, ok := fc.nodes[hash]; ok {
		return nil
	}
	if h.Height <= fc.final.h.Height {
		return errf(ErrRevertsFinal, "block at height %d, final height %d", h.Height, fc.final.h.Height)
	}
	parent := fc.nodes[h.Prev]
	if parent == nil {
		return errf(ErrUnknownParent, "parent %x of block at slot %d", h.Prev[:8], h.Slot)
	}
	if !fc.descendsFromFinal(parent) {
		return errf(ErrRevertsFinal, "block at slot %d forks below the final block", h.Slot)
	}
	leaders, ok := fc.leaders(h.Prev, h.Slot)
	if !ok {
		return errf(ErrUnknownSeed, "no schedule for slot %d", h.Slot)
	}
	if err := VerifyHeader(&h, &parent.h, leaders, fc.bp, ArrivalAny); err != nil {
		return err
	}
	rank, _ := fc.bp.ProposerRank(h.Prev, leaders, h.Proposer)
	h.Sig = slices.Clone(h.Sig)
	n := &fcNode{h: h, hash: hash, rank: rank, parent: parent}
	parent.children = append(parent.children, n)
	fc.nodes[hash] = n
	key := slotProposer{h.Slot, string(h.Proposer)}
	for _, o := range fc.bySlot[key] {
		a, b := o, n
		if b.better(a) {
			a, b = b, a
		}
		fc.evidence = append(fc.evidence, Equivocation{A: a.h, B: b.h})
	}
	fc.bySlot[key] = append(fc.bySlot[key], n)
	fc.update()
	return nil
}

func (fc *ForkChoice) descendsFromFinal(n *fcNode) bool {
	for n != nil && n.h.Height > fc.final.h.Height {
		n = n.parent
	}
	return n == fc.final
}

// update recomputes the head by the greedy walk and advances finality.
func (fc *ForkChoice) update() {
	n := fc.final
	for len(n.children) > 0 {
		best := n.children[0]
		for _, c := range n.children[1:] {
			if c.better(best) {
				best = c
			}
		}
		n = best
	}
	fc.head = n
	if n.h.Height < fc.final.h.Height+fc.confirmations {
		return
	}
	target := n.h.Height - fc.confirmations
	var path []*fcNode // new final up to (excluding) the old final
	for n.h.Height > target {
		n = n.parent
	}
	for m := n; m != fc.final; m = m.parent {
		path = append(path, m)
	}
	// Drop every subtree that branches off the path from the old final
	// block to the new one.
	for _, m := range path {
		p := m.parent
		for _, c := range p.children {
			if c != m {
				fc.drop(c)
			}
		}
		p.children = []*fcNode{m}
	}
	fc.final = n
}

func (fc *ForkChoice) drop(n *fcNode) {
	stack := []*fcNode{n}
	for len(stack) > 0 {
		m := stack[len(stack)-1]
		stack = append(stack[:len(stack)-1], m.children...)
		delete(fc.nodes, m.hash)
		key := slotProposer{m.h.Slot, string(m.h.Proposer)}
		rest := slices.DeleteFunc(fc.bySlot[key], func(x *fcNode) bool { return x == m })
		if len(rest) == 0 {
			delete(fc.bySlot, key)
		} else {
			fc.bySlot[key] = rest
		}
	}
}

// Head returns the head of the chosen chain.
func (fc *ForkChoice) Head() BlockHeader { return fc.head.h }

// Final returns the latest final block.
func (fc *ForkChoice) Final() BlockHeader { return fc.final.h }

// Contains reports whether the tree holds the block with this hash.
func (fc *ForkChoice) Contains(hash [32]byte) bool { _, ok := fc.nodes[hash]; return ok }

// Ancestors returns up to n ancestors of the block with this hash, parent
// first, ending at the tree's root at the latest; false if the block is
// not held.
func (fc *ForkChoice) Ancestors(hash [32]byte, n int) ([]BlockHeader, bool) {
	m, ok := fc.nodes[hash]
	if !ok {
		return nil, false
	}
	var out []BlockHeader
	for m = m.parent; m != nil && len(out) < n; m = m.parent {
		out = append(out, m.h)
	}
	return out, true
}

// Equivocations returns the evidence recorded so far, in the order found.
func (fc *ForkChoice) Equivocations() []Equivocation { return slices.Clone(fc.evidence) }
