package crdt

import (
	"github.com/lucidnet/lucid/sessions"
)

// Map is one replica's copy of the replicated session-metadata map: the
// join of every delta it merged, minus what compaction dropped. It is not
// safe for concurrent use, not even for reads (hashes are computed
// lazily): the shell serializes access.
type Map struct {
	params Params
	recs   map[sessions.ID]*entry
	root   *tnode
}

type entry struct {
	r    rec
	hash [32]byte // cached record hash
	ok   bool     // hash is valid
}

// NewMap returns an empty map. Zero fields of p take their defaults.
func NewMap(p Params) *Map {
	return &Map{params: p.withDefaults(), recs: map[sessions.ID]*entry{}, root: &tnode{}}
}

// Params returns the map's parameters.
func (m *Map) Params() Params { return m.params }

// Len returns the number of records.
func (m *Map) Len() int { return len(m.recs) }

// Get returns the merged record of id.
func (m *Map) Get(id sessions.ID) (Record, bool) {
	e := m.recs[id]
	if e == nil {
		return Record{}, false
	}
	return e.r.view(id), true
}

// Range calls f for each record in ascending ID order until f returns
// false. f must not modify the map.
func (m *Map) Range(f func(Record) bool) {
	m.walk(m.root, func(id sessions.ID) bool { return f(m.recs[id].r.view(id)) })
}

// Records returns every record in ascending ID order. Filtering is the
// caller's business.
func (m *Map) Records() []Record {
	out := make([]Record, 0, len(m.recs))
	m.Range(func(r Record) bool { out = append(out, r); return true })
	return out
}

// IDs returns every session ID in ascending order.
func (m *Map) IDs() []sessions.ID {
	out := make([]sessions.ID, 0, len(m.recs))
	m.walk(m.root, func(id sessions.ID) bool { out = append(out, id); return true })
	return out
}

// Merge joins d into the map and returns the sessions whose record
// changed, ascending. It is the join of a join-semilattice: commutative,
// associative and idempotent, so deltas may come in any order and any
// number of times, and a delta for a session whose creation was never seen
// makes a record holding only what the delta knows. Merge accepts any
// valid delta; a shell must call Authorize first for deltas from the
// network.
func (m *Map) Merge(d Delta) (changed []sessions.ID) {
	for i, id := range d.ids {
		if m.mergeRec(id, &d.recs[i]) {
			changed = append(changed, id)
		}
	}
	return changed
}

func (m *Map) mergeRec(id sessions.ID, r *rec) bool {
	e := m.recs[id]
	if e == nil {
		if r.empty() {
			return false
		}
		m.recs[id] = &entry{r: *r}
		m.treeInsert(id)
		return true
	}
	nr, changed := joinRec(&e.r, r)
	if changed {
		e.r, e.ok = nr, false
		m.treeTouch(id)
	}
	return changed
}

// Covers reports whether merging d would change nothing.
func (m *Map) Covers(d Delta) bool {
	for i, id := range d.ids {
		e := m.recs[id]
		if e == nil {
			return false
		}
		if _, changed := joinRec(&e.r, &d.recs[i]); changed {
			return false
		}
	}
	return true
}

// Clone returns an independent copy of the map.
func (m *Map) Clone() *Map {
	c := NewMap(m.params)
	for id, e := range m.recs {
		// Records share their immutable slices; entries are copied.
		ce := *e
		c.recs[id] = &ce
	}
	c.root = m.root.clone()
	return c
}

// MergeMap joins all of o's state into m (state-based merge) and returns
// the number of records that changed.
func (m *Map) MergeMap(o *Map) int {
	n := 0
	for id, e := range o.recs {
		if m.mergeRec(id, &e.r) {
			n++
		}
	}
	return n
}
