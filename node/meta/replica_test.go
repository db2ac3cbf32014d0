package meta

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-datastore/query"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/sessions"
)

func TestGossipSpreadsUpdates(t *testing.T) {
	nodes := startNodes(t, 4, nil)
	now := time.Now()
	ids := make([]sessions.ID, 0, 8)
	for i := range 8 {
		id := newSession(t)
		ids = append(ids, id)
		nodes[i%len(nodes)].host(t, id, now)
	}
	converged(t, nodes, len(ids), 20*time.Second)
	// The host ends one; everyone sees the phase move and the counters.
	h := nodes[1]
	require.NoError(t, h.r.Update(context.Background(), ids[1], crdt.AddCounters(100, 200, 3), crdt.SetPhase(sessions.StateEnded, now.Add(time.Second))))
	converged(t, nodes, len(ids), 20*time.Second)
	for _, nd := range nodes {
		rec, ok := nd.r.Get(ids[1])
		require.True(t, ok)
		require.Equal(t, sessions.StateEnded, rec.Phase)
		require.Equal(t, crdt.Counts{BytesIn: 100, BytesOut: 200, Chunks: 3}, rec.Totals)
	}
}

// TestLateJoinerCatchesUp: a node that joins after the others wrote
// fetches their whole state in one snapshot catch-up, and the anti-entropy
// loop of a fresh node does so by itself.
func TestLateJoinerCatchesUp(t *testing.T) {
	nodes := startNodes(t, 3, nil)
	ctx := context.Background()
	now := time.Now()
	const sessionsN = 30
	for i := range sessionsN {
		id := newSession(t)
		h := nodes[i%len(nodes)]
		h.host(t, id, now)
		require.NoError(t, h.r.Update(ctx, id, crdt.AddCounters(uint64(i+1), 1, 1)))
		if i%3 == 0 {
			require.NoError(t, h.r.Update(ctx, id, crdt.SetPhase(sessions.StateEnded, now.Add(time.Second))))
		}
	}
	converged(t, nodes, sessionsN, 20*time.Second)

	// Explicit catch-up: no anti-entropy loop of its own (an hour away).
	late := newTestNode(t)
	startNode(t, late, 3, func(_ int, c *Config) { c.SyncInterval = time.Hour })
	connect(t, late, nodes[1])
	res, err := late.r.CatchUp(ctx, nodes[1].id())
	require.NoError(t, err)
	require.Equal(t, nodes[1].r.Digest(), late.r.Digest(), "one catch-up transfers everything")
	// (GossipSub may also replay its recent history to a new peer.)
	require.Positive(t, res.Received)
	// At least these came by sync: another node's anti-entropy round may
	// also have picked the late node meanwhile.
	require.GreaterOrEqual(t, metric(t, late.reg, "lucid_meta_deltas_received_total", map[string]string{"channel": "sync"}), float64(res.Received))

	// A fresh node with the loop running does it by itself.
	auto := newTestNode(t)
	startNode(t, auto, 4, nil)
	connect(t, auto, nodes[2])
	converged(t, append(nodes, late, auto), sessionsN, 20*time.Second)
}

