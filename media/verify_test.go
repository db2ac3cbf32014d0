package media

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// verifyRecording is a recording of six or more chunks for the tampering
// tests.
func verifyRecording(t *testing.T) *recording {
	t.Helper()
	r := pcg(20)
	frames := streamFrames(r, realLooking(r, 6000), randomBytes(r, 3000), 500, 100*time.Millisecond)
	rec := newRecording(t, "verify", frames, 1024, time.Minute)
	require.GreaterOrEqual(t, len(rec.sealed), 6)
	return rec
}

// kinds lists (kind, index) of a report's problems.
type kindAt struct {
	Kind  ProblemKind
	Index uint64
}

func problemsOf(r Report) []kindAt {
	var out []kindAt
	for _, p := range r.Problems {
		out = append(out, kindAt{p.Kind, p.Index})
	}
	return out
}

func TestVerifyClean(t *testing.T) {
	rec := verifyRecording(t)
	for name, r := range map[string]Report{
		"without key": VerifyRecording(rec.m, rec.chunkFunc()),
		"with key":    VerifyWithKey(rec.m, rec.key, rec.chunkFunc()),
	} {
		t.Run(name, func(t *testing.T) {
			require.True(t, r.OK(), "%v", r.Problems)
			require.NoError(t, r.Err())
			require.Equal(t, rec.m.ChunkCount, r.Chunks)
			require.Equal(t, rec.m.ChunkCount, r.Verified)
			require.True(t, r.RootComputed)
			require.Equal(t, rec.m.Root, r.Root)
			_, bad := r.FirstBad()
			require.False(t, bad)
			require.Equal(t, name == "with key", r.Opened)
		})
	}
}

func TestVerifyTampering(t *testing.T) {
	rec := verifyRecording(t)
	other := newRecording(t, "other", streamFrames(pcg(21), randomBytes(pcg(22), 4000), nil, 500, 0), 1024, time.Minute)

	type tc struct {
		name     string
		chunks   func(c [][]byte) [][]byte // edits a copy of the sealed chunks
		key      []byte
		want     []kindAt // without the key
		wantKey  []kindAt // with the key (nil: same as want)
		firstBad uint64
	}
	flipped := func(c [][]byte) [][]byte { c[2] = bytes.Clone(c[2]); c[2][ChunkHeaderLen+5] ^= 1; return c }
	cases := []tc{
		{
			name: "bit flipped in chunk 2", chunks: flipped,
			want:     []kindAt{{ProblemLeaf, 2}, {ProblemRoot, 0}},
			wantKey:  []kindAt{{ProblemLeaf, 2}, {ProblemTampered, 2}, {ProblemRoot, 0}},
			firstBad: 2,
		},
		{
			name:   "chunks 1 and 3 swapped",
			chunks: func(c [][]byte) [][]byte { c[1], c[3] = c[3], c[1]; return c },
			want: []kindAt{
				{ProblemSize, 1}, {ProblemLeaf, 1}, {ProblemHeader, 1}, {ProblemHeader, 1},
				{ProblemSize, 3}, {ProblemLeaf, 3}, {ProblemHeader, 3}, {ProblemHeader, 3},
				{ProblemRoot, 0},
			},
			firstBad: 1,
		},
		{
			name:     "chunk 2 dropped",
			chunks:   func(c [][]byte) [][]byte { c[2] = nil; return c },
			want:     []kindAt{{ProblemMissing, 2}},
			firstBad: 2,
		},
		{
			name:   "chunk 4 truncated",
			chunks: func(c [][]byte) [][]byte { c[4] = c[4][:len(c[4])-10]; return c },
			want: []kindAt{
				{ProblemSize, 4}, {ProblemLeaf, 4}, {ProblemHeader, 4}, {ProblemRoot, 0},
			},
			firstBad: 4,
		},
		{
			name:   "last chunk dropped",
			chunks: func(c [][]byte) [][]byte { return c[:len(c)-1] },
			want:   nil, // filled in below
		},
		{
			name:   "chunk 0 from another recording",
			chunks: func(c [][]byte) [][]byte { c[0] = other.sealed[0]; return c },
			want: []kindAt{
				{ProblemSize, 0}, {ProblemLeaf, 0}, {ProblemHeader, 0}, {ProblemHeader, 0}, {ProblemRoot, 0},
			},
			firstBad: 0,
		},
		{
			name: "wrong key", chunks: func(c [][]byte) [][]byte { return c }, key: testSessionKey(t, "wrong"),
		},
	}
	last := uint64(len(rec.sealed) - 1)
	cases[4].want, cases[4].firstBad = []kindAt{{ProblemMissing, last}}, last
	cases[6].wantKey = []kindAt{}
	for i := range rec.sealed {
		cases[6].wantKey = append(cases[6].wantKey, kindAt{ProblemTampered, uint64(i)})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.chunks(append([][]byte(nil), rec.sealed...))
			served := &recording{sealed: c}
			key := rec.key
			if tc.key != nil {
				key = tc.key
			}
			r := VerifyRecording(rec.m, served.chunkFunc())
			require.Equal(t, tc.want, problemsOf(r), "without key: %v", r.Problems)
			rk := VerifyWithKey(rec.m, key, served.chunkFunc())
			wantKey := tc.wantKey
			if wantKey == nil {
				wantKey = tc.want
			}
			require.Equal(t, wantKey, problemsOf(rk), "with key: %v", rk.Problems)
			if len(tc.want) > 0 {
				i, ok := r.FirstBad()
				require.True(t, ok)
				require.Equal(t, tc.firstBad, i)
				require.ErrorIs(t, r.Err(), ErrVerification)
				require.False(t, r.OK())
			}
			for _, p := range r.Problems {
				require.NotEmpty(t, p.Detail)
			}
		})
	}
}

