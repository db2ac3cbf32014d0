package crdt

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// These tests exercise the field lattices directly, including states that
// Authorize would never let through (several writers of host fields),
// because Merge must be a join for any input.

func TestAddWins(t *testing.T) {
	id, now := sid(1), t0
	// Two replicas both writing the relay set of the same session (only
	// possible without Authorize): a remove concurrent with an add does
	// not remove it.
	a, b := newNode(hostA), newNode(hostB)
	create := a.update(t, now, id, Create(hostA, "rdp", now), AddRelay(relayR))
	b.m.Merge(create)
	remove := a.update(t, now, id, RemoveRelay(relayR))
	concurrentAdd := forged(hostB, id, rec{relays: awset{{val: string(relayR), dots: []dotEntry{{replica: hostB, add: b.clock.Now(now).hlc()}}}}})
	for _, order := range [][]Delta{{remove, concurrentAdd}, {concurrentAdd, remove}} {
		m := NewMap(Params{})
		m.Merge(create)
		for _, d := range order {
			m.Merge(d)
		}
		got, _ := m.Get(id)
		require.Equal(t, []ReplicaID{relayR}, got.Relays, "add must win")
	}

	// One writer: add, remove, add again is present; add, remove absent,
	// whatever the delivery order.
	h := newNode(hostA)
	c := h.update(t, now, id, Create(hostA, "rdp", now))
	add1 := h.update(t, now, id, AddParticipant([]byte("p")))
	rm := h.update(t, now, id, RemoveParticipant([]byte("p")))
	add2 := h.update(t, now, id, AddParticipant([]byte("p")))
	for _, tc := range []struct {
		ds      []Delta
		present bool
	}{
		{[]Delta{c, add1, rm}, false},
		{[]Delta{rm, add1, c}, false},
		{[]Delta{c, add1, rm, add2}, true},
		{[]Delta{add2, rm, add1, c}, true},
		{[]Delta{rm, add2}, true},
	} {
		m := NewMap(Params{})
		for _, d := range tc.ds {
			m.Merge(d)
		}
		got, _ := m.Get(id)
		require.Equal(t, tc.present, len(got.Participants) == 1)
	}
	// Removing what is not there writes nothing.
	d := h.update(t, now, id, RemoveRelay(relayS))
	require.True(t, d.IsEmpty())
}

func TestRegisterJoins(t *testing.T) {
	id := sid(2)
	h := newNode(hostA)
	c := h.update(t, t0, id, Create(hostA, "rdp", t0))
	first := h.update(t, t0, id, SetPrivate([]byte("one")), SetManifest([32]byte{1}))
	second := h.update(t, t0, id, SetPrivate([]byte("two")), SetPrivate(nil), SetManifest([32]byte{2}))
	for _, order := range [][]Delta{{c, first, second}, {second, first, c}} {
		m := NewMap(Params{})
		for _, d := range order {
			m.Merge(d)
		}
		got, _ := m.Get(id)
		require.Empty(t, got.Private, "the later empty write clears")
		require.Equal(t, [32]byte{2}, got.ManifestHash)
	}

	// Conflicting origins (two hosts creating one ID, merged without
	// Authorize) resolve the same way everywhere: smaller stamp wins.
	other := newNode(hostB)
	oc := other.update(t, t0.Add(-time.Minute), id, Create(hostB, "vnc", t0))
	for _, order := range [][]Delta{{c, oc}, {oc, c}} {
		m := NewMap(Params{})
		for _, d := range order {
			m.Merge(d)
		}
		got, _ := m.Get(id)
		require.Equal(t, hostB, got.Host)
		require.Equal(t, "vnc", got.Service)
	}

	// Equal stamps with different values (a replica that reused a
	// timestamp) still give one answer: the larger value.
	ts := stamp(hostA, t0)
	x := forged(hostA, id, rec{anchor: anchorReg{ts: ts, status: AnchorPending}})
	y := forged(hostA, id, rec{anchor: anchorReg{ts: ts, status: AnchorConfirmed}})
	for _, order := range [][]Delta{{x, y}, {y, x}} {
		m := NewMap(Params{})
		for _, d := range order {
			m.Merge(d)
		}
		got, _ := m.Get(id)
		require.Equal(t, AnchorConfirmed, got.Anchor.Status)
	}
}

func TestPhaseLattice(t *testing.T) {
	id := sid(3)
	states := []sessions.State{sessions.StateCreated, sessions.StateActive, sessions.StateEnded, sessions.StateFailed}
	for _, a := range states {
		for _, b := range states {
			m := NewMap(Params{})
			m.Merge(forged(hostA, id, rec{phase: a}))
			m.Merge(forged(hostA, id, rec{phase: b}))
			got, _ := m.Get(id)
			require.Equal(t, max(a, b), got.Phase)
		}
	}
}

func TestJoinDeltas(t *testing.T) {
	h := newNode(hostA)
	d1 := h.update(t, t0, sid(1), Create(hostA, "rdp", t0))
	d2 := h.update(t, t0, sid(2), Create(hostA, "ssh", t0))
	d3 := h.update(t, t0, sid(1), AddCounters(1, 2, 3))
	j, err := JoinDeltas(d1, d2, d3)
	require.NoError(t, err)
	want := []sessions.ID{sid(1), sid(2)}
	slices.SortFunc(want, cmpID)
	require.Equal(t, want, j.IDs())
	for _, d := range []Delta{d1, d2, d3} {
		require.True(t, j.Covers(d))
	}
	require.False(t, d1.Covers(j))
	require.Equal(t, h.m.Digest(), func() [32]byte { m := NewMap(Params{}); m.Merge(j); return m.Digest() }())
	_, err = JoinDeltas(d1, newNode(hostB).update(t, t0, sid(9), Create(hostB, "rdp", t0)))
	requireSentinel(t, err, ErrInvalidArgument)
	_, err = JoinDeltas()
	requireSentinel(t, err, ErrInvalidArgument)
	// Counters carry no stamps: the latest is the second Create's.
	require.Equal(t, Timestamp{Wall: t0.UnixMilli(), Logical: 1, Replica: hostA}, j.Latest())
	require.Len(t, j.Records(), 2)
}