// TestRestartResumes: a node stopped cleanly (replica, network, store)
// and reopened from its Badger directory with the same key holds the same
// digest, converges with what changed while it was down, keeps its clock
// monotonic across the restart even when wall time stepped back, and
// serves complete catch-ups from what it loaded.
func TestRestartResumes(t *testing.T) {
	var skew atomic.Int64 // the restarted node's wall clock offset
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	nodes := startNodes(t, 3, func(i int, c *Config) {
		if i == 2 {
			c.Now = clock
		}
	})
	ctx := context.Background()
	nd := nodes[2]
	now := time.Now()
	var mine []sessions.ID
	for i := range 40 {
		id := newSession(t)
		mine = append(mine, id)
		nd.host(t, id, now)
		require.NoError(t, nd.r.Update(ctx, id, crdt.AddCounters(uint64(i+1), 2, 3)))
		require.NoError(t, nd.r.Update(ctx, id, crdt.SetManifest([32]byte{1, byte(i)})))
	}
	other := newSession(t)
	nodes[0].host(t, other, now)
	converged(t, nodes, len(mine)+1, 20*time.Second)
	before := nd.r.Digest()
	beforeEnvs := nd.r.Status().Envelope

	nd.stop()
	// While it is down: a new session and counters on an old one.
	nodes[0].host(t, newSession(t), now)
	require.NoError(t, nodes[0].r.Update(ctx, other, crdt.AddCounters(5, 5, 5)))
	converged(t, nodes[:2], len(mine)+2, 20*time.Second)

	// Back, from disk, its wall clock ten seconds behind what it was.
	skew.Store(int64(-10 * time.Second))
	startNode(t, nd, 2, func(_ int, c *Config) { c.Now = clock })
	require.Equal(t, before, nd.r.Digest(), "the digest loaded from disk")
	require.Equal(t, beforeEnvs, nd.r.Status().Envelope)

	// A stranger catching up from the restarted node only gets a complete
	// state in one transfer if what it loaded is sent host-first and in
	// an order each envelope passes Authorize in.
	stranger := newTestNode(t)
	startNode(t, stranger, 9, func(_ int, c *Config) {
		c.SyncInterval = time.Hour
		c.Faults = NewFaults(9, 1, 0, 0) // GossipSub may replay recent messages: only the catch-up counts here
	})
	connect(t, stranger, nd)
	_, err := stranger.r.CatchUp(ctx, nd.id())
	require.NoError(t, err)
	require.Equal(t, before, stranger.r.Digest())
	require.Zero(t, metric(t, stranger.reg, "lucid_meta_deltas_rejected_total", nil))

	connect(t, nd, nodes[0])
	connect(t, nd, nodes[1])
	all := append(nodes, stranger)
	converged(t, all, len(mine)+2, 20*time.Second)
	rec, _ := nd.r.Get(other)
	require.Equal(t, crdt.Counts{BytesIn: 5, BytesOut: 5, Chunks: 5}, rec.Totals)

	// Its first write after the restart wins over its last one before it,
	// although its wall clock went back: the HLC was restored.
	require.NoError(t, nd.r.Update(ctx, mine[0], crdt.SetManifest([32]byte{2})))
	converged(t, all, len(mine)+2, 20*time.Second)
	for _, o := range all {
		rec, _ := o.r.Get(mine[0])
		require.Equal(t, [32]byte{2}, rec.ManifestHash)
	}
}

// TestRestartKeepsTombstones: compaction is part of the state a restart
// must restore; otherwise the reloaded envelopes bring back the sealed
// fields and the digest differs from the network's until the next
// retention run.
func TestRestartKeepsTombstones(t *testing.T) {
	nodes := startNodes(t, 1, func(_ int, c *Config) { c.Params.Retention = time.Millisecond })
	nd := nodes[0]
	ctx := context.Background()
	id := newSession(t)
	now := time.Now()
	require.NoError(t, nd.r.Update(ctx, id, crdt.Create(nd.rid(), "ssh", now), crdt.SetPrivate([]byte("sealed")),
		crdt.SetPhase(sessions.StateActive, now), crdt.SetPhase(sessions.StateEnded, now)))
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, nd.r.Compact(ctx))
	rec, _ := nd.r.Get(id)
	require.True(t, rec.Compacted)
	before := nd.r.Digest()

	nd.stop()
	startNode(t, nd, 0, func(_ int, c *Config) { c.Params.Retention = time.Millisecond })
	rec, _ = nd.r.Get(id)
	require.True(t, rec.Compacted)
	require.Empty(t, rec.Private)
	require.Equal(t, before, nd.r.Digest())
}

// TestStatusInSync: in_sync reports that the latest anti-entropy round,
// within two sync intervals, found equal digests, also on a network that
// holds nothing yet (where a node's round is a catch-up).
func TestStatusInSync(t *testing.T) {
	var later atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(later.Load())) }
	nodes := startNodes(t, 2, func(i int, c *Config) {
		c.SyncInterval = time.Hour // rounds run when the test says
		c.Now = clock
		c.Faults = NewFaults(uint64(i), 0, 0, 0)
	})
	ctx := context.Background()
	require.False(t, nodes[1].r.Status().InSync, "no round yet")
	// Empty maps are equal: what the loop does first on a fresh network
	// (a catch-up) finds it in sync.
	res, err := nodes[1].r.CatchUp(ctx, nodes[0].id())
	require.NoError(t, err)
	require.True(t, res.InSync)
	require.True(t, nodes[1].r.Status().InSync)

	nodes[0].host(t, newSession(t), time.Now())
	// Gossip may or may not have brought it (the mesh may not be up yet).
	_, err = nodes[1].r.Sync(ctx, nodes[0].id())
	require.NoError(t, err)
	converged(t, nodes, 1, 10*time.Second)
	res, err = nodes[1].r.Sync(ctx, nodes[0].id())
	require.NoError(t, err)
	require.True(t, res.InSync)
	st := nodes[1].r.Status()
	require.True(t, st.InSync)
	require.Equal(t, 1, st.Keys)
	require.Equal(t, 1, st.Envelope.Count)

	// A round that had to repair something was not in sync when it began.
	nodes[1].faults.SetLoss(1, 0)
	nodes[0].host(t, newSession(t), time.Now())
	res, err = nodes[1].r.Sync(ctx, nodes[0].id())
	require.NoError(t, err)
	require.False(t, res.InSync)
	require.Equal(t, 1, res.Received)
	require.False(t, nodes[1].r.Status().InSync)
	res, err = nodes[1].r.Sync(ctx, nodes[0].id())
	require.NoError(t, err)
	require.True(t, res.InSync)

	// A good round vouches for two sync intervals only.
	later.Store(int64(90 * time.Minute))
	require.True(t, nodes[1].r.Status().InSync)
	later.Store(int64(3 * time.Hour))
	require.False(t, nodes[1].r.Status().InSync)

	// A failed round is no evidence either way: it is reported.
	partition(nodes[:1], nodes[1:])
	_, err = nodes[1].r.Sync(ctx, nodes[0].id())
	require.Error(t, err)
	st = nodes[1].r.Status()
	require.False(t, st.InSync)
	require.Len(t, st.Peers, 1)
	require.NotEmpty(t, st.Peers[0].Err)
}

