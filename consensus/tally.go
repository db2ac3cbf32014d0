package consensus

import (
	"bytes"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/sessions"
)

// Miss records that Entity was the scheduled primary of Slot and no block
// of its came (the chain layer decides and records misses).
type Miss struct {
	Slot   Slot
	Entity EntityID
}

// Tally accumulates accepted proofs and misses and computes the tally of
// any window from them. It stores per slot only what the rules read: one
// bit per (entity, slot) for uptime beacons, one (entity, sessions) pair
// per validation, one record per metering receipt and per proven chunk, so
// its memory is about W·E/8 bytes of beacon bits, 8 bytes per validation
// and 48 per receipt or storage proof (see BenchmarkTallyAndSchedule).
//
// Every input is folded with commutative, idempotent rules (set union,
// maximum, minimum), so the result does not depend on the order in which
// proofs were added, nor on duplicates or equivocations (both of two
// conflicting proofs count, and counting both gains nothing: per session
// the largest cumulative receipt counts, per chunk and per block once).
// Add trusts that VerifyProof accepted the proof; it checks only the
// shape. Not safe for concurrent use.
type Tally struct {
	p       Params
	ents    map[EntityID]uint32
	entList []EntityID
	keys    map[peer.ID]uint32 // nodes and clients
	buckets map[Slot]*bucket
	misses  map[Miss]struct{}
	floor   Slot // slots below were pruned
	// cache holds computed results until the next mutation.
	cache map[Slot]*TallyResult
}

type bucket struct {
	uptime     bitset // by entity
	active     bitset // by key: nodes with any proof in the slot
	validation []valEntry
	relay      []relayEntry
	storage    []storageEntry
}

type valEntry struct {
	ent      uint32
	sessions uint32
}

type relayEntry struct {
	ent, node, client uint32
	session           sessions.ID
	start             Slot
	bytes             uint64
}

type storageEntry struct {
	ent  uint32
	leaf [32]byte
	size uint64
}

// NewTally returns an empty accumulator for p (ErrInvalidParams).
func NewTally(p Params) (*Tally, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Tally{
		p:       p,
		ents:    map[EntityID]uint32{},
		keys:    map[peer.ID]uint32{},
		buckets: map[Slot]*bucket{},
		misses:  map[Miss]struct{}{},
		cache:   map[Slot]*TallyResult{},
	}, nil
}

func (t *Tally) entity(e EntityID) uint32 {
	i, ok := t.ents[e]
	if !ok {
		i = uint32(len(t.entList))
		t.ents[e] = i
		t.entList = append(t.entList, e)
	}
	return i
}

func (t *Tally) key(id peer.ID) uint32 {
	i, ok := t.keys[id]
	if !ok {
		i = uint32(len(t.keys))
		t.keys[id] = i
	}
	return i
}

func (t *Tally) bucket(s Slot) *bucket {
	b := t.buckets[s]
	if b == nil {
		b = &bucket{}
		t.buckets[s] = b
	}
	return b
}

// Add folds in a proof that VerifyProof accepted. Proofs for pruned slots
// are refused with ErrPruned; proofs of the wrong shape with ErrMalformed
// (or ErrUnsupportedVersion, ErrUnknownType).
func (t *Tally) Add(p *Proof) error {
	if err := p.checkShape(); err != nil {
		return err
	}
	if p.Slot < t.floor {
		return errf(ErrPruned, "slot %d, pruned below %d", p.Slot, t.floor)
	}
	t.invalidate()
	ent := t.entity(p.Entity())
	b := t.bucket(p.Slot)
	b.active.set(t.key(p.Node))
	switch p.Type {
	case TypeUptime:
		b.uptime.set(ent)
	case TypeValidation:
		b.validation = append(b.validation, valEntry{ent: ent, sessions: uint32(p.Validation.Sessions)})
	case TypeStorage:
		b.storage = append(b.storage, storageEntry{ent: ent, leaf: p.Storage.Leaf, size: p.Storage.Size})
	case TypeRelay:
		node := t.key(p.Node)
		for i := range p.Relay.Receipts {
			r := &p.Relay.Receipts[i]
			b.relay = append(b.relay, relayEntry{
				ent: ent, node: node, client: t.key(r.Client),
				session: r.Session, start: r.Start, bytes: r.Bytes,
			})
		}
	}
	return nil
}

