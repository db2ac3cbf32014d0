package chain

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// warm runs the lockstep sim over slots 1..n with every node beaconing,
// so that every node is eligible and leadership rotates; it returns the
// proofs of slot n, for the next block.
func (s *sim) warm(n consensus.Slot) [][]byte {
	s.t.Helper()
	var prev [][]byte
	for slot := consensus.Slot(1); slot <= n; slot++ {
		if s.step(slot, prev) == nil {
			s.t.Fatalf("slot %d: no block", slot)
		}
		prev = s.beacons(slot)
	}
	return prev
}

// leaderOf returns the index of the best-ranked node of members for slot
// after parent (as seen by engine e), or -1.
func (s *sim) leaderOf(e *Engine, parent [32]byte, slot consensus.Slot, members []int) int {
	s.t.Helper()
	best, bestRank := -1, 0
	for _, i := range members {
		r, ok, err := e.Rank(parent, slot, s.ids[i])
		if err != nil {
			s.t.Fatal(err)
		}
		if ok && (best < 0 || r < bestRank) {
			best, bestRank = i, r
		}
	}
	return best
}

// reforge replaces a valid block's body, recomputes the roots the header
// commits to and re-signs it with the proposer's key, so that the block
// passes every check up to the one under test.
func reforge(t testing.TB, good *consensus.Block, key crypto.PrivKey, body consensus.Body) *consensus.Block {
	t.Helper()
	b := &consensus.Block{Header: good.Header, Body: body}
	b.Header.TxRoot = consensus.TxRoot(body.Txs)
	b.Header.ProofRoot = consensus.ProofRoot(body.Proofs)
	if err := b.Header.Sign(key); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEquivocationSlashes(t *testing.T) {
	s := newSim(t, 4)
	prev := s.warm(24)
	const slot = 25
	e0 := s.engines[0]
	head := e0.Head().Hash()
	eq := s.leaderOf(e0, head, slot, []int{0, 1, 2, 3})
	if eq < 0 {
		t.Fatal("no leader")
	}
	// Two blocks for one slot that differ only in the proofs carried:
	// both are valid, so only the pair proves misbehaviour.
	b1, err := s.engines[eq].Build(head, slot, s.keys[eq], Candidates{})
	if err != nil {
		t.Fatal(err)
	}
	b2, err := s.engines[eq].Build(head, slot, s.keys[eq], Candidates{Proofs: prev})
	if err != nil {
		t.Fatal(err)
	}
	if b1.Hash() == b2.Hash() {
		t.Fatal("the two blocks are one")
	}
	for i, e := range s.engines {
		r1, err := e.Add(b1, consensus.ArrivalAny)
		if err != nil || r1.Equivocation != nil {
			t.Fatalf("node %d: first block: %v, evidence %v", i, err, r1.Equivocation)
		}
		r2, err := e.Add(b2, consensus.ArrivalAny)
		if err != nil {
			t.Fatalf("node %d: second block: %v", i, err)
		}
		if r2.Equivocation == nil {
			t.Fatalf("node %d: second block of slot %d not reported", i, slot)
		}
		ev := e.Evidence()
		if len(ev) != 1 || ev[0].A.Hash() == ev[0].B.Hash() ||
			!slices.Contains([][32]byte{b1.Hash(), b2.Hash()}, ev[0].A.Hash()) ||
			!slices.Contains([][32]byte{b1.Hash(), b2.Hash()}, ev[0].B.Hash()) {
			t.Fatalf("node %d: evidence %v", i, ev)
		}
		// Adding a held block again is not new evidence.
		if r, err := e.Add(b2, consensus.ArrivalAny); err != nil || !r.Known || len(e.Evidence()) != 1 {
			t.Fatalf("node %d: re-add: %+v %v", i, r, err)
		}
	}

	ev := e0.Evidence()[0]
	a, b := ev.A, ev.B
	if bytes.Compare(a.Encode(), b.Encode()) > 0 {
		a, b = b, a // vm wants the encodings in order, not the hashes
	}
	reporter := (eq + 1) % 4
	nonce := e0.HeadState().Nonce(s.ids[reporter])
	s.txs = [][]byte{signTx(t, s.keys[reporter], nonce, &vm.Equivocation{A: a, B: b})}
	blk := s.step(slot+1, s.beacons(slot))
	if blk == nil || len(blk.Body.Txs) != 1 {
		t.Fatalf("evidence not included: %v", blk)
	}
	_, receipts, ok := e0.Block(blk.Hash())
	if !ok || len(receipts) != 1 || !receipts[0].OK() {
		t.Fatalf("evidence receipt %+v", receipts)
	}
	epochSlots, _ := e0.HeadState().Param(vm.ParamEpochSlots)
	entity := []byte(consensus.NodeEntity(s.ids[eq]))
	for i, e := range s.engines {
		st := e.HeadState()
		if !st.Slashed(uint64(slot)/epochSlots, entity) {
			t.Fatalf("node %d: proposer not slashed in epoch %d", i, uint64(slot)/epochSlots)
		}
		if st.Slashed(uint64(slot)/epochSlots, []byte(consensus.NodeEntity(s.ids[reporter]))) {
			t.Fatalf("node %d: reporter slashed", i)
		}
	}
}

func TestPartitionHeal(t *testing.T) {
	s := newSim(t, 4)
	prev := s.warm(20)
	fork := s.engines[0].Head()
	sides := [][]int{{0, 1}, {2, 3}}
	finals := make([]uint64, len(s.engines))
	checkFinal := func(i int) {
		t.Helper()
		f := s.engines[i].Final().Height
		if f < finals[i] {
			t.Fatalf("node %d: final height went from %d to %d", i, finals[i], f)
		}
		finals[i] = f
	}
	for i := range s.engines {
		checkFinal(i)
	}
	// Each side builds on its own for fewer slots than the confirmation
	// depth, carrying its own members' proofs only.
	const partitionSlots = DefaultDevConfirmations - 1
	var blocks [][]*consensus.Block
	tips := make([][32]byte, len(sides))
	for si, side := range sides {
		var mine []*consensus.Block
		sidePrev := prev
		for slot := fork.Slot + 1; slot <= fork.Slot+partitionSlots; slot++ {
			e := s.engines[side[0]]
			head := e.Head().Hash()
			if l := s.leaderOf(e, head, slot, side); l >= 0 {
				b, err := s.engines[l].Build(head, slot, s.keys[l], Candidates{Proofs: sidePrev})
				if err != nil {
					t.Fatal(err)
				}
				for _, i := range side {
					if _, err := s.engines[i].Add(b, consensus.ArrivalAny); err != nil {
						t.Fatalf("side %d slot %d node %d: %v", si, slot, i, err)
					}
					checkFinal(i)
				}
				mine = append(mine, b)
			}
			sidePrev = nil
			for _, i := range side {
				sidePrev = append(sidePrev, s.beacons(slot)[2*i:2*i+2]...)
			}
		}
		if len(mine) == 0 {
			t.Fatalf("side %d produced nothing: the test would be vacuous", si)
		}
		blocks = append(blocks, mine)
		tips[si] = s.engines[side[0]].Head().Hash()
	}
	if tips[0] == tips[1] {
		t.Fatal("the sides did not diverge")
	}
	for i, e := range s.engines {
		if e.Final().Height > fork.Height {
			t.Fatalf("node %d finalized %d above the fork %d during the partition", i, e.Final().Height, fork.Height)
		}
	}

	// Heal: every engine receives both sides' blocks in its own order;
	// blocks whose parent is missing wait, as a shell buffers them.
	all := slices.Concat(blocks...)
	rng := rand.New(rand.NewPCG(7, 11))
	for i, e := range s.engines {
		order := slices.Clone(all)
		switch i {
		case 0:
			slices.Reverse(order)
		case 1:
			order = slices.Concat(blocks[1], blocks[0])
		default:
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		}
		for len(order) > 0 {
			var wait []*consensus.Block
			for _, b := range order {
				_, err := e.Add(b, consensus.ArrivalAny)
				switch {
				case errors.Is(err, consensus.ErrUnknownParent):
					wait = append(wait, b)
				case err != nil:
					t.Fatalf("node %d heal: %v", i, err)
				}
				checkFinal(i)
			}
			if len(wait) == len(order) {
				t.Fatalf("node %d: %d blocks never connect", i, len(wait))
			}
			order = wait
		}
	}
	h := s.engines[0].Head()
	if h.Hash() != tips[0] && h.Hash() != tips[1] {
		t.Fatalf("head %x is neither side's tip", h.Hash())
	}
	for i, e := range s.engines {
		if e.Head().Hash() != h.Hash() || e.HeadState().Root() != s.engines[0].HeadState().Root() {
			t.Fatalf("node %d: head %d/%x, node 0 head %d/%x", i, e.Head().Height, e.Head().Hash(), h.Height, h.Hash())
		}
		if e.Final().Hash() != s.engines[0].Final().Hash() {
			t.Fatalf("node %d: final differs", i)
		}
	}
	// The healed network goes on in lockstep and finalizes past the fork.
	for slot := fork.Slot + partitionSlots + 1; slot <= fork.Slot+partitionSlots+DefaultDevConfirmations+1; slot++ {
		s.step(slot, nil)
		for i := range s.engines {
			checkFinal(i)
		}
	}
	if f := s.engines[0].Final(); f.Height <= fork.Height {
		t.Fatalf("final %d not past the fork %d", f.Height, fork.Height)
	}
}

func TestEngineRejectsForgedBodies(t *testing.T) {
	s := newSim(t, 4)
	reg := signTx(t, s.keys[1], 0, goldenSession(9))
	var prev [][]byte
	var included *consensus.Block
	for slot := consensus.Slot(1); slot <= 6; slot++ {
		if slot == 3 {
			s.txs = [][]byte{reg}
		}
		b := s.step(slot, prev)
		if slot == 3 {
			included = b
		}
		prev = s.beacons(slot)
	}
	if len(included.Body.Txs) != 1 {
		t.Fatal("registration not included")
	}
	e := s.engines[2]
	head := e.Head()
	const slot = 7
	l := s.leaderOf(e, head.Hash(), slot, []int{0, 1, 2, 3})
	good, err := s.engines[l].Build(head.Hash(), slot, s.keys[l], Candidates{Proofs: prev})
	if err != nil {
		t.Fatal(err)
	}
	if len(good.Body.Proofs) == 0 {
		t.Fatal("no proofs in the block")
	}
	lastProofs := func() [][]byte {
		b, _, ok := e.Block(head.Hash())
		if !ok || len(b.Body.Proofs) == 0 {
			t.Fatal("head has no proofs")
		}
		return b.Body.Proofs
	}()
	filler := func(n, size int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = bytes.Repeat([]byte{byte(i) | 1}, size)
		}
		return out
	}
	cases := []struct {
		name string
		body consensus.Body
		want error
		msg  string
	}{
		// The nonce check runs before execution can reach the state root.
		{"replayed tx", consensus.Body{Txs: [][]byte{reg}}, vm.ErrBadNonce, ""},
		{"block too large", consensus.Body{Txs: filler(2, 900<<10)}, consensus.ErrBlockTooLarge, ""},
		{"txs above max_block_bytes", consensus.Body{Txs: filler(2, 520<<10)}, vm.ErrBlockLimit, ""},
		{"too many txs", consensus.Body{Txs: filler(1001, 8)}, consensus.ErrBlockTooManyTxs, ""},
		{"proof already on the branch", consensus.Body{Proofs: lastProofs[:1]}, ErrBadProof, "already on the branch"},
		{"proof twice in the block", consensus.Body{Proofs: [][]byte{good.Body.Proofs[0], good.Body.Proofs[0]}},
			ErrBadProof, "twice in the block"},
		{"proof for a later slot", consensus.Body{Proofs: [][]byte{s.beacons(slot + 1)[0]}}, ErrBadProof, "in a block at slot"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := reforge(t, good, s.keys[l], c.body)
			_, err := e.Add(b, consensus.ArrivalAny)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want %v (%q)", err, c.want, c.msg)
			}
		})
	}
	if r, err := e.Add(good, consensus.ArrivalAny); err != nil || !r.HeadChanged {
		t.Fatalf("the unforged block: %+v %v", r, err)
	}
}
