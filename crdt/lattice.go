package crdt

import (
	"bytes"
	"cmp"
	"slices"
	"strings"

	"github.com/lucidnet/lucid/sessions"
)

// This file holds the state of one record and its join. Every field is a
// join-semilattice and the record is their product, so the record's join
// is commutative, associative and idempotent because each field's is. All
// values are normalized (no zero counter entries, no element without
// dots, unset registers all-zero), so equal states have equal encodings
// and hence equal hashes. Join functions never modify their arguments:
// slices are shared between deltas and the map and treated as immutable.

// originReg is the write-once register of a session's origin: host,
// service and creation time, written by Create. If two different origins
// meet (impossible with a single honest host, see Authorize) the one with
// the smaller timestamp wins, then the smaller values: a minimum under a
// total order, hence a semilattice.
type originReg struct {
	ts      Timestamp // zero: not known
	host    ReplicaID
	service string
	created int64 // Unix ms
}

func (o originReg) known() bool { return !o.ts.IsZero() }

func (o originReg) compare(p originReg) int {
	return cmp.Or(
		o.ts.Compare(p.ts),
		strings.Compare(string(o.host), string(p.host)),
		strings.Compare(o.service, p.service),
		cmp.Compare(o.created, p.created),
	)
}

func joinOrigin(a, b originReg) originReg {
	if !b.known() || (a.known() && a.compare(b) <= 0) {
		return a
	}
	return b
}

// timeReg is a last-writer-wins register of a time (StartedAt, EndedAt):
// the larger timestamp wins, then the larger value.
type timeReg struct {
	ts Timestamp
	at int64 // Unix ms
}

func joinTime(a, b timeReg) timeReg {
	if cmp.Or(a.ts.Compare(b.ts), cmp.Compare(a.at, b.at)) >= 0 {
		return a
	}
	return b
}

// blobReg is a last-writer-wins register of opaque bytes (the sealed
// private blob). An empty value written at a timestamp clears it.
type blobReg struct {
	ts  Timestamp
	val string
}

func joinBlob(a, b blobReg) blobReg {
	if cmp.Or(a.ts.Compare(b.ts), strings.Compare(a.val, b.val)) >= 0 {
		return a
	}
	return b
}

// hashReg is a last-writer-wins register of a 32-byte hash.
type hashReg struct {
	ts  Timestamp
	val [32]byte
}

func joinHash(a, b hashReg) hashReg {
	if cmp.Or(a.ts.Compare(b.ts), bytes.Compare(a.val[:], b.val[:])) >= 0 {
		return a
	}
	return b
}

// anchorReg is a last-writer-wins register of an Anchor.
type anchorReg struct {
	ts     Timestamp
	status AnchorStatus
	ref    string
}

func joinAnchor(a, b anchorReg) anchorReg {
	if cmp.Or(a.ts.Compare(b.ts), cmp.Compare(a.status, b.status), strings.Compare(a.ref, b.ref)) >= 0 {
		return a
	}
	return b
}

// counterEntry is one replica's entry in the three grow-only counters.
// The counters form a G-Counter whose entries are triples: join is the
// per-replica, per-component maximum; values are sums. Entries are kept
// sorted by replica, and an all-zero entry is never stored.
type counterEntry struct {
	replica ReplicaID
	c       Counts
}

func joinCounts(a, b Counts) Counts {
	return Counts{BytesIn: max(a.BytesIn, b.BytesIn), BytesOut: max(a.BytesOut, b.BytesOut), Chunks: max(a.Chunks, b.Chunks)}
}

func joinCounters(a, b []counterEntry) []counterEntry {
	return mergeSorted(a, b,
		func(x, y *counterEntry) int { return strings.Compare(string(x.replica), string(y.replica)) },
		func(x, y counterEntry) counterEntry { return counterEntry{x.replica, joinCounts(x.c, y.c)} },
		func(x, y *counterEntry) bool { return *x == *y })
}

func counterOf(cs []counterEntry, r ReplicaID) Counts {
	i, ok := slices.BinarySearchFunc(cs, r, func(e counterEntry, r ReplicaID) int { return strings.Compare(string(e.replica), string(r)) })
	if !ok {
		return Counts{}
	}
	return cs[i].c
}

// awset is an add-wins observed-remove set, the optimized OR-Set of
// Bieniusa et al. (2012) in delta-state form (Almeida et al., 2018). Each
// element keeps, per replica that added it, the dot (HLC reading) of that
// replica's latest add and the largest of its dots a remove has observed.
// An element is present while some replica's add dot is above its removed
// dot. A remove only covers the dots it saw, so an add concurrent with a
// remove survives it: add wins. Because a replica's dots grow with its
// clock, a newer add of the same element by the same replica supersedes
// the older one, which is why one (add, removed) pair per replica is
// enough. Join is the per-element, per-replica maximum of both dots.
//
// Elements are sorted by their bytes; dots by replica. An element with no
// dots, or a dot pair with both parts zero, is never stored.
type awset []elemEntry

type elemEntry struct {
	val  string
	dots []dotEntry
}

