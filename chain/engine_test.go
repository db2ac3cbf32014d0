package chain

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/sessions"
	"github.com/lucidnet/lucid/vm"
)

// testKeys returns n deterministic Ed25519 node keys.
func testKeys(t testing.TB, n int) ([]crypto.PrivKey, []peer.ID) {
	t.Helper()
	keys := make([]crypto.PrivKey, n)
	ids := make([]peer.ID, n)
	for i := range n {
		seed := make([]byte, ed25519.SeedSize)
		seed[0], seed[1] = byte(i), 0x4c
		k, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
		if ids[i], err = peer.IDFromPrivateKey(k); err != nil {
			t.Fatal(err)
		}
	}
	return keys, ids
}

// DevParams are short-slot parameters for tests and local testnets.
func testGenesis(bootstrap peer.ID) *Genesis {
	return &Genesis{ChainID: "lucid-test", Time: time.UnixMilli(1_700_000_000_000).UTC(), Bootstrap: bootstrap, Dev: true,
		Params: DevParams()}
}

// sim drives engines in lockstep: every node beacons every slot, the best
// ranked live leader builds, every engine adds the block.
type sim struct {
	t       testing.TB
	keys    []crypto.PrivKey
	ids     []peer.ID
	engines []*Engine
	offline map[int]bool
	txs     [][]byte
	pools   map[int][]byte // node → pool it publishes proofs under
}

func newSim(t testing.TB, n int) *sim {
	keys, ids := testKeys(t, n)
	g := testGenesis(ids[0])
	s := &sim{t: t, keys: keys, ids: ids, offline: map[int]bool{}}
	for range n {
		e, err := New(g)
		if err != nil {
			t.Fatal(err)
		}
		s.engines = append(s.engines, e)
	}
	return s
}

func (s *sim) beacons(slot consensus.Slot) [][]byte {
	var out [][]byte
	for i, k := range s.keys {
		if s.offline[i] {
			continue
		}
		p, err := consensus.NewUptime(k, s.pools[i], slot)
		if err != nil {
			s.t.Fatal(err)
		}
		b, _ := p.Encode()
		out = append(out, b)
		out = append(out, s.relay(i, slot))
	}
	return out
}

// relay is node i's relay proof for slot: one session of a client of its
// own, 10 MB more each slot.
func (s *sim) relay(i int, slot consensus.Slot) []byte {
	ck, _ := testKeys(s.t, len(s.keys)+i+1)
	client := ck[len(ck)-1]
	cid, _ := peer.IDFromPrivateKey(client)
	sid := sessions.ID{byte(i), 6: 0x40, 8: 0x80}
	r := consensus.MeteringReceipt{Session: sid, Host: s.ids[i], Client: cid, Slot: slot, Start: 1,
		Bytes: uint64(slot) * 10_000_000}
	if err := r.Sign(client); err != nil {
		s.t.Fatal(err)
	}
	p, err := consensus.NewRelay(s.keys[i], s.pools[i], slot, []consensus.MeteringReceipt{r})
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := p.Encode()
	return b
}

// step runs one slot; it returns the block produced, if any.
func (s *sim) step(slot consensus.Slot, cands [][]byte) *consensus.Block {
	s.t.Helper()
	e0 := s.engines[0]
	head := e0.Head().Hash()
	var b *consensus.Block
	best := -1
	for i, k := range s.keys {
		if s.offline[i] {
			continue
		}
		r, ok, err := e0.Rank(head, slot, s.ids[i])
		if err != nil {
			s.t.Fatal(err)
		}
		if !ok || (best >= 0 && r >= best) {
			continue
		}
		blk, err := s.engines[i].Build(head, slot, k, Candidates{Txs: s.txs, Proofs: cands})
		if err != nil {
			s.t.Fatalf("slot %d: node %d builds: %v", slot, i, err)
		}
		b, best = blk, r
	}
	if b == nil {
		return nil
	}
	for i, e := range s.engines {
		if _, err := e.Add(b, consensus.ArrivalAny); err != nil {
			s.t.Fatalf("slot %d: node %d adds: %v", slot, i, err)
		}
	}
	s.txs = nil
	return b
}

