package media

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

func TestNewChunkerBounds(t *testing.T) {
	cases := []struct {
		name     string
		max      int
		age      time.Duration
		ok       bool
		wantMax  int
		wantAge  time.Duration
		sentinel error
	}{
		{"defaults", 0, 0, true, DefaultChunkPlaintext, DefaultChunkAge, nil},
		{"smallest", MinChunkPlaintext, time.Millisecond, true, MinChunkPlaintext, time.Millisecond, nil},
		{"largest", MaxChunkPlaintext, MaxChunkAge, true, MaxChunkPlaintext, MaxChunkAge, nil},
		{"too small", MinChunkPlaintext - 1, 0, false, 0, 0, ErrInvalidArgument},
		{"one byte", 1, 0, false, 0, 0, ErrInvalidArgument},
		{"negative size", -1, 0, false, 0, 0, ErrInvalidArgument},
		{"too large", MaxChunkPlaintext + 1, 0, false, 0, 0, ErrInvalidArgument},
		{"negative age", 0, -time.Second, false, 0, 0, ErrInvalidArgument},
		{"sub-millisecond age", 0, time.Millisecond + 1, false, 0, 0, ErrInvalidArgument},
		{"age too long", 0, MaxChunkAge + time.Millisecond, false, 0, 0, ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewChunker(tc.max, tc.age)
			if !tc.ok {
				requireSentinel(t, err, tc.sentinel)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantMax, c.MaxPlaintext())
			require.Equal(t, tc.wantAge, c.MaxAge())
		})
	}
}

func TestFitData(t *testing.T) {
	for room := MinChunkPlaintext; room < 70000; room += 7 {
		n := fitData(room)
		require.LessOrEqual(t, FrameLen(n), room, "room %d", room)
		require.Greater(t, FrameLen(n+1), room, "room %d: fitData is not the largest", room)
	}
	for _, room := range []int{MaxChunkPlaintext, DefaultChunkPlaintext, 128 + frameFixedLen + 1, 128 + frameFixedLen + 2, 16384 + 11} {
		n := fitData(room)
		require.LessOrEqual(t, FrameLen(n), room)
		require.Greater(t, FrameLen(n+1), room)
	}
}

// checkChunks asserts the chunker's invariants: consecutive indexes from
// 0, no empty or oversized chunk, plaintexts that parse, and frames that
// reassemble to the input.
func checkChunks(t *testing.T, chunks []Chunk, maxPlain int, in []Frame) {
	t.Helper()
	var got []Frame
	for i, c := range chunks {
		require.Equal(t, uint64(i), c.Index)
		require.NotEmpty(t, c.Plaintext, "chunk %d is empty", i)
		require.LessOrEqual(t, len(c.Plaintext), maxPlain, "chunk %d exceeds the limit", i)
		fs, err := ParseFrames(c.Plaintext)
		require.NoError(t, err)
		require.Len(t, fs, c.Frames)
		require.True(t, fs[0].At.Equal(c.First))
		require.True(t, fs[len(fs)-1].At.Equal(c.Last))
		got = append(got, fs...)
	}
	require.Equal(t, Reassemble(in), Reassemble(got))
}

func TestChunkerBoundaries(t *testing.T) {
	const max = 1024
	f := func(n int) Frame {
		return Frame{Dir: sessions.HostToClient, At: testT0, Data: bytes.Repeat([]byte{byte(n)}, n)}
	}
	exact := fitData(max) // the data length whose frame fills a chunk exactly
	cases := []struct {
		name   string
		frames []Frame
		sizes  []int // plaintext sizes of the chunks
	}{
		{"empty stream", nil, nil},
		{"one byte", []Frame{f(1)}, []int{FrameLen(1)}},
		{"exactly max", []Frame{f(exact)}, []int{max}},
		{"max plus one", []Frame{f(exact + 1)}, []int{max, FrameLen(1)}},
		{"three times max and more", []Frame{f(3*max + 5)}, []int{max, max, max, FrameLen(3*max + 5 - 3*exact)}},
		{"two that fit", []Frame{f(400), f(400)}, []int{2 * FrameLen(400)}},
		{"second does not fit", []Frame{f(600), f(600)}, []int{FrameLen(600), FrameLen(600)}},
		{"small then huge", []Frame{f(10), f(2 * max)}, []int{FrameLen(10), max, max, FrameLen(2*max - 2*exact)}},
		{"filled exactly then one", []Frame{f(exact), f(1)}, []int{max, FrameLen(1)}},
		{"empty data ignored", []Frame{f(0), f(1), f(0)}, []int{FrameLen(1)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			chunks := chunkAll(t, tc.frames, max, time.Minute)
			var sizes []int
			for _, c := range chunks {
				sizes = append(sizes, len(c.Plaintext))
			}
			require.Equal(t, tc.sizes, sizes)
			checkChunks(t, chunks, max, tc.frames)
		})
	}
}

