package media

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

func TestReassemble(t *testing.T) {
	c2h, h2c := sessions.ClientToHost, sessions.HostToClient
	got := Reassemble([]Frame{
		{Dir: c2h, At: testT0, Data: []byte("GET ")},
		{Dir: h2c, At: testT0, Data: []byte("HTTP/1.1")},
		{Dir: c2h, At: testT0, Data: []byte("/")},
		{Dir: h2c, At: testT0, Data: nil},
	})
	require.Equal(t, map[sessions.Direction][]byte{c2h: []byte("GET /"), h2c: []byte("HTTP/1.1")}, got)
	require.Empty(t, Reassemble(nil))
}

// TestEndToEnd: frames → chunker → seal → open → parse → reassemble gives
// back both streams exactly, for random and real-looking streams and for
// the boundary sizes.
func TestEndToEnd(t *testing.T) {
	const max = 4096
	r := pcg(30)
	cases := []struct {
		name     string
		c2h, h2c []byte
		maxFrame int
	}{
		{"empty", nil, nil, 1},
		{"one byte", []byte{1}, nil, 1},
		{"one byte each way", []byte{1}, []byte{2}, 1},
		{"exactly max in one frame", bytes.Repeat([]byte{7}, fitData(max)), nil, fitData(max)},
		{"max plus one in one frame", bytes.Repeat([]byte{7}, fitData(max)+1), nil, fitData(max) + 1},
		{"frame over 3x max", randomBytes(r, 3*max+123), nil, 3*max + 123},
		{"random, small frames", randomBytes(r, 50000), randomBytes(r, 50000), 700},
		{"random, large frames", randomBytes(r, 50000), randomBytes(r, 20000), 3 * max},
		{"real-looking", realLooking(r, 200000), realLooking(r, 100000), 1500},
		{"real-looking, one direction", realLooking(r, 100000), nil, 9000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frames := streamFrames(pcg(31), tc.c2h, tc.h2c, tc.maxFrame, 10*time.Millisecond)
			rec := newRecording(t, tc.name, frames, max, time.Second)
			if len(tc.c2h)+len(tc.h2c) == 0 {
				require.Empty(t, rec.sealed)
			}
			require.Equal(t, expectStreams(tc.c2h, tc.h2c), reassembleChunks(t, rec))
			require.True(t, VerifyWithKey(rec.m, rec.key, rec.chunkFunc()).OK())

			// The streaming form agrees and keeps a timeline.
			var a, b bytes.Buffer
			ra := NewReassembler(&a, &b, true)
			for i, s := range rec.sealed {
				pt, err := OpenChunk(rec.key, rec.session, uint64(i), s)
				require.NoError(t, err)
				require.NoError(t, ra.AddChunk(pt))
			}
			require.Equal(t, len(tc.c2h), a.Len())
			require.True(t, bytes.Equal(tc.c2h, a.Bytes()))
			require.True(t, bytes.Equal(tc.h2c, b.Bytes()))
			require.Equal(t, uint64(len(tc.c2h)), ra.Written(sessions.ClientToHost))
			require.Len(t, ra.Timeline(), len(mergeAdjacent(frames)), "one segment per recorder call")
		})
	}
}

// mergeAdjacent merges neighbouring frames with the same direction and
// time, as the timeline does.
func mergeAdjacent(frames []Frame) []Frame {
	var out []Frame
	for _, f := range frames {
		if n := len(out); n > 0 && out[n-1].Dir == f.Dir && out[n-1].At.Equal(f.At) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// TestEndToEndRandomised runs many seeded streams with random chunk limits
// and ticks between frames.
func TestEndToEndRandomised(t *testing.T) {
	key := testSessionKey(t, "rand")
	session := testSession(t, "rand")
	for seed := range uint64(40) {
		r := pcg(seed)
		max := MinChunkPlaintext + r.IntN(8192)
		c2h, h2c := realLooking(r, r.IntN(40000)), randomBytes(r, r.IntN(40000))
		frames := streamFrames(r, c2h, h2c, 1+r.IntN(2*max), 300*time.Millisecond)
		c, err := NewChunker(max, 2*time.Second)
		require.NoError(t, err)
		var chunks []Chunk
		for _, f := range frames {
			if r.IntN(20) == 0 {
				chunks = append(chunks, c.Tick(f.At.Add(time.Duration(r.IntN(3000))*time.Millisecond))...)
			}
			out, err := c.Add(f)
			require.NoError(t, err)
			chunks = append(chunks, out...)
		}
		chunks = append(chunks, c.Flush()...)
		var got []Frame
		for i, ch := range chunks {
			require.Equal(t, uint64(i), ch.Index)
			require.LessOrEqual(t, len(ch.Plaintext), max)
			sealed, err := SealChunk(key, session, ch.Index, ch.Plaintext)
			require.NoError(t, err)
			pt, err := OpenChunk(key, session, ch.Index, sealed)
			require.NoError(t, err)
			fs, err := ParseFrames(pt)
			require.NoError(t, err)
			got = append(got, fs...)
		}
		require.Equal(t, expectStreams(c2h, h2c), Reassemble(got), "seed %d", seed)
	}
}

func TestReassemblerSplitFrameIsOneSegment(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 5000)
	frames := []Frame{
		{Dir: sessions.HostToClient, At: testT0, Data: big},
		{Dir: sessions.ClientToHost, At: testT0.Add(time.Second), Data: []byte("ack")},
	}
	chunks := chunkAll(t, frames, 1024, time.Minute)
	require.Greater(t, len(chunks), 4)
	ra := NewReassembler(nil, nil, true)
	for _, c := range chunks {
		require.NoError(t, ra.AddChunk(c.Plaintext))
	}
	require.Equal(t, []Segment{
		{Dir: sessions.HostToClient, At: testT0, Offset: 0, Len: 5000},
		{Dir: sessions.ClientToHost, At: testT0.Add(time.Second), Offset: 0, Len: 3},
	}, ra.Timeline())
	require.Nil(t, NewReassembler(nil, nil, false).Timeline())
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestReassemblerErrors(t *testing.T) {
	ra := NewReassembler(nil, nil, false)
	requireSentinel(t, ra.AddChunk([]byte{9, 9, 9}), ErrMalformed)
	requireSentinel(t, ra.AddFrame(Frame{Dir: 7, Data: []byte("x")}), ErrInvalidArgument)
	require.Zero(t, ra.Written(7))

	// A malformed chunk writes nothing, even if it starts well.
	var buf bytes.Buffer
	ra = NewReassembler(&buf, nil, false)
	good := AppendFrame(nil, Frame{Dir: sessions.ClientToHost, At: testT0, Data: []byte("x")})
	requireSentinel(t, ra.AddChunk(append(good, 1)), ErrMalformed)
	require.Zero(t, buf.Len())

	ra = NewReassembler(failWriter{}, nil, false)
	err := ra.AddChunk(good)
	require.ErrorContains(t, err, "disk full")
}
