package consensus

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"time"
)

// TieDomain prefixes the tie-break hash.
const TieDomain = "lucid/poot/tiebreak/1\n"

// BlockRef is a block's slot and hash.
type BlockRef struct {
	Slot Slot
	Hash [32]byte
}

// Chain is the seed source the schedule and the storage challenges use:
// the seed of slot t is the hash of the latest block at a slot ≤
// t − Lookahead, or Genesis when there is none (the spec's genesis
// previous_hash, 32 zero bytes, unless the network chooses otherwise).
type Chain struct {
	Lookahead uint64
	Genesis   [32]byte
	// Blocks in strictly increasing slot order.
	Blocks []BlockRef
	// Complete: Blocks holds every block of the slots below Complete (no
	// block for those slots can still appear). The seed of slot t is known
	// once t − Lookahead < Complete.
	Complete Slot
}

// NewChain returns an empty chain for p: only slots below p.Lookahead
// have a seed until blocks are appended or Complete advances.
func NewChain(p Params, genesis [32]byte) *Chain {
	return &Chain{Lookahead: p.Lookahead, Genesis: genesis}
}

// Append adds a block after the last one (ErrInvalidArgument otherwise)
// and advances Complete past its slot (a slot has at most one block).
func (c *Chain) Append(b BlockRef) error {
	if n := len(c.Blocks); n > 0 && b.Slot <= c.Blocks[n-1].Slot {
		return errf(ErrInvalidArgument, "block at slot %d after slot %d", b.Slot, c.Blocks[n-1].Slot)
	}
	c.Blocks = append(c.Blocks, b)
	c.Complete = max(c.Complete, b.Slot+1)
	return nil
}

// Seed returns the seed of slot t (see Chain).
func (c *Chain) Seed(t Slot) ([32]byte, bool) {
	if uint64(t) < c.Lookahead {
		return c.Genesis, true
	}
	x := t - Slot(c.Lookahead)
	if x >= c.Complete {
		return [32]byte{}, false
	}
	i := sort.Search(len(c.Blocks), func(i int) bool { return c.Blocks[i].Slot > x })
	if i == 0 {
		return c.Genesis, true
	}
	return c.Blocks[i-1].Hash, true
}

// SlotLeaders is the schedule of one slot: the primary and the ranked
// fallbacks. An empty Primary means no entity is eligible (the bootstrap
// rule of the block layer applies).
type SlotLeaders struct {
	Slot      Slot
	Primary   EntityID
	Fallbacks []EntityID
}

// LeaderAt returns the entity whose turn it is elapsed into the slot while
// no block has appeared: rank k = ⌊elapsed / SlotTimeout⌋, where rank 0 is
// the primary and rank k the k-th fallback. After the last fallback's
// turn, and outside [0, SlotLength), nobody's (false).
func (l SlotLeaders) LeaderAt(p Params, elapsed time.Duration) (EntityID, bool) {
	if l.Primary == "" || elapsed < 0 || elapsed >= p.SlotLength || p.SlotTimeout <= 0 {
		return "", false
	}
	k := int64(elapsed / p.SlotTimeout)
	if k == 0 {
		return l.Primary, true
	}
	if k <= int64(len(l.Fallbacks)) {
		return l.Fallbacks[k-1], true
	}
	return "", false
}

// Rank returns e's rank in the slot (0 = primary), or false.
func (l SlotLeaders) Rank(e EntityID) (int, bool) {
	if e == "" {
		return 0, false
	}
	if l.Primary == e {
		return 0, true
	}
	if i := slices.Index(l.Fallbacks, e); i >= 0 {
		return i + 1, true
	}
	return 0, false
}

// TieKey is the tie-break of entity e in slot t under seed:
// BLAKE3(TieDomain ‖ seed ‖ t (8 bytes, big-endian) ‖ e). Among equal live
// scores the smaller key ranks first.
func TieKey(seed [32]byte, t Slot, e EntityID) [32]byte {
	return domainHash(TieDomain, seed[:], be64(uint64(t)), []byte(e))
}

