// Package chain is the data chain's deterministic core: it ties blocks
// (package consensus) to their execution (package vm). An Engine holds the
// tree of valid blocks above the last final one, derives each slot's
// leaders from the branch a block extends, verifies and executes blocks,
// applies the fork-choice rule and builds the blocks this node proposes.
// Like consensus and vm it has no clock, no network and no goroutines:
// the node's shell (node/chain) passes in blocks, arrival times and keys.
// See docs/chain.md.
package chain

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// Errors of this package; the others come from consensus and vm.
var (
	// ErrStateRoot: executing the block gives another state root than its
	// header carries.
	ErrStateRoot = errors.New("chain: state root mismatch")
	// ErrBadProof: a PoOT proof in the block fails verification, is
	// pooled, is for a later slot than the block, or is already included
	// on the block's branch or twice in the block.
	ErrBadProof = errors.New("chain: bad proof in block")
	// ErrHistory: the block needs chain history this node no longer holds.
	ErrHistory = errors.New("chain: history not held")
	// ErrBadTally: a commit-tally transaction that is not the epoch's
	// tally as the block's branch computes it, or that comes too early.
	ErrBadTally = errors.New("chain: commit-tally does not match the branch's tally")
	// ErrNotLeader: Build was asked for a slot the key does not lead.
	ErrNotLeader = errors.New("chain: not a leader of the slot")
)

// VoterUptime is the uptime (millionths of the tally window) a node needs
// to vote on governance proposals: the Governor's 80 %.
const VoterUptime = 800_000

// maxMissGap bounds how many slots before a block its misses are
// recorded for: beyond that the absent primary's live score is long gone
// and recording more only costs every node the schedules of the gap.
const maxMissGap = 64

// entry is one block the engine holds. Blocks above the fork-choice root
// carry their state; the root's ancestors (history) carry only what the
// schedule reads: header, proofs, misses.
type entry struct {
	hash     [32]byte
	header   consensus.BlockHeader
	parent   *entry
	body     consensus.Body
	proofs   []*consensus.Proof
	proofIDs map[[32]byte]struct{}
	misses   []consensus.Miss
	state    *vm.State
	params   consensus.Params // in effect after the block (with state)
	receipts []vm.Receipt
	// sessions is the number of sessions the block registered (what a
	// validation proof of it claims), known for blocks this engine
	// executed.
	sessions      uint64
	sessionsKnown bool
}

type schedKey struct {
	parent [32]byte
	slot   consensus.Slot
}

type tallyKey struct {
	seed   [32]byte
	slot   consensus.Slot
	window uint64
}

type scheduled struct {
	leaders consensus.SlotLeaders
	tally   *consensus.TallyResult
}

// Engine is the block tree of one node. It is not safe for concurrent
// use.
type Engine struct {
	gen      *Genesis
	genHash  [32]byte // hash of the genesis block
	fc       *consensus.ForkChoice
	entries  map[[32]byte]*entry
	root     *entry // the fork-choice root
	final    *entry
	confirm  uint64
	sched    map[schedKey]*scheduled
	tallies  map[tallyKey]*consensus.TallyResult
	evidence []consensus.Equivocation
}

// StoredBlock is a final block as the shell keeps it: the block and the
// misses it recorded (which need the history before it to recompute).
type StoredBlock struct {
	Block  *consensus.Block
	Misses []consensus.Miss
}

// New starts an engine at the genesis block.
func New(g *Genesis) (*Engine, error) {
	h, err := g.Header()
	if err != nil {
		return nil, err
	}
	s, _ := g.State()
	return Restore(g, StoredBlock{Block: &consensus.Block{Header: h}}, s, nil)
}

