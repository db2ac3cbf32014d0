package media

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// A recording stored and read back verifies, chunk by chunk and as a
// whole, and the store lists what it holds.
func TestFileStoreRoundTrip(t *testing.T) {
	r := pcg(7)
	frames := streamFrames(r, realLooking(r, 300<<10), randomBytes(r, 200<<10), 16<<10, time.Millisecond)
	rec := newRecording(t, "store", frames, 64<<10, time.Minute)

	st, err := OpenFileStore(filepath.Join(t.TempDir(), "recordings"))
	require.NoError(t, err)
	for i, sealed := range rec.sealed {
		require.NoError(t, st.PutChunk(rec.session, uint64(i), sealed))
	}
	_, err = st.Manifest(rec.session)
	require.True(t, errors.Is(err, fs.ErrNotExist), "no manifest before the session ends")
	require.NoError(t, st.PutManifest(rec.m))

	got, err := st.Manifest(rec.session)
	require.NoError(t, err)
	require.Equal(t, rec.m.Hash(), got.Hash())
	report := VerifyWithKey(got, rec.key, func(i uint64) ([]byte, error) { return st.Chunk(rec.session, i) })
	require.True(t, report.OK(), "%+v", report)

	ids, err := st.Sessions()
	require.NoError(t, err)
	require.Equal(t, []sessions.ID{rec.session}, ids)
	idx, err := st.Chunks(rec.session)
	require.NoError(t, err)
	require.Len(t, idx, len(rec.sealed))
	for i, v := range idx {
		require.EqualValues(t, i, v)
	}

	_, err = st.Chunk(rec.session, uint64(len(rec.sealed)))
	require.True(t, errors.Is(err, fs.ErrNotExist))
}

// A crash between writing a temporary file and renaming it leaves the old
// chunk intact and a temporary file that Clean removes; Chunks never lists it.
func TestFileStoreLeftoversFromACrash(t *testing.T) {
	st, err := OpenFileStore(t.TempDir())
	require.NoError(t, err)
	id := testSession(t, "crash")
	require.NoError(t, st.PutChunk(id, 0, []byte("sealed-0")))
	dir := filepath.Join(st.Dir(), id.String())
	stray := filepath.Join(dir, tempPrefix+chunkName(1)+"-123")
	require.NoError(t, os.WriteFile(stray, []byte("half a chun"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600))

	idx, err := st.Chunks(id)
	require.NoError(t, err)
	require.Equal(t, []uint64{0}, idx)
	require.NoError(t, st.Clean(id))
	_, err = os.Stat(stray)
	require.True(t, errors.Is(err, fs.ErrNotExist))
	b, err := st.Chunk(id, 0)
	require.NoError(t, err)
	require.Equal(t, "sealed-0", string(b))

	// Rewriting a chunk replaces it whole.
	require.NoError(t, st.PutChunk(id, 0, []byte("sealed-0-again")))
	b, err = st.Chunk(id, 0)
	require.NoError(t, err)
	require.Equal(t, "sealed-0-again", string(b))
}