// TestSyncDeadlineUsesRealTime: the sync stream's deadline is real time,
// whatever clock Config.Now gives the map (node tests run fake clocks).
func TestSyncDeadlineUsesRealTime(t *testing.T) {
	past := func() time.Time { return time.Now().Add(-2 * time.Hour) }
	nodes := startNodes(t, 2, func(_ int, c *Config) {
		c.Now = past
		c.SyncInterval = time.Hour
	})
	id := newSession(t)
	nodes[0].host(t, id, past())
	_, err := nodes[1].r.Sync(context.Background(), nodes[0].id())
	require.NoError(t, err)
	_, ok := nodes[1].r.Get(id)
	require.True(t, ok)
}

// TestEnvelopePruning: an author's envelope that a later one of its own
// covers is dropped, in memory and on disk, on the writer and on the
// receivers; a checkpoint replaces all of the author's envelopes of a
// session; what remains still joins to the record everywhere.
func TestEnvelopePruning(t *testing.T) {
	nodes := startNodes(t, 2, nil)
	h, o := nodes[0], nodes[1]
	ctx := context.Background()
	id := newSession(t)
	now := time.Now()
	h.host(t, id, now)
	for i := range 10 {
		require.NoError(t, h.r.Update(ctx, id, crdt.AddCounters(uint64(i+1), 1, 1)))
		require.NoError(t, h.r.Update(ctx, id, crdt.SetManifest([32]byte{byte(i)})))
	}
	converged(t, nodes, 1, 10*time.Second)
	// Create, the latest counters, the latest manifest.
	require.Equal(t, 3, h.r.Status().Envelope.Count)
	eventually(t, 10*time.Second, "the receiver to prune", func() bool { return o.r.Status().Envelope.Count == 3 })
	require.Equal(t, 3, storedEnvelopes(t, h))

	require.NoError(t, h.r.Update(ctx, id, crdt.SetPhase(sessions.StateEnded, now.Add(time.Minute))))
	require.NoError(t, h.r.Checkpoint(ctx, id))
	require.Equal(t, 1, h.r.Status().Envelope.Count)
	require.Equal(t, 1, storedEnvelopes(t, h))
	converged(t, nodes, 1, 10*time.Second)

	// A newcomer gets the record from the checkpoint alone.
	late := newTestNode(t)
	startNode(t, late, 2, func(_ int, c *Config) {
		c.SyncInterval = time.Hour
		c.Faults = NewFaults(2, 1, 0, 0) // no replayed gossip: the catch-up alone
	})
	connect(t, late, h)
	res, err := late.r.CatchUp(ctx, h.id())
	require.NoError(t, err)
	require.Equal(t, 1, res.Received)
	require.Equal(t, h.r.Digest(), late.r.Digest())
	rec, _ := late.r.Get(id)
	require.Equal(t, sessions.StateEnded, rec.Phase)
	require.Equal(t, [32]byte{9}, rec.ManifestHash)
	require.Equal(t, crdt.Counts{BytesIn: 55, BytesOut: 10, Chunks: 10}, rec.Totals)
}

// storedEnvelopes counts the envelopes in a node's store.
func storedEnvelopes(t testing.TB, nd *testNode) int {
	t.Helper()
	res, err := nd.store.Query(context.Background(), query.Query{Prefix: envPrefix, KeysOnly: true})
	require.NoError(t, err)
	all, err := res.Rest()
	require.NoError(t, err)
	return len(all)
}