// Restore starts an engine at a final block whose state the caller
// trusts (its stored snapshot, checked against the header's StateRoot),
// with history: the block's ancestors, oldest first, covering at least
// HistorySlots slots (fewer only near genesis).
func Restore(g *Genesis, root StoredBlock, state *vm.State, history []StoredBlock) (*Engine, error) {
	if state.Root() != root.Block.Header.StateRoot {
		return nil, fmt.Errorf("%w: state %x for block with root %x", vm.ErrStateRoot, state.Root(), root.Block.Header.StateRoot)
	}
	gh, err := g.Header()
	if err != nil {
		return nil, err
	}
	params, err := ConsensusParams(state, g.Time)
	if err != nil {
		return nil, err
	}
	e := &Engine{gen: g, genHash: gh.Hash(), entries: map[[32]byte]*entry{},
		sched: map[schedKey]*scheduled{}, tallies: map[tallyKey]*consensus.TallyResult{}}
	var parent *entry
	for _, sb := range append(slices.Clone(history), root) {
		x, err := newEntry(sb, parent)
		if err != nil {
			return nil, err
		}
		if parent != nil && x.header.Prev != parent.hash {
			return nil, fmt.Errorf("%w: history block %d does not link to its predecessor", ErrHistory, x.header.Height)
		}
		e.entries[x.hash] = x
		parent = x
	}
	parent.state, parent.params = state, params
	e.root, e.final = parent, parent
	conf, _ := state.Param("confirmation_blocks")
	e.confirm = conf
	if e.fc, err = consensus.NewForkChoice(parent.header, e.leadersFunc, e.blockParams(params, state), conf); err != nil {
		return nil, err
	}
	return e, nil
}

func newEntry(sb StoredBlock, parent *entry) (*entry, error) {
	b := sb.Block
	x := &entry{hash: b.Hash(), header: b.Header, parent: parent, body: b.Body, misses: sb.Misses,
		proofIDs: make(map[[32]byte]struct{}, len(b.Body.Proofs))}
	for i, raw := range b.Body.Proofs {
		p, err := consensus.DecodeProof(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: proof %d of block %x: %w", ErrBadProof, i, x.hash[:8], err)
		}
		x.proofs = append(x.proofs, p)
		x.proofIDs[p.ID()] = struct{}{}
	}
	return x, nil
}

// Genesis returns the genesis document.
func (e *Engine) Genesis() *Genesis { return e.gen }

// GenesisHash is the hash of the genesis block.
func (e *Engine) GenesisHash() [32]byte { return e.genHash }

// HistorySlots is how many slots of final blocks before the fork-choice
// root the schedule reads under params p: the tally window and its
// acceptance margin, the lookahead and the cooldown.
func HistorySlots(p consensus.Params) uint64 {
	return p.WindowSlots + 2*p.AcceptWindow + p.Lookahead + p.CooldownSlots + 2
}

// leadersFunc adapts schedule to consensus.LeadersFunc.
func (e *Engine) leadersFunc(parent [32]byte, slot consensus.Slot) (consensus.SlotLeaders, bool) {
	p := e.entries[parent]
	if p == nil || p.state == nil {
		return consensus.SlotLeaders{}, false
	}
	s, err := e.schedule(p, slot)
	if err != nil {
		return consensus.SlotLeaders{}, false
	}
	return s.leaders, true
}

// Leaders returns the leaders of slot for a block extending parent.
func (e *Engine) Leaders(parent [32]byte, slot consensus.Slot) (consensus.SlotLeaders, error) {
	p := e.entries[parent]
	if p == nil || p.state == nil {
		return consensus.SlotLeaders{}, fmt.Errorf("%w: %x", consensus.ErrUnknownParent, parent[:8])
	}
	s, err := e.schedule(p, slot)
	if err != nil {
		return consensus.SlotLeaders{}, err
	}
	return s.leaders, nil
}

