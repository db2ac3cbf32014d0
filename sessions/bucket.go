package sessions

import (
	"math"
	"math/bits"
	"time"
)

// TokenBucket paces one direction of a session's traffic. Time is an
// argument and nothing sleeps: Reserve says how long to wait and the caller
// (the tunnel's copy loop) does the waiting. It is not safe for concurrent
// use; each direction has its own bucket.
//
// The state is kept as time rather than tokens: debt is how long until the
// bucket would be full again (GCRA). A count of tokens would need a
// fractional part at low rates and overflows when a huge reservation meets a
// long idle gap; durations saturate at about 292 years instead.
type TokenBucket struct {
	rate  uint64        // bytes per second; 0 = unlimited
	burst time.Duration // time to earn burst bytes
	last  time.Time     // latest time seen
	debt  time.Duration // time until full; >= 0
}

// NewTokenBucket returns a full bucket that refills at rateBytesPerSec up to
// burstBytes. A rate of 0 means unlimited. A burst of 0 paces every byte.
func NewTokenBucket(rateBytesPerSec, burstBytes uint64, now time.Time) *TokenBucket {
	return &TokenBucket{rate: rateBytesPerSec, burst: cost(burstBytes, rateBytesPerSec), last: now}
}

// Reserve takes n tokens, possibly into debt, and returns how long the
// caller must wait before sending those n bytes: 0 while within the burst.
// n <= 0 takes nothing and reports the current wait. A nil or unlimited
// bucket always returns 0. A now earlier than a previous call counts as no
// time passing, so a wall clock stepped back cannot mint tokens.
func (b *TokenBucket) Reserve(n int, now time.Time) time.Duration {
	if b == nil || b.rate == 0 {
		return 0
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.debt = max(b.debt-elapsed, 0) // both non-negative: cannot overflow
		b.last = now
	}
	if n > 0 {
		c := cost(uint64(n), b.rate)
		if b.debt > math.MaxInt64-c {
			b.debt = math.MaxInt64
		} else {
			b.debt += c
		}
	}
	return max(b.debt-b.burst, 0)
}

// cost is the time to earn n bytes at rate, rounded up to whole nanoseconds
// (so pacing never runs fast) and saturated at the largest Duration.
func cost(n, rate uint64) time.Duration {
	if rate == 0 || n == 0 {
		return 0
	}
	hi, lo := bits.Mul64(n, uint64(time.Second))
	if hi >= rate {
		return math.MaxInt64 // quotient would not fit in 64 bits
	}
	q, r := bits.Div64(hi, lo, rate)
	if r != 0 && q < math.MaxUint64 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(q)
}