func TestEngineLockstep(t *testing.T) {
	s := newSim(t, 4)
	var prev [][]byte
	producers := map[peer.ID]int{}
	for slot := consensus.Slot(1); slot <= 60; slot++ {
		b := s.step(slot, prev)
		prev = s.beacons(slot)
		if b == nil {
			t.Fatalf("slot %d: no block", slot)
		}
		producers[b.Header.Proposer]++
	}
	h := s.engines[0].Head()
	for i, e := range s.engines {
		if e.Head().Hash() != h.Hash() || e.HeadState().Root() != h.StateRoot {
			t.Fatalf("node %d: head %d differs", i, e.Head().Height)
		}
	}
	if h.Height != 60 || s.engines[0].Final().Height != 60-DefaultDevConfirmations {
		t.Fatalf("head %d final %d", h.Height, s.engines[0].Final().Height)
	}
	if len(producers) != 4 {
		t.Fatalf("producers %v: leadership did not rotate", producers)
	}
	r, err := s.engines[0].Tally(h.Hash(), h.Slot+1)
	if err != nil || len(Electorate(r)) != 4 {
		t.Fatalf("electorate %v, %v", r, err)
	}
}

func TestEngineLeaderOfflineFallbackAndMiss(t *testing.T) {
	s := newSim(t, 4)
	var prev [][]byte
	for slot := consensus.Slot(1); slot <= 30; slot++ {
		s.step(slot, prev)
		prev = s.beacons(slot)
	}
	e0 := s.engines[0]
	l, err := e0.Leaders(e0.Head().Hash(), 31)
	if err != nil || l.Primary == "" {
		t.Fatalf("leaders %v %v", l, err)
	}
	primary, _ := l.Primary.Node()
	for i, id := range s.ids {
		if id == primary {
			s.offline[i] = true
		}
	}
	b := s.step(31, prev)
	if b == nil || b.Header.Proposer == primary {
		t.Fatal("no fallback block")
	}
	if r, ok, _ := e0.Rank(b.Header.Prev, 31, b.Header.Proposer); !ok || r != 1 {
		t.Fatalf("fallback rank %d", r)
	}
	x := e0.entries[b.Hash()]
	if len(x.misses) != 1 || x.misses[0].Entity != l.Primary || x.misses[0].Slot != 31 {
		t.Fatalf("misses %v", x.misses)
	}
}

func TestEngineRejects(t *testing.T) {
	s := newSim(t, 3)
	for slot := consensus.Slot(1); slot <= 3; slot++ {
		s.step(slot, nil)
	}
	e := s.engines[1]
	head := e.Head().Hash()
	good, err := s.engines[0].Build(head, 4, s.keys[0], Candidates{})
	if err != nil {
		t.Fatal(err)
	}
	resign := func(b *consensus.Block, k crypto.PrivKey) *consensus.Block {
		if err := b.Header.Sign(k); err != nil {
			t.Fatal(err)
		}
		return b
	}
	clone := func() *consensus.Block {
		c := *good
		return &c
	}
	tx := &vm.Tx{Sender: s.ids[1], Body: &vm.ProposeParam{Name: "d_min", Value: 300_000}}
	if err := tx.Sign(s.keys[1]); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		b    *consensus.Block
		want error
	}{
		{"wrong state root", func() *consensus.Block { c := clone(); c.Header.StateRoot[0] ^= 1; return resign(c, s.keys[0]) }(), ErrStateRoot},
		{"bad signature", func() *consensus.Block {
			c := clone()
			c.Header.Sig = append([]byte(nil), c.Header.Sig...)
			c.Header.Sig[3] ^= 1
			return c
		}(), consensus.ErrBlockSignature},
		{"wrong proposer", func() *consensus.Block {
			c := clone()
			c.Header.Proposer = s.ids[2]
			return resign(c, s.keys[2])
		}(), consensus.ErrNotProposer},
		{"tx root", func() *consensus.Block {
			c := clone()
			c.Body.Txs = [][]byte{tx.Encode()}
			return resign(c, s.keys[0])
		}(), consensus.ErrTxRoot},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := e.Add(c.b, consensus.ArrivalAny); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if _, err := e.Add(good, consensus.ArrivalAny); err != nil {
		t.Fatal(err)
	}
}
