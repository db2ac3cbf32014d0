package crdt

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/lucidnet/lucid/sessions"
)

// Delta is a delta-state: a small piece of map state written by one
// author, holding only the fields it touches of the sessions it touches.
// Deltas are what nodes gossip, sign and store; merging one is a join, so
// deltas may arrive in any order, more than once, or not at all until
// anti-entropy delivers them. A Delta is an immutable value, safe to share
// between goroutines; the zero Delta is empty.
type Delta struct {
	author ReplicaID
	ids    []sessions.ID // strictly ascending
	recs   []rec         // recs[i] is the state for ids[i]; never empty
	enc    []byte        // canonical encoding
}

func newDelta(author ReplicaID, ids []sessions.ID, recs []rec) Delta {
	d := Delta{author: author, ids: ids, recs: recs}
	w := wireDelta{Version: deltaVersion, Author: []byte(author)}
	if len(ids) > 0 {
		w.Records = make([]wireRecord, len(ids))
		for i, id := range ids {
			w.Records[i] = recs[i].wire(id, author)
		}
	}
	d.enc = mustMarshal(&w)
	return d
}

// DecodeDelta decodes and validates a delta. It rejects input larger than
// MaxDeltaSize (ErrTooLarge), another format version
// (ErrUnsupportedVersion), more records or entries than a delta may hold
// (ErrTooManyEntries), oversize elements (ErrTooLarge) and anything that
// is not the canonical encoding of a valid delta (ErrMalformed). It does
// not authorize: see Map.Authorize.
func DecodeDelta(b []byte) (Delta, error) {
	if len(b) > MaxDeltaSize {
		return Delta{}, errf(ErrTooLarge, "delta of %d bytes, limit %d", len(b), MaxDeltaSize)
	}
	if err := checkVersion(b, deltaVersion, "delta"); err != nil {
		return Delta{}, err
	}
	var w wireDelta
	if err := decMode.Unmarshal(b, &w); err != nil {
		return Delta{}, malformed("delta: %v", err)
	}
	author, err := replicaFromWire(w.Author, "author")
	if err != nil {
		return Delta{}, err
	}
	if len(w.Records) > MaxDeltaRecords {
		return Delta{}, errf(ErrTooManyEntries, "%d records, limit %d", len(w.Records), MaxDeltaRecords)
	}
	ids := make([]sessions.ID, len(w.Records))
	recs := make([]rec, len(w.Records))
	for i := range w.Records {
		id, r, err := w.Records[i].rec(deltaLimits, author, false)
		if err != nil {
			return Delta{}, err
		}
		if r.compacted {
			return Delta{}, malformed("record %s: a delta cannot compact", id)
		}
		if i > 0 && cmpID(ids[i-1], id) >= 0 {
			return Delta{}, malformed("records not strictly ascending at %d", i)
		}
		ids[i], recs[i] = id, r
	}
	d := newDelta(author, ids, recs)
	if !bytes.Equal(d.enc, b) {
		return Delta{}, malformed("delta is not in canonical encoding")
	}
	return d, nil
}

// Author returns the replica that wrote the delta (and must have signed
// it).
func (d Delta) Author() ReplicaID { return d.author }

// IDs returns the sessions the delta writes, ascending.
func (d Delta) IDs() []sessions.ID { return slices.Clone(d.ids) }

// IsEmpty reports whether the delta writes nothing.
func (d Delta) IsEmpty() bool { return len(d.ids) == 0 }

// Encode returns the canonical encoding: the same delta always encodes to
// the same bytes, which are what the author signs.
func (d Delta) Encode() []byte {
	if d.enc == nil {
		return newDelta(d.author, nil, nil).enc
	}
	return bytes.Clone(d.enc)
}

// Size returns the length of the encoding.
func (d Delta) Size() int {
	if d.enc == nil {
		return len(d.Encode())
	}
	return len(d.enc)
}

