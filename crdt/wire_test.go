package crdt

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// rawMap decodes b as a generic CBOR map for tampering.
func rawMap(t *testing.T, b []byte) map[uint64]cbor.RawMessage {
	t.Helper()
	var m map[uint64]cbor.RawMessage
	require.NoError(t, decMode.Unmarshal(b, &m))
	return m
}

func mustEnc(t *testing.T, v any) []byte {
	t.Helper()
	b, err := encMode.Marshal(v)
	require.NoError(t, err)
	return b
}

// sampleDelta returns a delta with every field set.
func sampleDelta(t testing.TB) Delta {
	h := newNode(hostA)
	d, err := h.m.Update(hostA, h.clock, t0, sid(1),
		Create(hostA, "rdp", t0), AddRelay(relayR), SetPhase(sessions.StateActive, t0),
		AddParticipant([]byte("sealed-participant")), SetPrivate([]byte("sealed-private")),
		SetManifest([32]byte{0xaa}), SetAnchor(Anchor{Status: AnchorPending, Ref: []byte("tx")}),
		AddCounters(1, 2, 3))
	require.NoError(t, err)
	return d
}

func TestDecodeDeltaStrict(t *testing.T) {
	good := sampleDelta(t).Encode()
	d, err := DecodeDelta(good)
	require.NoError(t, err)
	require.Equal(t, good, d.Encode())
	require.Equal(t, hostA, d.Author())

	recs := func(f func(r map[uint64]any)) []byte {
		id := sid(1)
		r := map[uint64]any{1: id[:], 3: uint64(1)}
		f(r)
		return mustEnc(t, map[uint64]any{1: uint64(1), 2: []byte(hostA), 3: []any{r}})
	}
	withKey := func(k uint64, v any) []byte {
		m := rawMap(t, good)
		m[k] = mustEnc(t, v)
		return mustEnc(t, m)
	}
	nonShortest := append([]byte{}, good...)
	require.Equal(t, byte(0x01), nonShortest[2]) // {1: 1, ...}: version
	nonShortest = append([]byte{nonShortest[0], 0x01, 0x18, 0x01}, nonShortest[3:]...)
	dupKey := append([]byte{good[0] + 1, 0x01, 0x01}, good[1:]...)
	indef := append([]byte{0xbf}, append(good[1:], 0xff)...)
	// In a delta by hostA, hostA's replica ID is elided: self is h''.
	self := []byte{}
	zeroTS := []any{uint64(0), uint64(0), self}

	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty input", nil, ErrMalformed},
		{"not a map", []byte{0x80}, ErrMalformed},
		{"no version", mustEnc(t, map[uint64]any{2: []byte(hostA)}), ErrMalformed},
		{"newer version", withKey(1, uint64(2)), ErrUnsupportedVersion},
		{"unknown key", withKey(9, uint64(1)), ErrMalformed},
		{"duplicate key", dupKey, ErrMalformed},
		{"indefinite length", indef, ErrMalformed},
		{"non-shortest integer", nonShortest, ErrMalformed},
		{"trailing bytes", append(append([]byte{}, good...), 0x00), ErrMalformed},
		{"oversize", make([]byte, MaxDeltaSize+1), ErrTooLarge},
		{"bad author", withKey(2, []byte("nobody")), ErrMalformed},
		{"bad session ID", recs(func(r map[uint64]any) { r[1] = make([]byte, 16) }), ErrMalformed},
		{"explicit zero phase", recs(func(r map[uint64]any) { r[3] = uint64(0); r[5] = []any{[]any{uint64(5), uint64(0), self}, uint64(1)} }), ErrMalformed},
		{"phase out of range", recs(func(r map[uint64]any) { r[3] = uint64(5) }), ErrMalformed},
		{"empty record", recs(func(r map[uint64]any) { delete(r, 3) }), ErrMalformed},
		{"compacted in a delta", recs(func(r map[uint64]any) { r[12] = true }), ErrMalformed},
		{"zero timestamp", recs(func(r map[uint64]any) { r[4] = []any{zeroTS, uint64(5)} }), ErrMalformed},
		{"zero counter entry", recs(func(r map[uint64]any) {
			r[6] = []any{[]any{self, uint64(0), uint64(0), uint64(0)}}
		}), ErrMalformed},
		{"two counter entries", recs(func(r map[uint64]any) {
			r[6] = []any{[]any{self, uint64(1), uint64(0), uint64(0)}, []any{[]byte(hostB), uint64(1), uint64(0), uint64(0)}}
		}), ErrTooManyEntries},
		{"oversize participant", recs(func(r map[uint64]any) {
			r[8] = []any{[]any{make([]byte, MaxParticipantSize+1), []any{[]any{self, uint64(5), uint64(0), uint64(0), uint64(0)}}}}
		}), ErrTooLarge},
		{"element without dots", recs(func(r map[uint64]any) { r[8] = []any{[]any{[]byte("p"), []any{}}} }), ErrMalformed},
		{"unsorted elements", recs(func(r map[uint64]any) {
			dot := []any{[]any{self, uint64(5), uint64(0), uint64(0), uint64(0)}}
			r[8] = []any{[]any{[]byte("b"), dot}, []any{[]byte("a"), dot}}
		}), ErrMalformed},
		{"bad manifest hash", recs(func(r map[uint64]any) {
			r[10] = []any{[]any{uint64(5), uint64(0), self}, make([]byte, 31)}
		}), ErrMalformed},
		{"bad service", recs(func(r map[uint64]any) {
			r[2] = []any{[]any{uint64(5), uint64(0), self}, []byte(hostA), "RDP", uint64(5)}
		}), ErrMalformed},
		{"author's replica spelled out", recs(func(r map[uint64]any) {
			r[10] = []any{[]any{uint64(5), uint64(0), []byte(hostA)}, make([]byte, 32)}
		}), ErrMalformed},
		{"null instead of absent", recs(func(r map[uint64]any) { r[9] = nil }), ErrMalformed},
		{"bytes as text", recs(func(r map[uint64]any) { r[1] = string(r[1].([]byte)) }), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeDelta(tc.b)
			requireSentinel(t, err, tc.want)
		})
	}

	// Records must be strictly ascending.
	h := newNode(hostA)
	d1 := h.update(t, t0, sid(1), Create(hostA, "rdp", t0))
	d2 := h.update(t, t0, sid(2), Create(hostA, "rdp", t0))
	j, err := JoinDeltas(d1, d2)
	require.NoError(t, err)
	m := rawMap(t, j.Encode())
	var rs []cbor.RawMessage
	require.NoError(t, decMode.Unmarshal(m[3], &rs))
	rs[0], rs[1] = rs[1], rs[0]
	m[3] = mustEnc(t, rs)
	_, err = DecodeDelta(mustEnc(t, m))
	requireSentinel(t, err, ErrMalformed)
}