func TestChunkerAge(t *testing.T) {
	c, err := NewChunker(0, time.Minute)
	require.NoError(t, err)
	at := func(d time.Duration) Frame {
		return Frame{Dir: sessions.ClientToHost, At: testT0.Add(d), Data: []byte("k")}
	}
	_, ok := c.Deadline()
	require.False(t, ok)
	require.Nil(t, c.Tick(testT0.Add(time.Hour)), "nothing open, nothing to seal")

	out, err := c.Add(at(0))
	require.NoError(t, err)
	require.Empty(t, out)
	d, ok := c.Deadline()
	require.True(t, ok)
	require.Equal(t, testT0.Add(time.Minute), d)

	out, err = c.Add(at(time.Minute - 1))
	require.NoError(t, err)
	require.Empty(t, out, "just under maxAge stays in the chunk")
	require.Nil(t, c.Tick(testT0.Add(time.Minute-1)))

	out, err = c.Add(at(time.Minute))
	require.NoError(t, err)
	require.Len(t, out, 1, "maxAge after the first frame seals first")
	require.Equal(t, 2, out[0].Frames)
	require.Equal(t, testT0, out[0].First)
	require.Equal(t, testT0.Add(time.Minute-1), out[0].Last)

	// A quiet session: Tick seals the open chunk at its deadline.
	require.Nil(t, c.Tick(testT0.Add(2*time.Minute-1)))
	ticked := c.Tick(testT0.Add(2 * time.Minute))
	require.Len(t, ticked, 1)
	require.Equal(t, uint64(1), ticked[0].Index)
	require.Equal(t, 1, ticked[0].Frames)
	require.Nil(t, c.Flush())
	require.Equal(t, uint64(2), c.NextIndex())
}

func TestChunkerRejectsBadFrames(t *testing.T) {
	c, err := NewChunker(MinChunkPlaintext, 0)
	require.NoError(t, err)
	for _, f := range []Frame{
		{Dir: 0, At: testT0, Data: []byte("x")},
		{Dir: 3, At: testT0, Data: []byte("x")},
		{Dir: sessions.ClientToHost, Data: []byte("x")},
		{Dir: sessions.ClientToHost, At: time.Unix(0, 0), Data: []byte("x")},
		{Dir: sessions.ClientToHost, At: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), Data: []byte("x")},
	} {
		out, err := c.Add(f)
		requireSentinel(t, err, ErrInvalidArgument)
		require.Nil(t, out)
	}
	require.Zero(t, c.Pending(), "a refused frame changes nothing")
}

func TestChunkerSetNextIndex(t *testing.T) {
	c, err := NewChunker(0, 0)
	require.NoError(t, err)
	require.NoError(t, c.SetNextIndex(7))
	_, err = c.Add(Frame{Dir: sessions.ClientToHost, At: testT0, Data: []byte("x")})
	require.NoError(t, err)
	requireSentinel(t, c.SetNextIndex(9), ErrInvalidArgument)
	out := c.Flush()
	require.Equal(t, uint64(7), out[0].Index)
	require.NoError(t, c.SetNextIndex(9))
}

func TestChunkerCopiesData(t *testing.T) {
	c, err := NewChunker(0, 0)
	require.NoError(t, err)
	buf := []byte("original")
	_, err = c.Add(Frame{Dir: sessions.ClientToHost, At: testT0, Data: buf})
	require.NoError(t, err)
	copy(buf, "XXXXXXXX") // the tunnel reuses its buffer
	fs, err := ParseFrames(c.Flush()[0].Plaintext)
	require.NoError(t, err)
	require.Equal(t, []byte("original"), fs[0].Data)
}

// TestChunkerProperties checks the boundary rules on random streams: the
// same frames always give the same chunks, and a chunk ends early only
// because the next frame did not fit, was maxAge or more after the chunk's
// first frame, or the chunk was filled by a split frame.
func TestChunkerProperties(t *testing.T) {
	for seed := range uint64(200) {
		r := pcg(seed)
		max := MinChunkPlaintext + r.IntN(4096)
		age := time.Duration(1+r.IntN(2000)) * time.Millisecond
		c2h := realLooking(r, r.IntN(20000))
		h2c := randomBytes(r, r.IntN(20000))
		frames := streamFrames(r, c2h, h2c, 1+r.IntN(3*max), 50*time.Millisecond)

		chunks := chunkAll(t, frames, max, age)
		checkChunks(t, chunks, max, frames)
		require.Equal(t, chunks, chunkAll(t, frames, max, age), "seed %d: boundaries must be deterministic", seed)

		for i := 0; i+1 < len(chunks); i++ {
			cur, next := chunks[i], chunks[i+1]
			nf, err := ParseFrames(next.Plaintext)
			require.NoError(t, err)
			fits := len(cur.Plaintext)+FrameLen(len(nf[0].Data)) <= max
			aged := nf[0].At.Sub(cur.First) >= age
			full := len(cur.Plaintext) == max
			require.True(t, !fits || aged || full, "seed %d: chunk %d was sealed without a reason", seed, i)
		}
	}
}

