// Package meta replicates session metadata between nodes: the I/O shell
// around package crdt. Deltas travel as signed envelopes on a GossipSub
// topic; anti-entropy repairs what gossip lost over a stream protocol
// whose cost follows the difference; a new node catches up from a peer's
// snapshot of signed envelopes; everything persists in the node's Badger
// store. See docs/metadata.md.
package meta

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/sessions"
)

// Config sets up a Replica.
type Config struct {
	Network  *p2p.Network
	Key      crypto.PrivKey // the node's identity: signs its deltas
	Store    datastore.Batching
	Params   crdt.Params
	Log      *slog.Logger
	Registry prometheus.Registerer
	Now      func() time.Time
	// SyncInterval is how often anti-entropy runs with one random peer;
	// 0 means DefaultSyncInterval.
	SyncInterval time.Duration
	// CompactInterval is how often retention runs; 0: hourly.
	CompactInterval time.Duration
	// Faults, for tests only, injects message loss, duplication, delay
	// and partitions on this node's receiving side.
	Faults *Faults
}

// DefaultSyncInterval spaces anti-entropy rounds: gossip carries almost
// everything; anti-entropy only repairs.
const DefaultSyncInterval = 30 * time.Second

// Replica is one node's copy of the replicated session-metadata map.
type Replica struct {
	cfg  Config
	self crdt.ReplicaID
	log  *slog.Logger
	now  func() time.Time
	met  *metrics

	mu    sync.Mutex
	m     *crdt.Map
	clock *crdt.Clock
	// envs holds, per session and author, the signed envelopes merged,
	// minus those a later one of the same author covers: what state
	// transfer sends.
	envs     map[sessions.ID]map[crdt.ReplicaID][]Envelope
	peers    map[peer.ID]*PeerSync
	lastSync time.Time

	gossip  *gossip
	ctx     context.Context // ends with Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  bool           // under mu: no new sync exchanges are served
	serving sync.WaitGroup // sync exchanges being served
}

// PeerSync is what the last anti-entropy round with a peer found.
type PeerSync struct {
	Peer     string    `json:"peer"`
	At       time.Time `json:"at"`
	InSync   bool      `json:"in_sync"` // the digests were equal when it began
	Sent     int       `json:"envelopes_sent"`
	Received int       `json:"envelopes_received"`
	Bytes    int64     `json:"bytes"`
	Err      string    `json:"error,omitempty"`
}

