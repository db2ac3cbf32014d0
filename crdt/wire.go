package crdt

import (
	"bytes"
	"fmt"
	"math"

	"github.com/fxamacker/cbor/v2"

	"github.com/lucidnet/lucid/internal/canon"
	"github.com/lucidnet/lucid/sessions"
)

// Wire formats. Everything is canonical CBOR (RFC 8949 core deterministic
// encoding) with small integer map keys, as elsewhere in the repository.
// Map-shaped structs use `keyasint,omitempty`, so "absent" is the only
// encoding of a zero value; small tuples are CBOR arrays. Every decoder is
// strict: it rejects unknown and duplicate keys, indefinite lengths and
// tags, then converts to the in-memory value (checking every range, order
// and limit) and insists that encoding that value again reproduces the
// input byte for byte. One value therefore has exactly one encoding, which
// is what makes record hashes, digests and golden vectors meaningful.

// Format versions. A change of layout is a new version and a visible
// decision (see testdata/golden-delta.json).
const (
	deltaVersion    = 1
	syncVersion     = 1
	snapshotVersion = 1
)

var (
	encMode = canon.EncMode(func() cbor.EncOptions {
		o := cbor.CoreDetEncOptions()
		o.NilContainers = cbor.NilContainerAsEmpty
		return o
	}())
	decMode = canon.StrictDecMode(cbor.DecOptions{
		MaxNestedLevels: 16,
	})
)

// mustMarshal encodes one of this package's wire structs, which hold only
// unsigned integers, strings, byte slices, booleans and nested wire
// structs: the encoder cannot fail on them.
func mustMarshal(v any) []byte { return canon.MustMarshal(encMode, v) }

// checkVersion reads map key 1 before anything else is interpreted, so a
// newer layout reports ErrUnsupportedVersion rather than whatever the
// strict typed decode would trip over first.
func checkVersion(b []byte, want uint64, what string) error {
	v, err := canon.Version(decMode, b)
	if err != nil {
		return malformed("%s: %v", what, err)
	}
	if v != want {
		return errf(ErrUnsupportedVersion, "%s version %d, want %d", what, v, want)
	}
	return nil
}

type wireTS struct {
	_       struct{} `cbor:",toarray"`
	Wall    uint64
	Logical uint64
	Replica []byte
}

type wireOrigin struct {
	_         struct{} `cbor:",toarray"`
	Stamp     wireTS
	Host      []byte
	Service   string
	CreatedAt uint64
}

type wireTime struct {
	_     struct{} `cbor:",toarray"`
	Stamp wireTS
	At    uint64
}

type wireCounter struct {
	_        struct{} `cbor:",toarray"`
	Replica  []byte
	BytesIn  uint64
	BytesOut uint64
	Chunks   uint64
}

type wireDot struct {
	_          struct{} `cbor:",toarray"`
	Replica    []byte
	AddWall    uint64
	AddLogical uint64
	RmWall     uint64
	RmLogical  uint64
}

type wireElem struct {
	_     struct{} `cbor:",toarray"`
	Value []byte
	Dots  []wireDot
}

type wireBlob struct {
	_     struct{} `cbor:",toarray"`
	Stamp wireTS
	Value []byte
}

type wireHash struct {
	_     struct{} `cbor:",toarray"`
	Stamp wireTS
	Hash  []byte
}

type wireAnchor struct {
	_      struct{} `cbor:",toarray"`
	Stamp  wireTS
	Status uint64
	Ref    []byte
}

// wireRecord is one session's state, in a delta (only the fields the delta
// writes) or in a snapshot and a record hash (everything).
type wireRecord struct {
	ID           []byte        `cbor:"1,keyasint,omitempty"`
	Origin       *wireOrigin   `cbor:"2,keyasint,omitempty"`
	Phase        uint64        `cbor:"3,keyasint,omitempty"`
	Started      *wireTime     `cbor:"4,keyasint,omitempty"`
	Ended        *wireTime     `cbor:"5,keyasint,omitempty"`
	Counters     []wireCounter `cbor:"6,keyasint,omitempty"`
	Relays       []wireElem    `cbor:"7,keyasint,omitempty"`
	Participants []wireElem    `cbor:"8,keyasint,omitempty"`
	Private      *wireBlob     `cbor:"9,keyasint,omitempty"`
	Manifest     *wireHash     `cbor:"10,keyasint,omitempty"`
	Anchor       *wireAnchor   `cbor:"11,keyasint,omitempty"`
	Compacted    bool          `cbor:"12,keyasint,omitempty"`
}

type wireDelta struct {
	Version uint64       `cbor:"1,keyasint,omitempty"`
	Author  []byte       `cbor:"2,keyasint,omitempty"`
	Records []wireRecord `cbor:"3,keyasint,omitempty"`
}

