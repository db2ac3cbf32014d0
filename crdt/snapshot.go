package crdt

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"

	"github.com/lucidnet/lucid/sessions"
)

// Snapshots. A snapshot is the whole map state as a stream of frames, each
// a 4-byte big-endian length and a canonical CBOR item: first a header
// {1: version, 2: record count, 3: digest}, then every record in
// ascending ID order (the same encoding a record hash covers), then the
// end of the stream. The same state always gives the same bytes. Reading
// checks every record as strictly as a delta, and the digest of what was
// read against the header, so a truncated, reordered or altered snapshot
// is refused as a whole.
//
// A snapshot carries state, not signed deltas: load one only from a
// source the shell trusts (the node's own disk, a peer of the same
// operator). For catch-up from untrusted peers run the sync protocol
// against an empty map, which costs about the same bytes and transfers
// signed deltas.

// MaxSnapshotFrame bounds one frame of a snapshot.
const MaxSnapshotFrame = 1 << 20

type wireSnapHeader struct {
	Version uint64 `cbor:"1,keyasint,omitempty"`
	Count   uint64 `cbor:"2,keyasint,omitempty"`
	Digest  []byte `cbor:"3,keyasint,omitempty"`
}

func writeFrame(w *bufio.Writer, b []byte) error {
	if len(b) > MaxSnapshotFrame {
		return errf(ErrTooLarge, "snapshot frame of %d bytes, limit %d", len(b), MaxSnapshotFrame)
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// WriteSnapshot writes the map's state to w. Errors from w are returned as
// they are.
func (m *Map) WriteSnapshot(w io.Writer) error {
	bw := bufio.NewWriter(w)
	d := m.Digest()
	hdr := wireSnapHeader{Version: snapshotVersion, Count: uint64(len(m.recs)), Digest: d[:]}
	if err := writeFrame(bw, mustMarshal(&hdr)); err != nil {
		return err
	}
	var err error
	m.walk(m.root, func(id sessions.ID) bool {
		err = writeFrame(bw, encodeRecord(id, &m.recs[id].r))
		return err == nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

// Snapshot returns the map's state as one byte slice.
func (m *Map) Snapshot() []byte {
	var b bytes.Buffer
	_ = m.WriteSnapshot(&b) // a bytes.Buffer does not fail
	return b.Bytes()
}

func readFrame(r *bufio.Reader, limit int, what string) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, malformed("snapshot truncated before %s", what)
		}
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size == 0 {
		return nil, malformed("empty %s frame", what)
	}
	if size > uint32(limit) {
		return nil, errf(ErrTooLarge, "%s frame of %d bytes, limit %d", what, size, limit)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, malformed("snapshot truncated in %s", what)
		}
		return nil, err
	}
	return b, nil
}

// ReadSnapshot reads a snapshot from r and joins it into the map (into an
// empty map: restores it). Nothing changes unless the whole snapshot is
// valid. It returns how many records changed. Format errors wrap
// ErrMalformed, ErrUnsupportedVersion or ErrTooLarge; errors from r are
// returned as they are.
func (m *Map) ReadSnapshot(r io.Reader) (changed int, err error) {
	br := bufio.NewReader(r)
	hb, err := readFrame(br, 4096, "header")
	if err != nil {
		return 0, err
	}
	if err := checkVersion(hb, snapshotVersion, "snapshot header"); err != nil {
		return 0, err
	}
	var hdr wireSnapHeader
	if err := decMode.Unmarshal(hb, &hdr); err != nil {
		return 0, malformed("snapshot header: %v", err)
	}
	if len(hdr.Digest) != 32 {
		return 0, malformed("snapshot digest of %d bytes", len(hdr.Digest))
	}
	if !bytes.Equal(mustMarshal(&hdr), hb) {
		return 0, malformed("snapshot header is not in canonical encoding")
	}
	tmp := NewMap(m.params)
	var prev sessions.ID
	for i := uint64(0); i < hdr.Count; i++ {
		b, err := readFrame(br, MaxSnapshotFrame, "record")
		if err != nil {
			return 0, err
		}
		var w wireRecord
		if err := decMode.Unmarshal(b, &w); err != nil {
			return 0, malformed("snapshot record %d: %v", i, err)
		}
		id, rc, err := w.rec(snapshotLimits, "", true)
		if err != nil {
			return 0, err
		}
		if i > 0 && cmpID(prev, id) >= 0 {
			return 0, malformed("snapshot records not strictly ascending at %d", i)
		}
		if !bytes.Equal(encodeRecord(id, &rc), b) {
			return 0, malformed("snapshot record %d is not in canonical encoding", i)
		}
		prev = id
		tmp.recs[id] = &entry{r: rc}
		tmp.treeInsert(id)
	}
	if _, err := br.ReadByte(); err == nil {
		return 0, malformed("trailing data after %d snapshot records", hdr.Count)
	} else if !errors.Is(err, io.EOF) {
		return 0, err
	}
	if d := tmp.Digest(); !bytes.Equal(d[:], hdr.Digest) {
		return 0, malformed("snapshot digest does not match its records")
	}
	if len(m.recs) == 0 {
		m.recs, m.root = tmp.recs, tmp.root
		return len(m.recs), nil
	}
	return m.MergeMap(tmp), nil
}

// LoadSnapshot is ReadSnapshot from a byte slice.
func (m *Map) LoadSnapshot(b []byte) (changed int, err error) {
	return m.ReadSnapshot(bytes.NewReader(b))
}