// Records returns what the delta writes, as records holding only the
// delta's fields (for logging and inspection).
func (d Delta) Records() []Record {
	out := make([]Record, len(d.ids))
	for i, id := range d.ids {
		out[i] = d.recs[i].view(id)
	}
	return out
}

// Latest returns the largest timestamp in the delta (zero if it has
// none), for the shell to feed to Clock.Observe after authorizing it.
func (d Delta) Latest() Timestamp {
	var latest Timestamp
	for i := range d.recs {
		_ = d.recs[i].stamps(func(t Timestamp, _ string) error {
			if t.Compare(latest) > 0 {
				latest = t
			}
			return nil
		})
	}
	return latest
}

func (d Delta) find(id sessions.ID) (*rec, bool) {
	i, ok := slices.BinarySearchFunc(d.ids, id, cmpID)
	if !ok {
		return nil, false
	}
	return &d.recs[i], true
}

// Covers reports whether e ⊑ d: merging e after d changes nothing. A shell
// that keeps signed envelopes can drop e's once a later envelope of the
// same author covers it (see the package documentation).
func (d Delta) Covers(e Delta) bool {
	for i, id := range e.ids {
		r, ok := d.find(id)
		if !ok {
			return false
		}
		if _, changed := joinRec(r, &e.recs[i]); changed {
			return false
		}
	}
	return true
}

// JoinDeltas returns the join of deltas by one author: itself a delta of
// that author, covering each of them. It fails with ErrInvalidArgument if
// the authors differ. The result is not checked against the per-delta
// limits; Authorize does that.
func JoinDeltas(ds ...Delta) (Delta, error) {
	if len(ds) == 0 {
		return Delta{}, errf(ErrInvalidArgument, "no deltas to join")
	}
	author := ds[0].author
	acc := map[sessions.ID]rec{}
	for _, d := range ds {
		if d.author != author {
			return Delta{}, errf(ErrInvalidArgument, "joining deltas of %s and %s", author, d.author)
		}
		for i, id := range d.ids {
			cur := acc[id]
			acc[id], _ = joinRec(&cur, &d.recs[i])
		}
	}
	ids := make([]sessions.ID, 0, len(acc))
	for id := range acc {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, cmpID)
	recs := make([]rec, len(ids))
	for i, id := range ids {
		recs[i] = acc[id]
	}
	return newDelta(author, ids, recs), nil
}

// changeKind enumerates the local operations.
type changeKind uint8

const (
	changeCreate changeKind = iota + 1
	changePhase
	changeCounters
	changeAddRelay
	changeRemoveRelay
	changeAddParticipant
	changeRemoveParticipant
	changePrivate
	changeManifest
	changeAnchor
)

// Change is one local operation on a session, built by the constructors
// below and applied by Map.Update. Arguments are checked by Update.
type Change struct {
	kind    changeKind
	replica ReplicaID // Create's host, AddRelay/RemoveRelay's relay
	service string
	at      time.Time
	phase   sessions.State
	counts  Counts
	data    string // participant, private blob, anchor reference
	hash    [32]byte
	status  AnchorStatus
}

// Create records a new session: its host (which must be the author of the
// update: only the host creates), service and creation time. The phase
// becomes at least created. A session is created once.
func Create(host ReplicaID, service string, createdAt time.Time) Change {
	return Change{kind: changeCreate, replica: host, service: service, at: createdAt}
}

// SetPhase moves the session to phase p (active, ended or failed) at time
// at. Active sets StartedAt, ended and failed set EndedAt. Locally the
// phase may not go backwards or leave a terminal phase
// (ErrInvalidTransition); setting the current phase again rewrites its
// time. Merges never lower the phase whatever arrives.
func SetPhase(p sessions.State, at time.Time) Change {
	return Change{kind: changePhase, phase: p, at: at}
}

// AddCounters adds to the author's own entries of the session's counters.
// Only the host and the session's relays may count. A zero change does
// nothing.
func AddCounters(bytesIn, bytesOut, chunks uint64) Change {
	return Change{kind: changeCounters, counts: Counts{BytesIn: bytesIn, BytesOut: bytesOut, Chunks: chunks}}
}