// TestChunkerIgnoresMonotonicClock: boundaries follow the wall-clock times
// that frames record (time.Now's monotonic reading is dropped), so
// rechunking the recorded frames reproduces them even across a wall-clock
// step.
func TestChunkerIgnoresMonotonicClock(t *testing.T) {
	now := time.Now()
	require.Contains(t, now.String(), "m=", "time.Now carries a monotonic reading")
	c, err := NewChunker(0, time.Minute)
	require.NoError(t, err)
	_, err = c.Add(Frame{Dir: sessions.ClientToHost, At: now, Data: []byte("a")})
	require.NoError(t, err)
	d, ok := c.Deadline()
	require.True(t, ok)
	require.NotContains(t, d.String(), "m=")
	require.Nil(t, c.Tick(now.Add(time.Minute-1)))
	out := c.Tick(now.Add(time.Minute))
	require.Len(t, out, 1)
	require.NotContains(t, out[0].First.String(), "m=")
	require.Equal(t, now.Round(0), out[0].First)
}

// dirtyAlloc hands out recycled buffers full of garbage, as a pool does,
// and records what it was asked for.
type dirtyAlloc struct {
	free  [][]byte
	asked []int
	size  int // capacity of new buffers; 0: what is asked
}

func (a *dirtyAlloc) alloc(n int) []byte {
	a.asked = append(a.asked, n)
	if k := len(a.free); k > 0 && cap(a.free[k-1]) >= n {
		b := a.free[k-1]
		a.free = a.free[:k-1]
		return b[:0]
	}
	b := bytes.Repeat([]byte{0xa5}, max(n, a.size))
	return b[:0]
}

// recycle takes a chunk's buffer back, after scribbling over all of it.
func (a *dirtyAlloc) recycle(b []byte) {
	b = b[:cap(b)]
	for i := range b {
		b[i] = byte(i*7 + 1)
	}
	a.free = append(a.free, b)
}

// TestChunkerAllocKeepsChunks: where the chunk buffers come from changes
// neither the boundaries nor the bytes, even when they are reused dirty
// the moment the caller is done with a chunk.
func TestChunkerAllocKeepsChunks(t *testing.T) {
	for seed := range uint64(100) {
		r := pcg(seed)
		max := MinChunkPlaintext + r.IntN(4096)
		age := time.Duration(1+r.IntN(2000)) * time.Millisecond
		frames := streamFrames(r, realLooking(r, r.IntN(20000)), randomBytes(r, r.IntN(20000)), 1+r.IntN(3*max), 50*time.Millisecond)
		want := chunkAll(t, frames, max, age)

		for _, size := range []int{0, max} {
			c, err := NewChunker(max, age)
			require.NoError(t, err)
			a := &dirtyAlloc{size: size}
			c.alloc = a.alloc
			var got []Chunk
			take := func(cs []Chunk) {
				for _, ch := range cs {
					cp := ch
					cp.Plaintext = bytes.Clone(ch.Plaintext)
					got = append(got, cp)
					a.recycle(ch.Plaintext)
				}
			}
			for _, f := range frames {
				cs, err := c.Add(f)
				require.NoError(t, err)
				take(cs)
			}
			take(c.Flush())
			require.Equal(t, want, got, "seed %d, buffers of %d", seed, size)
			for _, n := range a.asked {
				require.LessOrEqual(t, n, max, "seed %d: asked for more than a chunk", seed)
			}
			if size == max {
				require.Len(t, a.asked, len(want), "seed %d: a full-size buffer never grows", seed)
			}
		}
	}
}

// TestChunkerAllocTooSmall: a buffer with less room than asked for is
// replaced, not overrun.
func TestChunkerAllocTooSmall(t *testing.T) {
	frames := streamFrames(pcg(7), realLooking(pcg(8), 50000), nil, 3000, 0)
	want := chunkAll(t, frames, 4096, time.Minute)
	c, err := NewChunker(4096, time.Minute)
	require.NoError(t, err)
	c.alloc = func(int) []byte { return make([]byte, 0, 16) }
	var got []Chunk
	for _, f := range frames {
		cs, err := c.Add(f)
		require.NoError(t, err)
		got = append(got, cs...)
	}
	require.Equal(t, want, append(got, c.Flush()...))
}
