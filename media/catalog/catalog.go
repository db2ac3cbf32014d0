// Package catalog indexes a node's recordings so they can be listed and
// counted without reading every manifest: one record per session and one
// per chunk, in the node's Badger store by default and also in MongoDB
// when the operator configures it.
//
// The chunk files and journals of package media are the record; a catalog
// is derived from them. Writes are idempotent (a chunk is named by its
// session and index and never changes), the pipeline does not wait for
// them, and Reconcile rebuilds whatever a crash or an unreachable database
// left out. Both backends pass one conformance suite, and Stats gives the
// same figures on both: MongoDB computes them with aggregation pipelines
// restricted to what FerretDB v1 runs correctly (see docs/testing.md), and
// the rest is summed in Go.
package catalog

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/sessions"
)

// ErrNotFound is returned for a session the catalog does not hold.
var ErrNotFound = errors.New("catalog: not found")

// Catalog is an index of recordings. Implementations: Badger (embedded)
// and Mongo.
type Catalog interface {
	// PutSession inserts or replaces a session record.
	PutSession(ctx context.Context, s Session) error
	// PutChunks inserts chunk records; a chunk already present is left
	// as it is, so repeating a call changes nothing.
	PutChunks(ctx context.Context, chunks []Chunk) error
	Session(ctx context.Context, id sessions.ID) (Session, error)
	// Sessions lists every session, newest start first.
	Sessions(ctx context.Context) ([]Session, error)
	// Chunks lists a session's chunks in index order.
	Chunks(ctx context.Context, id sessions.ID) ([]Chunk, error)
	// Stats aggregates the chunk records by day, session, peer or not at
	// all.
	Stats(ctx context.Context, by By) (Stats, error)
}

// Status is where a recording stands.
type Status string

const (
	StatusRecording   Status = "recording"   // the session is live
	StatusSealed      Status = "sealed"      // manifest written, no gaps
	StatusInterrupted Status = "interrupted" // manifest written, with gaps
)

// Session is the catalog's record of one recording. Times are UTC, in
// whole milliseconds (what BSON dates hold), in both backends.
type Session struct {
	ID             sessions.ID
	Owner          peer.ID // the client: the recording's owner
	Host           peer.ID
	Service        string
	Status         Status
	Started        time.Time
	Ended          time.Time // zero while recording
	ChunkCount     uint64    // zero while recording: chunks are counted in Chunks
	SealedBytes    uint64
	PlaintextBytes uint64
	Gaps           int
	Root           [32]byte // zero while recording
	ManifestHash   [32]byte // zero while recording
}

// Chunk is the catalog's record of one durable chunk.
type Chunk struct {
	Session       sessions.ID
	Index         uint64
	Owner         peer.ID // copied from the session so stats by peer need no join
	Day           string  // UTC day of the chunk's first frame, 2006-01-02
	Path          string  // relative to the recordings directory
	Leaf          [32]byte
	SealedSize    uint64
	PlaintextSize uint64
	First, Last   time.Time
}

// Day is the stats key of a time: its UTC calendar day.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// millis is the time precision both backends keep.
func millis(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Millisecond)
}

// StartedSession is the record of a recording that has just begun.
func StartedSession(begin media.Manifest) Session {
	return Session{
		ID: begin.Session, Owner: begin.Client, Host: begin.Host, Service: begin.Service,
		Status: StatusRecording, Started: millis(begin.Started),
	}
}

// SealedSession is the record of a recording whose manifest is written.
func SealedSession(m media.Manifest) Session {
	s := StartedSession(m)
	s.Status = StatusSealed
	if len(m.Gaps) > 0 {
		s.Status = StatusInterrupted
	}
	s.Ended = millis(m.Ended)
	s.ChunkCount = m.ChunkCount
	for _, c := range m.Chunks {
		s.SealedBytes += c.SealedSize
		s.PlaintextBytes += c.PlaintextSize
	}
	s.Gaps = len(m.Gaps)
	s.Root = m.Root
	s.ManifestHash = m.Hash()
	return s
}

// ChunkOf is the record of one of a recording's chunks.
func ChunkOf(m *media.Manifest, c media.ChunkInfo) Chunk {
	return Chunk{
		Session: m.Session, Index: c.Index, Owner: m.Client, Day: Day(c.First),
		Path: media.ChunkFile(m.Session, c.Index), Leaf: c.Leaf,
		SealedSize: c.SealedSize, PlaintextSize: c.PlaintextSize,
		First: millis(c.First), Last: millis(c.Last),
	}
}