// AddRelay adds a relay (host only). A relay once added may write its
// counter entries for good, even after RemoveRelay.
func AddRelay(relay ReplicaID) Change { return Change{kind: changeAddRelay, replica: relay} }

// RemoveRelay removes a relay, as far as the author has seen it added
// (host only). A concurrent add wins.
func RemoveRelay(relay ReplicaID) Change { return Change{kind: changeRemoveRelay, replica: relay} }

// AddParticipant adds a sealed participant identity: opaque bytes,
// 1..MaxParticipantSize, whose identity is the bytes (host only).
func AddParticipant(sealed []byte) Change {
	return Change{kind: changeAddParticipant, data: string(sealed)}
}

// RemoveParticipant removes a sealed participant identity (host only).
func RemoveParticipant(sealed []byte) Change {
	return Change{kind: changeRemoveParticipant, data: string(sealed)}
}

// SetPrivate sets the sealed private blob, at most MaxPrivateSize bytes;
// empty clears it (host only).
func SetPrivate(sealed []byte) Change { return Change{kind: changePrivate, data: string(sealed)} }

// SetManifest sets the recording manifest's hash (host only).
func SetManifest(hash [32]byte) Change { return Change{kind: changeManifest, hash: hash} }

// SetAnchor sets the anchor status and reference (host only).
func SetAnchor(a Anchor) Change {
	return Change{kind: changeAnchor, status: a.Status, data: string(a.Ref)}
}

func timeArg(t time.Time, what string) (int64, error) {
	if t.IsZero() {
		return 0, errf(ErrInvalidArgument, "%s is zero", what)
	}
	ms := t.UnixMilli()
	if ms < 1 || ms > maxUnixMillis {
		return 0, errf(ErrInvalidArgument, "%s %s is outside 1970..9999", what, t)
	}
	return ms, nil
}

// apply returns the delta state of c given the current view, stamped ts.
func (c *Change) apply(view *rec, author ReplicaID, ts Timestamp) (rec, error) {
	var part rec
	switch c.kind {
	case changeCreate:
		if view.origin.known() {
			return part, errf(ErrInvalidTransition, "session already created")
		}
		if c.replica != author {
			return part, errf(ErrNotHost, "create names host %s, author is %s", c.replica, author)
		}
		if !isServiceName(c.service) {
			return part, errf(ErrInvalidArgument, "service %q: want ^[a-z][a-z0-9-]{0,15}$", c.service)
		}
		created, err := timeArg(c.at, "creation time")
		if err != nil {
			return part, err
		}
		part.origin = originReg{ts: ts, host: author, service: c.service, created: created}
		part.phase = sessions.StateCreated
	case changePhase:
		if c.phase != sessions.StateActive && !c.phase.Terminal() {
			return part, errf(ErrInvalidArgument, "SetPhase(%s): want active, ended or failed", c.phase)
		}
		at, err := timeArg(c.at, "phase time")
		if err != nil {
			return part, err
		}
		if c.phase < view.phase || (view.phase.Terminal() && c.phase != view.phase) {
			return part, errf(ErrInvalidTransition, "%s → %s", view.phase, c.phase)
		}
		part.phase = c.phase
		if c.phase == sessions.StateActive {
			part.started = timeReg{ts: ts, at: at}
		} else {
			part.ended = timeReg{ts: ts, at: at}
		}
	case changeCounters:
		if c.counts.isZero() {
			return part, nil
		}
		cur := counterOf(view.counters, author)
		next := Counts{BytesIn: cur.BytesIn + c.counts.BytesIn, BytesOut: cur.BytesOut + c.counts.BytesOut, Chunks: cur.Chunks + c.counts.Chunks}
		if next.BytesIn < cur.BytesIn || next.BytesOut < cur.BytesOut || next.Chunks < cur.Chunks {
			return part, errf(ErrInvalidArgument, "counter overflow")
		}
		part.counters = []counterEntry{{replica: author, c: next}}
	case changeAddRelay, changeAddParticipant:
		val, err := c.element()
		if err != nil {
			return part, err
		}
		e := awset{{val: val, dots: []dotEntry{{replica: author, add: ts.hlc()}}}}
		if c.kind == changeAddRelay {
			part.relays = e
		} else {
			part.participants = e
		}
	case changeRemoveRelay, changeRemoveParticipant:
		val, err := c.element()
		if err != nil {
			return part, err
		}
		set := view.relays
		if c.kind == changeRemoveParticipant {
			set = view.participants
		}
		e, ok := set.find(val)
		if !ok {
			return part, nil
		}
		var dots []dotEntry
		for _, d := range e.dots {
			// Only the author's own dots: a replica never writes dots of
			// another (ErrForeignStamp).
			if d.replica == author && d.add.compare(d.rm) > 0 {
				dots = append(dots, dotEntry{replica: author, rm: d.add})
			}
		}
		if len(dots) == 0 {
			return part, nil
		}
		if c.kind == changeRemoveRelay {
			part.relays = awset{{val: val, dots: dots}}
		} else {
			part.participants = awset{{val: val, dots: dots}}
		}
	case changePrivate:
		if len(c.data) > MaxPrivateSize {
			return part, errf(ErrTooLarge, "private blob of %d bytes, limit %d", len(c.data), MaxPrivateSize)
		}
		part.private = blobReg{ts: ts, val: c.data}
	case changeManifest:
		part.manifest = hashReg{ts: ts, val: c.hash}
	case changeAnchor:
		if !c.status.Valid() {
			return part, errf(ErrInvalidArgument, "anchor status %s", c.status)
		}
		if len(c.data) > MaxAnchorRefSize {
			return part, errf(ErrTooLarge, "anchor reference of %d bytes, limit %d", len(c.data), MaxAnchorRefSize)
		}
		part.anchor = anchorReg{ts: ts, status: c.status, ref: c.data}
	default:
		return part, errf(ErrInvalidArgument, "zero Change")
	}
	return part, nil
}

