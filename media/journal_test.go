package media

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// beginManifest is what a recorder knows when the session starts.
func beginManifest(m Manifest) Manifest {
	m.Chunks, m.ChunkCount, m.Root, m.Ended, m.Gaps = nil, 0, EmptyRoot, time.Time{}, nil
	return m
}

func journalOf(t testing.TB, rec *recording, ended bool) []byte {
	t.Helper()
	b, err := AppendJournalBegin(nil, beginManifest(rec.m))
	require.NoError(t, err)
	for _, c := range rec.m.Chunks {
		b = AppendJournalChunk(b, c)
	}
	if ended {
		b = AppendJournalEnd(b, rec.m.Ended)
	}
	return b
}

func journalRecording(t testing.TB) *recording {
	t.Helper()
	r := pcg(11)
	frames := streamFrames(r, realLooking(r, 200<<10), randomBytes(r, 100<<10), 8<<10, time.Millisecond)
	return newRecording(t, "journal", frames, 32<<10, time.Minute)
}

// A journal of a session that ended normally gives back its manifest,
// byte for byte.
func TestJournalRebuildsTheManifest(t *testing.T) {
	rec := journalRecording(t)
	require.Greater(t, len(rec.m.Chunks), 3)
	j, err := ReadJournal(journalOf(t, rec, true))
	require.NoError(t, err)
	require.False(t, j.Torn)
	m, err := j.Manifest("unused")
	require.NoError(t, err)
	require.Empty(t, m.Gaps)
	require.Equal(t, rec.m.Hash(), m.Hash())
}

// Cut anywhere inside the last record (a crash mid-append), the journal
// reads up to the last whole record, and the manifest ends there with a gap.
func TestJournalTornTail(t *testing.T) {
	rec := journalRecording(t)
	full := journalOf(t, rec, false)
	withoutLast := journalOf(t, &recording{m: withChunks(rec.m, len(rec.m.Chunks)-1)}, false)
	for cut := len(withoutLast) + 1; cut < len(full); cut++ {
		j, err := ReadJournal(full[:cut])
		require.NoError(t, err, "cut at %d", cut)
		require.True(t, j.Torn)
		require.Equal(t, len(withoutLast), j.Valid)
		m, err := j.Manifest("node crashed")
		require.NoError(t, err)
		require.EqualValues(t, len(rec.m.Chunks)-1, m.ChunkCount)
		require.Len(t, m.Gaps, 1)
		require.Equal(t, "node crashed", m.Gaps[0].Reason)
	}
	// A garbled final record is torn too.
	garbled := append([]byte(nil), full...)
	garbled[len(garbled)-6] ^= 0x40
	j, err := ReadJournal(garbled)
	require.NoError(t, err)
	require.True(t, j.Torn)
	require.Equal(t, len(withoutLast), j.Valid)
}

// withChunks keeps the first n chunks of a manifest.
func withChunks(m Manifest, n int) Manifest {
	m.Chunks, m.ChunkCount = m.Chunks[:n], uint64(n)
	m.Root = MerkleRoot(m.Leaves())
	return m
}

// Chunks past a missing index are dropped from the manifest, and the gap
// says so: a manifest never lists a hole.
func TestJournalMissingChunk(t *testing.T) {
	rec := journalRecording(t)
	b, err := AppendJournalBegin(nil, beginManifest(rec.m))
	require.NoError(t, err)
	for i, c := range rec.m.Chunks {
		if i != 2 {
			b = AppendJournalChunk(b, c)
		}
	}
	j, err := ReadJournal(b)
	require.NoError(t, err)
	m, err := j.Manifest("node crashed")
	require.NoError(t, err)
	require.EqualValues(t, 2, m.ChunkCount)
	require.Len(t, m.Gaps, 1)
	require.Contains(t, m.Gaps[0].Reason, fmt.Sprintf("%d later chunk(s)", len(rec.m.Chunks)-3))
	report := VerifyRecording(m, rec.chunkFunc())
	require.True(t, report.OK(), "%+v", report)
}

func TestJournalRejects(t *testing.T) {
	rec := journalRecording(t)
	good := journalOf(t, rec, true)
	noBegin := AppendJournalChunk(nil, rec.m.Chunks[0])
	afterEnd := AppendJournalChunk(append([]byte(nil), good...), rec.m.Chunks[0])
	oneBegin, err := AppendJournalBegin(nil, beginManifest(rec.m))
	require.NoError(t, err)
	twoBegins, err := AppendJournalBegin(append([]byte(nil), oneBegin...), beginManifest(rec.m))
	require.NoError(t, err)
	for name, b := range map[string][]byte{
		"empty":      nil,
		"no begin":   noBegin,
		"after end":  afterEnd,
		"bad kind":   appendJournalRecord(append([]byte(nil), journalOf(t, rec, false)...), 9, []byte{0}),
		"two begins": twoBegins,
	} {
		_, err := ReadJournal(b)
		require.ErrorIs(t, err, ErrMalformed, name)
	}
}

func TestFileStoreJournal(t *testing.T) {
	rec := journalRecording(t)
	st, err := OpenFileStore(filepath.Join(t.TempDir(), "rec"))
	require.NoError(t, err)
	full := journalOf(t, rec, true)
	require.NoError(t, st.AppendJournal(rec.session, full[:len(full)/2]))
	require.NoError(t, st.AppendJournal(rec.session, full[len(full)/2:]))
	b, err := st.Journal(rec.session)
	require.NoError(t, err)
	require.Equal(t, full, b)
	require.NoError(t, st.TruncateJournal(rec.session, 10))
	b, err = st.Journal(rec.session)
	require.NoError(t, err)
	require.Len(t, b, 10)
}

func FuzzReadJournal(f *testing.F) {
	rec := journalRecording(f)
	full := journalOf(f, rec, true)
	f.Add(full)
	f.Add(full[:len(full)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		j, err := ReadJournal(b)
		if err != nil {
			return
		}
		require.LessOrEqual(t, j.Valid, len(b))
		if m, err := j.Manifest("fuzz"); err == nil {
			_, err := m.Encode()
			require.NoError(t, err)
		}
	})
}