// ChunksOf is the records of every chunk in a manifest.
func ChunksOf(m media.Manifest) []Chunk {
	out := make([]Chunk, len(m.Chunks))
	for i, c := range m.Chunks {
		out[i] = ChunkOf(&m, c)
	}
	return out
}

// By is how Stats groups chunks.
type By string

const (
	ByTotal   By = "total"
	ByDay     By = "day"
	BySession By = "session"
	ByPeer    By = "peer"
)

// ParseBy reads a --by value; "" means ByTotal.
func ParseBy(s string) (By, error) { return By(strings.ToLower(s)).check() }

// check normalises "" to ByTotal and refuses anything else unknown.
func (by By) check() (By, error) {
	if by == "" {
		return ByTotal, nil
	}
	switch by {
	case ByTotal, ByDay, BySession, ByPeer:
		return by, nil
	}
	return "", fmt.Errorf("catalog: cannot group by %q: want day, session, peer or total", string(by))
}

// TotalKey is the key of the single ByTotal row.
const TotalKey = "total"

// Row is one group of Stats. A session counts once in each group it has
// chunks in: a session that spans midnight counts on both days.
type Row struct {
	Key            string `json:"key"` // the day, session ID or peer ID; TotalKey
	Sessions       uint64 `json:"sessions"`
	Chunks         uint64 `json:"chunks"`
	SealedBytes    uint64 `json:"sealed_bytes"`
	PlaintextBytes uint64 `json:"plaintext_bytes"`
}

// Stats is the answer to a Stats query.
type Stats struct {
	By   By    `json:"by"`
	Rows []Row `json:"rows"` // sorted by key; one TotalKey row for ByTotal
	// Total counts each session once, even one in several rows.
	Total Row `json:"total"`
}

// Ratio is plaintext over stored bytes: what compression saved.
func (r Row) Ratio() float64 {
	if r.SealedBytes == 0 {
		return 0
	}
	return float64(r.PlaintextBytes) / float64(r.SealedBytes)
}

// tally sums partial figures per group key and session, so both backends
// produce rows the same way: the embedded store feeds it one chunk at a
// time, MongoDB feeds it one pipeline's partial sums at a time.
type tally struct {
	groups map[string]*group
}

// Sessions are keyed by their text form, as both backends hold them.
type group struct {
	sessions map[string]struct{}
	row      Row
}

func newTally() *tally { return &tally{groups: map[string]*group{}} }

func (t *tally) add(key, session string, chunks, sealed, plaintext uint64) {
	g := t.groups[key]
	if g == nil {
		g = &group{sessions: map[string]struct{}{}, row: Row{Key: key}}
		t.groups[key] = g
	}
	g.sessions[session] = struct{}{}
	g.row.Chunks += chunks
	g.row.SealedBytes += sealed
	g.row.PlaintextBytes += plaintext
}

func (t *tally) stats(by By) Stats {
	st := Stats{By: by, Rows: make([]Row, 0, len(t.groups)), Total: Row{Key: TotalKey}}
	all := map[string]struct{}{}
	for _, g := range t.groups {
		g.row.Sessions = uint64(len(g.sessions))
		st.Rows = append(st.Rows, g.row)
		for s := range g.sessions {
			all[s] = struct{}{}
		}
		st.Total.Chunks += g.row.Chunks
		st.Total.SealedBytes += g.row.SealedBytes
		st.Total.PlaintextBytes += g.row.PlaintextBytes
	}
	st.Total.Sessions = uint64(len(all))
	slices.SortFunc(st.Rows, func(a, b Row) int { return strings.Compare(a.Key, b.Key) })
	return st
}

// hashText and parseHash are how both backends store 32-byte hashes:
// lowercase hex, readable in a database shell.
func hashText(h [32]byte) string {
	if h == ([32]byte{}) {
		return ""
	}
	return hex.EncodeToString(h[:])
}

func parseHash(s string) ([32]byte, error) {
	var h [32]byte
	if s == "" {
		return h, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("catalog: %q is not a 32-byte hex hash", s)
	}
	copy(h[:], b)
	return h, nil
}
