package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"
)

// The journal is a session's recording log, appended and synced as the
// session is recorded, so that after a crash the node can write the
// manifest the session never got: which chunks were sealed and durable,
// under which keys and receipts, and where the recording stops.
//
// Record = uvarint(len(body)) ‖ body ‖ CRC-32C(body), big-endian; body =
// kind byte ‖ CBOR. A crash mid-append leaves a short or garbled last
// record, which readers drop (Torn).

// Journal record kinds.
const (
	journalBegin byte = 1 // the manifest as known at the start (no chunks)
	journalChunk byte = 2 // one ChunkInfo, appended once the chunk is durable
	journalEnd   byte = 3 // the session ended normally: Unix ns
)

// maxJournalRecord bounds one record: a begin record holds receipts and
// wrapped keys, far below this.
const maxJournalRecord = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendJournalRecord(dst []byte, kind byte, cborBody []byte) []byte {
	body := append([]byte{kind}, cborBody...)
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	dst = append(dst, body...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(body, castagnoli))
}

// AppendJournalBegin appends the begin record: the manifest as it stands
// when recording starts (identities, receipts, wrapped keys; no chunks).
func AppendJournalBegin(dst []byte, m Manifest) ([]byte, error) {
	if len(m.Chunks) != 0 || m.ChunkCount != 0 {
		return nil, fmt.Errorf("%w: a begin record has no chunks", ErrInvalidArgument)
	}
	m.Root = EmptyRoot
	b, err := m.Encode()
	if err != nil {
		return nil, err
	}
	return appendJournalRecord(dst, journalBegin, b), nil
}

// AppendJournalChunk appends the record of one durable chunk.
func AppendJournalChunk(dst []byte, c ChunkInfo) []byte {
	return appendJournalRecord(dst, journalChunk, mustMarshal(c.wire()))
}

// AppendJournalEnd appends the record of a normal end.
func AppendJournalEnd(dst []byte, at time.Time) []byte {
	return appendJournalRecord(dst, journalEnd, mustMarshal(nanos(at)))
}

// Journal is what a journal file says.
type Journal struct {
	Begin  Manifest
	Chunks []ChunkInfo // in journal order
	Ended  time.Time   // zero: the session did not end normally
	// Torn is set when the last record was cut short or garbled by a crash
	// mid-append; it was never acknowledged and is ignored.
	Torn bool
	// Valid is the length of the complete records; recovery truncates the
	// file to it before appending again.
	Valid int
}

// ReadJournal parses a journal. It must start with a begin record. The
// first record that is short, has an impossible length or fails its
// checksum ends the journal (Torn): a crash mid-append leaves exactly that,
// and whatever follows damage cannot be trusted, so recovery drops it and
// records a gap. A record that checks out but does not decode is an error.
func ReadJournal(b []byte) (Journal, error) {
	var j Journal
	for off, n := 0, 0; off < len(b); n++ {
		size, vlen := binary.Uvarint(b[off:])
		if vlen <= 0 || size == 0 || size > maxJournalRecord || uint64(len(b)-off-vlen) < size+4 {
			j.Torn = true
			break
		}
		body := b[off+vlen : off+vlen+int(size)]
		end := off + vlen + int(size) + 4
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[end-4:end]) {
			j.Torn = true
			break
		}
		if err := j.apply(n, body[0], body[1:]); err != nil {
			return j, err
		}
		off, j.Valid = end, end
	}
	if j.Valid == 0 {
		return j, malformed("journal has no begin record")
	}
	return j, nil
}

func (j *Journal) apply(n int, kind byte, body []byte) error {
	if n == 0 && kind != journalBegin {
		return malformed("journal starts with record kind %d, not begin", kind)
	}
	if !j.Ended.IsZero() {
		return malformed("journal record %d after the end record", n)
	}
	switch kind {
	case journalBegin:
		if n != 0 {
			return malformed("journal record %d: a second begin record", n)
		}
		m, err := DecodeManifest(body)
		if err != nil {
			return fmt.Errorf("journal begin record: %w", err)
		}
		if m.ChunkCount != 0 {
			return malformed("journal begin record lists chunks")
		}
		j.Begin = m
	case journalChunk:
		var w wireChunkInfo
		if err := decodeCanonical(body, &w); err != nil {
			return malformed("journal record %d: %v", n, err)
		}
		c, err := chunkFromWire(&w, uint64(j.Begin.MaxChunkPlaintext))
		if err != nil {
			return fmt.Errorf("journal record %d: %w", n, err)
		}
		j.Chunks = append(j.Chunks, c)
	case journalEnd:
		var ns uint64
		if err := decodeCanonical(body, &ns); err != nil {
			return malformed("journal record %d: %v", n, err)
		}
		t, err := timeFromNanos(ns, "journal end")
		if err != nil {
			return err
		}
		j.Ended = t
	default:
		return malformed("journal record %d: unknown kind %d", n, kind)
	}
	return nil
}

// Manifest completes the begin record with the journal's chunks: the
// longest run 0, 1, 2, … of them (chunks past a missing index cannot be
// listed without a hole). When the session did not end normally, or chunks
// were dropped, a gap after the last listed chunk records why.
func (j Journal) Manifest(reason string) (Manifest, error) {
	m := j.Begin
	chunks := slices.Clone(j.Chunks)
	slices.SortFunc(chunks, func(a, b ChunkInfo) int {
		switch {
		case a.Index < b.Index:
			return -1
		case a.Index > b.Index:
			return 1
		}
		return 0
	})
	chunks = slices.CompactFunc(chunks, func(a, b ChunkInfo) bool { return a.Index == b.Index })
	run := 0
	for run < len(chunks) && chunks[run].Index == uint64(run) {
		run++
	}
	dropped := len(chunks) - run
	m.Chunks, m.ChunkCount = chunks[:run], uint64(run)
	m.Root = MerkleRoot(m.Leaves())
	m.Ended = j.Ended
	if m.Ended.IsZero() && run > 0 {
		m.Ended = m.Chunks[run-1].Last
	}
	if (j.Ended.IsZero() || dropped > 0) && run > 0 {
		if dropped > 0 {
			reason = fmt.Sprintf("%s; %d later chunk(s) after a missing one dropped", reason, dropped)
		}
		m.Gaps = append(m.Gaps, Gap{AfterIndex: uint64(run - 1), Reason: reason, From: m.Chunks[run-1].Last})
	}
	if err := m.Validate(); err != nil {
		return Manifest{}, fmt.Errorf("manifest from journal: %w", err)
	}
	return m, nil
}

// decodeCanonical decodes exactly one CBOR item and insists that it was in
// canonical form, so each record has one encoding.
func decodeCanonical(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return err
	}
	if !bytes.Equal(mustMarshal(v), b) {
		return errors.New("not in canonical form")
	}
	return nil
}