// checkShape is the cheap structural check Tally.Add relies on (the full
// one is in Encode/DecodeProof): version, type, body, pool length, slot.
func (p *Proof) checkShape() error {
	switch {
	case p == nil:
		return malformed("nil proof")
	case p.Version != ProofVersion:
		return errf(ErrUnsupportedVersion, "proof version %d", p.Version)
	case p.Type < TypeRelay || p.Type > TypeUptime:
		return errf(ErrUnknownType, "%d", p.Type)
	case p.Node == "":
		return malformed("no node")
	case len(p.Pool) > maxPoolLen:
		return malformed("pool ID: %d bytes", len(p.Pool))
	case p.Slot > MaxSlot:
		return malformed("slot %d", p.Slot)
	case (p.Relay != nil) != (p.Type == TypeRelay),
		(p.Storage != nil) != (p.Type == TypeStorage),
		(p.Validation != nil) != (p.Type == TypeValidation):
		return malformed("%s proof with the wrong body", p.Type)
	}
	switch p.Type {
	case TypeRelay:
		if len(p.Relay.Receipts) == 0 || len(p.Relay.Receipts) > maxReceiptsLimit {
			return malformed("%d receipts", len(p.Relay.Receipts))
		}
		for i := range p.Relay.Receipts {
			if r := &p.Relay.Receipts[i]; r.Start > r.Slot || r.Client == "" {
				return malformed("receipt %d", i)
			}
		}
	case TypeValidation:
		if p.Validation.Sessions > maxSessionsLimit {
			return malformed("%d sessions", p.Validation.Sessions)
		}
	case TypeStorage:
		if p.Storage.Size == 0 || p.Storage.Size > maxChunkSize {
			return malformed("chunk size %d", p.Storage.Size)
		}
	}
	return nil
}

// AddMiss records a missed slot. Misses for pruned slots are ignored.
func (t *Tally) AddMiss(m Miss) error {
	if !m.Entity.valid() || m.Slot > MaxSlot {
		return errf(ErrInvalidArgument, "miss %d by %s", m.Slot, m.Entity)
	}
	if m.Slot >= t.floor {
		t.invalidate()
		t.misses[m] = struct{}{}
	}
	return nil
}

// Prune forgets every slot before `before`. Tallies whose window starts
// before it can no longer be computed (ErrPruned).
func (t *Tally) Prune(before Slot) {
	if before <= t.floor {
		return
	}
	t.invalidate()
	for s := range t.buckets {
		if s < before {
			delete(t.buckets, s)
		}
	}
	for m := range t.misses {
		if m.Slot < before {
			delete(t.misses, m)
		}
	}
	t.floor = before
}

func (t *Tally) invalidate() {
	if len(t.cache) > 0 {
		clear(t.cache)
	}
}

// TallyAt is Compute; it makes *Tally a TallySource.
func (t *Tally) TallyAt(s Slot) (*TallyResult, error) { return t.Compute(s) }

// Stats describes what the accumulator holds.
type TallyStats struct {
	Slots, Entities, Keys           int
	Beacons, Validations            int
	Receipts, StorageProofs, Misses int
	// ApproxBytes estimates the heap held by buckets (beacon and activity
	// bits plus the entry slices), not counting map overhead.
	ApproxBytes int
}

// Stats counts the accumulator's contents.
func (t *Tally) Stats() TallyStats {
	st := TallyStats{Slots: len(t.buckets), Entities: len(t.entList), Keys: len(t.keys), Misses: len(t.misses)}
	for _, b := range t.buckets {
		st.Beacons += b.uptime.count()
		st.Validations += len(b.validation)
		st.Receipts += len(b.relay)
		st.StorageProofs += len(b.storage)
		st.ApproxBytes += 8*(cap(b.uptime)+cap(b.active)) + 8*cap(b.validation) + 48*cap(b.relay) + 48*cap(b.storage) + 128
	}
	return st
}

// TallyResult is the tally of one window: per entity credits by type,
// uptime, scores and eligibility, in canonical order (by entity bytes).
// All amounts are fixed-point (see the package doc): credits and scores in
// micro-credits, uptime in millionths.
type TallyResult struct {
	Params      [32]byte // Params.Hash of the rules applied
	Slot        Slot     // the window is [WindowStart, Slot]
	WindowStart Slot
	Entries     []TallyEntry
	// Misses applied: those of Slot's epoch at slots ≤ Slot, sorted by
	// slot then entity.
	Misses []Miss
}