// New loads the map from the store, joins the topic, serves the sync
// protocol and starts the anti-entropy and retention loops.
func New(cfg Config) (*Replica, error) {
	if cfg.Network == nil || cfg.Key == nil || cfg.Store == nil {
		return nil, errors.New("meta: replica needs a network, a key and a store")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.CompactInterval <= 0 {
		cfg.CompactInterval = time.Hour
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	id, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	r := &Replica{
		cfg: cfg, self: crdt.ReplicaID(id), log: cfg.Log.With("component", "meta"), now: cfg.Now,
		m: crdt.NewMap(cfg.Params), clock: crdt.NewClock(crdt.ReplicaID(id), cfg.Params.MaxSkew),
		envs: map[sessions.ID]map[crdt.ReplicaID][]Envelope{}, peers: map[peer.ID]*PeerSync{},
	}
	if r.met, err = newMetrics(cfg.Registry); err != nil {
		return nil, err
	}
	if err := r.load(context.Background()); err != nil {
		return nil, err
	}
	// Retention is part of the state: without it the stored envelopes
	// bring back the sealed fields of tombstones, and the digest differs
	// from the network's until the next retention run.
	if err := r.Compact(context.Background()); err != nil {
		r.log.Warn("metadata compaction failed", "err", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.ctx, r.cancel = ctx, cancel
	if r.gossip, err = r.joinTopic(ctx); err != nil {
		cancel()
		return nil, err
	}
	cfg.Network.Host.SetStreamHandler(SyncProtocol, r.serveSync)
	r.wg.Go(func() { r.gossip.receive(ctx) })
	r.wg.Go(func() { r.syncLoop(ctx) })
	r.wg.Go(func() { r.compactLoop(ctx) })
	return r, nil
}

// Close stops the loops and leaves the topic. The store stays the
// caller's.
func (r *Replica) Close() error {
	r.cfg.Network.Host.RemoveStreamHandler(SyncProtocol)
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	err := r.gossip.close()
	r.wg.Wait()
	r.serving.Wait()
	return err
}

// Self is this replica's ID.
func (r *Replica) Self() crdt.ReplicaID { return r.self }

// Update applies a local change to one session, stores its signed
// envelope durably (so an acknowledged update survives kill -9) and
// gossips it.
func (r *Replica) Update(ctx context.Context, id sessions.ID, changes ...crdt.Change) error {
	return r.publishOwn(ctx, func() (crdt.Delta, bool, error) {
		d, err := r.m.Update(r.self, r.clock, r.now(), id, changes...)
		return d, err == nil, err
	}, true)
}

// Checkpoint signs this node's whole contribution to a session as one
// envelope, which covers and replaces its earlier ones everywhere it is
// gossiped: done when a session ends, so state transfer sends one
// envelope per author.
func (r *Replica) Checkpoint(ctx context.Context, id sessions.ID) error {
	return r.publishOwn(ctx, func() (crdt.Delta, bool, error) {
		d, ok := r.m.AuthorDelta(id, r.self)
		return d, ok, nil
	}, false)
}

// publishOwn signs the delta that delta returns (called with the lock held; ok
// false: nothing to do), keeps it, writes it durably outside the lock
// (gossip validation and merges do not wait behind the fsync), saves the
// clock after an update, and gossips it.
func (r *Replica) publishOwn(ctx context.Context, delta func() (crdt.Delta, bool, error), update bool) error {
	r.mu.Lock()
	d, ok, err := delta()
	if err != nil || !ok {
		r.mu.Unlock()
		return err
	}
	env, err := Seal(r.cfg.Key, d)
	var ops diskOps
	if err == nil {
		ops = r.keep(env)
	}
	r.mu.Unlock()
	if err == nil {
		err = r.apply(ctx, ops, true)
	}
	if err == nil && update {
		r.mu.Lock()
		err = r.saveClock(ctx)
		r.mu.Unlock()
	}
	if err != nil {
		return err
	}
	if update {
		r.met.updates.Inc()
	}
	r.gossip.publish(ctx, env)
	return nil
}

// accept checks and merges an envelope from the network: gossip or sync.
// It reports whether the map changed.
func (r *Replica) accept(ctx context.Context, env Envelope, via string) (bool, error) {
	r.mu.Lock()
	now := r.now()
	if err := r.m.Authorize(env.Delta, env.Delta.Author(), now); err != nil {
		r.mu.Unlock()
		return false, err
	}
	if err := r.clock.Observe(env.Delta.Latest(), now); err != nil {
		r.mu.Unlock()
		return false, err
	}
	changed := !r.m.Covers(env.Delta)
	var ops diskOps
	switch {
	case changed:
		r.m.Merge(env.Delta)
		ops = r.keep(env)
	case r.supersedes(env):
		// Nothing new for the map, but it replaces several envelopes of
		// its author (a checkpoint): keep it instead of them.
		ops = r.keep(env)
	default:
		r.met.duplicates.WithLabelValues(via).Inc()
	}
	r.mu.Unlock()
	// Received envelopes are not synced one by one: anti-entropy brings
	// back whatever a crash dropped.
	return changed, r.apply(ctx, ops, false)
}

// supersedes reports whether env covers two or more kept envelopes of its
// author for some session: keeping it shrinks what state transfer sends.
func (r *Replica) supersedes(env Envelope) bool {
	author := env.Delta.Author()
	for _, id := range env.Delta.IDs() {
		covered := 0
		for _, o := range r.envs[id][author] {
			if string(o.raw) == string(env.raw) {
				return false
			}
			if env.Delta.Covers(o.Delta) {
				covered++
			}
		}
		if covered >= 2 {
			return true
		}
	}
	return false
}

// diskOps are the store writes that keep decided on.
type diskOps struct {
	puts []storedEnvelope
	dels []storedEnvelope
}

type storedEnvelope struct {
	id  sessions.ID
	env Envelope
}

// keep records an envelope in memory under each session it touches,
// dropping the author's envelopes it covers, and returns the store
// writes that follow. Called with r.mu held; the writes are applied
// after it is released.
func (r *Replica) keep(env Envelope) diskOps {
	var ops diskOps
	author := env.Delta.Author()
	for _, id := range env.Delta.IDs() {
		byAuthor := r.envs[id]
		if byAuthor == nil {
			byAuthor = map[crdt.ReplicaID][]Envelope{}
			r.envs[id] = byAuthor
		}
		old := byAuthor[author]
		kept := old[:0:0]
		for _, o := range old {
			if env.Delta.Covers(o.Delta) {
				ops.dels = append(ops.dels, storedEnvelope{id, o})
				continue
			}
			kept = append(kept, o)
		}
		byAuthor[author] = append(kept, env)
		ops.puts = append(ops.puts, storedEnvelope{id, env})
	}
	return ops
}

// apply writes what keep decided: new envelopes first (synced when
// durable), then deletions of the ones they cover, so a crash between
// the two leaves a redundant envelope, never a missing one.
func (r *Replica) apply(ctx context.Context, ops diskOps, durable bool) error {
	for _, p := range ops.puts {
		if err := r.putEnvelope(ctx, p.id, p.env, durable); err != nil {
			return err
		}
	}
	for _, d := range ops.dels {
		if err := r.deleteEnvelope(ctx, d.id, d.env); err != nil {
			return err
		}
	}
	return nil
}

// envelopesFor is what state transfer sends for ids: each session's
// envelopes, the host's first, so every one passes Authorize in order.
func (r *Replica) envelopesFor(ids []sessions.ID) []Envelope {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Envelope
	seen := map[string]bool{}
	for _, id := range ids {
		rec, _ := r.m.Get(id)
		authors := make([]crdt.ReplicaID, 0, len(r.envs[id]))
		for a := range r.envs[id] {
			authors = append(authors, a)
		}
		slices.SortFunc(authors, func(a, b crdt.ReplicaID) int {
			switch {
			case a == b:
				return 0
			case a == rec.Host:
				return -1
			case b == rec.Host:
				return 1
			case a < b:
				return -1
			}
			return 1
		})
		for _, a := range authors {
			for _, e := range r.envs[id][a] {
				if k := string(e.raw); !seen[k] {
					seen[k] = true
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// Get returns one session's merged record.
func (r *Replica) Get(id sessions.ID) (crdt.Record, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m.Get(id)
}

// Records returns every record, sorted by session ID.
func (r *Replica) Records() []crdt.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m.Records()
}

// Digest is the state digest: equal on every node that has merged the
// same deltas.
func (r *Replica) Digest() [32]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m.Digest()
}

// Status is what `lucid meta status` shows.
type Status struct {
	Digest string `json:"digest"`
	Keys   int    `json:"keys"`
	// InSync: the latest anti-entropy round, within two sync intervals,
	// found this node's digest equal to its peer's.
	InSync   bool        `json:"in_sync"`
	LastSync time.Time   `json:"last_sync,omitzero"`
	Peers    []PeerSync  `json:"peers"`
	Params   ParamsJSON  `json:"params"`
	Envelope EnvelopeUse `json:"envelopes"`
}

// ParamsJSON are the network-wide map parameters in effect.
type ParamsJSON struct {
	Retention    string `json:"retention"`
	Horizon      string `json:"horizon"`
	MaxSkew      string `json:"max_skew"`
	SyncInterval string `json:"sync_interval"`
}

// EnvelopeUse is how many signed envelopes the node keeps.
type EnvelopeUse struct {
	Count int   `json:"count"`
	Bytes int64 `json:"bytes"`
}

// Status reports the replica's state.
func (r *Replica) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.m.Params()
	st := Status{
		Digest: fmt.Sprintf("%x", r.m.Digest()), Keys: r.m.Len(), LastSync: r.lastSync,
		Params: ParamsJSON{Retention: p.Retention.String(), Horizon: p.Horizon.String(), MaxSkew: p.MaxSkew.String(), SyncInterval: r.cfg.SyncInterval.String()},
		Peers:  []PeerSync{},
	}
	var latest *PeerSync
	for _, ps := range r.peers {
		st.Peers = append(st.Peers, *ps)
		if ps.Err == "" && (latest == nil || ps.At.After(latest.At)) {
			latest = ps
		}
	}
	slices.SortFunc(st.Peers, func(a, b PeerSync) int { return b.At.Compare(a.At) })
	st.InSync = latest != nil && latest.InSync && r.now().Sub(latest.At) <= 2*r.cfg.SyncInterval
	for _, byAuthor := range r.envs {
		for _, es := range byAuthor {
			for _, e := range es {
				st.Envelope.Count++
				st.Envelope.Bytes += int64(len(e.raw))
			}
		}
	}
	return st
}

// compactLoop applies retention: ended sessions past it become
// tombstones, and records past the horizon are dropped with their
// envelopes.
func (r *Replica) compactLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.CompactInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.Compact(ctx); err != nil {
			r.log.Warn("metadata compaction failed", "err", err)
		}
	}
}

// Compact runs retention now.
func (r *Replica) Compact(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	compacted, dropped := r.m.Compact(r.now(), 0)
	if compacted == 0 && dropped == 0 {
		return nil
	}
	var errs []error
	for id := range r.envs {
		if _, ok := r.m.Get(id); !ok {
			for _, es := range r.envs[id] {
				for _, e := range es {
					errs = append(errs, r.deleteEnvelope(ctx, id, e))
				}
			}
			delete(r.envs, id)
		}
	}
	r.met.compacted.Add(float64(compacted))
	r.met.dropped.Add(float64(dropped))
	r.log.Info("metadata retention", "tombstoned", compacted, "dropped", dropped)
	return errors.Join(errs...)
}

// randomPeer picks a connected peer that speaks the sync protocol.
func (r *Replica) randomPeer() (peer.ID, bool) {
	h := r.cfg.Network.Host
	var candidates []peer.ID
	for _, p := range h.Network().Peers() {
		if protos, err := h.Peerstore().SupportsProtocols(p, SyncProtocol); err == nil && len(protos) > 0 && r.cfg.Faults.reachable(p) {
			candidates = append(candidates, p)
		}
	}
	if len(candidates) == 0 {
		return "", false
	}
	return candidates[rand.IntN(len(candidates))], true
}