func (c *Change) element() (string, error) {
	switch c.kind {
	case changeAddRelay, changeRemoveRelay:
		if !c.replica.Valid() {
			return "", errf(ErrInvalidArgument, "relay %q is not a peer ID", string(c.replica))
		}
		return string(c.replica), nil
	default:
		if len(c.data) == 0 {
			return "", errf(ErrInvalidArgument, "empty participant")
		}
		if len(c.data) > MaxParticipantSize {
			return "", errf(ErrTooLarge, "participant of %d bytes, limit %d", len(c.data), MaxParticipantSize)
		}
		return c.data, nil
	}
}

// Update applies local changes to session id as author, stamping each
// with clock (which must be author's) at physical time now, and returns
// the delta to publish. The changes apply in order, each seeing the
// previous ones (Create then AddRelay in one update works). The delta must
// pass Authorize like any remote one; on any error nothing changes in the
// map (the clock may have advanced). If the changes change nothing (for
// example AddCounters(0, 0, 0)) the delta is empty and there is nothing to
// publish.
func (m *Map) Update(author ReplicaID, clock *Clock, now time.Time, id sessions.ID, changes ...Change) (Delta, error) {
	if !author.Valid() {
		return Delta{}, errf(ErrInvalidArgument, "author %q is not a peer ID", string(author))
	}
	if clock == nil || clock.Replica() != author {
		return Delta{}, errf(ErrInvalidArgument, "clock is not the author's")
	}
	if !id.Valid() {
		return Delta{}, errf(ErrInvalidArgument, "session ID %s is not a version 4 UUID", id)
	}
	var cur, d rec
	if e := m.recs[id]; e != nil {
		cur = e.r
	}
	for i := range changes {
		view, _ := joinRec(&cur, &d)
		part, err := changes[i].apply(&view, author, clock.Now(now))
		if err != nil {
			return Delta{}, err
		}
		d, _ = joinRec(&d, &part)
	}
	if d.empty() {
		return Delta{author: author}, nil
	}
	delta := newDelta(author, []sessions.ID{id}, []rec{d})
	if err := m.Authorize(delta, author, now); err != nil {
		return Delta{}, err
	}
	m.Merge(delta)
	return delta, nil
}

