package crdt

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// forged builds a delta by author directly from record state, bypassing
// Update's own checks: what a malicious or buggy peer could sign.
func forged(author ReplicaID, id sessions.ID, r rec) Delta {
	return newDelta(author, []sessions.ID{id}, []rec{r})
}

func stamp(r ReplicaID, at time.Time) Timestamp {
	return Timestamp{Wall: at.UnixMilli(), Logical: 0, Replica: r}
}

func TestAuthorize(t *testing.T) {
	id, other := sid(1), sid(2)
	now := t0.Add(2 * time.Hour)
	// The victim's view: hostA's session id with relay R.
	h := newNode(hostA)
	base := fullSession(t, h, relayR, id, t0)
	victim := func() *Map {
		m := NewMap(Params{})
		for _, d := range base {
			require.NoError(t, m.Authorize(d, hostA, now))
			m.Merge(d)
		}
		return m
	}

	// Eve hosts her own copy of the same session ID and derives deltas
	// from it.
	e := newNode(eve)
	eveCreate := e.update(t, now, id, Create(eve, "rdp", t0))
	eveWrite := e.update(t, now, id, SetPhase(sessions.StateFailed, now))
	eveCount := e.update(t, now, id, AddCounters(1<<40, 0, 0))

	relayCount := func() Delta {
		r := newNode(relayR)
		r.m = victim()
		return r.update(t, now, id, AddCounters(10, 10, 1))
	}()

	bigPrivate := bytes.Repeat([]byte{7}, MaxPrivateSize)
	var bigs []Delta
	for i := range 20 {
		bigs = append(bigs, h.update(t, now, sid(100+i), Create(hostA, "rdp", now), SetPrivate(bigPrivate)))
	}
	oversize, err := JoinDeltas(bigs...)
	require.NoError(t, err)
	var many []Delta
	for i := range MaxDeltaRecords + 1 {
		many = append(many, h.update(t, now, sid(200+i), Create(hostA, "ssh", now)))
	}
	tooMany, err := JoinDeltas(many...)
	require.NoError(t, err)

	crowded := victim()
	ch := &node{id: hostA, m: crowded, clock: h.clock}
	for i := range MaxParticipants - 1 {
		ch.update(t, now, id, AddParticipant([]byte(fmt.Sprint("p", i))))
	}
	oneMore := forged(hostA, id, rec{participants: awset{{val: "one-more", dots: []dotEntry{{replica: hostA, add: h.clock.Now(now).hlc()}}}}})

	tests := []struct {
		name   string
		m      *Map
		d      Delta
		signer ReplicaID
		now    time.Time
		want   error
	}{
		{"host's own delta", victim(), base[3], hostA, now, nil},
		{"relay counts its own entry", victim(), relayCount, relayR, now, nil},
		{"wrong signer", victim(), base[3], eve, now, ErrWrongSigner},
		{"empty delta", victim(), Delta{author: hostA}, hostA, now, ErrEmptyDelta},
		{"host change attempt", victim(), eveCreate, eve, now, ErrHostConflict},
		{"non-host writes host fields", victim(), eveWrite, eve, now, ErrNotHost},
		{"non-relay counts", victim(), eveCount, eve, now, ErrNotRelay},
		{"relay writes someone else's counter", victim(),
			forged(relayR, id, rec{counters: []counterEntry{{replica: relayS, c: Counts{BytesIn: 1}}}}), relayR, now, ErrForeignCounter},
		{"host writes a relay's counter", victim(),
			forged(hostA, id, rec{counters: []counterEntry{{replica: relayR, c: Counts{BytesIn: 1 << 50}}}}), hostA, now, ErrForeignCounter},
		{"register stamped by another replica", victim(),
			forged(hostA, id, rec{manifest: hashReg{ts: stamp(hostB, now), val: [32]byte{1}}}), hostA, now, ErrForeignStamp},
		{"set dot of another replica", victim(),
			forged(hostA, id, rec{relays: awset{{val: string(relayS), dots: []dotEntry{{replica: relayS, add: stamp(relayS, now).hlc()}}}}}), hostA, now, ErrForeignStamp},
		{"create naming another host", NewMap(Params{}),
			forged(hostA, other, rec{origin: originReg{ts: stamp(hostA, now), host: hostB, service: "rdp", created: now.UnixMilli()}}), hostA, now, ErrNotHost},
		{"write to an unknown session", NewMap(Params{}), base[3], hostA, now, ErrUnknownSession},
		{"relay counts before learning the session", NewMap(Params{}), relayCount, relayR, now, ErrUnknownSession},
		{"session beyond the horizon", victim(), base[3], hostA, t0.Add(DefaultHorizon + time.Minute), ErrExpired},
		{"create beyond the horizon", NewMap(Params{}), base[0], hostA, t0.Add(DefaultHorizon + time.Minute), ErrExpired},
		{"timestamp from the future", victim(), base[3], hostA, now.Add(-2 * time.Hour), ErrFromFuture},
		{"oversize delta", NewMap(Params{}), oversize, hostA, now, ErrTooLarge},
		{"too many records", NewMap(Params{}), tooMany, hostA, now, ErrTooManyEntries},
		{"too many participants", crowded, oneMore, hostA, now, ErrTooManyEntries},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.m.Digest()
			err := tc.m.Authorize(tc.d, tc.signer, tc.now)
			require.Equal(t, before, tc.m.Digest(), "Authorize changed the map")
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			requireSentinel(t, err, tc.want)
		})
	}

	// The encoding limits hold on the wire too.
	_, err = DecodeDelta(oversize.Encode())
	requireSentinel(t, err, ErrTooLarge)
	_, err = DecodeDelta(tooMany.Encode())
	requireSentinel(t, err, ErrTooManyEntries)
}

