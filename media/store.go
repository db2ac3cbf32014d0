package media

import (
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/lucidnet/lucid/sessions"
)

// FileStore keeps recordings as files: one directory per session holding
// its sealed chunks and, once the session has ended, its manifest. Every
// file is written whole or not at all (temporary file, fsync, rename,
// fsync of the directory), so a crash at any moment leaves only complete
// chunks and stray temporary files that Clean removes.
//
// The pipeline's chunks are written with direct I/O (O_DIRECT, on Linux)
// where the file system takes it, from its own aligned buffers: a
// recording is written once and rarely read, so copying it into the page
// cache only costs CPU, which sealing needs, and evicts other data. The sync, rename and directory sync are the same either
// way; a file system that refuses direct I/O gets ordinary writes.
//
// This is I/O, not part of the deterministic core: the pipeline calls it.
type FileStore struct {
	dir string
	// noDirect is set once the file system has refused direct I/O.
	noDirect atomic.Bool
}

const (
	chunkPrefix  = "chunk-"
	chunkSuffix  = ".lck"
	manifestName = "manifest.cbor"
	tempPrefix   = ".tmp-"
)

// OpenFileStore uses dir (created with mode 0700 if missing).
func OpenFileStore(dir string) (*FileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("recording store %s: %w", dir, err)
	}
	return &FileStore{dir: dir}, nil
}

// Dir is the store's root directory.
func (s *FileStore) Dir() string { return s.dir }

func (s *FileStore) sessionDir(id sessions.ID) string { return filepath.Join(s.dir, id.String()) }

func chunkName(index uint64) string { return fmt.Sprintf("%s%016x%s", chunkPrefix, index, chunkSuffix) }

// PutChunk stores a sealed chunk durably. Storing the same index twice
// replaces it atomically; readers see the old or the new file, never a mix.
func (s *FileStore) PutChunk(id sessions.ID, index uint64, sealed []byte) error {
	dir := s.sessionDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return writeAtomic(dir, chunkName(index), sealed)
}

// Chunk reads a sealed chunk; a missing one is an fs.ErrNotExist error.
func (s *FileStore) Chunk(id sessions.ID, index uint64) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.sessionDir(id), chunkName(index)))
}

// PutManifest stores a session's manifest durably, replacing an earlier one.
func (s *FileStore) PutManifest(m Manifest) error {
	b, err := m.Encode()
	if err != nil {
		return err
	}
	dir := s.sessionDir(m.Session)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return writeAtomic(dir, manifestName, b)
}

// Manifest reads and decodes a session's manifest; a session without one
// (still recording, or interrupted) gives an fs.ErrNotExist error.
func (s *FileStore) Manifest(id sessions.ID) (Manifest, error) {
	b, err := os.ReadFile(filepath.Join(s.sessionDir(id), manifestName))
	if err != nil {
		return Manifest{}, err
	}
	m, err := DecodeManifest(b)
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest of %s: %w", id, err)
	}
	return m, nil
}

