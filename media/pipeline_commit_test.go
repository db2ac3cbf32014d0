package media

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// A pooled buffer holds whatever the last chunk left in it; the sealed
// chunk built in it is byte for byte what SealChunk returns.
func TestSealChunkIntoDirtyBuffer(t *testing.T) {
	key, session := testSessionKey(t, "dirty"), testSession(t, "dirty")
	pool := newSealBufPool(1 << 20)
	buf := pool.get()
	r := pcg(40)
	for _, plain := range [][]byte{randomBytes(r, 1<<20), realLooking(r, 1<<20), randomBytes(r, 1), realLooking(r, 70000)} {
		*buf = (*buf)[:cap(*buf)]
		for i := range *buf {
			(*buf)[i] = 0xa5
		}
		want, err := SealChunk(key, session, 7, plain)
		require.NoError(t, err)
		got, err := sealChunk((*buf)[:0], key, session, 7, plain)
		require.NoError(t, err)
		require.Equal(t, want, got)
		require.True(t, directWritable(got), "a pooled buffer is fit for direct I/O")
		require.Same(t, unsafeFirst(*buf), unsafeFirst(got), "sealed in place")
	}
}

func unsafeFirst(b []byte) *byte { return &b[:1][0] }

// commitChunks writes exactly the chunk's bytes, through direct I/O or
// not, whatever the length's alignment, leaves no temporary file, and
// journals the chunks after them.
func TestCommitChunksWritesExactBytes(t *testing.T) {
	st, err := OpenFileStore(t.TempDir())
	require.NoError(t, err)
	id := testSession(t, "commit")
	pool := newSealBufPool(200 << 10)
	r := pcg(41)
	var (
		writes  []chunkWrite
		records []byte
		want    [][]byte
	)
	for i, n := range []int{1, 4095, 4096, 4097, 8192, 100000, 200 << 10} {
		for _, direct := range []bool{true, false} {
			data := randomBytes(r, n)
			b := append(*pool.get(), data...)
			index := uint64(2*i) + map[bool]uint64{true: 0, false: 1}[direct]
			writes = append(writes, chunkWrite{index: index, sealed: b, direct: direct})
			records = AppendJournalChunk(records, ChunkInfo{Index: index, SealedSize: uint64(n)})
			want = append(want, data)
		}
	}
	require.NoError(t, st.commitChunks(id, writes, records))
	for i, w := range writes {
		got, err := st.Chunk(id, w.index)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want[i], got), "chunk %d (%d bytes, direct %v)", w.index, len(want[i]), w.direct)
	}
	requireNoTemp(t, st, id)
	j, err := st.Journal(id)
	require.NoError(t, err)
	require.Equal(t, records, j)
	t.Logf("direct I/O refused by %s: %v", st.Dir(), st.noDirect.Load())
}

// A file system that refuses direct I/O gets ordinary writes, and the
// store stops trying.
func TestCommitChunksWithoutDirectIO(t *testing.T) {
	calls := 0
	directOpen = func(string) (*os.File, error) { calls++; return nil, errDirectUnsupported }
	t.Cleanup(func() { directOpen = openDirect })
	st, err := OpenFileStore(t.TempDir())
	require.NoError(t, err)
	id := testSession(t, "no direct")
	pool := newSealBufPool(64 << 10)
	data := randomBytes(pcg(42), 5000)
	for i := range uint64(3) {
		b := append(*pool.get(), data...)
		require.NoError(t, st.commitChunks(id, []chunkWrite{{index: i, sealed: b, direct: true}}, AppendJournalChunk(nil, ChunkInfo{Index: i})))
		got, err := st.Chunk(id, i)
		require.NoError(t, err)
		require.Equal(t, data, got)
	}
	require.Equal(t, 1, calls)
	require.True(t, st.noDirect.Load())
	requireNoTemp(t, st, id)
}

func requireNoTemp(t *testing.T, st *FileStore, id sessions.ID) {
	t.Helper()
	entries, err := os.ReadDir(st.sessionDir(id))
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.HasPrefix(e.Name(), tempPrefix), "temporary file %s left", e.Name())
	}
}

// orderIndexer checks, at every ChunkDurable, that the chunk is on disk
// and journalled and comes right after the previous one.
type orderIndexer struct {
	t  *testing.T
	st *FileStore

	mu     sync.Mutex
	next   map[sessions.ID]uint64
	sealed map[sessions.ID]Manifest
}

func (x *orderIndexer) RecordingStarted(m Manifest) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.next[m.Session] = 0
}

func (x *orderIndexer) ChunkDurable(begin *Manifest, c ChunkInfo) {
	x.mu.Lock()
	defer x.mu.Unlock()
	// Not require: this runs on the pipeline's goroutines.
	is := assert.New(x.t)
	is.Equal(x.next[begin.Session], c.Index, "chunks in order")
	x.next[begin.Session]++
	sealed, err := x.st.Chunk(begin.Session, c.Index)
	is.NoError(err)
	is.Equal(c.Leaf, LeafHash(sealed))
	b, err := x.st.Journal(begin.Session)
	is.NoError(err)
	j, err := ReadJournal(b)
	is.NoError(err)
	is.Greater(len(j.Chunks), int(c.Index), "journalled before the index hears of it")
}

