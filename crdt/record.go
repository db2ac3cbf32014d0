package crdt

import (
	"fmt"
	"time"

	"github.com/lucidnet/lucid/sessions"
)

// Limits. They bound what one delta, one record and one message may hold,
// so that a validator can reject oversize input before doing work and a
// host's full contribution to one session (AuthorDelta) always fits in one
// delta.
const (
	// MaxDeltaSize bounds a delta's encoding.
	MaxDeltaSize = 64 << 10
	// MaxDeltaRecords bounds the sessions one delta writes.
	MaxDeltaRecords = 64
	// MaxRelays bounds the relay set of a session (elements ever added,
	// including removed ones).
	MaxRelays = 16
	// MaxParticipants bounds the participant set of a session (elements
	// ever added, including removed ones).
	MaxParticipants = 64
	// MaxParticipantSize bounds one sealed participant identity.
	MaxParticipantSize = 512
	// MaxPrivateSize bounds the sealed private blob.
	MaxPrivateSize = 4 << 10
	// MaxAnchorRefSize bounds an anchor's transaction or block reference.
	MaxAnchorRefSize = 128
	// MaxCounterEntries bounds a record's counter entries: the host and
	// every relay.
	MaxCounterEntries = 1 + MaxRelays
)

// Default parameters.
const (
	// DefaultRetention is how long after its end a session keeps its
	// sealed fields before Compact turns it into a tombstone.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultHorizon is how long after its creation a session is known at
	// all: older records are dropped and deltas for them rejected.
	DefaultHorizon = 30 * 24 * time.Hour
)

// Params are the network-wide parameters of the replicated map. Every node
// must use the same values: Authorize and Compact decide with them, and
// nodes with different values keep different sets of records near the
// boundaries, which anti-entropy would report as differences forever.
type Params struct {
	// Horizon: a session created before now - Horizon is dropped by
	// Compact and every delta for it is rejected by Authorize
	// (ErrExpired). Must exceed Retention plus the longest session.
	Horizon time.Duration
	// Retention: Compact (with retention <= 0) turns sessions that ended
	// before now - Retention into tombstones.
	Retention time.Duration
	// MaxSkew: Authorize rejects deltas with a timestamp or time more than
	// MaxSkew after now (ErrFromFuture). It bounds how far a wrong clock
	// can move registers and other clocks, and is the slack every
	// time-based rule has between two honest nodes.
	MaxSkew time.Duration
}

// DefaultParams returns the default parameters.
func DefaultParams() Params {
	return Params{Horizon: DefaultHorizon, Retention: DefaultRetention, MaxSkew: DefaultMaxSkew}
}

func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.Horizon <= 0 {
		p.Horizon = d.Horizon
	}
	if p.Retention <= 0 {
		p.Retention = d.Retention
	}
	if p.MaxSkew <= 0 {
		p.MaxSkew = d.MaxSkew
	}
	return p
}

// Counts are the three grow-only counters of a session, or one replica's
// entries in them.
type Counts struct {
	BytesIn  uint64
	BytesOut uint64
	Chunks   uint64
}

func (c Counts) isZero() bool { return c == Counts{} }

// CounterEntry is one replica's entries in a session's counters.
type CounterEntry struct {
	Replica ReplicaID
	Counts
}

// AnchorStatus is the state of a session's on-chain anchor.
type AnchorStatus uint8

// Anchor states.
const (
	AnchorNone AnchorStatus = iota
	AnchorPending
	AnchorConfirmed
	AnchorFailed
)

var anchorNames = [...]string{"none", "pending", "confirmed", "failed"}

// Valid reports whether s is one of the four states.
func (s AnchorStatus) Valid() bool { return s <= AnchorFailed }

func (s AnchorStatus) String() string {
	if s.Valid() {
		return anchorNames[s]
	}
	return fmt.Sprintf("anchor(%d)", uint8(s))
}

// Anchor is where a session's manifest was anchored: a status and an
// optional transaction or block reference (at most MaxAnchorRefSize
// bytes).
type Anchor struct {
	Status AnchorStatus
	Ref    []byte
}

// Record is the merged, read-only view of one session's metadata. Get and
// Range return fresh copies; changing them changes nothing in the map.
type Record struct {
	ID sessions.ID
	// Host, Service and CreatedAt come from the host's Create; they are
	// zero while it has not been seen.
	Host      ReplicaID
	Service   string
	CreatedAt time.Time
	// Phase is the lifecycle lattice value: created < active < ended <
	// failed (the numeric order of sessions.State). 0 while unknown.
	Phase sessions.State
	// StartedAt is set by SetPhase(active), EndedAt by SetPhase(ended or
	// failed); zero while unset.
	StartedAt, EndedAt time.Time
	// Totals are the counters' values: sums over Counters, saturating at
	// the maximum uint64.
	Totals Counts
	// Counters holds each replica's entries, sorted by replica.
	Counters []CounterEntry
	// Relays are the present relays (in clear), sorted by bytes.
	Relays []ReplicaID
	// Participants are the present sealed participant identities, sorted
	// by bytes. Empty once compacted.
	Participants [][]byte
	// Private is the sealed private blob. Empty once compacted.
	Private []byte
	// ManifestHash is the recording manifest's hash; zero while unset.
	ManifestHash [32]byte
	Anchor       Anchor
	// Compacted is set once the record has become a tombstone (see
	// Map.Compact): participants and private blob are gone for good.
	Compacted bool
}

func unixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

func (r *rec) view(id sessions.ID) Record {
	out := Record{
		ID:        id,
		Host:      r.origin.host,
		Service:   r.origin.service,
		CreatedAt: unixMilli(r.origin.created),
		Phase:     r.phase,
		StartedAt: unixMilli(r.started.at),
		EndedAt:   unixMilli(r.ended.at),
		Compacted: r.compacted,
	}
	for _, e := range r.counters {
		out.Counters = append(out.Counters, CounterEntry{Replica: e.replica, Counts: e.c})
		out.Totals = Counts{
			BytesIn:  addSat(out.Totals.BytesIn, e.c.BytesIn),
			BytesOut: addSat(out.Totals.BytesOut, e.c.BytesOut),
			Chunks:   addSat(out.Totals.Chunks, e.c.Chunks),
		}
	}
	for _, v := range r.relays.members() {
		out.Relays = append(out.Relays, ReplicaID(v))
	}
	for _, v := range r.participants.members() {
		out.Participants = append(out.Participants, []byte(v))
	}
	if r.private.val != "" {
		out.Private = []byte(r.private.val)
	}
	out.ManifestHash = r.manifest.val
	out.Anchor.Status = r.anchor.status
	if r.anchor.ref != "" {
		out.Anchor.Ref = []byte(r.anchor.ref)
	}
	return out
}