// piece returns the part of r that author wrote: for the host, the host
// fields (origin, phase, registers and set dots stamped by it) and its
// counter entry; for anyone else, what it stamped and its counter entry.
// The join of the pieces of all replicas appearing in r is r without its
// compaction flag.
func (r *rec) piece(author ReplicaID) rec {
	var p rec
	isHost := r.origin.known() && r.origin.host == author
	if r.origin.ts.Replica == author {
		p.origin = r.origin
	}
	if isHost {
		p.phase = r.phase
	}
	if r.started.ts.Replica == author {
		p.started = r.started
	}
	if r.ended.ts.Replica == author {
		p.ended = r.ended
	}
	if c := counterOf(r.counters, author); !c.isZero() {
		p.counters = []counterEntry{{replica: author, c: c}}
	}
	p.relays = r.relays.dotsOf(author)
	p.participants = r.participants.dotsOf(author)
	if r.private.ts.Replica == author {
		p.private = r.private
	}
	if r.manifest.ts.Replica == author {
		p.manifest = r.manifest
	}
	if r.anchor.ts.Replica == author {
		p.anchor = r.anchor
	}
	return p
}

func (s awset) dotsOf(r ReplicaID) awset {
	var out awset
	for _, e := range s {
		for _, d := range e.dots {
			if d.replica == r {
				out = append(out, elemEntry{val: e.val, dots: []dotEntry{d}})
			}
		}
	}
	return out
}

// authors returns every replica that wrote something in r: the host first
// (if known), then the others ascending.
func (r *rec) authors() []ReplicaID {
	seen := map[ReplicaID]bool{}
	var others []ReplicaID
	note := func(x ReplicaID) {
		if x != "" && !seen[x] {
			seen[x] = true
			others = append(others, x)
		}
	}
	var host ReplicaID
	if r.origin.known() {
		host = r.origin.host
		seen[host] = true
	}
	_ = r.stamps(func(t Timestamp, _ string) error { note(t.Replica); return nil })
	for _, c := range r.counters {
		note(c.replica)
	}
	slices.SortFunc(others, func(a, b ReplicaID) int { return strings.Compare(string(a), string(b)) })
	if host != "" {
		return append([]ReplicaID{host}, others...)
	}
	return others
}

// AuthorDelta returns author's whole contribution to session id as one
// delta by author: the join of every delta of that author for the session
// the map has merged (minus what compaction dropped). It is what an author
// signs as a checkpoint. It reports false if author wrote nothing there.
func (m *Map) AuthorDelta(id sessions.ID, author ReplicaID) (Delta, bool) {
	e := m.recs[id]
	if e == nil {
		return Delta{}, false
	}
	p := e.r.piece(author)
	if p.empty() {
		return Delta{}, false
	}
	return newDelta(author, []sessions.ID{id}, []rec{p}), true
}

// AuthorDeltas decomposes the records of ids into per-author deltas: for
// each id in the order given, the host's delta first, then every other
// author's ascending. Their join is the record (without its compaction
// flag), and for a record built from authorized deltas each passes
// Authorize with its author as signer when merged in this order. This is
// the unit of state transfer; see the package documentation on why the
// shell sends the authors' signed envelopes rather than these unsigned
// values across trust boundaries. Unknown ids are skipped.
func (m *Map) AuthorDeltas(ids ...sessions.ID) []Delta {
	var out []Delta
	for _, id := range ids {
		e := m.recs[id]
		if e == nil {
			continue
		}
		for _, a := range e.r.authors() {
			if p := e.r.piece(a); !p.empty() {
				out = append(out, newDelta(a, []sessions.ID{id}, []rec{p}))
			}
		}
	}
	return out
}
