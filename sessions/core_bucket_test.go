package sessions

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTokenBucket(t *testing.T) {
	type step struct {
		at   time.Duration // since coreT0
		n    int
		wait time.Duration
	}
	ms := time.Millisecond
	tests := []struct {
		name        string
		rate, burst uint64
		steps       []step
	}{
		{"within burst", 1000, 1000, []step{{0, 500, 0}, {0, 500, 0}}},
		{"over burst goes into debt", 1000, 1000, []step{{0, 1000, 0}, {0, 1, ms}, {0, 499, 500 * ms}, {0, 500, time.Second}}},
		// After waiting out a debt the bucket is empty, not full.
		{"debt is paid with time", 1000, 1000, []step{{0, 1500, 500 * ms}, {500 * ms, 0, 0}, {500 * ms, 100, 100 * ms}, {1500 * ms, 900, 0}, {1500 * ms, 1, ms}}},
		{"refill caps at burst", 1000, 1000, []step{{0, 1000, 0}, {time.Hour, 1000, 0}, {time.Hour, 1000, time.Second}}},
		{"partial refill", 1000, 1000, []step{{0, 1000, 0}, {250 * ms, 250, 0}, {250 * ms, 250, 250 * ms}}},
		{"one huge write", 1000, 100, []step{{0, 10_000, 9900 * ms}, {9900 * ms, 0, 0}, {10 * time.Second, 100, 0}, {10 * time.Second, 1, ms}}},
		{"no burst paces every byte", 1000, 0, []step{{0, 1, ms}, {0, 1, 2 * ms}, {2 * ms, 1, ms}}},
		{"rounding up", 3, 0, []step{{0, 1, 333333334}, {0, 1, 666666668}}},
		{"negative n takes nothing", 1000, 1000, []step{{0, 2000, time.Second}, {0, -5, time.Second}, {0, 0, time.Second}}},
		{"clock steps back", 1000, 1000, []step{{time.Second, 2000, time.Second}, {0, 0, time.Second}, {1500 * ms, 0, 500 * ms}}},
		{"8 Mbit/s", 1_000_000, 64 << 10, []step{{0, 64 << 10, 0}, {0, 32 << 10, 32768 * time.Microsecond}, {32768 * time.Microsecond, 0, 0}}},
		{"unlimited", 0, 0, []step{{0, math.MaxInt, 0}, {0, math.MaxInt, 0}, {time.Nanosecond, 1, 0}}},
		{"unlimited ignores burst", 0, 1, []step{{0, 100, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewTokenBucket(tt.rate, tt.burst, coreT0)
			for i, s := range tt.steps {
				require.Equal(t, s.wait, b.Reserve(s.n, coreT0.Add(s.at)), "step %d: Reserve(%d) at +%s", i, s.n, s.at)
			}
		})
	}
}

func TestTokenBucketNil(t *testing.T) {
	var b *TokenBucket
	require.Zero(t, b.Reserve(1<<30, coreT0))
}

func TestTokenBucketNoOverflow(t *testing.T) {
	century := 100 * 365 * 24 * time.Hour
	for _, rate := range []uint64{1, 1000, 1 << 40, math.MaxUint64} {
		b := NewTokenBucket(rate, math.MaxUint64, coreT0)
		w := b.Reserve(math.MaxInt, coreT0)
		require.GreaterOrEqual(t, w, time.Duration(0), "rate %d", rate)
		for i := range 3 {
			w = b.Reserve(math.MaxInt, coreT0)
			require.GreaterOrEqual(t, w, time.Duration(0), "rate %d, repeat %d", rate, i)
		}
		w2 := b.Reserve(math.MaxInt, coreT0.Add(century))
		require.GreaterOrEqual(t, w2, time.Duration(0))
		require.LessOrEqual(t, w2, w)
	}

	// Saturated debt shrinks with time like any other.
	b := NewTokenBucket(1, 0, coreT0)
	require.Equal(t, time.Duration(math.MaxInt64), b.Reserve(math.MaxInt, coreT0))
	require.Equal(t, time.Duration(math.MaxInt64), b.Reserve(math.MaxInt, coreT0))
	require.Equal(t, time.Duration(math.MaxInt64)-century, b.Reserve(0, coreT0.Add(century)))

	// A gap longer than a Duration can hold.
	b = NewTokenBucket(1000, 1000, coreT0)
	require.Equal(t, 9*time.Second, b.Reserve(10_000, coreT0))
	require.Zero(t, b.Reserve(1000, coreT0.AddDate(500, 0, 0)))
	require.Equal(t, time.Second, b.Reserve(1000, coreT0.AddDate(500, 0, 0)))
}

func TestTokenBucketLongRunRate(t *testing.T) {
	// A sender that always waits as told sends no more than burst + rate*t.
	const rate, burst = 125_000, 16 << 10 // 1 Mbit/s
	b := NewTokenBucket(rate, burst, coreT0)
	now := coreT0
	sent := 0
	for i := range 10_000 {
		n := 1 + (i*7919)%4096
		now = now.Add(b.Reserve(n, now))
		sent += n
		elapsed := now.Sub(coreT0).Seconds()
		require.LessOrEqual(t, float64(sent), burst+rate*elapsed+1, "step %d", i)
	}
	// And it is not much slower than the rate either.
	require.InDelta(t, rate, float64(sent-burst)/now.Sub(coreT0).Seconds(), rate*0.001)
}

func TestCost(t *testing.T) {
	require.Equal(t, time.Second, cost(1000, 1000))
	require.Equal(t, time.Duration(1), cost(1, math.MaxUint64))
	require.Equal(t, time.Duration(math.MaxInt64), cost(math.MaxUint64, 1))
	const maxSecs = uint64(math.MaxInt64) / uint64(time.Second)
	require.Equal(t, time.Duration(math.MaxInt64), cost(maxSecs+1, 1))
	require.Equal(t, time.Duration(maxSecs)*time.Second, cost(maxSecs, 1))
	require.Zero(t, cost(0, 5))
	require.Zero(t, cost(5, 0))
}