// TallyEntry is one entity's line in a tally.
type TallyEntry struct {
	Entity     EntityID
	Relay      uint64 // micro-credits
	Storage    uint64 // micro-credits
	Validation uint64 // micro-credits
	Credits    uint64 // Relay + Storage + Validation, saturating
	// UptimeSlots is the number of window slots with a beacon from any of
	// the entity's nodes; Uptime = min(UptimeSlots·10^6 / window, 10^6).
	UptimeSlots uint64
	Uptime      uint64
	Base        uint64 // ⌊Credits · Uptime / 10^6⌋
	Misses      uint64 // misses applied
	LiveScore   uint64 // Base after the miss penalties
	Eligible    bool   // Credits > 0 and Uptime ≥ DMin

	// Statistics (part of the encoding, not of the rules' inputs).
	RelaySessions uint64 // credited (node, client, session) triples
	RelayBytes    uint64 // credited bytes before the caps
	Chunks        uint64 // distinct chunks proven
	Blocks        uint64 // slots with a validation
}

// Entry returns the entity's line, if it has one.
func (r *TallyResult) Entry(e EntityID) (TallyEntry, bool) {
	i, ok := slices.BinarySearchFunc(r.Entries, e, func(x TallyEntry, e EntityID) int { return strings.Compare(string(x.Entity), string(e)) })
	if !ok {
		return TallyEntry{}, false
	}
	return r.Entries[i], true
}

type relayKey struct {
	ent, node, client uint32
	session           sessions.ID
}

type relayAgg struct {
	max, min uint64
	start    Slot
}

type nodeClient struct{ ent, node, client uint32 }

type entNode struct{ ent, node uint32 }

type storKey struct {
	ent  uint32
	leaf [32]byte
}

// Compute returns the tally of the window ending at slot at: slots
// [max(0, at−WindowSlots+1), at]. See the package doc for the rules.
// Results are cached until the next Add, AddMiss or Prune and shared
// between callers: do not modify them.
func (t *Tally) Compute(at Slot) (*TallyResult, error) {
	if at > MaxSlot {
		return nil, errf(ErrInvalidArgument, "slot %d", at)
	}
	if r, ok := t.cache[at]; ok {
		return r, nil
	}
	r, err := t.compute(at)
	if err != nil {
		return nil, err
	}
	if len(t.cache) >= 64 {
		clear(t.cache)
	}
	t.cache[at] = r
	return r, nil
}