// Ranking returns the eligible entities of tally in rank order for slot t:
// live score descending, then TieKey ascending (then entity bytes, which
// only a BLAKE3 collision would reach). Cooldown is not applied.
func Ranking(tally *TallyResult, seed [32]byte, t Slot) []EntityID {
	type cand struct {
		e     EntityID
		score uint64
		tie   [32]byte
	}
	var cs []cand
	for _, e := range tally.Entries {
		if e.Eligible {
			cs = append(cs, cand{e: e.Entity, score: e.LiveScore})
		}
	}
	// Entries are sorted by entity; a stable sort by score keeps that order
	// within equal scores, and only runs of equal scores need tie keys.
	slices.SortStableFunc(cs, func(a, b cand) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	for i := 0; i < len(cs); {
		j := i + 1
		for j < len(cs) && cs[j].score == cs[i].score {
			j++
		}
		if j-i > 1 {
			run := cs[i:j]
			for k := range run {
				run[k].tie = TieKey(seed, t, run[k].e)
			}
			slices.SortFunc(run, func(a, b cand) int {
				if c := bytes.Compare(a.tie[:], b.tie[:]); c != 0 {
					return c
				}
				return strings.Compare(string(a.e), string(b.e))
			})
		}
		i = j
	}
	out := make([]EntityID, len(cs))
	for i, c := range cs {
		out[i] = c.e
	}
	return out
}

// Leaders computes the leaders of slot t. tally must be the tally at
// p.TallySlotFor(t) under p (ErrWrongTally), or nil for the first Lag
// slots, which have none (nobody is eligible). seed is the seed of slot t
// (Chain.Seed). recent lists the primaries of the previous min(t,
// CooldownSlots) slots, oldest first ("" for a slot without one);
// another length is ErrInvalidArgument.
//
// The order of candidates is: the eligible entities not primary in any of
// those slots, in rank order (Ranking); then the ones in cooldown, least
// recently primary first (ties by rank). The primary is the first, the
// fallbacks the next MaxFallbacks. So the primary is never in cooldown
// while an eligible entity outside it exists, and with fewer eligible
// entities than CooldownSlots+1 leadership rotates round-robin.
func Leaders(p Params, tally *TallyResult, seed [32]byte, t Slot, recent []EntityID) (SlotLeaders, error) {
	if want := min(uint64(t), p.CooldownSlots); uint64(len(recent)) != want {
		return SlotLeaders{}, errf(ErrInvalidArgument, "slot %d: %d recent primaries, want %d", t, len(recent), want)
	}
	ts, ok := p.TallySlotFor(t)
	out := SlotLeaders{Slot: t}
	if !ok {
		if tally != nil {
			return SlotLeaders{}, errf(ErrWrongTally, "slot %d precedes the first tally", t)
		}
		return out, nil
	}
	if tally == nil || tally.Slot != ts || tally.Params != p.Hash() {
		return SlotLeaders{}, errf(ErrWrongTally, "slot %d needs the tally at slot %d under these params", t, ts)
	}
	ranked := Ranking(tally, seed, t)
	last := map[EntityID]int{} // index in recent of the latest primary slot
	for i, e := range recent {
		if e != "" {
			last[e] = i
		}
	}
	order := make([]EntityID, 0, len(ranked))
	var cooling []EntityID
	for _, e := range ranked {
		if _, ok := last[e]; ok {
			cooling = append(cooling, e)
		} else {
			order = append(order, e)
		}
	}
	// cooling is in rank order; a stable sort by last-primary slot keeps
	// rank order among equals (which cannot occur: one primary per slot).
	slices.SortStableFunc(cooling, func(a, b EntityID) int { return last[a] - last[b] })
	order = append(order, cooling...)
	if len(order) == 0 {
		return out, nil
	}
	out.Primary = order[0]
	if n := min(uint64(len(order)-1), p.MaxFallbacks); n > 0 {
		out.Fallbacks = slices.Clone(order[1 : 1+n])
	}
	return out, nil
}

// TallySource gives the tally at a slot (*Tally implements it).
type TallySource interface {
	TallyAt(s Slot) (*TallyResult, error)
}

// Schedule computes the leaders of slots from, from+1, …, from+n−1 by the
// rule of Leaders: slot t is ranked by tallies.TallyAt(t − Lag) (none for
// t < Lag) and tie-broken with seeds.Seed(t), and the cooldown history
// rolls forward from recent (the primaries of the min(from,
// CooldownSlots) slots before from). A slot whose seed is not known yet
// is ErrUnknownSeed: the schedule of slot t is fixed, and computable,
// once slot t − Lookahead has ended.
func Schedule(p Params, tallies TallySource, seeds Seeds, recent []EntityID, from Slot, n int) ([]SlotLeaders, error) {
	if n < 0 || n > maxScheduleSlots || uint64(from)+uint64(n) > uint64(MaxSlot) {
		return nil, errf(ErrInvalidArgument, "%d slots from %d", n, from)
	}
	if want := min(uint64(from), p.CooldownSlots); uint64(len(recent)) != want {
		return nil, errf(ErrInvalidArgument, "slot %d: %d recent primaries, want %d", from, len(recent), want)
	}
	hist := slices.Clone(recent)
	out := make([]SlotLeaders, 0, n)
	for i := range n {
		t := from + Slot(i)
		seed, ok := seeds.Seed(t)
		if !ok {
			return nil, errf(ErrUnknownSeed, "slot %d", t)
		}
		var tally *TallyResult
		if ts, ok := p.TallySlotFor(t); ok {
			var err error
			if tally, err = tallies.TallyAt(ts); err != nil {
				return nil, err
			}
		}
		l, err := Leaders(p, tally, seed, t, hist)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
		hist = append(hist, l.Primary)
		if uint64(len(hist)) > p.CooldownSlots {
			hist = hist[1:]
		}
	}
	return out, nil
}

// Encoding of a schedule.

// ScheduleVersion is the only schedule-encoding version this package
// reads.
const ScheduleVersion = 1

type wireSlotLeaders struct {
	Slot      uint64   `cbor:"1,keyasint,omitempty"`
	Primary   []byte   `cbor:"2,keyasint,omitempty"`
	Fallbacks [][]byte `cbor:"3,keyasint,omitempty"`
}

type wireSchedule struct {
	Version uint64            `cbor:"1,keyasint,omitempty"`
	Slots   []wireSlotLeaders `cbor:"2,keyasint,omitempty"`
}

// EncodeSchedule returns the canonical CBOR encoding of a schedule: 1 =
// version, 2 = slots, each {1: slot, 2: primary, 3: fallbacks}.
func EncodeSchedule(s []SlotLeaders) []byte {
	w := wireSchedule{Version: ScheduleVersion}
	for _, l := range s {
		wl := wireSlotLeaders{Slot: uint64(l.Slot), Primary: []byte(l.Primary)}
		for _, f := range l.Fallbacks {
			wl.Fallbacks = append(wl.Fallbacks, []byte(f))
		}
		w.Slots = append(w.Slots, wl)
	}
	return mustMarshal(&w)
}

// ScheduleHash is BLAKE3 over a domain tag and EncodeSchedule(s).
func ScheduleHash(s []SlotLeaders) [32]byte {
	return domainHash("lucid/poot/schedule/1\n", EncodeSchedule(s))
}

// DecodeSchedule is the strict inverse of EncodeSchedule: slots strictly
// increasing, entities well formed and distinct within a slot, at most 16
// fallbacks, none without a primary.
func DecodeSchedule(b []byte) ([]SlotLeaders, error) {
	if len(b) > 64<<20 {
		return nil, errf(ErrOversize, "schedule: %d bytes", len(b))
	}
	var w wireSchedule
	if err := decodeStrict(b, &w, ScheduleVersion, "schedule"); err != nil {
		return nil, err
	}
	if len(w.Slots) > maxScheduleSlots {
		return nil, errf(ErrOversize, "%d slots", len(w.Slots))
	}
	out := make([]SlotLeaders, 0, len(w.Slots))
	for i, wl := range w.Slots {
		if wl.Slot > uint64(MaxSlot) || (i > 0 && wl.Slot <= uint64(out[i-1].Slot)) {
			return nil, malformed("slot %d at %d", wl.Slot, i)
		}
		l := SlotLeaders{Slot: Slot(wl.Slot)}
		if len(wl.Primary) == 0 {
			if len(wl.Fallbacks) > 0 {
				return nil, malformed("slot %d: fallbacks without a primary", wl.Slot)
			}
			out = append(out, l)
			continue
		}
		if len(wl.Fallbacks) > 16 {
			return nil, malformed("slot %d: %d fallbacks", wl.Slot, len(wl.Fallbacks))
		}
		seen := map[EntityID]bool{}
		var err error
		if l.Primary, err = entityFromWire(wl.Primary, "primary"); err != nil {
			return nil, err
		}
		seen[l.Primary] = true
		for _, f := range wl.Fallbacks {
			e, err := entityFromWire(f, "fallback")
			if err != nil {
				return nil, err
			}
			if seen[e] {
				return nil, malformed("slot %d: %s listed twice", wl.Slot, e)
			}
			seen[e] = true
			l.Fallbacks = append(l.Fallbacks, e)
		}
		out = append(out, l)
	}
	return out, nil
}
