package chain

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// outsider is a key that never beacons, so it is never in an electorate.
func outsider(t testing.TB) (crypto.PrivKey, peer.ID) {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	seed[0], seed[1] = 0x99, 0x99
	k, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

// txSender hands out consecutive nonces per key, from the key's next
// nonce at the head (proposers spend nonces on their commit-tallies).
type txSender struct {
	t      testing.TB
	nonces map[crypto.PrivKey]uint64
	head   func() *vm.State
}

func (ts *txSender) tx(k crypto.PrivKey, body vm.Body) []byte {
	n := ts.nonces[k]
	if ts.head != nil {
		id, _ := peer.IDFromPrivateKey(k)
		n = max(n, ts.head().Nonce(id))
	}
	ts.nonces[k] = n + 1
	return signTx(ts.t, k, n, body)
}

// stepWith runs one lockstep slot with txs and requires every one of them
// included first (a proposer's commit-tally may follow them); it returns
// the block and the receipts of those transactions on every engine.
func (s *sim) stepWith(slot consensus.Slot, proofs [][]byte, txs ...[]byte) (*consensus.Block, [][]vm.Receipt) {
	s.t.Helper()
	s.txs = txs
	b := s.step(slot, proofs)
	if b == nil || len(b.Body.Txs) < len(txs) || len(b.Body.Txs) > len(txs)+1 {
		s.t.Fatalf("slot %d: block %v does not carry the %d transactions", slot, b, len(txs))
	}
	var out [][]vm.Receipt
	for i, e := range s.engines {
		_, rs, ok := e.Block(b.Hash())
		if !ok || len(rs) < len(txs) {
			s.t.Fatalf("node %d: receipts %v", i, rs)
		}
		out = append(out, rs[:len(txs)])
	}
	return b, out
}

func TestGovernanceThroughEngine(t *testing.T) {
	const (
		param    = "max_session_duration_s"
		newValue = 7200
		other    = "max_chunk_size"
	)
	s := newSim(t, 4)
	prev := s.warm(25)
	e0 := s.engines[0]
	oldValue, _ := e0.HeadState().Param(param)
	otherValue, _ := e0.HeadState().Param(other)
	if oldValue == newValue {
		t.Fatal("the proposal would change nothing")
	}
	r, err := e0.Tally(e0.Head().Hash(), e0.Head().Slot+1)
	if err != nil || len(Electorate(r)) != 4 {
		t.Fatalf("electorate of %v (%v): the nodes should all be eligible after 25 slots", r, err)
	}
	ts := &txSender{t: t, nonces: map[crypto.PrivKey]uint64{}, head: func() *vm.State { return s.engines[0].HeadState() }}
	outKey, _ := outsider(t)
	k := s.keys

	slot := consensus.Slot(26)
	pb, receipts := s.stepWith(slot, prev,
		ts.tx(k[1], &vm.ProposeParam{Name: param, Value: newValue}),   // proposal 1
		ts.tx(k[2], &vm.ProposeParam{Name: other, Value: 2 << 20}),    // proposal 2
		ts.tx(k[0], &vm.ProposeParam{Name: param, Value: 10}),         // below its bounds
		ts.tx(outKey, &vm.ProposeParam{Name: param, Value: newValue}), // not eligible
	)
	prev = s.beacons(slot)
	wantErrs := []error{nil, nil, vm.ErrParamOutOfBounds, vm.ErrNotEligible}
	for node, rs := range receipts {
		for i, want := range wantErrs {
			if (want == nil && rs[i].Err != nil) || (want != nil && !errors.Is(rs[i].Err, want)) {
				t.Fatalf("node %d tx %d: receipt %v, want %v", node, i, rs[i].Err, want)
			}
		}
	}
	h := pb.Header.Height
	p1, ok := e0.HeadState().Proposal(1)
	if !ok || p1.Name != param || p1.Value != newValue || p1.Height != h || p1.Electorate != 4 ||
		p1.Quorum != 2 || p1.Deadline != h+10 || p1.ApplyAt != h+16 || p1.Status != vm.StatusOpen {
		t.Fatalf("proposal 1 %+v (created at height %d)", p1, h)
	}
	if _, ok := e0.HeadState().Proposal(3); ok {
		t.Fatal("a failed proposal got an ID")
	}

	slot++
	_, receipts = s.stepWith(slot, prev,
		ts.tx(k[1], &vm.Vote{Proposal: 1, Yes: true}),
		ts.tx(k[2], &vm.Vote{Proposal: 1, Yes: true}),
		ts.tx(k[3], &vm.Vote{Proposal: 1, Yes: true}),
		ts.tx(k[0], &vm.Vote{Proposal: 1, Yes: false}),
		ts.tx(outKey, &vm.Vote{Proposal: 1, Yes: true}), // never beaconed
		ts.tx(k[3], &vm.Vote{Proposal: 2, Yes: true}),   // alone: below quorum
	)
	prev = s.beacons(slot)
	wantErrs = []error{nil, nil, nil, nil, vm.ErrNotEligible, nil}
	for node, rs := range receipts {
		for i, want := range wantErrs {
			if (want == nil && rs[i].Err != nil) || (want != nil && !errors.Is(rs[i].Err, want)) {
				t.Fatalf("node %d vote %d: receipt %v, want %v", node, i, rs[i].Err, want)
			}
		}
	}

	p1 = vm.Proposal{}
	for e0.Head().Height < p1.ApplyAt+2 || p1.ApplyAt == 0 {
		slot++
		var txs [][]byte
		if e0.Head().Height+1 == h+11 {
			// The first block after the deadline refuses late votes.
			txs = append(txs, ts.tx(k[0], &vm.Vote{Proposal: 2, Yes: true}))
		}
		_, receipts := s.stepWith(slot, prev, txs...)
		prev = s.beacons(slot)
		if len(txs) > 0 && !errors.Is(receipts[0][0].Err, vm.ErrVotingClosed) {
			t.Fatalf("late vote: %v", receipts[0][0].Err)
		}
		for i, e := range s.engines {
			st := e.HeadState()
			height := st.Height()
			p1, _ = st.Proposal(1)
			p2, _ := st.Proposal(2)
			v, _ := st.Param(param)
			ov, _ := st.Param(other)
			var wantStatus vm.ProposalStatus
			var wantErr error
			wantValue := oldValue
			switch {
			case height <= p1.Deadline:
				wantStatus, wantErr = vm.StatusOpen, vm.ErrVotingOpen
			case height < p1.ApplyAt:
				wantStatus, wantErr = vm.StatusPassed, vm.ErrTimelock
			default:
				wantStatus, wantValue = vm.StatusApplied, newValue
			}
			if p1.Status != wantStatus || v != wantValue || (wantErr == nil) != (p1.Err() == nil) ||
				(wantErr != nil && !errors.Is(p1.Err(), wantErr)) {
				t.Fatalf("node %d height %d: proposal 1 %+v (%v), %s = %d; want status %d, value %d",
					i, height, p1, p1.Err(), param, v, wantStatus, wantValue)
			}
			if p1.Yes != 3 || p1.No != 1 {
				t.Fatalf("node %d: tally %d yes %d no", i, p1.Yes, p1.No)
			}
			if height > p2.Deadline && (p2.Status != vm.StatusNoQuorum || !errors.Is(p2.Err(), vm.ErrBelowQuorum)) {
				t.Fatalf("node %d height %d: proposal 2 %+v", i, height, p2)
			}
			if ov != otherValue {
				t.Fatalf("node %d height %d: %s changed to %d without quorum", i, height, other, ov)
			}
		}
	}
	for i, e := range s.engines {
		if e.HeadState().Root() != e0.HeadState().Root() {
			t.Fatalf("node %d: state differs", i)
		}
	}
}