func TestDecodeSyncMsgStrict(t *testing.T) {
	m := NewMap(Params{})
	h := &node{id: hostA, m: m, clock: NewClock(hostA, 0)}
	for i := range 100 {
		h.update(t, t0, sid(i), Create(hostA, "rdp", t0))
	}
	out, _ := m.SyncStep(NewMap(Params{}).SyncStart())
	require.Len(t, out, 1)
	good := out[0].Encode()
	s, err := DecodeSyncMsg(good)
	require.NoError(t, err)
	require.Equal(t, good, s.Encode())
	require.False(t, s.Empty())
	require.True(t, SyncMsg{}.Empty())

	claimsOf := func(cs ...[]any) []byte {
		return mustEnc(t, map[uint64]any{1: uint64(1), 2: cs})
	}
	h32 := make([]byte, 32)
	id := sid(1)
	hi := id[0] >> 4
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"newer version", mustEnc(t, map[uint64]any{1: uint64(2)}), ErrUnsupportedVersion},
		{"unknown key", mustEnc(t, map[uint64]any{1: uint64(1), 4: uint64(1)}), ErrMalformed},
		{"oversize", make([]byte, MaxSyncMsgSize+1), ErrTooLarge},
		{"depth too large", claimsOf([]any{uint64(33), make([]byte, 17), h32, []any{}}), ErrMalformed},
		{"prefix length", claimsOf([]any{uint64(1), []byte{}, h32, []any{}}), ErrMalformed},
		{"stray nibble", claimsOf([]any{uint64(1), []byte{0x1f}, h32, []any{}}), ErrMalformed},
		{"short hash", claimsOf([]any{uint64(0), []byte{}, make([]byte, 31), []any{}}), ErrMalformed},
		{"hash and pairs", claimsOf([]any{uint64(0), []byte{}, h32, []any{[]any{id[:], h32}}}), ErrMalformed},
		{"pair outside prefix", claimsOf([]any{uint64(1), []byte{(hi ^ 1) << 4}, []byte{}, []any{[]any{id[:], h32}}}), ErrMalformed},
		{"unsorted claims", claimsOf(
			[]any{uint64(1), []byte{0x20}, h32, []any{}},
			[]any{uint64(1), []byte{0x10}, h32, []any{}}), ErrMalformed},
		{"duplicate claims", claimsOf(
			[]any{uint64(1), []byte{0x10}, h32, []any{}},
			[]any{uint64(1), []byte{0x10}, h32, []any{}}), ErrMalformed},
		{"bad wanted ID", mustEnc(t, map[uint64]any{1: uint64(1), 3: [][]byte{make([]byte, 16)}}), ErrMalformed},
		{"unsorted want", mustEnc(t, map[uint64]any{1: uint64(1), 3: [][]byte{maxID(sid(1), sid(2)), minID(sid(1), sid(2))}}), ErrMalformed},
		{"too many pairs", claimsOf([]any{uint64(0), []byte{}, []byte{}, func() []any {
			var ps []any
			for i := range LeafSize + 1 {
				x := sid(i)
				ps = append(ps, []any{x[:], h32})
			}
			return ps
		}()}), ErrTooManyEntries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeSyncMsg(tc.b)
			requireSentinel(t, err, tc.want)
		})
	}
}

