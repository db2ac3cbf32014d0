package crdt

import (
	"slices"

	"lukechampine.com/blake3"

	"github.com/lucidnet/lucid/sessions"
)

// The digest tree. Record hashes are arranged in a prefix tree (a radix-16
// Merkle trie) keyed by the session ID's nibbles. The hash of the node at
// prefix p is a function of the set of (ID, record hash) pairs under p
// alone, not of the history that built the tree:
//
//	count(p) <= LeafSize:  H(leafTag ‖ (id ‖ recordHash) for each ID under p, ascending)
//	otherwise:             H(nodeTag ‖ hash(p‖0) ‖ … ‖ hash(p‖f))
//
// so two replicas with the same records have the same hash at every
// prefix, whatever order they merged in, and the shapes of their trees can
// differ only where their contents do. Digest is the hash at the empty
// prefix. Session IDs are random (version 4 UUIDs), so the tree is
// balanced: about log16(N/LeafSize)+1 levels.

// LeafSize is the largest number of records under a prefix that the tree
// (and the sync protocol) handles as one bucket.
const LeafSize = 16

const (
	fanout = 16
	// maxDepth is the number of nibbles in a session ID; below it a node
	// holds at most one record.
	maxDepth = 2 * len(sessions.ID{})
)

var (
	tagRecord = []byte("lucid/crdt/v1/record\x00")
	tagLeaf   = []byte("lucid/crdt/v1/leaf\x00")
	tagNode   = []byte("lucid/crdt/v1/node\x00")
	emptyLeaf = leafHashOf(nil)
)

type tnode struct {
	n    int           // records under this node
	ids  []sessions.ID // sorted, when a leaf (kids == nil)
	kids *[fanout]*tnode
	hash [32]byte
	ok   bool
}

func (n *tnode) clone() *tnode {
	if n == nil {
		return nil
	}
	c := &tnode{n: n.n, ids: slices.Clone(n.ids), hash: n.hash, ok: n.ok}
	if n.kids != nil {
		c.kids = new([fanout]*tnode)
		for i, k := range n.kids {
			c.kids[i] = k.clone()
		}
	}
	return c
}

func nibble(id *sessions.ID, d int) int {
	b := id[d/2]
	if d%2 == 0 {
		return int(b >> 4)
	}
	return int(b & 0x0f)
}

func (m *Map) treeInsert(id sessions.ID) {
	n, d := m.root, 0
	for {
		n.n++
		n.ok = false
		if n.kids == nil {
			i, _ := slices.BinarySearchFunc(n.ids, id, cmpID)
			n.ids = slices.Insert(n.ids, i, id)
			if n.n > LeafSize {
				split(n, d)
			}
			return
		}
		k := nibble(&id, d)
		if n.kids[k] == nil {
			n.kids[k] = &tnode{}
		}
		n, d = n.kids[k], d+1
	}
}

func split(n *tnode, d int) {
	n.kids = new([fanout]*tnode)
	for _, id := range n.ids {
		k := nibble(&id, d)
		c := n.kids[k]
		if c == nil {
			c = &tnode{}
			n.kids[k] = c
		}
		c.ids = append(c.ids, id)
		c.n++
	}
	n.ids = nil
	for _, c := range n.kids {
		if c != nil && c.n > LeafSize {
			split(c, d+1)
		}
	}
}

func (m *Map) treeRemove(id sessions.ID) {
	n, d := m.root, 0
	var collapse *tnode
	for {
		n.n--
		n.ok = false
		if n.kids == nil {
			if i, ok := slices.BinarySearchFunc(n.ids, id, cmpID); ok {
				n.ids = slices.Delete(n.ids, i, i+1)
			}
			break
		}
		if collapse == nil && n.n <= LeafSize {
			collapse = n
		}
		k := nibble(&id, d)
		c := n.kids[k]
		if c.n == 1 {
			n.kids[k] = nil
			break
		}
		n, d = c, d+1
	}
	if collapse != nil {
		var ids []sessions.ID
		m.walk(collapse, func(x sessions.ID) bool { ids = append(ids, x); return true })
		collapse.kids, collapse.ids = nil, ids
	}
}

func (m *Map) treeTouch(id sessions.ID) {
	n, d := m.root, 0
	for n != nil {
		n.ok = false
		if n.kids == nil {
			return
		}
		n, d = n.kids[nibble(&id, d)], d+1
	}
}

// walk visits the IDs under n in ascending order until f returns false.
func (m *Map) walk(n *tnode, f func(sessions.ID) bool) bool {
	if n == nil {
		return true
	}
	if n.kids == nil {
		for _, id := range n.ids {
			if !f(id) {
				return false
			}
		}
		return true
	}
	for _, c := range n.kids {
		if !m.walk(c, f) {
			return false
		}
	}
	return true
}