// schedule computes the leaders of slot t on the branch ending at parent
// (t after parent's slot). Everything it reads is on that branch:
//
//   - the seed: the hash of the branch's latest block at a slot ≤ t − L
//     (the genesis block's hash before any);
//   - the tally at t − L − AcceptWindow, over the proofs and misses the
//     branch's blocks up to that seed block include;
//   - the cooldown history: the proposers of the branch's blocks in the
//     CooldownSlots slots ending at t − L, each as the entity (its pool,
//     or itself) it is in parent's state.
//
// So the schedule of slot t is fixed once slot t − L has ended, like the
// seed: a leader knows its turn L slots ahead, and a block arriving late
// for slot t − 1 does not change who leads slot t. The parameters are
// those in effect after parent.
func (e *Engine) schedule(parent *entry, t consensus.Slot) (*scheduled, error) {
	key := schedKey{parent.hash, t}
	if s, ok := e.sched[key]; ok {
		return s, nil
	}
	p := parent.params
	if t <= parent.header.Slot {
		return nil, fmt.Errorf("%w: slot %d after parent slot %d", consensus.ErrBlockSlot, t, parent.header.Slot)
	}
	seed := e.genHash
	var seedEntry *entry
	if uint64(t) >= p.Lookahead {
		var err error
		if seedEntry, err = atOrBefore(parent, t-consensus.Slot(p.Lookahead)); err != nil {
			return nil, err
		}
		seed = seedEntry.hash
	}
	var tally *consensus.TallyResult
	if ts, ok := p.TallySlotFor(t); ok {
		var err error
		if tally, err = e.tallyAt(seedEntry, ts, p); err != nil {
			return nil, err
		}
	}
	// Cooldown: the proposers of the seed block and of the branch's
	// blocks in the CooldownSlots−1 slots before it, oldest first.
	n := min(uint64(t), p.CooldownSlots)
	recent := make([]consensus.EntityID, n)
	if seedEntry != nil {
		last := int64(t) - int64(p.Lookahead) // the cooldown window ends here
		first := last - int64(n) + 1
		for x := seedEntry; x != nil && x.header.Height > 0 && int64(x.header.Slot) >= first; x = x.parent {
			recent[int64(x.header.Slot)-first] = entityIn(parent.state, x.header.Proposer)
		}
	}
	leaders, err := consensus.Leaders(p, tally, seed, t, recent)
	if err != nil {
		return nil, err
	}
	s := &scheduled{leaders: leaders, tally: tally}
	e.sched[key] = s
	return s, nil
}

// atOrBefore returns the latest block of the branch ending at x whose slot
// is at most t.
func atOrBefore(x *entry, t consensus.Slot) (*entry, error) {
	for ; x != nil; x = x.parent {
		if x.header.Slot <= t {
			return x, nil
		}
	}
	return nil, fmt.Errorf("%w: no block at or before slot %d", ErrHistory, t)
}

// tallyAt computes the tally at slot ts over the proofs and misses of the
// branch ending at seed. A proof for slot u can only be in a block of a
// slot ≤ u + AcceptWindow (checkProofs), so the walk stops once blocks are
// older than the window's start minus that margin.
func (e *Engine) tallyAt(seed *entry, ts consensus.Slot, p consensus.Params) (*consensus.TallyResult, error) {
	key := tallyKey{seed.hash, ts, p.WindowSlots}
	if r, ok := e.tallies[key]; ok {
		return r, nil
	}
	t, err := consensus.NewTally(p)
	if err != nil {
		return nil, err
	}
	lo := int64(ts) - int64(p.WindowSlots) - int64(p.AcceptWindow)
	for x := seed; x != nil && int64(x.header.Slot) >= lo; x = x.parent {
		for _, pr := range x.proofs {
			if pr.Slot <= ts {
				if err := t.Add(pr); err != nil && !errors.Is(err, consensus.ErrPruned) {
					return nil, fmt.Errorf("chain: tally: %w", err)
				}
			}
		}
		for _, m := range x.misses {
			if m.Slot <= ts {
				if err := t.AddMiss(m); err != nil {
					return nil, fmt.Errorf("chain: tally: %w", err)
				}
			}
		}
	}
	r, err := t.Compute(ts)
	if err != nil {
		return nil, err
	}
	e.tallies[key] = r
	return r, nil
}

// Electorate returns the nodes eligible to vote in a block whose slot was
// scheduled with tally r: node entities with an uptime of at least
// VoterUptime, in the tally's order. One node, one vote: pools do not vote.
func Electorate(r *consensus.TallyResult) []peer.ID {
	if r == nil {
		return nil
	}
	var out []peer.ID
	for _, en := range r.Entries {
		if id, ok := en.Entity.Node(); ok && en.Uptime >= VoterUptime {
			out = append(out, id)
		}
	}
	return out
}

