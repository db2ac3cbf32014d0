package consensus

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/media"
)

// Seeds gives the seed hash of a slot: the hash of the latest block at a
// slot ≤ s − Lookahead (Chain implements it). ok is false while that is
// not final yet.
type Seeds interface {
	Seed(s Slot) (seed [32]byte, ok bool)
}

// BlockInfo is what the chain knows about a block.
type BlockInfo struct {
	Slot     Slot
	Height   uint64
	Sessions uint64 // sessions the block anchors
}

// VerifyContext is the chain state a proof is checked against. Each
// function is called only for the proof types that need it; a nil
// function makes those proofs unverifiable (ErrUnknownSeed, ErrNoClaims,
// ErrUnknownBlock), except PoolMember, whose absence accepts any pool.
type VerifyContext struct {
	// Seeds: storage challenges.
	Seeds Seeds
	// Claims returns the storage claims of node in force for slot: as
	// chain state recorded them at the slot's seed block, so that the
	// prover (who asks StorageChallenge) and every verifier use one set.
	Claims func(node peer.ID, slot Slot) (*ClaimSet, bool)
	// Block looks up a validated block by hash.
	Block func(hash [32]byte) (BlockInfo, bool)
	// PoolMember reports whether node may publish under pool.
	PoolMember func(pool []byte, node peer.ID) bool
}

// VerifyProof decides whether the gossip layer accepts p at slot now. It
// checks, in this order: the structure and version (ErrMalformed,
// ErrUnsupportedVersion, ErrUnknownType); the encoded size against
// params.MaxProofSize and the receipt count against MaxReceiptsPerProof
// (ErrOversize); the slot against the acceptance window
// (ErrSlotOutOfWindow); pool membership (ErrNotPoolMember); the node's
// signature (ErrBadSignature, ErrUnsupportedKey); then the body:
//
//   - relay: every receipt names the proof's node as host (ErrReceiptHost),
//     a client other than the host (ErrSelfDealing), the proof's slot
//     (ErrReceiptSlot), and bears a valid client signature
//     (ErrMissingCounterSignature, ErrBadCounterSignature);
//   - storage: the slot's seed is known (ErrUnknownSeed), the node has
//     claims (ErrNoClaims), the proof's root is one of them
//     (ErrUnknownRoot), it answers the slot's challenge
//     (ErrChallengeMismatch), the leaf is at the challenged index of the
//     anchored root (ErrBadInclusion) and the slice verifies against the
//     leaf (ErrBadSlice);
//   - validation: the block is known (ErrUnknownBlock) and the slot,
//     height and session count match it (ErrBlockMismatch);
//   - uptime: nothing more.
//
// Duplicates and replays are the Dedup's business.
func VerifyProof(p *Proof, params Params, now Slot, ctx VerifyContext) error {
	if p == nil {
		return malformed("nil proof")
	}
	enc, err := p.Encode()
	if err != nil {
		return err
	}
	if uint64(len(enc)) > params.MaxProofSize {
		return errf(ErrOversize, "%s proof: %d bytes, limit %d", p.Type, len(enc), params.MaxProofSize)
	}
	if p.Relay != nil && uint64(len(p.Relay.Receipts)) > params.MaxReceiptsPerProof {
		return errf(ErrOversize, "%d receipts, limit %d", len(p.Relay.Receipts), params.MaxReceiptsPerProof)
	}
	if lo, hi := satSub(uint64(now), params.AcceptWindow), uint64(now)+params.AcceptWindow; uint64(p.Slot) < lo || uint64(p.Slot) > hi {
		return errf(ErrSlotOutOfWindow, "proof slot %d, current slot %d, window ±%d", p.Slot, now, params.AcceptWindow)
	}
	if len(p.Pool) > 0 && ctx.PoolMember != nil && !ctx.PoolMember(p.Pool, p.Node) {
		return errf(ErrNotPoolMember, "%s in %s", p.Node, PoolEntity(p.Pool))
	}
	if err := p.verifySignature(); err != nil {
		return err
	}
	switch p.Type {
	case TypeRelay:
		return verifyRelay(p)
	case TypeStorage:
		return verifyStorage(p, ctx)
	case TypeValidation:
		return verifyValidation(p, params, ctx)
	}
	return nil
}

func verifyRelay(p *Proof) error {
	for i := range p.Relay.Receipts {
		r := &p.Relay.Receipts[i]
		switch {
		case r.Host != p.Node:
			return errf(ErrReceiptHost, "receipt %d names host %s, proof is by %s", i, r.Host, p.Node)
		case r.Client == r.Host:
			return errf(ErrSelfDealing, "receipt %d: client %s is the host", i, r.Client)
		case r.Slot != p.Slot:
			return errf(ErrReceiptSlot, "receipt %d is for slot %d, proof for %d", i, r.Slot, p.Slot)
		}
		if err := r.Verify(); err != nil {
			return err
		}
	}
	return nil
}

func verifyStorage(p *Proof, ctx VerifyContext) error {
	if ctx.Seeds == nil {
		return errf(ErrUnknownSeed, "no seed source")
	}
	seed, ok := ctx.Seeds.Seed(p.Slot)
	if !ok {
		return errf(ErrUnknownSeed, "slot %d", p.Slot)
	}
	var set *ClaimSet
	if ctx.Claims != nil {
		set, ok = ctx.Claims(p.Node, p.Slot)
	}
	if set == nil || !ok {
		return errf(ErrNoClaims, "%s at slot %d", p.Node, p.Slot)
	}
	s := p.Storage
	if _, ok := set.find(s.Root); !ok {
		return errf(ErrUnknownRoot, "%x is not claimed by %s", s.Root[:8], p.Node)
	}
	ch, err := StorageChallenge(seed, p.Slot, p.Node, set)
	if err != nil {
		return err
	}
	if s.Root != ch.Root || s.Session != ch.Session || s.Chunk != ch.Chunk || s.Size != ch.Size {
		return errf(ErrChallengeMismatch, "proof for chunk %d of %x, challenge is chunk %d of %x", s.Chunk, s.Root[:8], ch.Chunk, ch.Root[:8])
	}
	// media.Verify trusts the proof's Count; pin it to the anchored count.
	if s.Inclusion.Count != ch.ChunkCount || s.Inclusion.Index != ch.Chunk {
		return errf(ErrBadInclusion, "inclusion proof for leaf %d of %d, want %d of %d", s.Inclusion.Index, s.Inclusion.Count, ch.Chunk, ch.ChunkCount)
	}
	if err := media.Verify(ch.Root, s.Leaf, s.Inclusion); err != nil {
		return errf(ErrBadInclusion, "%v", err)
	}
	return verifySlice(s.Slice, s.Leaf, ch)
}

func verifyValidation(p *Proof, params Params, ctx VerifyContext) error {
	v := p.Validation
	var info BlockInfo
	ok := false
	if ctx.Block != nil {
		info, ok = ctx.Block(v.Block)
	}
	if !ok {
		return errf(ErrUnknownBlock, "%x", v.Block[:8])
	}
	switch {
	case v.Sessions > params.MaxSessionsPerBlock:
		return errf(ErrBlockMismatch, "%d sessions, limit %d", v.Sessions, params.MaxSessionsPerBlock)
	case info.Slot != p.Slot || info.Height != v.Height || info.Sessions != v.Sessions:
		return errf(ErrBlockMismatch, "proof (slot %d, height %d, %d sessions), block (slot %d, height %d, %d sessions)",
			p.Slot, v.Height, v.Sessions, info.Slot, info.Height, info.Sessions)
	}
	return nil
}

func satSub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}