// encodeRecord returns the canonical encoding of a record, as in a
// snapshot.
func encodeRecord(id sessions.ID, r *rec) []byte {
	w := r.wire(id, r.recordCtx())
	return mustMarshal(&w)
}

func (m *Map) recHash(id sessions.ID) [32]byte {
	e := m.recs[id]
	if !e.ok {
		h := blake3.New(32, nil)
		h.Write(tagRecord)
		h.Write(encodeRecord(id, &e.r))
		h.Sum(e.hash[:0])
		e.ok = true
	}
	return e.hash
}

type pair struct {
	id   sessions.ID
	hash [32]byte
}

func leafHashOf(ps []pair) [32]byte {
	h := blake3.New(32, nil)
	h.Write(tagLeaf)
	for _, p := range ps {
		h.Write(p.id[:])
		h.Write(p.hash[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func (m *Map) pairs(ids []sessions.ID) []pair {
	ps := make([]pair, len(ids))
	for i, id := range ids {
		ps[i] = pair{id, m.recHash(id)}
	}
	return ps
}

func (m *Map) nodeHash(n *tnode) [32]byte {
	if n == nil {
		return emptyLeaf
	}
	if n.ok {
		return n.hash
	}
	if n.kids == nil {
		n.hash = leafHashOf(m.pairs(n.ids))
	} else {
		h := blake3.New(32, nil)
		h.Write(tagNode)
		for _, c := range n.kids {
			ch := m.nodeHash(c)
			h.Write(ch[:])
		}
		h.Sum(n.hash[:0])
	}
	n.ok = true
	return n.hash
}

// Digest returns the hash of the whole map: the root of the digest tree.
// Two replicas holding the same records, however they got them, have the
// same digest; comparing digests is how nodes learn that replication is
// done.
func (m *Map) Digest() [32]byte { return m.nodeHash(m.root) }

// Hash returns the hash of id's record: BLAKE3 over a domain tag and the
// record's canonical encoding (as in a snapshot).
func (m *Map) Hash(id sessions.ID) ([32]byte, bool) {
	if m.recs[id] == nil {
		return [32]byte{}, false
	}
	return m.recHash(id), true
}

// prefix is a node's position: the first depth nibbles of an ID, packed
// high nibble first, the rest zero.
type prefix struct {
	depth int
	b     [16]byte
}

func (p prefix) nib(d int) int { return nibble((*sessions.ID)(&p.b), d) }

func (p prefix) child(k int) prefix {
	c := p
	if p.depth%2 == 0 {
		c.b[p.depth/2] = byte(k) << 4
	} else {
		c.b[p.depth/2] |= byte(k)
	}
	c.depth++
	return c
}

func (p prefix) bytes() []byte { return p.b[:(p.depth+1)/2] }

// has reports whether id lies under p.
func (p prefix) has(id sessions.ID) bool {
	for d := 0; d < p.depth; d++ {
		if nibble(&id, d) != p.nib(d) {
			return false
		}
	}
	return true
}

func comparePrefix(a, b prefix) int {
	if c := slices.Compare(a.b[:], b.b[:]); c != 0 {
		return c
	}
	return a.depth - b.depth
}

// nodeView is the canonical node at a prefix in this replica's tree.
type nodeView struct {
	node *tnode        // the tree node, if the prefix is at or above a leaf
	ids  []sessions.ID // the IDs, if the canonical node is a bucket
	leaf bool
}

func (m *Map) lookup(p prefix) nodeView {
	n := m.root
	for d := 0; d < p.depth; d++ {
		if n.kids == nil {
			var ids []sessions.ID
			for _, id := range n.ids {
				if p.has(id) {
					ids = append(ids, id)
				}
			}
			return nodeView{ids: ids, leaf: true}
		}
		n = n.kids[p.nib(d)]
		if n == nil {
			return nodeView{leaf: true}
		}
	}
	if n.kids == nil {
		return nodeView{node: n, ids: n.ids, leaf: true}
	}
	return nodeView{node: n}
}

func (m *Map) viewHash(v nodeView) [32]byte {
	if v.node != nil {
		return m.nodeHash(v.node)
	}
	return leafHashOf(m.pairs(v.ids))
}

func (m *Map) viewIDs(v nodeView) []sessions.ID {
	if v.leaf {
		return v.ids
	}
	var ids []sessions.ID
	m.walk(v.node, func(id sessions.ID) bool { ids = append(ids, id); return true })
	return ids
}
