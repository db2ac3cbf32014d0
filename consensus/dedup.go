package consensus

import (
	"github.com/libp2p/go-libp2p/core/peer"
)

// Dedup is the gossip layer's memory of accepted proofs: one proof per
// (node, slot, type). It holds only slots within the acceptance window of
// the current slot, so it is bounded by (2·AcceptWindow+1) slots ×
// nodes × 4 types, and by the entry limit given to NewDedup. It is not
// safe for concurrent use.
type Dedup struct {
	p      Params
	max    int
	now    Slot
	seen   map[dedupKey][32]byte
	bySlot map[Slot][]dedupKey
}

type dedupKey struct {
	node peer.ID
	slot Slot
	typ  ProofType
}

// NewDedup returns an empty deduplicator at slot now holding at most
// maxEntries proofs (at least 1).
func NewDedup(p Params, now Slot, maxEntries int) *Dedup {
	return &Dedup{p: p, max: max(maxEntries, 1), now: now, seen: map[dedupKey][32]byte{}, bySlot: map[Slot][]dedupKey{}}
}

// horizon is the oldest slot still remembered.
func (d *Dedup) horizon() Slot { return Slot(satSub(uint64(d.now), d.p.AcceptWindow)) }

// Advance moves the current slot to now (never backwards) and forgets
// slots older than now − AcceptWindow.
func (d *Dedup) Advance(now Slot) {
	if now <= d.now {
		return
	}
	old := d.horizon()
	d.now = now
	h := d.horizon()
	if uint64(h-old) > uint64(len(d.bySlot)) {
		for s, keys := range d.bySlot {
			if s < h {
				d.forget(s, keys)
			}
		}
		return
	}
	for s := old; s < h; s++ {
		if keys, ok := d.bySlot[s]; ok {
			d.forget(s, keys)
		}
	}
}

func (d *Dedup) forget(s Slot, keys []dedupKey) {
	for _, k := range keys {
		delete(d.seen, k)
	}
	delete(d.bySlot, s)
}

// Len is the number of proofs remembered.
func (d *Dedup) Len() int { return len(d.seen) }

// Seen records p (which VerifyProof accepted) and reports whether it must
// be dropped: ErrReplay for a slot older than the remembered window (it
// may have been seen and forgotten), ErrSlotOutOfWindow for a slot beyond
// now + AcceptWindow, ErrDuplicate for the same content again (gossip
// re-delivery, or the same content signed twice), ErrEquivocation for a
// different proof of the same node, slot and type (the first one stays),
// ErrDedupFull at the entry limit. A nil result means "new: accept and
// forward".
func (d *Dedup) Seen(p *Proof) error {
	if p.Slot < d.horizon() {
		return errf(ErrReplay, "slot %d is before the remembered window (from %d)", p.Slot, d.horizon())
	}
	if uint64(p.Slot) > uint64(d.now)+d.p.AcceptWindow {
		return errf(ErrSlotOutOfWindow, "slot %d, current slot %d", p.Slot, d.now)
	}
	k := dedupKey{node: p.Node, slot: p.Slot, typ: p.Type}
	id := p.ID()
	if prev, ok := d.seen[k]; ok {
		if prev == id {
			return errf(ErrDuplicate, "%s proof of %s for slot %d", p.Type, p.Node, p.Slot)
		}
		return errf(ErrEquivocation, "%s proof of %s for slot %d", p.Type, p.Node, p.Slot)
	}
	if len(d.seen) >= d.max {
		return errf(ErrDedupFull, "%d entries", len(d.seen))
	}
	d.seen[k] = id
	d.bySlot[p.Slot] = append(d.bySlot[p.Slot], k)
	return nil
}
