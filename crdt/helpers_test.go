package crdt

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// t0 is the fixed start of every test history.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// replica returns a valid replica ID (a SHA2-256 multihash peer ID)
// derived from name.
func replica(name string) ReplicaID {
	h := sha256.Sum256([]byte("replica/" + name))
	return ReplicaID(append([]byte{0x12, 0x20}, h[:]...))
}

// sid returns a deterministic valid session ID.
func sid(n int) sessions.ID {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h := sha256.Sum256(append([]byte("session/"), b[:]...))
	var id sessions.ID
	copy(id[:], h[:16])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

var (
	hostA  = replica("host-a")
	hostB  = replica("host-b")
	relayR = replica("relay-r")
	relayS = replica("relay-s")
	eve    = replica("eve")
)

// node bundles a replica's map and clock for tests.
type node struct {
	id    ReplicaID
	m     *Map
	clock *Clock
}

func newNode(id ReplicaID) *node {
	return &node{id: id, m: NewMap(Params{}), clock: NewClock(id, 0)}
}

func (n *node) update(tb testing.TB, now time.Time, id sessions.ID, cs ...Change) Delta {
	tb.Helper()
	d, err := n.m.Update(n.id, n.clock, now, id, cs...)
	require.NoError(tb, err)
	return d
}

// deliver authorizes and merges d into n's map as if d came signed by its
// author.
func (n *node) deliver(tb testing.TB, now time.Time, d Delta) {
	tb.Helper()
	require.NoError(tb, n.m.Authorize(d, d.Author(), now))
	n.m.Merge(d)
}

// allSentinels is every exported sentinel error.
var allSentinels = []error{
	ErrMalformed, ErrUnsupportedVersion, ErrTooLarge, ErrTooManyEntries, ErrInvalidArgument,
	ErrInvalidTransition, ErrWrongSigner, ErrEmptyDelta, ErrNotHost, ErrUnknownSession,
	ErrHostConflict, ErrForeignCounter, ErrForeignStamp, ErrNotRelay, ErrExpired, ErrFromFuture,
}

// requireSentinel asserts that err wraps exactly one of allowed and no
// other sentinel.
func requireSentinel(t testing.TB, err error, allowed ...error) {
	t.Helper()
	require.Error(t, err)
	n := 0
	for _, s := range allSentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	require.Equal(t, 1, n, "error must wrap exactly one sentinel: %v", err)
	for _, s := range allowed {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps none of %v", err, allowed)
}

// fullSession writes a session with every field set on host n (relay r),
// with times starting at at; the updates happen at at+1h (so a series of
// calls with increasing at keeps n's clock within MaxSkew of now).
func fullSession(tb testing.TB, n *node, r ReplicaID, id sessions.ID, at time.Time) []Delta {
	tb.Helper()
	now := at.Add(time.Hour)
	return []Delta{
		n.update(tb, now, id, Create(n.id, "rdp", at), AddRelay(r)),
		n.update(tb, now, id, SetPhase(sessions.StateActive, at.Add(time.Second)),
			AddParticipant([]byte("sealed-client-identity")), SetPrivate([]byte("sealed-private-blob"))),
		n.update(tb, now, id, AddCounters(1000, 2000, 3)),
		n.update(tb, now, id, SetPhase(sessions.StateEnded, at.Add(time.Hour)),
			SetManifest(sha256.Sum256([]byte("manifest"))), SetAnchor(Anchor{Status: AnchorPending})),
	}
}