// missesOf lists the primaries that missed the slots a block at slot s
// after parent closes: every scheduled primary of a slot between parent
// and s (no block on this branch), and the primary of s unless it
// proposed the block. At most maxMissGap slots back.
func (e *Engine) missesOf(parent *entry, s consensus.Slot, proposer peer.ID) ([]consensus.Miss, error) {
	from := max(parent.header.Slot+1, consensus.Slot(max(int64(s)-maxMissGap+1, 0)))
	var out []consensus.Miss
	for u := from; u <= s; u++ {
		sc, err := e.schedule(parent, u)
		if err != nil {
			return nil, err
		}
		pr := sc.leaders.Primary
		if pr == "" || (u == s && pr == entityIn(parent.state, proposer)) {
			continue
		}
		out = append(out, consensus.Miss{Slot: u, Entity: pr})
	}
	return out, nil
}

// registered counts the successful session registrations of a block.
func registered(rs []vm.Receipt) uint64 {
	var n uint64
	for _, r := range rs {
		if r.Type == vm.TypeRegisterSession && r.OK() {
			n++
		}
	}
	return n
}

// proofContext is what the proofs of a block after parent are verified
// against, all from the branch: a storage proof answers the challenge of
// the branch's seed for its slot over the prover's claims in the parent's
// state; a validation proof names a block of this branch (an ancestor the
// engine executed); a pooled proof's node must be in that pool in the
// parent's state.
func (e *Engine) proofContext(parent *entry, lo consensus.Slot) consensus.VerifyContext {
	return consensus.VerifyContext{
		Seeds:      branchSeeds{tip: parent, lookahead: parent.params.Lookahead, genesis: e.genHash},
		Claims:     func(node peer.ID, _ consensus.Slot) (*consensus.ClaimSet, bool) { return ClaimSet(parent.state, node) },
		PoolMember: func(pool []byte, node peer.ID) bool { return InPool(parent.state, pool, node) },
		Block: func(h [32]byte) (consensus.BlockInfo, bool) {
			for x := parent; x != nil && x.header.Height > 0 && x.header.Slot >= lo; x = x.parent {
				if x.hash == h {
					return x.info()
				}
			}
			return consensus.BlockInfo{}, false
		},
	}
}

func (x *entry) info() (consensus.BlockInfo, bool) {
	return consensus.BlockInfo{Slot: x.header.Slot, Height: x.header.Height, Sessions: x.sessions}, x.sessionsKnown
}

// BlockInfo describes a held block the engine executed, for validation
// proofs (any branch: gossip checks a proof before its block's fate is
// known; inclusion checks the branch).
func (e *Engine) BlockInfo(hash [32]byte) (consensus.BlockInfo, bool) {
	x, ok := e.entries[hash]
	if !ok {
		return consensus.BlockInfo{}, false
	}
	return x.info()
}

// includedNear reports whether a proof is already on the branch ending at
// x, looking back as far as a proof for slot could have been included.
func includedNear(x *entry, id [32]byte, slot consensus.Slot, p consensus.Params) bool {
	lo := int64(slot) - int64(p.AcceptWindow)
	for ; x != nil && int64(x.header.Slot) >= lo; x = x.parent {
		if _, ok := x.proofIDs[id]; ok {
			return true
		}
	}
	return false
}

// checkProof applies the inclusion rules to one proof of a block at slot
// s on parent's branch (seen: the proofs before it in the block).
func (e *Engine) checkProof(p *consensus.Proof, parent *entry, s consensus.Slot, seen map[[32]byte]struct{}) error {
	pp := parent.params
	if p.Slot > s {
		return fmt.Errorf("%w: proof for slot %d in a block at slot %d", ErrBadProof, p.Slot, s)
	}
	// A validation proof is for its block's slot, at most accept_window
	// slots back.
	lo := consensus.Slot(max(int64(s)-int64(pp.AcceptWindow), 0))
	if err := consensus.VerifyProof(p, pp, s, e.proofContext(parent, lo)); err != nil {
		return fmt.Errorf("%w: %w", ErrBadProof, err)
	}
	id := p.ID()
	if _, dup := seen[id]; dup {
		return fmt.Errorf("%w: proof %x twice in the block", ErrBadProof, id[:8])
	}
	if includedNear(parent, id, p.Slot, pp) {
		return fmt.Errorf("%w: proof %x already on the branch", ErrBadProof, id[:8])
	}
	return nil
}

