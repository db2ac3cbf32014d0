package meta

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/peer"
	"lukechampine.com/blake3"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/sessions"
)

// Datastore layout, under the node's Badger store:
//
//	/meta/env/<session>/<author>/<hash>  a signed envelope (as gossiped)
//	/meta/clock                          the local HLC's last reading
const (
	envPrefix = "/meta/env"
	clockKey  = "/meta/clock"
)

func envKey(id sessions.ID, e Envelope) datastore.Key {
	h := blake3.Sum256(e.raw)
	return datastore.NewKey(fmt.Sprintf("%s/%s/%s/%s", envPrefix, id, e.Signer(), hex.EncodeToString(h[:12])))
}

func (r *Replica) putEnvelope(ctx context.Context, id sessions.ID, e Envelope, durable bool) error {
	k := envKey(id, e)
	if err := r.cfg.Store.Put(ctx, k, e.raw); err != nil {
		return fmt.Errorf("meta: store envelope: %w", err)
	}
	if durable {
		if err := r.cfg.Store.Sync(ctx, k); err != nil {
			return fmt.Errorf("meta: sync envelope: %w", err)
		}
	}
	return nil
}

func (r *Replica) deleteEnvelope(ctx context.Context, id sessions.ID, e Envelope) error {
	if err := r.cfg.Store.Delete(ctx, envKey(id, e)); err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return fmt.Errorf("meta: delete envelope: %w", err)
	}
	return nil
}

// saveClock persists the clock so a restarted node never reuses a
// timestamp it has signed.
func (r *Replica) saveClock(ctx context.Context) error {
	last := r.clock.Last()
	b := binary.BigEndian.AppendUint64(nil, uint64(last.Wall))
	b = binary.BigEndian.AppendUint32(b, last.Logical)
	return r.cfg.Store.Put(ctx, datastore.NewKey(clockKey), b)
}

// load rebuilds the map from the stored envelopes. Each is checked again
// (signature, encoding) because disk bytes can rot; one that fails is
// skipped and logged, and anti-entropy fetches it again.
func (r *Replica) load(ctx context.Context) error {
	if b, err := r.cfg.Store.Get(ctx, datastore.NewKey(clockKey)); err == nil && len(b) == 12 {
		r.clock.Restore(crdt.Timestamp{Wall: int64(binary.BigEndian.Uint64(b)), Logical: binary.BigEndian.Uint32(b[8:]), Replica: r.self})
	} else if err != nil && !errors.Is(err, datastore.ErrNotFound) {
		return err
	}
	res, err := r.cfg.Store.Query(ctx, query.Query{Prefix: envPrefix})
	if err != nil {
		return err
	}
	defer res.Close()
	bad := 0
	for e := range res.Next() {
		if e.Error != nil {
			return e.Error
		}
		env, err := OpenEnvelope(e.Value)
		if err != nil {
			bad++
			r.log.Warn("skipping a damaged stored envelope", "key", e.Key, "err", err)
			continue
		}
		// Stored envelopes were authorized when they arrived; merging
		// needs no order.
		r.m.Merge(env.Delta)
		for _, id := range env.Delta.IDs() {
			byAuthor := r.envs[id]
			if byAuthor == nil {
				byAuthor = map[crdt.ReplicaID][]Envelope{}
				r.envs[id] = byAuthor
			}
			byAuthor[env.Delta.Author()] = append(byAuthor[env.Delta.Author()], env)
		}
		if env.Delta.Author() == r.self {
			r.clock.Restore(env.Delta.Latest())
		}
	}
	// The store returns envelopes in key (hash) order. State transfer
	// sends each author's envelopes in the order kept, and a receiver
	// authorizes a host's writes only once it has the host's Create: put
	// the envelopes that create a session first.
	for id, byAuthor := range r.envs {
		for _, es := range byAuthor {
			slices.SortStableFunc(es, func(a, b Envelope) int { return creates(b, id) - creates(a, id) })
		}
	}
	if n := r.m.Len(); n > 0 || bad > 0 {
		r.log.Info("session metadata loaded", "sessions", n, "damaged", bad, "self", peer.ID(r.self))
	}
	return nil
}

// creates is 1 if e holds the Create (the origin) of session id, else 0.
func creates(e Envelope, id sessions.ID) int {
	for _, rec := range e.Delta.Records() {
		if rec.ID == id && rec.Host != "" {
			return 1
		}
	}
	return 0
}