func (x *orderIndexer) RecordingSealed(m Manifest) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.sealed[m.Session] = m
}

// The Indexer hears of every chunk once it is durable and journalled, in
// order, and of the manifest after the last chunk, with several sessions
// recording at once.
func TestPipelineIndexerHearsDurableChunksInOrder(t *testing.T) {
	st, err := OpenFileStore(filepath.Join(t.TempDir(), "rec"))
	require.NoError(t, err)
	x := &orderIndexer{t: t, st: st, next: map[sessions.ID]uint64{}, sealed: map[sessions.ID]Manifest{}}
	p, err := NewPipeline(PipelineConfig{Store: st, MaxChunkPlaintext: 64 << 10, Indexer: x, Workers: 3})
	require.NoError(t, err)
	var infos []sessions.Info
	for range 3 {
		info, _ := hostedSession(t)
		infos = append(infos, info)
		p.SessionEvent(sessions.Event{Kind: sessions.EventStarted, Info: info})
	}
	var wg sync.WaitGroup
	for i, info := range infos {
		wg.Go(func() {
			r := pcg(uint64(50 + i))
			feed(p, info.ID, randomBytes(r, 600<<10), realLooking(r, 300<<10))
			info.State, info.EndedAt = sessions.StateEnded, time.Now()
			p.SessionEvent(sessions.Event{Kind: sessions.EventEnded, Info: info})
		})
	}
	wg.Wait()
	require.NoError(t, p.Close())
	for _, info := range infos {
		m, ok := x.sealed[info.ID]
		require.True(t, ok)
		require.Empty(t, m.Gaps)
		require.Equal(t, m.ChunkCount, x.next[info.ID])
		require.Greater(t, m.ChunkCount, uint64(10))
		report := VerifyRecording(m, func(i uint64) ([]byte, error) { return st.Chunk(info.ID, i) })
		require.True(t, report.OK(), "%+v", report)
		requireNoTemp(t, st, info.ID)
	}
}

// When a chunk cannot be committed, the recording stops at the last
// durable chunk before it and the manifest marks the gap; the chunks in
// flight are dropped without leaking their slots, so other recordings go
// on.
func TestPipelineStopsAtAFailedCommit(t *testing.T) {
	st, err := OpenFileStore(filepath.Join(t.TempDir(), "rec"))
	require.NoError(t, err)
	p := newTestPipeline(t, st)
	info, _ := hostedSession(t)
	p.SessionEvent(sessions.Event{Kind: sessions.EventStarted, Info: info})
	// Chunk 3 cannot be renamed into place: a directory has its name.
	require.NoError(t, os.Mkdir(filepath.Join(st.sessionDir(info.ID), chunkName(3)), 0o700))
	feed(p, info.ID, randomBytes(pcg(43), 2<<20), nil)
	info.State, info.EndedAt = sessions.StateEnded, time.Now()
	p.SessionEvent(sessions.Event{Kind: sessions.EventEnded, Info: info})

	// Another session records in full on the same pipeline afterwards.
	other, _ := hostedSession(t)
	p.SessionEvent(sessions.Event{Kind: sessions.EventStarted, Info: other})
	feed(p, other.ID, randomBytes(pcg(44), 1<<20), nil)
	other.State, other.EndedAt = sessions.StateEnded, time.Now()
	p.SessionEvent(sessions.Event{Kind: sessions.EventEnded, Info: other})
	require.NoError(t, p.Close())

	m, err := st.Manifest(info.ID)
	require.NoError(t, err)
	t.Logf("recorded %d chunks, gaps %+v", m.ChunkCount, m.Gaps)
	require.LessOrEqual(t, m.ChunkCount, uint64(3))
	if m.ChunkCount > 0 { // chunks 0..3 may have been committed together
		require.Len(t, m.Gaps, 1)
		require.Equal(t, m.ChunkCount-1, m.Gaps[0].AfterIndex)
		require.Contains(t, m.Gaps[0].Reason, "chunk")
	}
	report := VerifyRecording(m, func(i uint64) ([]byte, error) { return st.Chunk(info.ID, i) })
	require.True(t, report.OK(), "%+v", report)
	b, err := st.Journal(info.ID)
	require.NoError(t, err)
	j, err := ReadJournal(b)
	require.NoError(t, err)
	require.Len(t, j.Chunks, int(m.ChunkCount), "the journal acknowledged what the manifest lists")
	requireNoTemp(t, st, info.ID)

	m, err = st.Manifest(other.ID)
	require.NoError(t, err)
	require.Empty(t, m.Gaps)
	require.Greater(t, m.ChunkCount, uint64(15))
}