func minID(a, b sessions.ID) []byte {
	if cmpID(a, b) < 0 {
		return a[:]
	}
	return b[:]
}

func maxID(a, b sessions.ID) []byte {
	if cmpID(a, b) < 0 {
		return b[:]
	}
	return a[:]
}

func TestSnapshotStrict(t *testing.T) {
	m := NewMap(Params{})
	h := &node{id: hostA, m: m, clock: NewClock(hostA, 0)}
	for i := range 5 {
		fullSession(t, h, relayR, sid(i), t0)
	}
	m.Compact(t0.Add(30*24*time.Hour), time.Hour)
	h.update(t, t0.Add(2*time.Hour), sid(50), Create(hostA, "rdp", t0))
	snap := m.Snapshot()

	c := NewMap(Params{})
	n, err := c.LoadSnapshot(snap)
	require.NoError(t, err)
	require.Equal(t, 6, n)
	require.Equal(t, m.Digest(), c.Digest())
	require.Equal(t, snap, c.Snapshot())
	// Loading into a non-empty map joins.
	n, err = c.LoadSnapshot(snap)
	require.NoError(t, err)
	require.Zero(t, n)

	frames := splitFrames(t, snap)
	join := func(fs ...[]byte) []byte {
		var out []byte
		for _, f := range fs {
			out = binary.BigEndian.AppendUint32(out, uint32(len(f)))
			out = append(out, f...)
		}
		return out
	}
	hdr := rawMap(t, frames[0])
	badDigest := func() []byte {
		h := rawMap(t, frames[0])
		h[3] = mustEnc(t, make([]byte, 32))
		return mustEnc(t, h)
	}()
	hdr[1] = mustEnc(t, uint64(2))
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"truncated", snap[:len(snap)-3], ErrMalformed},
		{"trailing", append(append([]byte{}, snap...), 0), ErrMalformed},
		{"missing record", join(append([][]byte{frames[0]}, frames[2:]...)...), ErrMalformed},
		{"reordered", join(frames[0], frames[2], frames[1], frames[3], frames[4], frames[5], frames[6]), ErrMalformed},
		{"digest mismatch", join(append([][]byte{badDigest}, frames[1:]...)...), ErrMalformed},
		{"newer version", join(append([][]byte{mustEnc(t, hdr)}, frames[1:]...)...), ErrUnsupportedVersion},
		{"oversize frame", binary.BigEndian.AppendUint32(nil, MaxSnapshotFrame+1), ErrTooLarge},
		{"empty frame", binary.BigEndian.AppendUint32(nil, 0), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewMap(Params{})
			_, err := c.LoadSnapshot(tc.b)
			requireSentinel(t, err, tc.want)
			require.Zero(t, c.Len(), "a failed load must change nothing")
		})
	}
}

func splitFrames(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		n := binary.BigEndian.Uint32(b)
		out = append(out, bytes.Clone(b[4:4+n]))
		b = b[4+n:]
	}
	return out
}

// TestHostContributionFits checks that a host's whole contribution to a
// session at every limit fits in one delta: AuthorDelta is always a valid
// checkpoint.
func TestHostContributionFits(t *testing.T) {
	h := newNode(hostA)
	id := sid(1)
	now := t0
	h.update(t, now, id, Create(hostA, "rdp", now), SetPrivate(bytes.Repeat([]byte{1}, MaxPrivateSize)),
		SetAnchor(Anchor{Status: AnchorConfirmed, Ref: bytes.Repeat([]byte{2}, MaxAnchorRefSize)}),
		SetManifest([32]byte{3}), SetPhase(sessions.StateActive, now), SetPhase(sessions.StateEnded, now), AddCounters(1<<62, 1<<62, 1<<62))
	for i := range MaxRelays {
		h.update(t, now, id, AddRelay(replica(string(rune('a'+i)))), RemoveRelay(replica(string(rune('a'+i)))))
	}
	for i := range MaxParticipants {
		p := bytes.Repeat([]byte{byte(i)}, MaxParticipantSize)
		h.update(t, now, id, AddParticipant(p), RemoveParticipant(p), AddParticipant(p))
	}
	ad, ok := h.m.AuthorDelta(id, hostA)
	require.True(t, ok)
	require.LessOrEqual(t, ad.Size(), MaxDeltaSize)
	t.Logf("largest host contribution: %d bytes (limit %d)", ad.Size(), MaxDeltaSize)
	d, err := DecodeDelta(ad.Encode())
	require.NoError(t, err)
	require.NoError(t, NewMap(Params{}).Authorize(d, hostA, now))
}