// To wire. Total: every in-memory value has an encoding.

// Replica elision. Most replica IDs in a record are the same one: the
// delta's author, or in a record (snapshot, record hash) its host. Where a
// timestamp, set dot or counter entry belongs to that context replica its
// replica is encoded as an empty byte string, and must be: spelling it out
// is non-canonical. This roughly halves records and deltas.

func replicaWire(r, ctx ReplicaID) []byte {
	if r == ctx {
		return nil
	}
	return []byte(r)
}

func tsWire(t Timestamp, ctx ReplicaID) wireTS {
	return wireTS{Wall: uint64(t.Wall), Logical: uint64(t.Logical), Replica: replicaWire(t.Replica, ctx)}
}

func setWire(s awset, ctx ReplicaID) []wireElem {
	if len(s) == 0 {
		return nil
	}
	out := make([]wireElem, len(s))
	for i, e := range s {
		dots := make([]wireDot, len(e.dots))
		for j, d := range e.dots {
			dots[j] = wireDot{
				Replica: replicaWire(d.replica, ctx),
				AddWall: uint64(d.add.wall), AddLogical: uint64(d.add.logical),
				RmWall: uint64(d.rm.wall), RmLogical: uint64(d.rm.logical),
			}
		}
		out[i] = wireElem{Value: []byte(e.val), Dots: dots}
	}
	return out
}

// recordCtx is the context replica of a record outside a delta: its host,
// or none while the origin is unknown.
func (r *rec) recordCtx() ReplicaID { return r.origin.host }

func (r *rec) wire(id sessions.ID, ctx ReplicaID) wireRecord {
	w := wireRecord{ID: id[:], Phase: uint64(r.phase), Compacted: r.compacted}
	if r.origin.known() {
		w.Origin = &wireOrigin{Stamp: tsWire(r.origin.ts, ctx), Host: []byte(r.origin.host), Service: r.origin.service, CreatedAt: uint64(r.origin.created)}
	}
	if !r.started.ts.IsZero() {
		w.Started = &wireTime{Stamp: tsWire(r.started.ts, ctx), At: uint64(r.started.at)}
	}
	if !r.ended.ts.IsZero() {
		w.Ended = &wireTime{Stamp: tsWire(r.ended.ts, ctx), At: uint64(r.ended.at)}
	}
	for _, c := range r.counters {
		w.Counters = append(w.Counters, wireCounter{Replica: replicaWire(c.replica, ctx), BytesIn: c.c.BytesIn, BytesOut: c.c.BytesOut, Chunks: c.c.Chunks})
	}
	w.Relays = setWire(r.relays, ctx)
	w.Participants = setWire(r.participants, ctx)
	if !r.private.ts.IsZero() {
		w.Private = &wireBlob{Stamp: tsWire(r.private.ts, ctx), Value: []byte(r.private.val)}
	}
	if !r.manifest.ts.IsZero() {
		w.Manifest = &wireHash{Stamp: tsWire(r.manifest.ts, ctx), Hash: bytes.Clone(r.manifest.val[:])}
	}
	if !r.anchor.ts.IsZero() {
		w.Anchor = &wireAnchor{Stamp: tsWire(r.anchor.ts, ctx), Status: uint64(r.anchor.status), Ref: []byte(r.anchor.ref)}
	}
	return w
}

// From wire. Every check of a value's validity lives here, so deltas,
// snapshots and records built in memory obey the same rules.

// limits says which per-record bounds apply: deltas are held to the
// per-delta bounds; snapshot records (joins of many authorized deltas) only
// to element validity.
type limits bool

const (
	deltaLimits    limits = true
	snapshotLimits limits = false
)

func replicaFromWire(b []byte, what string) (ReplicaID, error) {
	if _, err := sessions.PeerFromBytes(b); err != nil {
		return "", malformed("%s: not a peer ID: %v", what, err)
	}
	return ReplicaID(b), nil
}

// replicaFromWireCtx reads a replica that may be elided (empty: the
// context replica).
func replicaFromWireCtx(b []byte, ctx ReplicaID, what string) (ReplicaID, error) {
	if len(b) == 0 {
		if ctx == "" {
			return "", malformed("%s: elided replica without a context", what)
		}
		return ctx, nil
	}
	r, err := replicaFromWire(b, what)
	if err != nil {
		return "", err
	}
	if r == ctx {
		return "", malformed("%s: replica must be elided", what)
	}
	return r, nil
}

func millisFromWire(v uint64, what string) (int64, error) {
	if v < 1 || v > maxUnixMillis {
		return 0, malformed("%s: %d ms is outside 1970..9999", what, v)
	}
	return int64(v), nil
}

