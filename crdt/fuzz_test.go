package crdt

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Run each target with, e.g.:
//
//	go test ./crdt/ -run '^$' -fuzz '^FuzzLoadSnapshot$' -fuzztime 15s -fuzzminimizetime 2s
//
// Snapshot inputs are kilobytes long and the default minimization budget
// (60s per new input) would otherwise eat the whole run.

// fuzzMap returns a small map with every kind of record: full, compacted,
// with a relay's counter, and partial (creation never seen).
func fuzzMap(tb testing.TB) *Map {
	tb.Helper()
	h := newNode(hostA)
	// Kept small: the fuzzer minimizes every new input by re-running it.
	for i := range 3 {
		fullSession(tb, h, relayR, sid(i), t0)
	}
	r := newNode(relayR)
	r.m = h.m.Clone()
	d := r.update(tb, t0.Add(time.Hour), sid(1), AddCounters(5, 6, 7))
	h.m.Merge(d)
	h.m.Compact(t0.Add(3*time.Hour), time.Hour/2)
	h.update(tb, t0.Add(4*time.Hour), sid(100), Create(hostA, "ssh", t0.Add(4*time.Hour)))
	// A partial record: a host delta for a session whose Create this map
	// never saw.
	o := newNode(hostB)
	o.update(tb, t0.Add(4*time.Hour), sid(200), Create(hostB, "vnc", t0.Add(4*time.Hour)))
	h.m.Merge(o.update(tb, t0.Add(4*time.Hour), sid(200), SetManifest([32]byte{9})))
	return h.m
}

// FuzzDecodeDelta: no panics; every error wraps exactly one sentinel; an
// accepted delta is canonical (re-encodes to the input), and authorizing
// and merging it into a map neither panics nor breaks the map's own
// consistency (snapshot round trip).
func FuzzDecodeDelta(f *testing.F) {
	m := fuzzMap(f)
	f.Add(sampleDelta(f).Encode())
	for _, d := range m.AuthorDeltas(m.IDs()...) {
		f.Add(d.Encode())
	}
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeDelta(data)
		if err != nil {
			requireSentinel(t, err, ErrMalformed, ErrUnsupportedVersion, ErrTooLarge, ErrTooManyEntries)
			return
		}
		require.Equal(t, data, d.Encode())
		c := m.Clone()
		if err := c.Authorize(d, d.Author(), t0.Add(time.Hour)); err != nil {
			requireSentinel(t, err, allSentinels...)
		}
		c.Merge(d)
		require.True(t, c.Covers(d))
		snap := c.Snapshot()
		c2 := NewMap(Params{})
		_, err = c2.LoadSnapshot(snap)
		require.NoError(t, err)
		require.Equal(t, c.Digest(), c2.Digest())
	})
}

// FuzzDecodeSyncMsg: no panics; errors wrap one sentinel; accepted
// messages are canonical; answering one never panics and produces valid
// messages.
func FuzzDecodeSyncMsg(f *testing.F) {
	m := fuzzMap(f)
	empty := NewMap(Params{})
	f.Add(m.SyncStart().Encode())
	out, _ := m.SyncStep(empty.SyncStart())
	for _, o := range out {
		f.Add(o.Encode())
		out2, _ := empty.SyncStep(o)
		for _, o2 := range out2 {
			f.Add(o2.Encode())
		}
	}
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSyncMsg(data)
		if err != nil {
			requireSentinel(t, err, ErrMalformed, ErrUnsupportedVersion, ErrTooLarge, ErrTooManyEntries)
			return
		}
		require.Equal(t, data, s.Encode())
		out, send := m.SyncStep(s)
		for _, o := range out {
			enc := o.Encode()
			require.LessOrEqual(t, len(enc), MaxSyncMsgSize)
			_, err := DecodeSyncMsg(enc)
			require.NoError(t, err)
		}
		for _, id := range send {
			_, ok := m.Get(id)
			require.True(t, ok)
		}
	})
}

// FuzzLoadSnapshot: no panics; errors wrap one sentinel; a failed load
// changes nothing; an accepted snapshot is canonical.
func FuzzLoadSnapshot(f *testing.F) {
	m := fuzzMap(f)
	f.Add(m.Snapshot())
	f.Add(NewMap(Params{}).Snapshot())
	one := NewMap(Params{})
	one.Merge(m.AuthorDeltas(sid(1))[0])
	f.Add(one.Snapshot())
	small := NewMap(Params{})
	small.Merge(sampleDelta(f))
	f.Add(small.Snapshot())
	f.Fuzz(func(t *testing.T, data []byte) {
		c := NewMap(Params{})
		_, err := c.LoadSnapshot(data)
		if err != nil {
			requireSentinel(t, err, ErrMalformed, ErrUnsupportedVersion, ErrTooLarge, ErrTooManyEntries)
			require.Zero(t, c.Len())
			return
		}
		require.True(t, bytes.Equal(data, c.Snapshot()), "accepted snapshot is not canonical")
	})
}
