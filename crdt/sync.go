package crdt

import (
	"bytes"
	"slices"

	"github.com/lucidnet/lucid/sessions"
)

// Anti-entropy: a pure, stateless reconciliation protocol over the digest
// tree (tree.go). Two replicas exchange SyncMsgs; each message carries
// claims about prefixes of the ID space, and each claim is answered
// independently of the others and of any earlier message, so a shell can
// run the protocol over one stream, pipeline, split or drop messages, and
// stop at any point without leaving state behind. A claim is either
//
//   - a hash claim "my hash at prefix p is h", or
//   - a bucket claim "under p I hold exactly these (ID, record hash)
//     pairs" (at most LeafSize of them).
//
// SyncStep answers a hash claim that matches the local hash with nothing;
// one that differs with the local bucket if the local node at p is small,
// or else with hash claims for its 16 children (children holding at most
// one record are sent as buckets right away, saving a round). It answers a
// bucket claim by comparing the pairs with every local record under p: it
// asks for the IDs the peer has and it lacks or holds differently (the
// message's want list), and returns the IDs it has that the peer lacks or
// holds differently (to send). IDs the peer wants are returned to send as
// well.
//
// The initiator sends SyncStart (the root hash, 32 bytes): equal digests
// end the exchange after one message, which is how a node learns that
// replication is done. Otherwise every round descends one level, so an
// exchange takes about log16(N/LeafSize)+2 messages, and the bytes are
// proportional to the number of differing records times the tree depth
// (16 hashes per level per difference, plus one bucket), not to N.
//
// What to send for the IDs SyncStep returns is the shell's choice, and a
// matter of trust; see the package documentation (state transfer).

// Sync limits.
const (
	// MaxSyncMsgSize bounds an encoded SyncMsg.
	MaxSyncMsgSize = 1 << 20
	// MaxSyncClaims bounds the claims in one SyncMsg; SyncStep splits its
	// answer into several messages to stay under it.
	MaxSyncClaims = 1024
	// MaxSyncWant bounds the IDs one SyncMsg asks for.
	MaxSyncWant = 4096
)

// directBucket: children holding at most this many records are sent as
// buckets instead of hashes.
const directBucket = 1

type claim struct {
	p     prefix
	inner bool // hash claim; otherwise a bucket claim
	hash  [32]byte
	pairs []pair
}

// SyncMsg is one message of the anti-entropy protocol: claims about parts
// of the sender's tree and the IDs the sender asks the receiver to send.
// The zero SyncMsg is empty.
type SyncMsg struct {
	claims []claim
	want   []sessions.ID
}

// Empty reports whether the message carries nothing; an empty answer
// need not be sent.
func (s SyncMsg) Empty() bool { return len(s.claims) == 0 && len(s.want) == 0 }

// Want returns the IDs the sender asks for.
func (s SyncMsg) Want() []sessions.ID { return slices.Clone(s.want) }

// SyncStart returns the opening message: a claim of the root hash.
func (m *Map) SyncStart() SyncMsg {
	return SyncMsg{claims: []claim{{inner: true, hash: m.Digest()}}}
}

func (m *Map) bucket(p prefix, ids []sessions.ID) claim {
	return claim{p: p, pairs: m.pairs(ids)}
}

// SyncStep answers a message from the peer. It returns the messages to
// send back (possibly none: then this branch of the exchange is over), and
// the IDs whose records the peer lacks or holds differently, ascending:
// the shell sends their state (see AuthorDeltas). The exchange is complete
// when neither side has messages left to send.
func (m *Map) SyncStep(in SyncMsg) (out []SyncMsg, send []sessions.ID) {
	var claims []claim
	var want []sessions.ID
	for _, c := range in.claims {
		v := m.lookup(c.p)
		if c.inner {
			if c.hash == m.viewHash(v) {
				continue
			}
			if v.leaf {
				claims = append(claims, m.bucket(c.p, v.ids))
				continue
			}
			for k, child := range v.node.kids {
				cp := c.p.child(k)
				switch {
				case child == nil:
					claims = append(claims, claim{p: cp})
				case child.kids == nil && child.n <= directBucket:
					claims = append(claims, m.bucket(cp, child.ids))
				default:
					claims = append(claims, claim{p: cp, inner: true, hash: m.nodeHash(child)})
				}
			}
			continue
		}
		// A bucket: compare with everything here under the prefix.
		ours := m.viewIDs(v)
		i, j := 0, 0
		for i < len(c.pairs) || j < len(ours) {
			switch {
			case j == len(ours) || (i < len(c.pairs) && cmpID(c.pairs[i].id, ours[j]) < 0):
				want = append(want, c.pairs[i].id)
				i++
			case i == len(c.pairs) || cmpID(ours[j], c.pairs[i].id) < 0:
				send = append(send, ours[j])
				j++
			default:
				if m.recHash(ours[j]) != c.pairs[i].hash {
					want = append(want, ours[j])
					send = append(send, ours[j])
				}
				i++
				j++
			}
		}
	}
	for _, id := range in.want {
		if m.recs[id] != nil {
			send = append(send, id)
		}
	}
	slices.SortFunc(send, cmpID)
	send = slices.Compact(send)
	slices.SortFunc(want, cmpID)
	want = slices.Compact(want)
	slices.SortFunc(claims, func(a, b claim) int { return comparePrefix(a.p, b.p) })
	claims = slices.CompactFunc(claims, func(a, b claim) bool { return a.p == b.p })
	for len(claims) > 0 || len(want) > 0 {
		nc, nw := min(len(claims), MaxSyncClaims), min(len(want), MaxSyncWant)
		out = append(out, SyncMsg{claims: claims[:nc:nc], want: want[:nw:nw]})
		claims, want = claims[nc:], want[nw:]
	}
	return out, send
}

