package crdt

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// benchSession writes one realistic ended session: the host's record and
// the relay's counter entry.
func benchSession(tb testing.TB, h, r *node, id sessions.ID, at time.Time) {
	tb.Helper()
	sealed := sha256.Sum256(id[:])
	h.update(tb, at, id,
		Create(h.id, "rdp", at.Add(-time.Hour)), AddRelay(r.id),
		SetPhase(sessions.StateActive, at.Add(-time.Hour)),
		AddParticipant(append(sealed[:], sealed[:]...)), // 64-byte sealed identity
		SetPrivate(make([]byte, 160)),                   // sealed peer ID + consent receipt
		AddCounters(50<<20, 2<<20, 12),
		SetPhase(sessions.StateEnded, at),
		SetManifest(sealed), SetAnchor(Anchor{Status: AnchorPending}))
	r.m.Merge(mustAuthorDelta(tb, h.m, id, h.id))
	d := r.update(tb, at, id, AddCounters(2<<20, 50<<20, 0))
	h.m.Merge(d)
}

func mustAuthorDelta(tb testing.TB, m *Map, id sessions.ID, a ReplicaID) Delta {
	d, ok := m.AuthorDelta(id, a)
	require.True(tb, ok)
	return d
}

type aeFixture struct {
	a, b     *Map
	differ   int
	snapshot int
}

var (
	aeOnce sync.Once
	ae     aeFixture
)

// antiEntropyFixture builds two maps of 100,000 sessions of which 1%
// differ: 250 only on each side, 250 changed by the host on one side and
// 250 by the relay on the other.
func antiEntropyFixture(tb testing.TB) aeFixture {
	aeOnce.Do(func() {
		const n, quarter = 100_000, 250
		h, r := newNode(hostA), newNode(relayR)
		at := t0
		for i := range n {
			benchSession(tb, h, r, sid(i), at)
			if i%100 == 99 {
				at = at.Add(time.Second)
			}
		}
		a, b := h.m, h.m.Clone()
		hb := &node{id: hostA, m: b, clock: NewClock(hostA, 0)}
		hb.clock.Restore(h.clock.Last())
		rb := &node{id: relayR, m: b, clock: r.clock}
		ra := newNode(relayR)
		ra.m = NewMap(Params{})
		for i := range quarter {
			benchSession(tb, h, ra, sid(n+i), at)                 // only on a
			benchSession(tb, hb, newNode(relayR), sid(2*n+i), at) // only on b
			h.update(tb, at, sid(i*397), AddCounters(1, 1, 1))
			rb.update(tb, at, sid(i*389+1), AddCounters(7, 7, 0))
		}
		// Replicas keep their hashes cached; compute them outside the
		// measurement.
		a.Digest()
		b.Digest()
		ae = aeFixture{a: a, b: b, differ: 4 * quarter, snapshot: len(a.Snapshot())}
	})
	return ae
}

// BenchmarkAntiEntropy1Percent reconciles two replicas of 100,000
// sessions that differ in 1% of them, counting every byte the protocol
// moves: sync messages plus the per-author deltas of the differing
// records (without the signatures the shell adds, about 100 bytes per
// delta). bytes-full-map is the size of a snapshot, the alternative.
func BenchmarkAntiEntropy1Percent(b *testing.B) {
	f := antiEntropyFixture(b)
	now := t0.Add(3 * time.Hour)
	var st syncStats
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		x, y := f.a.Clone(), f.b.Clone()
		b.StartTimer()
		st = syncPair(b, x, y, now)
		b.StopTimer()
		require.Equal(b, x.Digest(), y.Digest())
		b.StartTimer()
	}
	b.ReportMetric(float64(st.Bytes()), "bytes-exchanged")
	b.ReportMetric(float64(f.snapshot), "bytes-full-map")
	b.ReportMetric(float64(st.Bytes())/float64(f.snapshot), "ratio")
	b.ReportMetric(float64(st.MsgBytes), "sync-msg-bytes")
	b.ReportMetric(float64(st.DeltaBytes), "delta-bytes")
	b.ReportMetric(float64(st.Rounds), "rounds")
	b.ReportMetric(float64(st.Bytes())/float64(f.differ), "bytes/differing-record")
}

// BenchmarkAntiEntropyInSync is the periodic check between replicas that
// agree: one 32-byte root claim.
func BenchmarkAntiEntropyInSync(b *testing.B) {
	f := antiEntropyFixture(b)
	x := f.a.Clone()
	y := x.Clone()
	var st syncStats
	b.ResetTimer()
	for range b.N {
		st = syncPair(b, x, y, t0)
	}
	b.ReportMetric(float64(st.Bytes()), "bytes-exchanged")
}

func BenchmarkUpdate(b *testing.B) {
	h := newNode(hostA)
	id := sid(1)
	h.update(b, t0, id, Create(hostA, "rdp", t0), AddRelay(relayR))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := h.m.Update(hostA, h.clock, t0, id, AddCounters(1500, 40, 0)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAuthorizeMerge(b *testing.B) {
	h := newNode(hostA)
	var ds [][]byte
	for i := range 1000 {
		for _, d := range fullSession(b, h, relayR, sid(i), t0) {
			ds = append(ds, d.Encode())
		}
	}
	now := t0.Add(2 * time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m := NewMap(Params{})
		for _, raw := range ds {
			d, err := DecodeDelta(raw)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Authorize(d, d.Author(), now); err != nil {
				b.Fatal(err)
			}
			m.Merge(d)
		}
		if i == 0 {
			b.ReportMetric(float64(len(ds)), "deltas/op")
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			f := antiEntropyFixture(b)
			m := f.a
			ids := m.IDs()[:n]
			h := &node{id: hostA, m: m.Clone(), clock: NewClock(hostA, 0)}
			h.clock.Restore(Timestamp{Wall: t0.Add(4 * time.Hour).UnixMilli()})
			b.ResetTimer()
			for i := range b.N {
				// One change, then the digest: cost is one path, not N.
				h.update(b, t0.Add(4*time.Hour), ids[i%len(ids)], AddCounters(1, 0, 0))
				_ = h.m.Digest()
			}
		})
	}
}