func (t *Tally) compute(at Slot) (*TallyResult, error) {
	p := t.p
	lo := Slot(satSub(uint64(at)+1, p.WindowSlots))
	if lo < t.floor {
		return nil, errf(ErrPruned, "window [%d, %d], pruned below %d", lo, at, t.floor)
	}
	effW := uint64(at-lo) + 1
	nE := len(t.entList)
	var present bitset
	var active bitset
	uptime := make([]uint64, nE)
	valSessions := make([]uint64, nE)
	valBlocks := make([]uint64, nE)
	// Per-slot maximum of a validation's session count per entity.
	slotMax := make([]uint32, nE)
	stamp := make([]Slot, nE)
	for i := range stamp {
		stamp[i] = math.MaxUint64
	}
	nRelay, nStored := 0, 0
	for s := lo; s <= at; s++ {
		if b := t.buckets[s]; b != nil {
			nRelay += len(b.relay)
			nStored += len(b.storage)
		}
	}
	relay := make(map[relayKey]*relayAgg, nRelay)
	stored := make(map[storKey]uint64, nStored)

	for s := lo; s <= at; s++ {
		b := t.buckets[s]
		if b == nil {
			continue
		}
		active.or(b.active)
		b.uptime.each(func(e int) { uptime[e]++; present.set(uint32(e)) })
		var touched []uint32
		for _, v := range b.validation {
			present.set(v.ent)
			if stamp[v.ent] != s {
				stamp[v.ent], slotMax[v.ent] = s, 0
				touched = append(touched, v.ent)
			}
			slotMax[v.ent] = max(slotMax[v.ent], v.sessions)
		}
		for _, e := range touched {
			valSessions[e] += uint64(slotMax[e])
			valBlocks[e]++
		}
		for _, r := range b.relay {
			present.set(r.ent)
			k := relayKey{ent: r.ent, node: r.node, client: r.client, session: r.session}
			a := relay[k]
			if a == nil {
				relay[k] = &relayAgg{max: r.bytes, min: r.bytes, start: r.start}
				continue
			}
			a.max, a.min, a.start = max(a.max, r.bytes), min(a.min, r.bytes), min(a.start, r.start)
		}
		for _, st := range b.storage {
			present.set(st.ent)
			k := storKey{ent: st.ent, leaf: st.leaf}
			stored[k] = max(stored[k], st.size)
		}
	}

	// Relay: per (entity, node, client): sessions and bytes, then the
	// client cap, then the node cap.
	type agg struct{ sessions, bytes uint64 }
	perClient := make(map[nodeClient]*agg, len(relay))
	relaySessions := make([]uint64, nE)
	relayBytes := make([]uint64, nE)
	for k, a := range relay {
		if active.has(k.client) {
			continue // the client key is a node in this window
		}
		b := a.max
		if a.start < lo {
			b = a.max - a.min // started before the window: count its growth only
		}
		nc := nodeClient{k.ent, k.node, k.client}
		c := perClient[nc]
		if c == nil {
			c = &agg{}
			perClient[nc] = c
		}
		c.sessions++
		c.bytes = satAdd(c.bytes, b)
		relaySessions[k.ent]++
		relayBytes[k.ent] = satAdd(relayBytes[k.ent], b)
	}
	perNode := map[entNode]uint64{}
	for k, c := range perClient {
		credits := c.bytes / p.RelayBytesPerCredit
		if c.bytes%p.RelayBytesPerCredit != 0 {
			credits++
		}
		credits = min(max(c.sessions, credits), p.ClientRelayCap)
		en := entNode{k.ent, k.node}
		perNode[en] = satAdd(perNode[en], credits)
	}
	relayCredits := make([]uint64, nE)
	nodeCap := mulSat(p.NodeRelayCapPerSlot, effW)
	for k, c := range perNode {
		relayCredits[k.ent] = satAdd(relayCredits[k.ent], min(c, nodeCap))
	}

	// Storage: each distinct chunk (leaf) per entity; replicas beyond
	// ReplicaTarget share the credit of ReplicaTarget holders.
	holders := make(map[[32]byte]uint64, len(stored))
	for k := range stored {
		holders[k.leaf]++
	}
	storage := make([]uint64, nE)
	chunks := make([]uint64, nE)
	for k, size := range stored {
		c := satAdd(mulSat(p.StorageCreditsPerChunk, Micro), mulDiv(p.StorageCreditsPerGB, size, 1000))
		if n := holders[k.leaf]; n > p.ReplicaTarget {
			c = mulDiv(c, p.ReplicaTarget, n)
		}
		storage[k.ent] = satAdd(storage[k.ent], c)
		chunks[k.ent]++
	}

	// Misses of at's epoch, up to at.
	epochStart := Slot(p.Epoch(at) * p.EpochSlots)
	var misses []Miss
	missCount := map[EntityID]uint64{}
	for m := range t.misses {
		if m.Slot >= epochStart && m.Slot <= at {
			misses = append(misses, m)
			missCount[m.Entity]++
		}
	}
	slices.SortFunc(misses, compareMiss)

	res := &TallyResult{Params: p.Hash(), Slot: at, WindowStart: lo, Misses: misses}
	present.each(func(i int) {
		e := TallyEntry{
			Entity:        t.entList[i],
			Relay:         mulSat(relayCredits[i], Micro),
			Storage:       storage[i],
			Validation:    mulSat(mulSat(valSessions[i], p.ValidationCreditsPerSession), Micro),
			UptimeSlots:   uptime[i],
			Uptime:        min(mulDiv(uptime[i], Micro, effW), Micro),
			RelaySessions: relaySessions[i],
			RelayBytes:    relayBytes[i],
			Chunks:        chunks[i],
			Blocks:        valBlocks[i],
		}
		e.Credits = satAdd(satAdd(e.Relay, e.Storage), e.Validation)
		e.Base = mulDiv(e.Credits, e.Uptime, Micro)
		e.Misses = missCount[e.Entity]
		e.LiveScore = penalize(e.Base, p.MissPenalty, e.Misses)
		e.Eligible = e.Credits > 0 && e.Uptime >= p.DMin
		res.Entries = append(res.Entries, e)
	})
	slices.SortFunc(res.Entries, func(a, b TallyEntry) int { return strings.Compare(string(a.Entity), string(b.Entity)) })
	return res, nil
}

// penalize multiplies score by (10^6 − penalty)/10^6 once per miss,
// rounding down at each step.
func penalize(score, penalty, misses uint64) uint64 {
	for range misses {
		if score == 0 {
			break
		}
		score = mulDiv(score, Micro-penalty, Micro)
	}
	return score
}