// Result is what Add did.
type Result struct {
	Hash [32]byte
	// Known: the block was already held (nothing else is set).
	Known bool
	// Head is the head after the block; HeadChanged whether it moved.
	Head        consensus.BlockHeader
	HeadChanged bool
	// Finalized are the blocks that became final, oldest first.
	Finalized []Final
	// Equivocation is set when the block is a proposer's second for its
	// slot.
	Equivocation *consensus.Equivocation
}

// Final is a block that became final, with what the shell stores.
type Final struct {
	StoredBlock
	Receipts []vm.Receipt
	State    *vm.State
}

// Add verifies a block, executes it on its parent's state and inserts it.
// arrival is how far into its slot it arrived (consensus.ArrivalAny for
// blocks fetched while syncing or built here). Errors wrap the sentinel of
// the first rule broken: consensus.ErrUnknownParent (fetch the parent and
// retry), the header and body rules of consensus.VerifyBlock, ErrBadProof,
// the block-invalidating errors of vm.ApplyBlock, ErrStateRoot,
// consensus.ErrRevertsFinal.
func (e *Engine) Add(b *consensus.Block, arrival time.Duration) (Result, error) {
	hash := b.Hash()
	if _, ok := e.entries[hash]; ok {
		return Result{Hash: hash, Known: true, Head: e.fc.Head()}, nil
	}
	parent := e.entries[b.Header.Prev]
	if parent == nil {
		return Result{}, fmt.Errorf("%w: %x", consensus.ErrUnknownParent, b.Header.Prev[:8])
	}
	if parent.state == nil {
		return Result{}, fmt.Errorf("%w: parent %x is below the final block", consensus.ErrRevertsFinal, b.Header.Prev[:8])
	}
	x, err := e.verify(b, parent, arrival)
	if err != nil {
		return Result{}, err
	}
	before := e.fc.Head().Hash()
	nEvidence := len(e.fc.Equivocations())
	if err := e.fc.Add(b.Header); err != nil {
		return Result{}, err
	}
	e.entries[hash] = x
	r := Result{Hash: hash, Head: e.fc.Head()}
	r.HeadChanged = r.Head.Hash() != before
	if ev := e.fc.Equivocations(); len(ev) > nEvidence {
		last := ev[len(ev)-1]
		r.Equivocation = &last
		e.evidence = append(e.evidence, last)
	}
	r.Finalized = e.advanceFinal()
	return r, nil
}

// verify runs every check of a block whose parent is held and returns
// its entry.
func (e *Engine) verify(b *consensus.Block, parent *entry, arrival time.Duration) (*entry, error) {
	h := &b.Header
	sc, err := e.schedule(parent, h.Slot)
	if err != nil {
		if errors.Is(err, consensus.ErrBlockSlot) {
			return nil, err
		}
		return nil, fmt.Errorf("chain: schedule of slot %d: %w", h.Slot, err)
	}
	bp := e.blockParams(parent.params, parent.state)
	if err := consensus.VerifyBlock(b, &parent.header, sc.leaders, bp, arrival); err != nil {
		return nil, err
	}
	if len(b.Body.Proofs) > MaxBlockProofs {
		return nil, fmt.Errorf("%w: %d proofs, limit %d", ErrBadProof, len(b.Body.Proofs), MaxBlockProofs)
	}
	x, err := newEntry(StoredBlock{Block: b}, parent)
	if err != nil {
		return nil, err
	}
	if err := e.checkCommits(parent, h.Slot, b.Body.Txs); err != nil {
		return nil, err
	}
	seen := make(map[[32]byte]struct{}, len(x.proofs))
	for i, p := range x.proofs {
		if err := e.checkProof(p, parent, h.Slot, seen); err != nil {
			return nil, fmt.Errorf("proof %d: %w", i, err)
		}
		seen[p.ID()] = struct{}{}
	}
	if x.misses, err = e.missesOf(parent, h.Slot, h.Proposer); err != nil {
		return nil, err
	}
	state, receipts, err := vm.ApplyBlock(parent.state, vm.BlockInput{Height: h.Height, Slot: uint64(h.Slot),
		Proposer: h.Proposer, Txs: b.Body.Txs, Eligible: Electorate(sc.tally)})
	if err != nil {
		return nil, err
	}
	if state.Root() != h.StateRoot {
		return nil, fmt.Errorf("%w: executed %x, header %x", ErrStateRoot, state.Root(), h.StateRoot)
	}
	if x.params, err = ConsensusParams(state, e.gen.Time); err != nil {
		return nil, err
	}
	x.state, x.receipts = state, receipts
	x.sessions, x.sessionsKnown = registered(receipts), true
	return x, nil
}

