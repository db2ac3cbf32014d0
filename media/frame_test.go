package media

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

func TestFrameLayout(t *testing.T) {
	f := Frame{Dir: sessions.HostToClient, At: time.Unix(0, 0x0102030405060708), Data: []byte("hi")}
	got := AppendFrame([]byte{0xff}, f)
	require.Equal(t, mustHex(t, "ff 02 0102030405060708 02 6869"), got, "appends after dst; dir, BE nanos, uvarint length, data")
	require.Equal(t, len(got)-1, FrameLen(2))
}

func TestFrameRoundTrip(t *testing.T) {
	for _, n := range []int{1, 2, 127, 128, 300, 16383, 16384, 1 << 21, MaxChunkPlaintext} {
		for _, dir := range []sessions.Direction{sessions.ClientToHost, sessions.HostToClient} {
			data := bytes.Repeat([]byte{byte(n)}, n)
			at := testT0.Add(time.Duration(n) * time.Nanosecond)
			b := AppendFrame(nil, Frame{Dir: dir, At: at, Data: data})
			require.Len(t, b, FrameLen(n))
			fs, err := ParseFrames(b)
			require.NoError(t, err)
			require.Len(t, fs, 1)
			require.Equal(t, dir, fs[0].Dir)
			require.True(t, fs[0].At.Equal(at))
			require.Equal(t, time.UTC, fs[0].At.Location())
			require.Equal(t, data, fs[0].Data)
		}
	}
}

func TestParseFramesSequence(t *testing.T) {
	in := []Frame{
		{Dir: sessions.ClientToHost, At: testT0, Data: []byte("a")},
		{Dir: sessions.HostToClient, At: testT0.Add(-time.Second), Data: []byte("bc")}, // times need not increase
		{Dir: sessions.ClientToHost, At: testT0.Add(time.Hour), Data: bytes.Repeat([]byte("x"), 200)},
	}
	var b []byte
	for _, f := range in {
		b = AppendFrame(b, f)
	}
	out, err := ParseFrames(b)
	require.NoError(t, err)
	require.Len(t, out, len(in))
	for i := range in {
		require.Equal(t, in[i].Dir, out[i].Dir)
		require.True(t, in[i].At.Equal(out[i].At))
		require.Equal(t, in[i].Data, out[i].Data)
	}
	empty, err := ParseFrames(nil)
	require.NoError(t, err)
	require.Empty(t, empty)

	// The iterator stops when told to.
	n := 0
	for range Frames(b) {
		n++
		break
	}
	require.Equal(t, 1, n)
}

func TestParseFramesRejects(t *testing.T) {
	valid := AppendFrame(nil, Frame{Dir: sessions.ClientToHost, At: testT0, Data: []byte("abc")})
	hdr := func(dir byte, at int64) []byte {
		return binary.BigEndian.AppendUint64([]byte{dir}, uint64(at))
	}
	at := testT0.UnixNano()
	cases := []struct {
		name string
		b    []byte
	}{
		{"direction 0", append(hdr(0, at), 1, 'x')},
		{"direction 3", append(hdr(3, at), 1, 'x')},
		{"time 0", append(hdr(1, 0), 1, 'x')},
		{"negative time", append(hdr(1, -5), 1, 'x')},
		{"empty data", append(hdr(1, at), 0)},
		{"non-minimal length", append(hdr(1, at), 0x81, 0x00, 'x')},
		{"length over the chunk limit", append(hdr(1, at), binary.AppendUvarint(nil, MaxChunkPlaintext+1)...)},
		{"overlong uvarint", append(hdr(1, at), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"truncated header", valid[:5]},
		{"header without length", valid[:9]},
		{"truncated data", valid[:len(valid)-1]},
		{"trailing byte", append(bytes.Clone(valid), 0x01)},
		{"second frame truncated", append(bytes.Clone(valid), valid[:len(valid)-1]...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := ParseFrames(tc.b)
			requireSentinel(t, err, ErrMalformed)
			require.Nil(t, fs)
		})
	}
}

func TestFrameDataAliasesInput(t *testing.T) {
	b := AppendFrame(nil, Frame{Dir: sessions.ClientToHost, At: testT0, Data: []byte("abc")})
	fs, err := ParseFrames(b)
	require.NoError(t, err)
	// The capacity is clipped so that appending to Data cannot overwrite
	// the next frame.
	require.Equal(t, len(fs[0].Data), cap(fs[0].Data))
}