func hlcFromWire(wall, logical uint64, what string) (hlc, error) {
	if wall == 0 && logical == 0 {
		return hlc{}, nil
	}
	w, err := millisFromWire(wall, what)
	if err != nil {
		return hlc{}, err
	}
	if logical > math.MaxUint32 {
		return hlc{}, malformed("%s: logical %d exceeds 32 bits", what, logical)
	}
	return hlc{w, uint32(logical)}, nil
}

func tsFromWire(w wireTS, ctx ReplicaID, what string) (Timestamp, error) {
	h, err := hlcFromWire(w.Wall, w.Logical, what)
	if err != nil {
		return Timestamp{}, err
	}
	if h.isZero() {
		return Timestamp{}, malformed("%s: zero timestamp", what)
	}
	r, err := replicaFromWireCtx(w.Replica, ctx, what)
	if err != nil {
		return Timestamp{}, err
	}
	return Timestamp{Wall: h.wall, Logical: h.logical, Replica: r}, nil
}

// isServiceName matches ^[a-z][a-z0-9-]{0,15}$, the rule of package
// sessions.
func isServiceName(s string) bool {
	if len(s) < 1 || len(s) > sessions.MaxServiceLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z') && !('0' <= c && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}

// elemCheck validates one element's bytes.
type elemCheck func(v []byte) error

func relayElem(v []byte) error {
	_, err := replicaFromWire(v, "relay")
	return err
}

func participantElem(v []byte) error {
	if len(v) == 0 {
		return malformed("empty participant")
	}
	if len(v) > MaxParticipantSize {
		return errf(ErrTooLarge, "participant of %d bytes, limit %d", len(v), MaxParticipantSize)
	}
	return nil
}

func setFromWire(ws []wireElem, ctx ReplicaID, check elemCheck, limit int, lim limits, what string) (awset, error) {
	if lim == deltaLimits && len(ws) > limit {
		return nil, errf(ErrTooManyEntries, "%d %s, limit %d", len(ws), what, limit)
	}
	var out awset
	for i, we := range ws {
		if err := check(we.Value); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", what, i, err)
		}
		if i > 0 && bytes.Compare(ws[i-1].Value, we.Value) >= 0 {
			return nil, malformed("%s not strictly ascending at %d", what, i)
		}
		if len(we.Dots) == 0 {
			return nil, malformed("%s[%d] has no dots", what, i)
		}
		if lim == deltaLimits && len(we.Dots) > 1 {
			// A delta has one author, and Authorize allows only its dots.
			return nil, errf(ErrTooManyEntries, "%s[%d] has %d dots", what, i, len(we.Dots))
		}
		e := elemEntry{val: string(we.Value), dots: make([]dotEntry, len(we.Dots))}
		for j, wd := range we.Dots {
			r, err := replicaFromWireCtx(wd.Replica, ctx, what+" dot")
			if err != nil {
				return nil, err
			}
			if j > 0 && e.dots[j-1].replica >= r {
				return nil, malformed("%s[%d] dots not strictly ascending", what, i)
			}
			add, err := hlcFromWire(wd.AddWall, wd.AddLogical, what+" add dot")
			if err != nil {
				return nil, err
			}
			rm, err := hlcFromWire(wd.RmWall, wd.RmLogical, what+" removed dot")
			if err != nil {
				return nil, err
			}
			if add.isZero() && rm.isZero() {
				return nil, malformed("%s[%d] has an empty dot", what, i)
			}
			e.dots[j] = dotEntry{replica: r, add: add, rm: rm}
		}
		out = append(out, e)
	}
	return out, nil
}

