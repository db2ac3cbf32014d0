package crdt

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

func TestCompactConvergence(t *testing.T) {
	const retention = 24 * time.Hour
	h := newNode(hostA)
	r := newNode(relayR)
	var log []Delta
	for i := range 20 {
		at := t0.Add(time.Duration(i) * time.Hour)
		ds := fullSession(t, h, relayR, sid(i), at)
		log = append(log, ds...)
		r.deliver(t, at.Add(time.Hour), ds[0])
		log = append(log, r.update(t, at.Add(time.Hour), sid(i), AddCounters(7, 7, 0)))
	}
	// Late writes after the end: the host's final count, a participant
	// and the anchor confirmation a day later.
	late := t0.Add(3 * 24 * time.Hour)
	var lateLog []Delta
	for i := range 20 {
		lateLog = append(lateLog, h.update(t, late, sid(i),
			AddCounters(1, 1, 1), AddParticipant([]byte("late")), SetAnchor(Anchor{Status: AnchorConfirmed, Ref: []byte("block")})))
	}

	// Replica A compacts early, B in the middle of the late writes, C
	// never before the end.
	a, b, c := NewMap(Params{}), NewMap(Params{}), NewMap(Params{})
	deliverAll(t, a, log, late)
	deliverAll(t, b, log, late)
	n, _ := a.Compact(t0.Add(30*time.Hour), retention)
	require.Positive(t, n)
	deliverAll(t, a, lateLog, late)
	deliverAll(t, b, lateLog[:10], late)
	n, _ = b.Compact(late, retention)
	require.Equal(t, 20, n)
	deliverAll(t, b, lateLog[10:], late)
	deliverAll(t, c, append(append([]Delta{}, lateLog...), log...), late) // late ones first

	end := late.Add(2 * retention)
	for _, m := range []*Map{a, b, c} {
		m.Compact(end, retention)
	}
	require.Equal(t, a.Digest(), b.Digest())
	require.Equal(t, a.Digest(), c.Digest())

	got, ok := a.Get(sid(3))
	require.True(t, ok)
	require.True(t, got.Compacted)
	require.Empty(t, got.Participants, "a late participant resurrected sealed data")
	require.Empty(t, got.Private)
	require.Equal(t, Counts{BytesIn: 1008, BytesOut: 2008, Chunks: 4}, got.Totals, "late counters must still count")
	require.Equal(t, AnchorConfirmed, got.Anchor.Status)
	require.Equal(t, []ReplicaID{relayR}, got.Relays)
	require.Equal(t, hostA, got.Host)
	require.Equal(t, sessions.StateEnded, got.Phase)

	// A delta for a compacted session is absorbed: it is covered, and
	// merging it changes nothing.
	d := h.update(t, end, sid(3), AddParticipant([]byte("later still")), SetPrivate([]byte("secret")))
	require.True(t, a.Covers(d))
	require.Empty(t, a.Merge(d))

	// Compaction of a compacted map is a no-op; anti-entropy between
	// compacted replicas is a single message.
	n, _ = a.Compact(end, retention)
	require.Zero(t, n)
	require.Equal(t, 1, syncPair(t, a, b, end).Msgs)
}

func TestCompactHorizon(t *testing.T) {
	h := newNode(hostA)
	var log []Delta
	for i := range 300 {
		// Sessions created over 60 days, one every 4.8 hours.
		at := t0.Add(time.Duration(i) * 288 * time.Minute)
		log = append(log, fullSession(t, h, relayR, sid(i), at)...)
	}
	end := t0.Add(60 * 24 * time.Hour)
	a := NewMap(Params{})
	for _, d := range log {
		a.Merge(d)
	}
	before := a.Len()
	compacted, dropped := a.Compact(end, 0)
	require.Positive(t, compacted)
	require.Positive(t, dropped)
	require.Equal(t, before-dropped, a.Len())

	// The tree after removals hashes like one built from scratch.
	fresh := NewMap(Params{})
	_, err := fresh.LoadSnapshot(a.Snapshot())
	require.NoError(t, err)
	require.Equal(t, fresh.Digest(), a.Digest())
	b := NewMap(Params{})
	for i := len(log) - 1; i >= 0; i-- {
		b.Merge(log[i])
	}
	b.Compact(end, 0)
	require.Equal(t, a.Digest(), b.Digest())

	// Deltas of dropped sessions are rejected everywhere, so nothing can
	// recreate them.
	requireSentinel(t, a.Authorize(log[0], hostA, end), ErrExpired)
	requireSentinel(t, NewMap(Params{}).Authorize(log[0], hostA, end), ErrExpired)
	// Dropping everything leaves the empty map.
	a.Compact(end.Add(DefaultHorizon), 0)
	require.Zero(t, a.Len())
	require.Equal(t, NewMap(Params{}).Digest(), a.Digest())
}
