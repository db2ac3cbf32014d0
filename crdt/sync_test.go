package crdt

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// tHelper is what both *testing.T and *rapid.T provide.
type tHelper interface {
	require.TestingT
	Helper()
}

// syncStats counts what an in-memory anti-entropy exchange moved.
type syncStats struct {
	Rounds     int // message batches (one direction each)
	Msgs       int
	MsgBytes   int
	Deltas     int
	DeltaBytes int
}

func (s syncStats) Bytes() int { return s.MsgBytes + s.DeltaBytes }

// syncPair runs the anti-entropy protocol between a (initiator) and b
// over encoded messages, transferring state as per-author deltas that the
// receiver decodes, authorizes (as if signed by their authors) and
// merges, until neither side has anything to send.
func syncPair(tb tHelper, a, b *Map, now time.Time) syncStats {
	tb.Helper()
	var st syncStats
	send := func(from, to *Map, ids []sessions.ID) {
		for _, d := range from.AuthorDeltas(ids...) {
			raw := d.Encode()
			st.Deltas++
			st.DeltaBytes += len(raw)
			d2, err := DecodeDelta(raw)
			require.NoError(tb, err)
			require.NoError(tb, to.Authorize(d2, d2.Author(), now))
			to.Merge(d2)
		}
	}
	inbox := map[*Map][][]byte{b: {a.SyncStart().Encode()}}
	st.Msgs, st.MsgBytes = 1, len(inbox[b][0])
	for turn := b; len(inbox[a])+len(inbox[b]) > 0; {
		peer := a
		if turn == a {
			peer = b
		}
		msgs := inbox[turn]
		inbox[turn] = nil
		if len(msgs) > 0 {
			st.Rounds++
		}
		for _, raw := range msgs {
			msg, err := DecodeSyncMsg(raw)
			require.NoError(tb, err)
			out, ids := turn.SyncStep(msg)
			send(turn, peer, ids)
			for _, o := range out {
				enc := o.Encode()
				require.LessOrEqual(tb, len(enc), MaxSyncMsgSize)
				st.Msgs++
				st.MsgBytes += len(enc)
				inbox[peer] = append(inbox[peer], enc)
			}
		}
		turn = peer
		require.Less(tb, st.Rounds, 200, "exchange does not terminate")
	}
	return st
}

func TestSyncSmall(t *testing.T) {
	base := NewMap(Params{})
	h := newNode(hostA)
	h.m = base
	for i := range 2000 {
		fullSession(t, h, relayR, sid(i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	a, b := base.Clone(), base.Clone()
	require.Equal(t, a.Digest(), b.Digest())

	// In sync: one message of the root hash, nothing else.
	st := syncPair(t, a, b, t0.Add(2*time.Hour))
	require.Equal(t, 1, st.Msgs)
	require.Zero(t, st.Deltas)

	// 1% differ: some sessions only on one side, some changed on either.
	ha, hb := &node{id: hostA, m: a, clock: h.clock}, &node{id: hostA, m: b, clock: NewClock(hostA, 0)}
	hb.clock.Restore(h.clock.Last())
	now := t0.Add(2 * time.Hour)
	for i := range 5 {
		fullSession(t, ha, relayR, sid(10_000+i), now.Add(-time.Hour))
		fullSession(t, hb, relayR, sid(20_000+i), now.Add(-time.Hour))
		ha.update(t, now, sid(i*97), AddCounters(1, 1, 1))
		hb.update(t, now, sid(i*89+1), SetAnchor(Anchor{Status: AnchorConfirmed, Ref: []byte("tx")}))
	}
	r := newNode(relayR)
	r.m = b
	r.update(t, now, sid(7), AddCounters(5, 5, 0))
	require.NotEqual(t, a.Digest(), b.Digest())

	st = syncPair(t, a, b, now)
	require.Equal(t, a.Digest(), b.Digest())
	require.Equal(t, a.Snapshot(), b.Snapshot())
	require.Equal(t, 2010, a.Len())
	t.Logf("2000 records, 21 differ: %d rounds, %d messages, %d message bytes, %d deltas, %d delta bytes; snapshot %d bytes",
		st.Rounds, st.Msgs, st.MsgBytes, st.Deltas, st.DeltaBytes, len(a.Snapshot()))

	// A new, empty replica catches up through the same protocol.
	c := NewMap(Params{})
	st = syncPair(t, c, a, now)
	require.Equal(t, a.Digest(), c.Digest())
	t.Logf("catch-up from empty: %d rounds, %d bytes", st.Rounds, st.Bytes())
}

// TestSyncStepSplits feeds a replica that holds nothing the largest
// message a peer may send (MaxSyncClaims full buckets): it must ask for
// every ID, split over messages that each stay within the limits.
func TestSyncStepSplits(t *testing.T) {
	groups := map[[2]byte][]sessions.ID{}
	for i := 0; len(groups) < 4096 || i < 200_000; i++ {
		id := sid(i)
		k := [2]byte{id[0], id[1] & 0xf0}
		groups[k] = append(groups[k], id)
	}
	var in SyncMsg
	for k, ids := range groups {
		if len(ids) < LeafSize {
			continue
		}
		slices.SortFunc(ids, cmpID)
		c := claim{p: prefix{depth: 3}}
		copy(c.p.b[:], k[:])
		for _, id := range ids[:LeafSize] {
			c.pairs = append(c.pairs, pair{id: id, hash: [32]byte{1}})
		}
		in.claims = append(in.claims, c)
	}
	slices.SortFunc(in.claims, func(a, b claim) int { return comparePrefix(a.p, b.p) })
	in.claims = in.claims[:MaxSyncClaims]
	raw := in.Encode()
	require.LessOrEqual(t, len(raw), MaxSyncMsgSize)
	msg, err := DecodeSyncMsg(raw)
	require.NoError(t, err)

	out, send := NewMap(Params{}).SyncStep(msg)
	require.Empty(t, send)
	total := 0
	for _, o := range out {
		enc := o.Encode()
		require.LessOrEqual(t, len(enc), MaxSyncMsgSize)
		d, err := DecodeSyncMsg(enc)
		require.NoError(t, err)
		total += len(d.Want())
	}
	require.Equal(t, MaxSyncClaims*LeafSize, total)
	require.Len(t, out, MaxSyncClaims*LeafSize/MaxSyncWant)
}
