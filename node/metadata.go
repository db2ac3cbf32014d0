package node

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/node/meta"
	"github.com/lucidnet/lucid/node/rpc"
	"github.com/lucidnet/lucid/sessions"
)

// counterInterval is how often live sessions' byte counters are written
// to the replicated map.
const counterInterval = 10 * time.Second

// metaFeed writes what this node hosts into the replicated map: session
// starts and ends (Observer), durable chunks and sealed manifests
// (media.Indexer), and byte counters of live sessions every
// counterInterval. Updates are fsynced, so they run in order on the
// feed's own goroutine, never on the caller's.
type metaFeed struct {
	r    *meta.Replica
	self peer.ID
	log  *slog.Logger
	live func(ctx context.Context) ([]sessions.Info, error)

	mu       sync.Mutex
	queue    []metaOp
	reported map[sessions.ID]crdt.Counts // host counters written so far
	wake     chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

type metaOp struct {
	id         sessions.ID
	changes    []crdt.Change
	checkpoint bool
}

var _ sessions.Observer = (*metaFeed)(nil)
var _ media.Indexer = (*metaFeed)(nil)

// startMeta starts the replica and the feed that writes into it.
func (n *Node) startMeta(key crypto.PrivKey, reg prometheus.Registerer) error {
	r, err := meta.New(meta.Config{
		Network: n.net, Key: key, Store: n.store, Log: n.log, Registry: reg, Now: n.now,
		Params:       crdt.Params{Retention: time.Duration(n.cfg.Meta.Retention)},
		SyncInterval: time.Duration(n.cfg.Meta.SyncInterval),
	})
	if err != nil {
		return fmt.Errorf("session metadata: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &metaFeed{r: r, self: n.net.Host.ID(), log: n.log, reported: map[sessions.ID]crdt.Counts{},
		wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	n.meta, n.metaFeed = r, f
	go f.run(ctx)
	return nil
}

// closeMeta writes what is queued (bounded by ctx) and stops.
func (n *Node) closeMeta(ctx context.Context) error {
	if n.meta == nil {
		return nil
	}
	f := n.metaFeed
	f.push(metaOp{}) // wake: drain before stopping
	f.cancel()
	select {
	case <-f.done:
	case <-ctx.Done():
	}
	return n.meta.Close()
}

func (f *metaFeed) push(ops ...metaOp) {
	f.mu.Lock()
	for _, op := range ops {
		if len(op.changes) > 0 || op.checkpoint {
			f.queue = append(f.queue, op)
		}
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *metaFeed) run(ctx context.Context) {
	defer close(f.done)
	tick := time.NewTicker(counterInterval)
	defer tick.Stop()
	for {
		f.mu.Lock()
		ops := f.queue
		f.queue = nil
		f.mu.Unlock()
		for _, op := range ops {
			// A write that fails here is lost for the map: the session
			// and its recording are unaffected.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			var err error
			if len(op.changes) > 0 {
				err = f.r.Update(wctx, op.id, op.changes...)
			}
			if err == nil && op.checkpoint {
				err = f.r.Checkpoint(wctx, op.id)
			}
			cancel()
			if err != nil {
				f.log.Warn("session metadata not written", "session", op.id, "err", err)
			}
		}
		if ctx.Err() != nil && len(ops) == 0 {
			return
		}
		select {
		case <-f.wake:
		case <-tick.C:
			f.countLive(ctx)
		case <-ctx.Done():
		}
	}
}

// countLive queues the byte counters of live hosted sessions.
func (f *metaFeed) countLive(ctx context.Context) {
	if f.live == nil {
		return
	}
	infos, err := f.live(ctx)
	if err != nil {
		return
	}
	for _, info := range infos {
		if info.Role == sessions.RoleHost && info.State == sessions.StateActive {
			if op, ok := f.counters(info); ok {
				f.push(op)
			}
		}
	}
}

// counters is the increment of a session's host counters since the last
// write.
func (f *metaFeed) counters(info sessions.Info) (metaOp, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.reported[info.ID]
	if info.BytesIn <= prev.BytesIn && info.BytesOut <= prev.BytesOut {
		return metaOp{}, false
	}
	in, out := info.BytesIn-min(prev.BytesIn, info.BytesIn), info.BytesOut-min(prev.BytesOut, info.BytesOut)
	f.reported[info.ID] = crdt.Counts{BytesIn: max(prev.BytesIn, info.BytesIn), BytesOut: max(prev.BytesOut, info.BytesOut)}
	return metaOp{id: info.ID, changes: []crdt.Change{crdt.AddCounters(in, out, 0)}}, true
}

// SessionEvent records hosted sessions: their origin, state, sealed
// participants and, at the end, final counters and a checkpoint.
func (f *metaFeed) SessionEvent(ev sessions.Event) {
	info := ev.Info
	if info.Role != sessions.RoleHost {
		return
	}
	f.mu.Lock()
	_, started := f.reported[info.ID]
	if !started {
		f.reported[info.ID] = crdt.Counts{}
	}
	f.mu.Unlock()
	var changes []crdt.Change
	if !started {
		changes = append(changes, crdt.Create(crdt.ReplicaID(f.self), info.Service, info.CreatedAt))
		if sealed, err := meta.SealTo([]peer.ID{info.Peer, f.self}, []byte(info.Peer), rand.Reader); err == nil {
			changes = append(changes, crdt.AddParticipant(sealed))
		} else {
			f.log.Warn("cannot seal session participant", "session", info.ID, "err", err)
		}
		if sealed, err := meta.SealPrivate(meta.Private{Client: info.Peer, Consent: info.Consent}, f.self, rand.Reader); err == nil {
			changes = append(changes, crdt.SetPrivate(sealed))
		} else {
			f.log.Warn("cannot seal session private fields", "session", info.ID, "err", err)
		}
	}
	switch ev.Kind {
	case sessions.EventStarted:
		changes = append(changes, crdt.SetPhase(sessions.StateActive, info.StartedAt))
		f.push(metaOp{id: info.ID, changes: changes})
	case sessions.EventEnded:
		if op, ok := f.counters(info); ok {
			changes = append(changes, op.changes...)
		}
		if !info.StartedAt.IsZero() && !started {
			changes = append(changes, crdt.SetPhase(sessions.StateActive, info.StartedAt))
		}
		end := info.EndedAt
		if end.IsZero() {
			end = info.CreatedAt
		}
		changes = append(changes, crdt.SetPhase(info.State, end))
		f.mu.Lock()
		delete(f.reported, info.ID)
		f.mu.Unlock()
		f.push(metaOp{id: info.ID, changes: changes, checkpoint: true})
	}
}

func (f *metaFeed) RecordingStarted(media.Manifest) {}

func (f *metaFeed) ChunkDurable(begin *media.Manifest, _ media.ChunkInfo) {
	f.push(metaOp{id: begin.Session, changes: []crdt.Change{crdt.AddCounters(0, 0, 1)}})
}

func (f *metaFeed) RecordingSealed(m media.Manifest) {
	f.push(metaOp{id: m.Session, changes: []crdt.Change{crdt.SetManifest(m.Hash())}, checkpoint: true})
}

// indexers passes recording progress to each index.
type indexers []media.Indexer

func (x indexers) RecordingStarted(m media.Manifest) {
	for _, i := range x {
		i.RecordingStarted(m)
	}
}

func (x indexers) ChunkDurable(m *media.Manifest, c media.ChunkInfo) {
	for _, i := range x {
		i.ChunkDurable(m, c)
	}
}

func (x indexers) RecordingSealed(m media.Manifest) {
	for _, i := range x {
		i.RecordingSealed(m)
	}
}

// MetaSessionsParams filters `lucid meta sessions`.
type MetaSessionsParams struct {
	State string `json:"state,omitempty"` // created, active, ended, failed
	Host  string `json:"host,omitempty"`  // peer ID
}

// MetaSession is one session as the replicated map knows it.
type MetaSession struct {
	ID           string    `json:"id"`
	Host         string    `json:"host,omitempty"`
	Service      string    `json:"service,omitempty"`
	State        string    `json:"state,omitempty"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	EndedAt      time.Time `json:"ended_at,omitzero"`
	BytesIn      uint64    `json:"bytes_in"`
	BytesOut     uint64    `json:"bytes_out"`
	Chunks       uint64    `json:"chunks"`
	Relays       []string  `json:"relays,omitempty"`
	Participants int       `json:"participants"`
	ManifestHash string    `json:"manifest_hash,omitempty"`
	Anchor       string    `json:"anchor"`
	AnchorRef    string    `json:"anchor_ref,omitempty"`
	Compacted    bool      `json:"compacted,omitempty"`
	// Client is filled in only where this node is a participant and can
	// open the sealed fields; elsewhere Sealed is true.
	Client string `json:"client,omitempty"`
	Sealed bool   `json:"sealed,omitempty"`
}

func (s *Service) MetaSessions(_ context.Context, p MetaSessionsParams) ([]MetaSession, error) {
	if s.meta == nil {
		return nil, errNoMeta
	}
	var state sessions.State
	if p.State != "" {
		for st := sessions.StateCreated; st <= sessions.StateFailed; st++ {
			if st.String() == p.State {
				state = st
			}
		}
		if state == 0 {
			return nil, rpc.InvalidParams("state %q: want created, active, ended or failed", p.State)
		}
	}
	var host crdt.ReplicaID
	if p.Host != "" {
		id, err := parsePeer(p.Host)
		if err != nil {
			return nil, err
		}
		host = crdt.ReplicaID(id)
	}
	out := []MetaSession{}
	for _, r := range s.meta.Records() {
		if (state != 0 && r.Phase != state) || (host != "" && r.Host != host) {
			continue
		}
		out = append(out, s.metaSession(r))
	}
	// Newest first, as `sessions ls`.
	slices.SortStableFunc(out, func(a, b MetaSession) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func (s *Service) metaSession(r crdt.Record) MetaSession {
	ms := MetaSession{
		ID: r.ID.String(), Service: r.Service, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
		BytesIn: r.Totals.BytesIn, BytesOut: r.Totals.BytesOut, Chunks: r.Totals.Chunks,
		Participants: len(r.Participants), Anchor: r.Anchor.Status.String(), Compacted: r.Compacted,
	}
	if r.Host != "" {
		ms.Host = peer.ID(r.Host).String()
	}
	if r.Phase.Valid() {
		ms.State = r.Phase.String()
	}
	for _, rl := range r.Relays {
		ms.Relays = append(ms.Relays, peer.ID(rl).String())
	}
	if r.ManifestHash != ([32]byte{}) {
		ms.ManifestHash = fmt.Sprintf("%x", r.ManifestHash)
	}
	if len(r.Anchor.Ref) > 0 {
		ms.AnchorRef = fmt.Sprintf("%x", r.Anchor.Ref)
	}
	if len(r.Private) > 0 {
		ms.Sealed = true
		if s.identity != nil {
			if p, err := meta.OpenPrivate(r.Private, s.identity); err == nil {
				ms.Client, ms.Sealed = p.Client.String(), false
			}
		}
	}
	return ms
}

func (s *Service) MetaStatus(context.Context) (meta.Status, error) {
	if s.meta == nil {
		return meta.Status{}, errNoMeta
	}
	return s.meta.Status(), nil
}

var errNoMeta = rpc.Errorf(rpc.CodeMethodNotSupported, "session metadata is replicated by nodes, not by lookup clients")

// metaIdentity is the X25519 identity that opens sealed fields sealed to
// this node.
func metaIdentity(key crypto.PrivKey) *ecdh.PrivateKey {
	id, err := media.IdentityForKey(key)
	if err != nil {
		return nil
	}
	return id
}