// rec converts a wire record. In a delta ctx is the author; outside
// (recordCtx) it is the host the record's own origin names, if any.
func (w *wireRecord) rec(lim limits, ctx ReplicaID, inRecord bool) (sessions.ID, rec, error) {
	var r rec
	id, err := sessions.IDFromBytes(w.ID)
	if err != nil {
		return id, r, malformed("record ID: %v", err)
	}
	if o := w.Origin; o != nil {
		host, err := replicaFromWire(o.Host, "host")
		if err != nil {
			return id, r, err
		}
		if inRecord {
			ctx = host
		}
		ts, err := tsFromWire(o.Stamp, ctx, "origin")
		if err != nil {
			return id, r, err
		}
		if !isServiceName(o.Service) {
			return id, r, malformed("service %q: want ^[a-z][a-z0-9-]{0,15}$", o.Service)
		}
		created, err := millisFromWire(o.CreatedAt, "created_at")
		if err != nil {
			return id, r, err
		}
		r.origin = originReg{ts: ts, host: host, service: o.Service, created: created}
	}
	if w.Phase > uint64(sessions.StateFailed) {
		return id, r, malformed("phase %d", w.Phase)
	}
	r.phase = sessions.State(w.Phase)
	for _, t := range []struct {
		w    *wireTime
		dst  *timeReg
		what string
	}{{w.Started, &r.started, "started_at"}, {w.Ended, &r.ended, "ended_at"}} {
		if t.w == nil {
			continue
		}
		if t.dst.ts, err = tsFromWire(t.w.Stamp, ctx, t.what); err != nil {
			return id, r, err
		}
		if t.dst.at, err = millisFromWire(t.w.At, t.what); err != nil {
			return id, r, err
		}
	}
	if lim == deltaLimits && len(w.Counters) > 1 {
		// A delta has one author, and Authorize allows only its entry.
		return id, r, errf(ErrTooManyEntries, "%d counter entries in a delta record", len(w.Counters))
	}
	for i, c := range w.Counters {
		rep, err := replicaFromWireCtx(c.Replica, ctx, "counter")
		if err != nil {
			return id, r, err
		}
		if i > 0 && r.counters[i-1].replica >= rep {
			return id, r, malformed("counters not strictly ascending at %d", i)
		}
		e := counterEntry{replica: rep, c: Counts{BytesIn: c.BytesIn, BytesOut: c.BytesOut, Chunks: c.Chunks}}
		if e.c.isZero() {
			return id, r, malformed("counter entry %d is zero", i)
		}
		r.counters = append(r.counters, e)
	}
	if r.relays, err = setFromWire(w.Relays, ctx, relayElem, MaxRelays, lim, "relays"); err != nil {
		return id, r, err
	}
	if r.participants, err = setFromWire(w.Participants, ctx, participantElem, MaxParticipants, lim, "participants"); err != nil {
		return id, r, err
	}
	if p := w.Private; p != nil {
		if r.private.ts, err = tsFromWire(p.Stamp, ctx, "private"); err != nil {
			return id, r, err
		}
		if len(p.Value) > MaxPrivateSize {
			return id, r, errf(ErrTooLarge, "private blob of %d bytes, limit %d", len(p.Value), MaxPrivateSize)
		}
		r.private.val = string(p.Value)
	}
	if h := w.Manifest; h != nil {
		if r.manifest.ts, err = tsFromWire(h.Stamp, ctx, "manifest"); err != nil {
			return id, r, err
		}
		if len(h.Hash) != 32 {
			return id, r, malformed("manifest hash of %d bytes, want 32", len(h.Hash))
		}
		copy(r.manifest.val[:], h.Hash)
	}
	if a := w.Anchor; a != nil {
		if r.anchor.ts, err = tsFromWire(a.Stamp, ctx, "anchor"); err != nil {
			return id, r, err
		}
		if a.Status > uint64(AnchorFailed) {
			return id, r, malformed("anchor status %d", a.Status)
		}
		if len(a.Ref) > MaxAnchorRefSize {
			return id, r, errf(ErrTooLarge, "anchor reference of %d bytes, limit %d", len(a.Ref), MaxAnchorRefSize)
		}
		r.anchor.status, r.anchor.ref = AnchorStatus(a.Status), string(a.Ref)
	}
	r.compacted = w.Compacted
	if r.compacted && (len(r.participants) > 0 || !r.private.ts.IsZero()) {
		return id, r, malformed("compacted record with sealed fields")
	}
	if r.empty() {
		return id, r, malformed("empty record")
	}
	return id, r, nil
}

// stamps calls f with every timestamp of r and what it stamps; dots are
// reported with their replica.
func (r *rec) stamps(f func(t Timestamp, what string) error) error {
	regs := []struct {
		ts   Timestamp
		what string
	}{
		{r.origin.ts, "origin"}, {r.started.ts, "started_at"}, {r.ended.ts, "ended_at"},
		{r.private.ts, "private"}, {r.manifest.ts, "manifest"}, {r.anchor.ts, "anchor"},
	}
	for _, g := range regs {
		if !g.ts.IsZero() {
			if err := f(g.ts, g.what); err != nil {
				return err
			}
		}
	}
	for _, s := range []struct {
		set  awset
		what string
	}{{r.relays, "relay"}, {r.participants, "participant"}} {
		for _, e := range s.set {
			for _, d := range e.dots {
				for _, h := range []hlc{d.add, d.rm} {
					if h.isZero() {
						continue
					}
					if err := f(Timestamp{Wall: h.wall, Logical: h.logical, Replica: d.replica}, s.what+" dot"); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func cmpID(a, b sessions.ID) int { return bytes.Compare(a[:], b[:]) }
