package catalog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/lucidnet/lucid/sessions"
)

// Badger is the embedded catalog: JSON records in the node's datastore
// under /recordings. Stats scans the chunk records.
type Badger struct {
	ds datastore.Batching
}

var _ Catalog = (*Badger)(nil)

const (
	badgerSessions = "/recordings/sessions"
	badgerChunks   = "/recordings/chunks"
)

// NewBadger keeps the catalog in ds, which stays the caller's to close.
// Writes are not synced one by one: the catalog is derived, and Reconcile
// restores what a crash dropped.
func NewBadger(ds datastore.Batching) *Badger { return &Badger{ds: ds} }

func sessionKey(id sessions.ID) datastore.Key {
	return datastore.NewKey(badgerSessions + "/" + id.String())
}

func chunkKey(id sessions.ID, index uint64) datastore.Key {
	return datastore.NewKey(badgerChunks + "/" + chunkID(id, index))
}

func (b *Badger) PutSession(ctx context.Context, s Session) error {
	v, err := recordEncode.Marshal(s.doc())
	if err != nil {
		return err
	}
	if err := b.ds.Put(ctx, sessionKey(s.ID), v); err != nil {
		return fmt.Errorf("catalog: put session %s: %w", s.ID, err)
	}
	return nil
}

func (b *Badger) PutChunks(ctx context.Context, chunks []Chunk) error {
	if len(chunks) == 0 {
		return nil
	}
	batch, err := b.ds.Batch(ctx)
	if err != nil {
		return err
	}
	for _, c := range chunks {
		v, err := recordEncode.Marshal(c.doc())
		if err != nil {
			return err
		}
		if err := batch.Put(ctx, chunkKey(c.Session, c.Index), v); err != nil {
			return err
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return fmt.Errorf("catalog: put %d chunks: %w", len(chunks), err)
	}
	return nil
}

func (b *Badger) Session(ctx context.Context, id sessions.ID) (Session, error) {
	v, err := b.ds.Get(ctx, sessionKey(id))
	if errors.Is(err, datastore.ErrNotFound) {
		return Session{}, fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Session{}, err
	}
	return decodeSession(v)
}

func (b *Badger) Sessions(ctx context.Context) ([]Session, error) {
	var out []Session
	err := b.scan(ctx, badgerSessions, func(v []byte) error {
		s, err := decodeSession(v)
		if err == nil {
			out = append(out, s)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	sortSessions(out)
	return out, nil
}

func (b *Badger) Chunks(ctx context.Context, id sessions.ID) ([]Chunk, error) {
	var out []Chunk
	err := b.scan(ctx, badgerChunks+"/"+id.String(), func(v []byte) error {
		c, err := decodeChunk(v)
		if err == nil {
			out = append(out, c)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Chunk) int { return cmp.Compare(a.Index, b.Index) })
	return out, nil
}

func (b *Badger) Stats(ctx context.Context, by By) (Stats, error) {
	by, err := by.check()
	if err != nil {
		return Stats{}, err
	}
	t := newTally()
	err = b.scan(ctx, badgerChunks, func(v []byte) error {
		// Only the grouped and summed fields, as text: decoding whole
		// records (peer IDs, hashes, times) would triple the time.
		var d struct {
			Session       string `cbor:"session_id"`
			Owner         string `cbor:"owner_peer"`
			Day           string `cbor:"day"`
			SealedSize    int64  `cbor:"size_bytes"`
			PlaintextSize int64  `cbor:"plaintext_bytes"`
		}
		if err := cbor.Unmarshal(v, &d); err != nil {
			return err
		}
		if d.Session == "" || d.SealedSize < 0 || d.PlaintextSize < 0 {
			return errors.New("catalog: chunk record without session or with a negative size")
		}
		key := TotalKey
		switch by {
		case ByDay:
			key = d.Day
		case BySession:
			key = d.Session
		case ByPeer:
			key = d.Owner
		}
		t.add(key, d.Session, 1, uint64(d.SealedSize), uint64(d.PlaintextSize))
		return nil
	})
	if err != nil {
		return Stats{}, err
	}
	return t.stats(by), nil
}

// scan calls fn with the value of every record under prefix.
func (b *Badger) scan(ctx context.Context, prefix string, fn func([]byte) error) error {
	res, err := b.ds.Query(ctx, query.Query{Prefix: prefix})
	if err != nil {
		return err
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return r.Error
		}
		if err := fn(r.Value); err != nil {
			return fmt.Errorf("catalog: record %s: %w", r.Key, err)
		}
	}
	return ctx.Err()
}

// decodeSession and decodeChunk read records from disk, which may be
// damaged: unknown fields and bad values are errors, not zeros.
func decodeSession(v []byte) (Session, error) {
	var d sessionDoc
	if err := strictDecode.Unmarshal(v, &d); err != nil {
		return Session{}, fmt.Errorf("catalog: bad record: %w", err)
	}
	return d.value()
}

func decodeChunk(v []byte) (Chunk, error) {
	var d chunkDoc
	if err := strictDecode.Unmarshal(v, &d); err != nil {
		return Chunk{}, fmt.Errorf("catalog: bad record: %w", err)
	}
	return d.value()
}

// recordEncode keeps times to the nanosecond (CBOR's default is seconds).
var recordEncode = func() cbor.EncMode {
	em, err := cbor.EncOptions{Time: cbor.TimeRFC3339Nano}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}()

// strictDecode refuses what a record written by this package never holds.
var strictDecode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{ExtraReturnErrors: cbor.ExtraDecErrorUnknownField, DupMapKey: cbor.DupMapKeyEnforcedAPF}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

func sortSessions(s []Session) {
	slices.SortFunc(s, func(a, b Session) int {
		if c := b.Started.Compare(a.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
}