// advanceFinal follows the fork choice's final block, returns the blocks
// that became final and drops what no longer matters: blocks off the
// final chain, states of final blocks other than the latest, history
// older than HistorySlots, and their cached schedules.
func (e *Engine) advanceFinal() []Final {
	fh := e.fc.Final().Hash()
	if fh == e.final.hash {
		return nil
	}
	var out []Final
	for x := e.entries[fh]; x != nil && x != e.final; x = x.parent {
		out = append(out, Final{StoredBlock: StoredBlock{Block: &consensus.Block{Header: x.header, Body: x.body}, Misses: x.misses},
			Receipts: x.receipts, State: x.state})
	}
	slices.Reverse(out)
	newFinal := e.entries[fh]
	for x := newFinal.parent; x != nil && x.state != nil; x = x.parent {
		x.state, x.receipts = nil, nil
	}
	e.final = newFinal
	// Keep: the final block's descendants (the fork choice's tree) and
	// its ancestors back to HistorySlots.
	keep := map[[32]byte]bool{}
	for h, x := range e.entries {
		if e.fc.Contains(h) && descends(x, newFinal) {
			keep[h] = true
		}
	}
	lo := int64(newFinal.header.Slot) - int64(HistorySlots(newFinal.params))
	for x := newFinal; x != nil; x = x.parent {
		if int64(x.header.Slot) < lo && x.parent != nil {
			x.parent = nil // the oldest kept block
		}
		keep[x.hash] = true
	}
	for h := range e.entries {
		if !keep[h] {
			delete(e.entries, h)
		}
	}
	for k := range e.sched {
		if _, ok := e.entries[k.parent]; !ok {
			delete(e.sched, k)
		}
	}
	for k := range e.tallies {
		if _, ok := e.entries[k.seed]; !ok {
			delete(e.tallies, k)
		}
	}
	if newFinal.header.Height-e.root.header.Height >= reRootEvery {
		e.reRoot()
	}
	return out
}

// reRootEvery: the fork choice keeps the final block's ancestors; every
// this many final blocks it starts again from the final block, so that
// its memory stays bounded on a long-running node.
const reRootEvery = 256

// reRoot rebuilds the fork choice from the final block with the blocks
// above it, in height order. The rule chooses from the final block on,
// so the head is the same.
func (e *Engine) reRoot() {
	fc, err := consensus.NewForkChoice(e.final.header, e.leadersFunc, e.blockParams(e.final.params, e.final.state), e.confirm)
	if err != nil {
		return
	}
	var above []*entry
	for _, x := range e.entries {
		if x.state != nil && x.header.Height > e.final.header.Height {
			above = append(above, x)
		}
	}
	slices.SortFunc(above, func(a, b *entry) int { return cmp.Compare(a.header.Height, b.header.Height) })
	for _, x := range above {
		if err := fc.Add(x.header); err != nil {
			return // keep the old tree rather than lose a block
		}
	}
	e.fc, e.root = fc, e.final
}

func descends(x, anc *entry) bool {
	for ; x != nil; x = x.parent {
		if x == anc {
			return true
		}
		if x.header.Height < anc.header.Height {
			return false
		}
	}
	return false
}

// InPool reports whether node is a member of pool in state st.
func InPool(st *vm.State, pool []byte, node peer.ID) bool {
	p, ok := st.PoolOf(node)
	return ok && bytes.Equal(p, pool)
}

// entityIn is what a node ranks as in state st: its pool, or itself.
func entityIn(st *vm.State, node peer.ID) consensus.EntityID {
	if pool, ok := st.PoolOf(node); ok {
		return consensus.PoolEntity(pool)
	}
	return consensus.NodeEntity(node)
}

// poolOf is BlockParams.PoolOf: membership in the state after parent.
func (e *Engine) poolOf(parent [32]byte, node peer.ID) ([]byte, bool) {
	x, ok := e.entries[parent]
	if !ok || x.state == nil {
		return nil, false
	}
	return x.state.PoolOf(node)
}