type wirePair struct {
	_    struct{} `cbor:",toarray"`
	ID   []byte
	Hash []byte
}

type wireClaim struct {
	_      struct{} `cbor:",toarray"`
	Depth  uint64
	Prefix []byte
	Hash   []byte // 32 bytes for a hash claim, empty for a bucket
	Pairs  []wirePair
}

type wireSync struct {
	Version uint64      `cbor:"1,keyasint,omitempty"`
	Claims  []wireClaim `cbor:"2,keyasint,omitempty"`
	Want    [][]byte    `cbor:"3,keyasint,omitempty"`
}

// Encode returns the canonical encoding of the message.
func (s SyncMsg) Encode() []byte {
	w := wireSync{Version: syncVersion}
	for _, c := range s.claims {
		wc := wireClaim{Depth: uint64(c.p.depth), Prefix: bytes.Clone(c.p.bytes())}
		if c.inner {
			wc.Hash = bytes.Clone(c.hash[:])
		}
		for _, p := range c.pairs {
			wc.Pairs = append(wc.Pairs, wirePair{ID: bytes.Clone(p.id[:]), Hash: bytes.Clone(p.hash[:])})
		}
		w.Claims = append(w.Claims, wc)
	}
	for _, id := range s.want {
		w.Want = append(w.Want, bytes.Clone(id[:]))
	}
	return mustMarshal(&w)
}

// DecodeSyncMsg decodes and validates a SyncMsg: at most MaxSyncMsgSize
// bytes (ErrTooLarge), MaxSyncClaims claims and MaxSyncWant IDs
// (ErrTooManyEntries), prefixes of at most 32 nibbles with the unused
// nibble zero, buckets of at most LeafSize pairs whose IDs lie under their
// prefix, claims and IDs strictly ascending, in canonical encoding
// (ErrMalformed).
func DecodeSyncMsg(b []byte) (SyncMsg, error) {
	if len(b) > MaxSyncMsgSize {
		return SyncMsg{}, errf(ErrTooLarge, "sync message of %d bytes, limit %d", len(b), MaxSyncMsgSize)
	}
	if err := checkVersion(b, syncVersion, "sync message"); err != nil {
		return SyncMsg{}, err
	}
	var w wireSync
	if err := decMode.Unmarshal(b, &w); err != nil {
		return SyncMsg{}, malformed("sync message: %v", err)
	}
	if len(w.Claims) > MaxSyncClaims {
		return SyncMsg{}, errf(ErrTooManyEntries, "%d claims, limit %d", len(w.Claims), MaxSyncClaims)
	}
	if len(w.Want) > MaxSyncWant {
		return SyncMsg{}, errf(ErrTooManyEntries, "%d wanted IDs, limit %d", len(w.Want), MaxSyncWant)
	}
	var s SyncMsg
	for i, wc := range w.Claims {
		if wc.Depth > uint64(maxDepth) {
			return SyncMsg{}, malformed("claim %d: depth %d", i, wc.Depth)
		}
		var c claim
		c.p.depth = int(wc.Depth)
		if len(wc.Prefix) != (c.p.depth+1)/2 {
			return SyncMsg{}, malformed("claim %d: %d prefix bytes for depth %d", i, len(wc.Prefix), wc.Depth)
		}
		copy(c.p.b[:], wc.Prefix)
		if c.p.depth%2 == 1 && c.p.b[c.p.depth/2]&0x0f != 0 {
			return SyncMsg{}, malformed("claim %d: prefix has a stray nibble", i)
		}
		if i > 0 && comparePrefix(s.claims[i-1].p, c.p) >= 0 {
			return SyncMsg{}, malformed("claims not strictly ascending at %d", i)
		}
		switch len(wc.Hash) {
		case 0:
		case 32:
			if len(wc.Pairs) > 0 {
				return SyncMsg{}, malformed("claim %d has a hash and pairs", i)
			}
			c.inner = true
			copy(c.hash[:], wc.Hash)
		default:
			return SyncMsg{}, malformed("claim %d: hash of %d bytes", i, len(wc.Hash))
		}
		if len(wc.Pairs) > LeafSize {
			return SyncMsg{}, errf(ErrTooManyEntries, "claim %d: %d pairs, limit %d", i, len(wc.Pairs), LeafSize)
		}
		for j, wp := range wc.Pairs {
			id, err := sessions.IDFromBytes(wp.ID)
			if err != nil {
				return SyncMsg{}, malformed("claim %d pair %d: %v", i, j, err)
			}
			if !c.p.has(id) {
				return SyncMsg{}, malformed("claim %d pair %d: %s is not under the prefix", i, j, id)
			}
			if j > 0 && cmpID(c.pairs[j-1].id, id) >= 0 {
				return SyncMsg{}, malformed("claim %d: pairs not strictly ascending at %d", i, j)
			}
			if len(wp.Hash) != 32 {
				return SyncMsg{}, malformed("claim %d pair %d: hash of %d bytes", i, j, len(wp.Hash))
			}
			p := pair{id: id}
			copy(p.hash[:], wp.Hash)
			c.pairs = append(c.pairs, p)
		}
		s.claims = append(s.claims, c)
	}
	for i, b := range w.Want {
		id, err := sessions.IDFromBytes(b)
		if err != nil {
			return SyncMsg{}, malformed("want %d: %v", i, err)
		}
		if i > 0 && cmpID(s.want[i-1], id) >= 0 {
			return SyncMsg{}, malformed("want not strictly ascending at %d", i)
		}
		s.want = append(s.want, id)
	}
	if !bytes.Equal(s.Encode(), b) {
		return SyncMsg{}, malformed("sync message is not in canonical encoding")
	}
	return s, nil
}
