package chain

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/sessions"
	"github.com/lucidnet/lucid/vm"
)

// TestStorageProofsEarnCredit: a node that registered a recording and
// claimed its storage answers the challenge of later slots from the
// sealed chunks; blocks include those proofs, the tally credits storage;
// a proof of bytes the node does not have, or for a chunk the challenge
// did not pick, is refused.
func TestStorageProofsEarnCredit(t *testing.T) {
	s := newSim(t, 4)
	prev := s.warm(12)
	e := s.engines[0]
	const prover = 2
	sid, err := sessions.NewID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	var sealed [][]byte
	var leaves [][32]byte
	var sizes []uint64
	for i := range 3 {
		plain := make([]byte, 3000+i*1000)
		_, _ = rand.Read(plain)
		c, err := media.SealChunk(key, sid, uint64(i), plain)
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, c)
		leaves = append(leaves, media.LeafHash(c))
		sizes = append(sizes, uint64(len(c)))
	}
	n := e.HeadState().Nonce(s.ids[prover])
	s.txs = [][]byte{
		signTx(t, s.keys[prover], n, &vm.RegisterSession{Session: vm.SessionID(sid), Manifest: [32]byte{7}, Root: media.MerkleRoot(leaves), Chunks: 3, Owner: []byte("o")}),
		signTx(t, s.keys[prover], n+1, &vm.ClaimStorage{Session: vm.SessionID(sid), ChunkSizes: sizes}),
	}
	b := s.step(13, prev)
	_, rs, _ := e.Block(b.Hash())
	for _, r := range rs {
		if !r.OK() {
			t.Fatalf("receipt %d: %v", r.Index, r.Err)
		}
	}
	prev = s.beacons(13)
	credited := false
	for slot := consensus.Slot(14); slot <= 24; slot++ {
		seed, set, ok := e.StorageInputs(s.ids[prover], slot)
		if !ok {
			t.Fatalf("slot %d: no storage inputs", slot)
		}
		ch, err := consensus.StorageChallenge(seed, slot, s.ids[prover], set)
		if err != nil {
			t.Fatal(err)
		}
		p, err := consensus.ProveStorage(s.keys[prover], nil, e.HeadParams(), seed, slot, set, sealed[ch.Chunk], leaves)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := p.Encode()
		if slot == 14 {
			// The other chunk's bytes do not answer this challenge.
			other := sealed[(ch.Chunk+1)%3]
			if _, err := consensus.ProveStorage(s.keys[prover], nil, e.HeadParams(), seed, slot, set, other, leaves); !errors.Is(err, consensus.ErrChunkMismatch) {
				t.Fatalf("proof from the wrong chunk: %v", err)
			}
		}
		// The proof of slot goes into the block of slot (or the next).
		blk := s.step(slot, append(prev, raw))
		found := false
		for _, pr := range blk.Body.Proofs {
			if string(pr) == string(raw) {
				found = true
			}
		}
		if !found {
			t.Fatalf("slot %d: the storage proof was not included", slot)
		}
		prev = s.beacons(slot)
		if r, err := e.Tally(e.Head().Hash(), slot+1); err == nil && r != nil {
			if en, ok := r.Entry(consensus.NodeEntity(s.ids[prover])); ok && en.Storage > 0 {
				credited = true
			}
		}
	}
	if !credited {
		t.Fatal("storage proofs earned no storage credit")
	}
	// A node without claims cannot prove anything.
	if _, _, ok := e.StorageInputs(s.ids[1], 25); ok {
		t.Fatal("node 1 claims nothing but has storage inputs")
	}
}
