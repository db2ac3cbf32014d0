package chain

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/sessions"
	"github.com/lucidnet/lucid/vm"
)

// Storage proofs.
//
// A node proves, every slot, that it holds the recordings it claimed with
// claim-storage transactions: the challenge (consensus.StorageChallenge)
// picks one chunk of all its claims and a 1 KiB block of it from the
// slot's seed, which no one knows before the seed block exists. Both the
// seed and the claims come from the chain: the seed from the branch, the
// claims from the state the proof is checked against (the parent of the
// block that includes it; the head for gossip). A claim added between the
// proof and its inclusion changes the challenge and loses that slot's
// proof; claims change rarely.

// ClaimSet is the node's storage claims in st, or false when it has none.
func ClaimSet(st *vm.State, node peer.ID) (*consensus.ClaimSet, bool) {
	recs := st.StorageClaims(node)
	if len(recs) == 0 {
		return nil, false
	}
	claims := make([]consensus.StorageClaim, len(recs))
	for i, r := range recs {
		claims[i] = consensus.StorageClaim{Session: sessions.ID(r.Session), Root: r.Root, ChunkSizes: r.ChunkSizes}
	}
	set, err := consensus.NewClaimSet(claims)
	if err != nil {
		return nil, false
	}
	return set, true
}

// branchSeeds are the seeds of the branch ending at tip: the seed of slot
// t is the hash of the branch's latest block at a slot ≤ t − L.
type branchSeeds struct {
	tip       *entry
	lookahead uint64
	genesis   [32]byte
}

func (b branchSeeds) Seed(t consensus.Slot) ([32]byte, bool) {
	if uint64(t) < b.lookahead {
		return b.genesis, true
	}
	x, err := atOrBefore(b.tip, t-consensus.Slot(b.lookahead))
	if err != nil {
		return [32]byte{}, false
	}
	return x.hash, true
}

// StorageInputs are what this node's storage proof for slot answers, on
// the head's branch: the slot's seed and the node's claims in the head
// state. False when the seed is not fixed yet or the node claims nothing.
func (e *Engine) StorageInputs(node peer.ID, slot consensus.Slot) ([32]byte, *consensus.ClaimSet, bool) {
	seed, ok := e.HeadSeed(slot)
	if !ok {
		return [32]byte{}, nil, false
	}
	set, ok := ClaimSet(e.HeadState(), node)
	return seed, set, ok
}

// HeadSeed is the seed of slot t on the head's branch (storage
// challenges, the schedule's tie-break): false when the branch's history
// no longer reaches back to it.
func (e *Engine) HeadSeed(t consensus.Slot) ([32]byte, bool) {
	head := e.entries[e.fc.Head().Hash()]
	return branchSeeds{tip: head, lookahead: head.params.Lookahead, genesis: e.genHash}.Seed(t)
}