// Sessions lists the sessions that have a directory in the store, in ID
// order. Directory entries that are not session IDs are ignored.
func (s *FileStore) Sessions() ([]sessions.ID, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []sessions.ID
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if id, err := sessions.ParseID(e.Name()); err == nil {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b sessions.ID) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

// Chunks lists the indexes of the chunks stored for a session, ascending.
// Recovery compares them with what the journal promised.
func (s *FileStore) Chunks(id sessions.ID) ([]uint64, error) {
	entries, err := os.ReadDir(s.sessionDir(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, chunkPrefix) || !strings.HasSuffix(name, chunkSuffix) {
			continue
		}
		hex := strings.TrimSuffix(strings.TrimPrefix(name, chunkPrefix), chunkSuffix)
		if len(hex) != 16 {
			continue
		}
		if i, err := strconv.ParseUint(hex, 16, 64); err == nil {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Clean removes temporary files that a crash left behind in a session's
// directory: they were never acknowledged, so nothing is lost.
func (s *FileStore) Clean(id sessions.ID) error {
	entries, err := os.ReadDir(s.sessionDir(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			// Gone already (renamed or removed by its writer): nothing to clean.
			if err := os.Remove(filepath.Join(s.sessionDir(id), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// writeAtomic writes dir/name so that after a crash it holds either its
// previous content or all of data: temporary file, fsync, rename, fsync of
// the directory (which makes the rename itself durable).
func writeAtomic(dir, name string, data []byte) error {
	tmp, err := writeTempBuffered(dir, name, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// chunkWrite is a sealed chunk for commitChunks. When direct is set, the
// store owns sealed's capacity (see directWritable) and may write it with
// direct I/O.
type chunkWrite struct {
	index  uint64
	sealed []byte
	direct bool
}

var errDirectUnsupported = errors.New("direct I/O not supported")

// directOpen is openDirect; tests replace it.
var directOpen = openDirect

// commitChunks makes sealed chunks of one session durable under their
// names and then acknowledges them in the journal, as PutChunk followed by
// AppendJournal does for each, with one directory sync for all the renames
// and one journal sync for all the records: each chunk is written to a
// temporary file, synced and renamed into place; the directory is synced,
// which makes the renames durable; only then are records (the chunks'
// journal records, in order) appended and synced. A chunk is never
// journalled before it and every chunk before it in chunks are durable.
func (s *FileStore) commitChunks(id sessions.ID, chunks []chunkWrite, records []byte) error {
	dir := s.sessionDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, c := range chunks {
		tmp, err := s.writeTemp(dir, chunkName(c.index), c.sealed, c.direct)
		if err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, chunkName(c.index))); err != nil {
			os.Remove(tmp)
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return s.AppendJournal(id, records)
}

// writeTemp writes data to a new temporary file in dir for name, syncs and
// closes it, and returns its path. With direct set (the caller owns data's
// capacity, see directWritable), it writes with direct I/O where the file
// system allows: the padding up to the alignment is zeroed, written and
// cut off again before the sync.
func (s *FileStore) writeTemp(dir, name string, data []byte, direct bool) (string, error) {
	if direct && directWritable(data) && !s.noDirect.Load() {
		path, err := writeTempDirect(dir, name, data)
		if !errors.Is(err, errDirectUnsupported) {
			return path, err
		}
		s.noDirect.Store(true)
	}
	return writeTempBuffered(dir, name, data)
}

func writeTempBuffered(dir, name string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, tempPrefix+name+"-*")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), syncClose(f)
}

func writeTempDirect(dir, name string, data []byte) (string, error) {
	var (
		f    *os.File
		path string
		err  error
	)
	for range 100 {
		path = filepath.Join(dir, tempPrefix+name+"-"+strconv.FormatUint(uint64(mrand.Uint32()), 10))
		if f, err = directOpen(path); !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return "", err
	}
	padded := data[:alignUp(len(data))]
	clear(padded[len(data):])
	if _, err := f.Write(padded); err != nil {
		f.Close()
		os.Remove(path)
		if directRefused(err) {
			return "", errDirectUnsupported
		}
		return "", err
	}
	if len(padded) > len(data) {
		if err := f.Truncate(int64(len(data))); err != nil {
			f.Close()
			os.Remove(path)
			return "", err
		}
	}
	return path, syncClose(f)
}

// syncClose syncs and closes a temporary file, removing it on an error.
func syncClose(f *os.File) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

const journalName = "journal"

// AppendJournal appends records to a session's journal and syncs them: a
// record is acknowledged only once this returns.
func (s *FileStore) AppendJournal(id sessions.ID, records []byte) error {
	dir := s.sessionDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(records); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Journal reads a session's journal bytes.
func (s *FileStore) Journal(id sessions.ID) ([]byte, error) {
	return os.ReadFile(filepath.Join(s.sessionDir(id), journalName))
}

// TruncateJournal cuts a torn tail off a journal before recovery appends
// to it again.
func (s *FileStore) TruncateJournal(id sessions.ID, size int64) error {
	return os.Truncate(filepath.Join(s.sessionDir(id), journalName), size)
}