func compareMiss(a, b Miss) int {
	if a.Slot != b.Slot {
		if a.Slot < b.Slot {
			return -1
		}
		return 1
	}
	return strings.Compare(string(a.Entity), string(b.Entity))
}

// Fixed-point helpers: all saturate at MaxUint64 instead of wrapping.

func satAdd(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	if c != 0 {
		return math.MaxUint64
	}
	return s
}

func mulSat(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo
}

// mulDiv is ⌊a·b/c⌋ with a 128-bit intermediate (c > 0).
func mulDiv(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return math.MaxUint64
	}
	q, _ := bits.Div64(hi, lo, c)
	return q
}

// bitset is a growable set of small integers.
type bitset []uint64

func (b *bitset) set(i uint32) {
	w := int(i / 64)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b))...)
	}
	(*b)[w] |= 1 << (i % 64)
}

func (b bitset) has(i uint32) bool {
	w := int(i / 64)
	return w < len(b) && b[w]&(1<<(i%64)) != 0
}

func (b *bitset) or(o bitset) {
	if len(o) > len(*b) {
		*b = append(*b, make([]uint64, len(o)-len(*b))...)
	}
	for i, w := range o {
		(*b)[i] |= w
	}
}

func (b bitset) each(f func(int)) {
	for wi, w := range b {
		for w != 0 {
			f(wi*64 + bits.TrailingZeros64(w))
			w &= w - 1
		}
	}
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// Encoding of a tally.

// TallyVersion is the only tally-encoding version this package reads.
const TallyVersion = 1

type wireMiss struct {
	Slot   uint64 `cbor:"1,keyasint,omitempty"`
	Entity []byte `cbor:"2,keyasint,omitempty"`
}

type wireEntry struct {
	Entity        []byte `cbor:"1,keyasint,omitempty"`
	Relay         uint64 `cbor:"2,keyasint,omitempty"`
	Storage       uint64 `cbor:"3,keyasint,omitempty"`
	Validation    uint64 `cbor:"4,keyasint,omitempty"`
	Credits       uint64 `cbor:"5,keyasint,omitempty"`
	UptimeSlots   uint64 `cbor:"6,keyasint,omitempty"`
	Uptime        uint64 `cbor:"7,keyasint,omitempty"`
	Base          uint64 `cbor:"8,keyasint,omitempty"`
	Misses        uint64 `cbor:"9,keyasint,omitempty"`
	LiveScore     uint64 `cbor:"10,keyasint,omitempty"`
	Eligible      bool   `cbor:"11,keyasint,omitempty"`
	RelaySessions uint64 `cbor:"12,keyasint,omitempty"`
	RelayBytes    uint64 `cbor:"13,keyasint,omitempty"`
	Chunks        uint64 `cbor:"14,keyasint,omitempty"`
	Blocks        uint64 `cbor:"15,keyasint,omitempty"`
}

type wireTally struct {
	Version     uint64      `cbor:"1,keyasint,omitempty"`
	Params      []byte      `cbor:"2,keyasint,omitempty"`
	Slot        uint64      `cbor:"3,keyasint,omitempty"`
	WindowStart uint64      `cbor:"4,keyasint,omitempty"`
	Entries     []wireEntry `cbor:"5,keyasint,omitempty"`
	Misses      []wireMiss  `cbor:"6,keyasint,omitempty"`
}

func (r *TallyResult) wire() wireTally {
	w := wireTally{Version: TallyVersion, Params: bytes.Clone(r.Params[:]), Slot: uint64(r.Slot), WindowStart: uint64(r.WindowStart)}
	for _, e := range r.Entries {
		w.Entries = append(w.Entries, wireEntry{
			Entity: []byte(e.Entity), Relay: e.Relay, Storage: e.Storage, Validation: e.Validation,
			Credits: e.Credits, UptimeSlots: e.UptimeSlots, Uptime: e.Uptime, Base: e.Base, Misses: e.Misses,
			LiveScore: e.LiveScore, Eligible: e.Eligible, RelaySessions: e.RelaySessions, RelayBytes: e.RelayBytes,
			Chunks: e.Chunks, Blocks: e.Blocks,
		})
	}
	for _, m := range r.Misses {
		w.Misses = append(w.Misses, wireMiss{Slot: uint64(m.Slot), Entity: []byte(m.Entity)})
	}
	return w
}

// value checks the internal consistency of a tally: order, ranges, and
// every derived field (Credits, Uptime bound, Base, Misses, LiveScore ≤
// Base). It cannot check what depends on Params (eligibility, penalties).
func (w *wireTally) value() (*TallyResult, error) {
	r := &TallyResult{Slot: Slot(w.Slot), WindowStart: Slot(w.WindowStart)}
	var err error
	if r.Params, err = hashFromWire(w.Params, "params hash"); err != nil {
		return nil, err
	}
	if w.Slot > uint64(MaxSlot) || w.WindowStart > w.Slot {
		return nil, malformed("window [%d, %d]", w.WindowStart, w.Slot)
	}
	if len(w.Entries) > maxTallyEntries {
		return nil, errf(ErrOversize, "%d entries", len(w.Entries))
	}
	missCount := map[EntityID]uint64{}
	for i, m := range w.Misses {
		e, err := entityFromWire(m.Entity, "miss entity")
		if err != nil {
			return nil, err
		}
		mm := Miss{Slot: Slot(m.Slot), Entity: e}
		if mm.Slot > r.Slot {
			return nil, malformed("miss at slot %d after the tally's slot %d", mm.Slot, r.Slot)
		}
		if i > 0 && compareMiss(r.Misses[i-1], mm) >= 0 {
			return nil, malformed("misses not sorted or not unique at %d", i)
		}
		r.Misses = append(r.Misses, mm)
		missCount[e]++
	}
	width := w.Slot - w.WindowStart + 1
	for i, we := range w.Entries {
		e, err := entityFromWire(we.Entity, "entity")
		if err != nil {
			return nil, err
		}
		if i > 0 && strings.Compare(string(r.Entries[i-1].Entity), string(e)) >= 0 {
			return nil, malformed("entries not sorted or not unique at %d", i)
		}
		te := TallyEntry{
			Entity: e, Relay: we.Relay, Storage: we.Storage, Validation: we.Validation, Credits: we.Credits,
			UptimeSlots: we.UptimeSlots, Uptime: we.Uptime, Base: we.Base, Misses: we.Misses, LiveScore: we.LiveScore,
			Eligible: we.Eligible, RelaySessions: we.RelaySessions, RelayBytes: we.RelayBytes, Chunks: we.Chunks, Blocks: we.Blocks,
		}
		switch {
		case te.UptimeSlots > width || te.Uptime != min(mulDiv(te.UptimeSlots, Micro, width), Micro):
			return nil, malformed("entry %d: uptime %d from %d of %d slots", i, te.Uptime, te.UptimeSlots, width)
		case te.Credits != satAdd(satAdd(te.Relay, te.Storage), te.Validation):
			return nil, malformed("entry %d: credits are not the sum of their parts", i)
		case te.Base != mulDiv(te.Credits, te.Uptime, Micro):
			return nil, malformed("entry %d: base score is not credits × uptime", i)
		case te.Misses != missCount[e]:
			return nil, malformed("entry %d: %d misses, the list has %d", i, te.Misses, missCount[e])
		case te.LiveScore > te.Base || (te.Misses == 0 && te.LiveScore != te.Base):
			return nil, malformed("entry %d: live score %d, base %d", i, te.LiveScore, te.Base)
		case te.Eligible && te.Credits == 0:
			return nil, malformed("entry %d: eligible without credits", i)
		}
		r.Entries = append(r.Entries, te)
	}
	return r, nil
}

// Encode returns the canonical CBOR encoding: 1 = version, 2 = params
// hash, 3 = slot, 4 = window start, 5 = entries (maps with keys 1..15 in
// TallyEntry field order), 6 = misses ({1: slot, 2: entity}); zero values
// omitted.
func (r *TallyResult) Encode() []byte {
	w := r.wire()
	return mustMarshal(&w)
}

// Hash is BLAKE3 over a domain tag and the canonical encoding. Two honest
// nodes with the same inputs get the same hash.
func (r *TallyResult) Hash() [32]byte { return domainHash("lucid/poot/tally/1\n", r.Encode()) }

// DecodeTally is the strict inverse of Encode (inputs up to 64 MiB).
func DecodeTally(b []byte) (*TallyResult, error) {
	if len(b) > 64<<20 {
		return nil, errf(ErrOversize, "tally: %d bytes", len(b))
	}
	var w wireTally
	if err := decodeStrict(b, &w, TallyVersion, "tally"); err != nil {
		return nil, err
	}
	return w.value()
}
