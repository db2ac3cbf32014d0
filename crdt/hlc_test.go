package crdt

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClockMonotonic(t *testing.T) {
	c := NewClock(hostA, 0)
	require.True(t, c.Last().IsZero())
	a := c.Now(t0)
	require.Equal(t, Timestamp{Wall: t0.UnixMilli(), Replica: hostA}, a)
	b := c.Now(t0) // same millisecond: logical tick
	require.Equal(t, a.Wall, b.Wall)
	require.Equal(t, uint32(1), b.Logical)
	back := c.Now(t0.Add(-time.Hour)) // physical clock stepped back
	require.Equal(t, 1, back.Compare(b))
	require.Equal(t, a.Wall, back.Wall)
	fwd := c.Now(t0.Add(time.Second))
	require.Equal(t, Timestamp{Wall: t0.Add(time.Second).UnixMilli(), Replica: hostA}, fwd)
	require.Equal(t, fwd, c.Last())

	// The logical counter never overflows: the wall part advances.
	c.last.logical = math.MaxUint32
	next := c.Now(t0)
	require.Equal(t, Timestamp{Wall: fwd.Wall + 1, Replica: hostA}, next)
	require.Equal(t, 1, next.Compare(fwd))

	// Times before 1970 still give valid, increasing readings.
	z := NewClock(hostB, 0)
	require.Equal(t, int64(1), z.Now(time.Time{}).Wall)
	require.Equal(t, 1, z.Now(time.Time{}).Compare(Timestamp{Wall: 1, Replica: hostB}))
}

func TestClockObserve(t *testing.T) {
	c := NewClock(hostA, time.Minute)
	remote := Timestamp{Wall: t0.Add(30 * time.Second).UnixMilli(), Logical: 5, Replica: hostB}
	require.NoError(t, c.Observe(remote, t0))
	n := c.Now(t0)
	require.Equal(t, Timestamp{Wall: remote.Wall, Logical: 6, Replica: hostA}, n)

	far := Timestamp{Wall: t0.Add(2 * time.Minute).UnixMilli(), Replica: hostB}
	requireSentinel(t, c.Observe(far, t0), ErrFromFuture)
	require.Equal(t, n, c.Last(), "a refused reading must not move the clock")

	// Observing the past changes nothing.
	require.NoError(t, c.Observe(Timestamp{Wall: 1, Replica: hostB}, t0))
	require.Equal(t, n, c.Last())

	// Restore after a restart.
	d := NewClock(hostA, 0)
	d.Restore(n)
	require.Equal(t, 1, d.Now(t0).Compare(n))
}

func TestTimestampCompare(t *testing.T) {
	ts := []Timestamp{
		{},
		{Wall: 1, Replica: hostA},
		{Wall: 1, Logical: 1, Replica: hostA},
		{Wall: 2, Replica: hostA},
		{Wall: 2, Replica: hostB},
		{Wall: 2, Logical: 1, Replica: eve},
	}
	if string(hostA) > string(hostB) {
		ts[3].Replica, ts[4].Replica = hostB, hostA
	}
	for i := range ts {
		for j := range ts {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			require.Equal(t, want, ts[i].Compare(ts[j]), "%d vs %d", i, j)
		}
	}
	require.True(t, ts[0].IsZero())
	require.Equal(t, time.UnixMilli(2).UTC(), ts[3].Time())
}