func TestAuthorizeMonotone(t *testing.T) {
	// A relay once added may keep counting after it was removed, and a
	// counter delta that arrives before the AddRelay is accepted after it.
	id, now := sid(3), t0.Add(time.Hour)
	h, r, obs := newNode(hostA), newNode(relayR), newNode(hostB)
	create := h.update(t, now, id, Create(hostA, "vnc", t0), AddRelay(relayR))
	r.deliver(t, now, create)
	c1 := r.update(t, now, id, AddCounters(1, 2, 3))
	remove := h.update(t, now, id, RemoveRelay(relayR))
	r.deliver(t, now, remove)
	c2 := r.update(t, now, id, AddCounters(1, 1, 1))

	requireSentinel(t, obs.m.Authorize(c2, relayR, now), ErrUnknownSession)
	requireSentinel(t, obs.m.Authorize(remove, hostA, now), ErrUnknownSession)
	obs.deliver(t, now, create) // the session is known once its Create arrives
	obs.deliver(t, now, remove)
	obs.deliver(t, now, c2)
	obs.deliver(t, now, c1)
	got, _ := obs.m.Get(id)
	require.Empty(t, got.Relays)
	require.Equal(t, Counts{BytesIn: 2, BytesOut: 3, Chunks: 4}, got.Totals)
	require.Equal(t, r.m.Digest(), obs.m.Digest())
}

func TestUpdateLocalErrors(t *testing.T) {
	id, now := sid(4), t0
	h := newNode(hostA)
	_, err := h.m.Update(hostA, h.clock, now, id, Create(hostA, "Not A Service", now))
	requireSentinel(t, err, ErrInvalidArgument)
	_, err = h.m.Update(hostA, NewClock(hostB, 0), now, id, Create(hostA, "rdp", now))
	requireSentinel(t, err, ErrInvalidArgument)
	_, err = h.m.Update(hostA, h.clock, now, sessions.ID{}, Create(hostA, "rdp", now))
	requireSentinel(t, err, ErrInvalidArgument)
	_, err = h.m.Update(hostA, h.clock, now, id, Create(hostB, "rdp", now))
	requireSentinel(t, err, ErrNotHost)
	_, err = h.m.Update(hostA, h.clock, now, id, SetPhase(sessions.StateActive, now))
	requireSentinel(t, err, ErrUnknownSession)

	h.update(t, now, id, Create(hostA, "rdp", now), SetPhase(sessions.StateEnded, now))
	_, err = h.m.Update(hostA, h.clock, now, id, Create(hostA, "rdp", now))
	requireSentinel(t, err, ErrInvalidTransition)
	_, err = h.m.Update(hostA, h.clock, now, id, SetPhase(sessions.StateActive, now))
	requireSentinel(t, err, ErrInvalidTransition)
	_, err = h.m.Update(hostA, h.clock, now, id, SetPhase(sessions.StateFailed, now))
	requireSentinel(t, err, ErrInvalidTransition)
	_, err = h.m.Update(hostA, h.clock, now, id, SetPhase(sessions.StateCreated, now))
	requireSentinel(t, err, ErrInvalidArgument)
	_, err = h.m.Update(hostA, h.clock, now, id, AddParticipant(make([]byte, MaxParticipantSize+1)))
	requireSentinel(t, err, ErrTooLarge)
	_, err = h.m.Update(hostA, h.clock, now, id, SetPrivate(make([]byte, MaxPrivateSize+1)))
	requireSentinel(t, err, ErrTooLarge)
	_, err = h.m.Update(hostA, h.clock, now, id, SetAnchor(Anchor{Status: 9}))
	requireSentinel(t, err, ErrInvalidArgument)
	_, err = h.m.Update(hostA, h.clock, now, id, AddRelay("not a peer"))
	requireSentinel(t, err, ErrInvalidArgument)
	h.update(t, now, id, AddCounters(^uint64(0), 0, 0))
	_, err = h.m.Update(hostA, h.clock, now, id, AddCounters(1, 0, 0))
	requireSentinel(t, err, ErrInvalidArgument)

	// Re-setting the terminal phase rewrites its time; a zero counter
	// change gives an empty delta.
	h.update(t, now, id, SetPhase(sessions.StateEnded, now.Add(time.Minute)))
	got, _ := h.m.Get(id)
	require.Equal(t, now.Add(time.Minute), got.EndedAt)
	d := h.update(t, now, id, AddCounters(0, 0, 0))
	require.True(t, d.IsEmpty())
	requireSentinel(t, h.m.Authorize(d, hostA, now), ErrEmptyDelta)
}