func TestVerifyUnreadable(t *testing.T) {
	rec := verifyRecording(t)
	ioErr := errors.New("disk on fire")
	r := VerifyRecording(rec.m, func(i uint64) ([]byte, error) {
		if i == 3 {
			return nil, ioErr
		}
		return rec.sealed[i], nil
	})
	require.Equal(t, []kindAt{{ProblemUnreadable, 3}}, problemsOf(r))
	require.Contains(t, r.Problems[0].Detail, "disk on fire")
	require.False(t, r.RootComputed)
	require.Equal(t, rec.m.ChunkCount-1, r.Verified)
}

func TestVerifyManifestProblems(t *testing.T) {
	rec := verifyRecording(t)
	cases := []struct {
		name   string
		edit   func(m *Manifest)
		want   []kindAt
		key    []byte
		detail string
	}{
		{"root altered", func(m *Manifest) { m.Root[0] ^= 1 },
			[]kindAt{{ProblemManifest, 0}, {ProblemRoot, 0}}, nil, "merkle root"},
		{"first frame time altered (seen only with the key)", func(m *Manifest) { m.Chunks[1].First = m.Chunks[1].First.Add(time.Millisecond) },
			[]kindAt{{ProblemContent, 1}}, nil, "first frame"},
		{"no receipts", func(m *Manifest) { m.Consent, m.HostReceipt = sessions.ConsentReceipt{}, sessions.HostReceipt{} },
			[]kindAt{{ProblemReceipt, 0}, {ProblemReceipt, 0}}, nil, "no consent receipt"},
		{"consent signature broken", func(m *Manifest) {
			m.Consent.Signature = bytes.Clone(m.Consent.Signature)
			m.Consent.Signature[0] ^= 1
		}, []kindAt{{ProblemReceipt, 0}, {ProblemReceipt, 0}}, nil, "consent receipt"}, // and the host receipt's binding
		{"policy differs", func(m *Manifest) { m.PolicyHash[0] ^= 1 },
			[]kindAt{{ProblemReceipt, 0}, {ProblemReceipt, 0}}, nil, "policy"},
		{"service differs", func(m *Manifest) { m.Service = sessions.ServiceSSH },
			[]kindAt{{ProblemReceipt, 0}}, nil, "service"},
		{"short key", func(*Manifest) {}, []kindAt{{ProblemKey, 0}}, []byte{1, 2, 3}, "session key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := rec.m
			m.Chunks = append([]ChunkInfo(nil), rec.m.Chunks...)
			tc.edit(&m)
			key := rec.key
			if tc.key != nil {
				key = tc.key
			}
			r := VerifyWithKey(m, key, rec.chunkFunc())
			require.Equal(t, tc.want, problemsOf(r), "%v", r.Problems)
			require.Contains(t, r.Problems[0].Detail, tc.detail)
			_, perChunk := r.FirstBad()
			require.Equal(t, tc.want[0].Kind.PerChunk(), perChunk)
		})
	}
}

func TestReportJSON(t *testing.T) {
	rec := verifyRecording(t)
	c := append([][]byte(nil), rec.sealed...)
	c[3] = nil
	r := VerifyRecording(rec.m, (&recording{sealed: c}).chunkFunc())
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var j map[string]any
	require.NoError(t, json.Unmarshal(b, &j))
	require.Equal(t, false, j["ok"])
	require.EqualValues(t, 3, j["first_bad"])
	require.NotContains(t, j, "root", "no root when a chunk is missing")
	p := j["problems"].([]any)[0].(map[string]any)
	require.Equal(t, "missing", p["kind"])
	require.EqualValues(t, 3, p["index"])

	clean, err := json.Marshal(VerifyRecording(rec.m, rec.chunkFunc()))
	require.NoError(t, err)
	j = nil
	require.NoError(t, json.Unmarshal(clean, &j))
	require.Equal(t, true, j["ok"])
	require.Equal(t, hexString(rec.m.Root[:]), j["root"])
	require.NotContains(t, j, "first_bad")
}