type dotEntry struct {
	replica ReplicaID
	add, rm hlc // rm: the largest add dot of replica a remove observed
}

func (e *elemEntry) present() bool {
	for _, d := range e.dots {
		if d.add.compare(d.rm) > 0 {
			return true
		}
	}
	return false
}

func joinDots(a, b []dotEntry) []dotEntry {
	return mergeSorted(a, b,
		func(x, y *dotEntry) int { return strings.Compare(string(x.replica), string(y.replica)) },
		func(x, y dotEntry) dotEntry { return dotEntry{x.replica, maxHLC(x.add, y.add), maxHLC(x.rm, y.rm)} },
		func(x, y *dotEntry) bool { return *x == *y })
}

func joinSet(a, b awset) awset {
	return mergeSorted(a, b,
		func(x, y *elemEntry) int { return strings.Compare(x.val, y.val) },
		func(x, y elemEntry) elemEntry { return elemEntry{x.val, joinDots(x.dots, y.dots)} },
		func(x, y *elemEntry) bool { return x.val == y.val && slices.Equal(x.dots, y.dots) })
}

func (s awset) find(val string) (*elemEntry, bool) {
	i, ok := slices.BinarySearchFunc(s, val, func(e elemEntry, v string) int { return strings.Compare(e.val, v) })
	if !ok {
		return nil, false
	}
	return &s[i], true
}

// known reports whether val was ever added (it has an entry; an entry
// exists only once an add or a remove of an add was seen). Authorization
// uses this monotone notion, never the non-monotone "present".
func (s awset) known(val string) bool {
	_, ok := s.find(val)
	return ok
}

// members returns the present elements, sorted.
func (s awset) members() []string {
	var out []string
	for i := range s {
		if s[i].present() {
			out = append(out, s[i].val)
		}
	}
	return out
}

// mergeSorted joins two slices sorted by cmp, joining equal keys with
// join. It returns a when b adds nothing (so callers can detect change by
// identity) and never modifies its arguments.
func mergeSorted[T any](a, b []T, cmpf func(x, y *T) int, join func(x, y T) T, eq func(x, y *T) bool) []T {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]T, 0, len(a)+len(b))
	changed := false
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch c := cmpf(&a[i], &b[j]); {
		case c < 0:
			out = append(out, a[i])
			i++
		case c > 0:
			out = append(out, b[j])
			changed = true
			j++
		default:
			v := join(a[i], b[j])
			if !eq(&v, &a[i]) {
				changed = true
			}
			out = append(out, v)
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	if j < len(b) {
		out = append(out, b[j:]...)
		changed = true
	}
	if !changed {
		return a
	}
	return out
}

// rec is the state of one session record: the product of the field
// lattices, plus the compaction flag. A compacted record is the product
// of the kept fields with the top element of the dropped ones
// (participants and private blob): join with anything leaves them dropped.
type rec struct {
	origin       originReg
	phase        sessions.State // 0: unknown; join is max
	started      timeReg
	ended        timeReg
	counters     []counterEntry
	relays       awset
	participants awset
	private      blobReg
	manifest     hashReg
	anchor       anchorReg
	compacted    bool
}

// empty reports whether r holds nothing (the bottom element).
func (r *rec) empty() bool {
	return !r.origin.known() && r.phase == 0 && r.started.ts.IsZero() && r.ended.ts.IsZero() &&
		len(r.counters) == 0 && len(r.relays) == 0 && len(r.participants) == 0 &&
		r.private.ts.IsZero() && r.manifest.ts.IsZero() && r.anchor.ts.IsZero() && !r.compacted
}

// sameSlice reports whether two slices are the same slice (mergeSorted
// returns its first argument unchanged when nothing was added).
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// joinRec returns a ⊔ b and whether it differs from a.
func joinRec(a, b *rec) (rec, bool) {
	out := *a
	out.origin = joinOrigin(a.origin, b.origin)
	out.phase = max(a.phase, b.phase)
	out.started = joinTime(a.started, b.started)
	out.ended = joinTime(a.ended, b.ended)
	out.counters = joinCounters(a.counters, b.counters)
	out.relays = joinSet(a.relays, b.relays)
	out.manifest = joinHash(a.manifest, b.manifest)
	out.anchor = joinAnchor(a.anchor, b.anchor)
	out.compacted = a.compacted || b.compacted
	if out.compacted {
		out.participants, out.private = nil, blobReg{}
	} else {
		out.participants = joinSet(a.participants, b.participants)
		out.private = joinBlob(a.private, b.private)
	}
	changed := out.origin != a.origin || out.phase != a.phase || out.started != a.started ||
		out.ended != a.ended || out.manifest != a.manifest || out.anchor != a.anchor ||
		out.private != a.private || out.compacted != a.compacted ||
		!sameSlice(out.counters, a.counters) || !sameSlice(out.relays, a.relays) ||
		!sameSlice(out.participants, a.participants)
	return out, changed
}

// compact returns r with the dropped fields removed and the flag set.
func (r rec) compact() rec {
	r.compacted = true
	r.participants, r.private = nil, blobReg{}
	return r
}
