package chain

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/sessions"
	"github.com/lucidnet/lucid/vm"
)

// TestValidationProofsEarnCredit: a block that registers sessions earns
// the nodes that validated it validation credit once their proofs are in
// a later block of the branch; a validation proof naming a block off the
// branch, or misstating its sessions, is refused.
func TestValidationProofsEarnCredit(t *testing.T) {
	s := newSim(t, 4)
	prev := s.warm(12)
	e := s.engines[0]
	var txs [][]byte
	for range 3 {
		sid, err := sessions.NewID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		n := e.HeadState().Nonce(s.ids[2]) + uint64(len(txs))
		txs = append(txs, signTx(t, s.keys[2], n, &vm.RegisterSession{Session: vm.SessionID(sid), Manifest: [32]byte{1}, Root: [32]byte{2}, Chunks: 4, Owner: []byte("owner")}))
	}
	s.txs = txs
	b := s.step(13, prev)
	info, ok := e.BlockInfo(b.Hash())
	if !ok || info.Sessions != 3 {
		t.Fatalf("block info %+v %v, want 3 sessions", info, ok)
	}
	var proofs [][]byte
	for _, k := range s.keys {
		p, err := consensus.NewValidation(k, nil, 13, consensus.ValidationBody{Block: b.Hash(), Height: b.Header.Height, Sessions: 3})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := p.Encode()
		proofs = append(proofs, raw)
	}
	lying, _ := consensus.NewValidation(s.keys[0], nil, 13, consensus.ValidationBody{Block: b.Hash(), Height: b.Header.Height, Sessions: 30})
	rawLying, _ := lying.Encode()
	next := s.step(14, append(append(s.beacons(13), proofs...), rawLying))
	if got := len(next.Body.Proofs); got != len(s.beacons(13))+len(proofs) {
		t.Fatalf("block 14 carries %d proofs, want the beacons, relay proofs and 4 validations (the lying one left out)", got)
	}
	// A block that forces the lying proof in is refused.
	head := e.Head().Hash()
	li := s.leaderOf(e, head, 15, []int{0, 1, 2, 3})
	good, err := s.engines[li].Build(head, 15, s.keys[li], Candidates{})
	if err != nil {
		t.Fatal(err)
	}
	bad := reforge(t, good, s.keys[li], consensus.Body{Txs: good.Body.Txs, Proofs: [][]byte{rawLying}})
	if _, err := e.Add(bad, consensus.ArrivalAny); !errors.Is(err, ErrBadProof) || !errors.Is(err, consensus.ErrBlockMismatch) {
		t.Fatalf("lying validation proof: %v", err)
	}
	prev = s.beacons(14)
	for slot := consensus.Slot(15); slot <= 20; slot++ {
		s.step(slot, prev)
		prev = s.beacons(slot)
	}
	r, err := e.Tally(e.Head().Hash(), 21)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range s.ids {
		en, ok := r.Entry(consensus.NodeEntity(id))
		if !ok || en.Validation == 0 {
			t.Fatalf("%s: no validation credit in %+v", id, en)
		}
	}
}
