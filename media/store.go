package media

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lucidnet/lucid/sessions"
)

// FileStore keeps recordings as files: one directory per session holding
// its sealed chunks and, once the session has ended, its manifest. Every
// file is written whole or not at all (temporary file, fsync, rename,
// fsync of the directory), so a crash at any moment leaves only complete
// chunks and stray temporary files that Clean removes.
//
// This is I/O, not part of the deterministic core: the pipeline calls it.
type FileStore struct {
	dir string
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
			errs = append(errs, os.Remove(filepath.Join(s.sessionDir(id), e.Name())))
		}
	}
	return errors.Join(errs...)
}

// writeAtomic writes dir/name so that after a crash it holds either its
// previous content or all of data: temporary file, fsync, rename, fsync of
// the directory (which makes the rename itself durable).
func writeAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, tempPrefix+name+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
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
