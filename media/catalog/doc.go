package catalog

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/sessions"
)

// sessionDoc and chunkDoc are the stored forms, the same fields in both
// backends: BSON documents in MongoDB's sessions and chunks collections,
// CBOR maps with the same keys in Badger (JSON is for people: `lucid`
// prints it; CBOR decodes several times faster, which stats over 10^5
// chunk records feel). Field names follow the original design's
// collections (session_id, idx, local_path, size_bytes, …).
type sessionDoc struct {
	ID             string    `bson:"_id" json:"_id" cbor:"_id"`
	Owner          string    `bson:"owner_peer" json:"owner_peer" cbor:"owner_peer"`
	Host           string    `bson:"host_peer" json:"host_peer" cbor:"host_peer"`
	Service        string    `bson:"service" json:"service" cbor:"service"`
	Status         string    `bson:"status" json:"status" cbor:"status"`
	Started        time.Time `bson:"started_at" json:"started_at" cbor:"started_at"`
	Ended          time.Time `bson:"ended_at" json:"ended_at" cbor:"ended_at"`
	ChunkCount     int64     `bson:"chunk_count" json:"chunk_count" cbor:"chunk_count"`
	SealedBytes    int64     `bson:"sealed_bytes" json:"sealed_bytes" cbor:"sealed_bytes"`
	PlaintextBytes int64     `bson:"plaintext_bytes" json:"plaintext_bytes" cbor:"plaintext_bytes"`
	Gaps           int64     `bson:"gaps" json:"gaps" cbor:"gaps"`
	Root           string    `bson:"merkle_root" json:"merkle_root" cbor:"merkle_root"`
	ManifestHash   string    `bson:"manifest_hash" json:"manifest_hash" cbor:"manifest_hash"`
}

type chunkDoc struct {
	ID            string    `bson:"_id" json:"_id" cbor:"_id"`
	Session       string    `bson:"session_id" json:"session_id" cbor:"session_id"`
	Index         int64     `bson:"idx" json:"idx" cbor:"idx"`
	Owner         string    `bson:"owner_peer" json:"owner_peer" cbor:"owner_peer"`
	Day           string    `bson:"day" json:"day" cbor:"day"`
	Path          string    `bson:"local_path" json:"local_path" cbor:"local_path"`
	Leaf          string    `bson:"leaf_blake3" json:"leaf_blake3"`
	SealedSize    int64     `bson:"size_bytes" json:"size_bytes" cbor:"size_bytes"`
	PlaintextSize int64     `bson:"plaintext_bytes" json:"plaintext_bytes" cbor:"plaintext_bytes"`
	First         time.Time `bson:"first_at" json:"first_at" cbor:"first_at"`
	Last          time.Time `bson:"last_at" json:"last_at" cbor:"last_at"`
}

// chunkID is a chunk's document _id: its session and zero-padded index,
// so IDs sort in index order and a repeated insert collides.
func chunkID(s sessions.ID, index uint64) string { return fmt.Sprintf("%s/%016x", s, index) }

func peerText(p peer.ID) string {
	if p == "" {
		return ""
	}
	return p.String()
}

func parsePeer(field, s string) (peer.ID, error) {
	if s == "" {
		return "", nil
	}
	p, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("catalog: %s %q: %w", field, s, err)
	}
	return p, nil
}

// count guards the int64 fields BSON forces on us.
func count(field string, n int64) (uint64, error) {
	if n < 0 {
		return 0, fmt.Errorf("catalog: %s is negative (%d)", field, n)
	}
	return uint64(n), nil
}

func (s Session) doc() sessionDoc {
	return sessionDoc{
		ID: s.ID.String(), Owner: peerText(s.Owner), Host: peerText(s.Host), Service: s.Service,
		Status: string(s.Status), Started: millis(s.Started), Ended: millis(s.Ended),
		ChunkCount: int64(s.ChunkCount), SealedBytes: int64(s.SealedBytes), PlaintextBytes: int64(s.PlaintextBytes),
		Gaps: int64(s.Gaps), Root: hashText(s.Root), ManifestHash: hashText(s.ManifestHash),
	}
}

func (d sessionDoc) value() (Session, error) {
	var s Session
	var err error
	if s.ID, err = sessions.ParseID(d.ID); err != nil {
		return Session{}, fmt.Errorf("catalog: session _id: %w", err)
	}
	if s.Owner, err = parsePeer("owner_peer", d.Owner); err != nil {
		return Session{}, err
	}
	if s.Host, err = parsePeer("host_peer", d.Host); err != nil {
		return Session{}, err
	}
	switch st := Status(d.Status); st {
	case StatusRecording, StatusSealed, StatusInterrupted:
		s.Status = st
	default:
		return Session{}, fmt.Errorf("catalog: session %s: unknown status %q", d.ID, d.Status)
	}
	if s.ChunkCount, err = count("chunk_count", d.ChunkCount); err != nil {
		return Session{}, err
	}
	if s.SealedBytes, err = count("sealed_bytes", d.SealedBytes); err != nil {
		return Session{}, err
	}
	if s.PlaintextBytes, err = count("plaintext_bytes", d.PlaintextBytes); err != nil {
		return Session{}, err
	}
	gaps, err := count("gaps", d.Gaps)
	if err != nil {
		return Session{}, err
	}
	s.Gaps = int(min(gaps, 1<<31-1))
	if s.Root, err = parseHash(d.Root); err != nil {
		return Session{}, err
	}
	if s.ManifestHash, err = parseHash(d.ManifestHash); err != nil {
		return Session{}, err
	}
	s.Service = d.Service
	s.Started, s.Ended = millis(d.Started), millis(d.Ended)
	return s, nil
}

func (c Chunk) doc() chunkDoc {
	return chunkDoc{
		ID: chunkID(c.Session, c.Index), Session: c.Session.String(), Index: int64(c.Index),
		Owner: peerText(c.Owner), Day: c.Day, Path: c.Path, Leaf: hashText(c.Leaf),
		SealedSize: int64(c.SealedSize), PlaintextSize: int64(c.PlaintextSize),
		First: millis(c.First), Last: millis(c.Last),
	}
}

func (d chunkDoc) value() (Chunk, error) {
	var c Chunk
	var err error
	if c.Session, err = sessions.ParseID(d.Session); err != nil {
		return Chunk{}, fmt.Errorf("catalog: chunk session_id: %w", err)
	}
	if c.Index, err = count("idx", d.Index); err != nil {
		return Chunk{}, err
	}
	if c.Owner, err = parsePeer("owner_peer", d.Owner); err != nil {
		return Chunk{}, err
	}
	if c.Leaf, err = parseHash(d.Leaf); err != nil {
		return Chunk{}, err
	}
	if c.SealedSize, err = count("size_bytes", d.SealedSize); err != nil {
		return Chunk{}, err
	}
	if c.PlaintextSize, err = count("plaintext_bytes", d.PlaintextSize); err != nil {
		return Chunk{}, err
	}
	c.Day, c.Path = d.Day, d.Path
	c.First, c.Last = millis(d.First), millis(d.Last)
	return c, nil
}
