package meta

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/sessions"
)

// lastEnvelopeSize is the size of the envelope of r's latest update of
// id: the update's own size on the wire.
func lastEnvelopeSize(r *Replica, id sessions.ID) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	es := r.envs[id][r.self]
	return len(es[len(es)-1].raw)
}

// BenchmarkConvergeAfterHeal: n nodes split into two halves that write
// 10,000 session updates between them (creates, counters, manifests,
// ends), then heal. Reported: the time from the heal until every node
// holds the same digest (heal-s), and the bytes the replicas sent
// (lucid_meta_sent_bytes_total, gossip and sync, summed over nodes) and
// received, per byte of the updates' own envelopes.
//
// The sent-bytes metric counts a gossip message once, where it is
// published: GossipSub's fan-out and forwarding are not in it. The
// received bytes count each first delivery on every node, so they show
// the gossip fan-out (about n/2 copies per update here, each half
// delivering to itself); neither counts GossipSub's own duplicates and
// control traffic.
func BenchmarkConvergeAfterHeal(b *testing.B) {
	for _, n := range []int{15, 20} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchHeal(b, n, 10_000) })
	}
}

func benchHeal(b *testing.B, n, updates int) {
	nodes := startNodes(b, n, withFaults(0, 0, 0))
	half := n / 2
	ctx := context.Background()
	var healTotal time.Duration
	var sentTotal, recvTotal, envTotal, gossipTotal, healSyncTotal, ignoredTotal float64
	syncSent := func() float64 {
		return sumMetric(b, nodes, "lucid_meta_sent_bytes_total", map[string]string{"channel": "sync"})
	}
	iter := 0
	for b.Loop() {
		iter++
		sent0 := sumMetric(b, nodes, "lucid_meta_sent_bytes_total", nil)
		gossip0 := sumMetric(b, nodes, "lucid_meta_sent_bytes_total", map[string]string{"channel": "gossip"})
		ignored0 := sumMetric(b, nodes, "lucid_meta_deltas_rejected_total", map[string]string{"reason": "unknown_session"})
		recv0 := sumMetric(b, nodes, "lucid_meta_received_bytes_total", nil)
		keys := nodes[0].r.Status().Keys
		partition(nodes[:half], nodes[half:])

		var mu sync.Mutex
		var envBytes, made int
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, nd := range nodes {
			quota := updates / n
			if i < updates%n {
				quota++
			}
			wg.Go(func() {
				size, count, err := writeSessions(ctx, nd, quota, mrand.New(mrand.NewPCG(uint64(iter), uint64(i))))
				errs[i] = err
				mu.Lock()
				envBytes += size
				made += count
				mu.Unlock()
			})
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(b, err)
		}
		require.Equal(b, updates, made)
		// Each half holds its own sessions; the total is what both made.
		total := countSessions(nodes)
		require.Greater(b, total, keys)

		healSync0 := syncSent()
		healed := time.Now()
		heal(nodes)
		converged(b, nodes, total, 5*time.Minute)
		healTotal += time.Since(healed)
		healSyncTotal += syncSent() - healSync0
		gossipTotal += sumMetric(b, nodes, "lucid_meta_sent_bytes_total", map[string]string{"channel": "gossip"}) - gossip0
		ignoredTotal += sumMetric(b, nodes, "lucid_meta_deltas_rejected_total", map[string]string{"reason": "unknown_session"}) - ignored0
		sentTotal += sumMetric(b, nodes, "lucid_meta_sent_bytes_total", nil) - sent0
		recvTotal += sumMetric(b, nodes, "lucid_meta_received_bytes_total", nil) - recv0
		envTotal += float64(envBytes)
	}
	b.ReportMetric(healTotal.Seconds()/float64(iter), "heal-s")
	b.ReportMetric(sentTotal/envTotal, "sent-B/update-B")
	b.ReportMetric(recvTotal/envTotal, "recv-B/update-B")
	b.ReportMetric(envTotal/float64(iter*updates), "B/update")
	b.ReportMetric(gossipTotal/envTotal, "gossip-sent-B/update-B")
	b.ReportMetric((sentTotal-gossipTotal)/envTotal, "sync-sent-B/update-B")
	b.ReportMetric(healSyncTotal/envTotal, "heal-sync-B/update-B")
	b.ReportMetric(ignoredTotal/float64(iter*updates), "ignored/update")
}

// countSessions is the number of distinct sessions the nodes hold
// between them.
func countSessions(nodes []*testNode) int {
	seen := map[sessions.ID]bool{}
	for _, nd := range nodes {
		for _, rec := range nd.r.Records() {
			seen[rec.ID] = true
		}
	}
	return len(seen)
}

// writeSessions makes quota updates on nd's own new sessions, ten each:
// create (and active), counters, a manifest, more counters, the end. It
// returns the envelope bytes and the number of updates.
func writeSessions(ctx context.Context, nd *testNode, quota int, rng *mrand.Rand) (int, int, error) {
	size := 0
	var id sessions.ID
	for made := range quota {
		now := time.Now()
		step := made % 10
		var changes []crdt.Change
		switch {
		case step == 0:
			var err error
			if id, err = sessions.NewID(rand.Reader); err != nil {
				return size, made, err
			}
			changes = []crdt.Change{crdt.Create(nd.rid(), "ssh", now), crdt.SetPhase(sessions.StateActive, now)}
		case step == 9 || made == quota-1:
			changes = []crdt.Change{crdt.SetPhase(sessions.StateEnded, now)}
		case step == 5:
			changes = []crdt.Change{crdt.SetManifest([32]byte{byte(rng.Uint32()), 1})}
		default:
			changes = []crdt.Change{crdt.AddCounters(uint64(rng.IntN(1<<20)+1), uint64(rng.IntN(1<<16)), 1)}
		}
		if err := nd.r.Update(ctx, id, changes...); err != nil {
			return size, made, err
		}
		size += lastEnvelopeSize(nd.r, id)
	}
	return size, quota, nil
}

// bulkHost makes r the host of count new sessions (create and active in
// one envelope each), without gossip and without fsync, and returns
// their envelopes: a fast way to build a large map.
func bulkHost(tb testing.TB, r *Replica, count int, rng *mrand.Rand) ([]sessions.ID, []Envelope) {
	tb.Helper()
	ctx := context.Background()
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]sessions.ID, 0, count)
	envs := make([]Envelope, 0, count)
	for range count {
		id, err := sessions.NewID(rand.Reader)
		require.NoError(tb, err)
		d, err := r.m.Update(r.self, r.clock, now, id, crdt.Create(r.self, "ssh", now), crdt.SetPhase(sessions.StateActive, now))
		require.NoError(tb, err)
		env, err := Seal(r.cfg.Key, d)
		require.NoError(tb, err)
		require.NoError(tb, r.apply(ctx, r.keep(env), false))
		ids = append(ids, id)
		envs = append(envs, env)
	}
	return ids, envs
}

// bulkUpdate applies changes to each of ids on r (its host), without
// gossip and without fsync.
func bulkUpdate(tb testing.TB, r *Replica, ids []sessions.ID, changes ...crdt.Change) {
	tb.Helper()
	ctx := context.Background()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		d, err := r.m.Update(r.self, r.clock, time.Now(), id, changes...)
		require.NoError(tb, err)
		env, err := Seal(r.cfg.Key, d)
		require.NoError(tb, err)
		require.NoError(tb, r.apply(ctx, r.keep(env), false))
	}
}

// BenchmarkAntiEntropy1Percent: two real hosts hold the same 100,000
// sessions except for 1% that one of them updated since; one anti-entropy
// exchange over the sync stream repairs them. Reported: the bytes each
// way and in all (ae-*), the bytes of a full-state catch-up of the same
// map by an empty node (full-B), and their ratio. The map is built by
// signing envelopes directly (bulkHost), about 10 s for both nodes.
func BenchmarkAntiEntropy1Percent(b *testing.B) {
	const keys = 100_000
	const differ = keys / 100
	nodes := startNodes(b, 2, func(_ int, c *Config) { c.SyncInterval = time.Hour })
	a, bn := nodes[0], nodes[1]
	ctx := context.Background()
	rng := mrand.New(mrand.NewPCG(1, 2))

	start := time.Now()
	ids, envs := bulkHost(b, a.r, keys, rng)
	for _, env := range envs {
		_, err := bn.r.accept(ctx, env, "sync")
		require.NoError(b, err)
	}
	require.Equal(b, a.r.Digest(), bn.r.Digest())
	b.Logf("loaded %d sessions on two nodes in %v", keys, time.Since(start).Round(time.Millisecond))

	var aeUp, aeDown, aeTime, staleUp float64 // initiator -> responder, back
	rounds := 0
	for b.Loop() {
		b.StopTimer()
		// 1% of the sessions move on at a, unseen by bn.
		sel := make([]sessions.ID, 0, differ)
		for _, i := range rng.Perm(keys)[:differ] {
			sel = append(sel, ids[i])
		}
		bulkUpdate(b, a.r, sel, crdt.AddCounters(uint64(rounds)+1, 1, 1))
		up0 := metric(b, bn.reg, "lucid_meta_sent_bytes_total", map[string]string{"channel": "sync"})
		down0 := metric(b, a.reg, "lucid_meta_sent_bytes_total", map[string]string{"channel": "sync"})
		stale0 := metric(b, bn.reg, "lucid_meta_deltas_sent_total", map[string]string{"channel": "sync"})
		b.StartTimer()
		t0 := time.Now()
		res, err := bn.r.Sync(ctx, a.id())
		aeTime += time.Since(t0).Seconds()
		require.NoError(b, err)
		b.StopTimer()
		require.Equal(b, differ, res.Received)
		require.Equal(b, a.r.Digest(), bn.r.Digest())
		aeUp += metric(b, bn.reg, "lucid_meta_sent_bytes_total", map[string]string{"channel": "sync"}) - up0
		aeDown += metric(b, a.reg, "lucid_meta_sent_bytes_total", map[string]string{"channel": "sync"}) - down0
		staleUp += metric(b, bn.reg, "lucid_meta_deltas_sent_total", map[string]string{"channel": "sync"}) - stale0
		rounds++
		b.StartTimer()
	}
	b.StopTimer()

	// The whole map, to an empty node, as signed envelopes.
	fresh := newTestNode(b)
	startNode(b, fresh, 2, func(_ int, c *Config) { c.SyncInterval = time.Hour })
	connect(b, fresh, a)
	full0 := metric(b, a.reg, "lucid_meta_sent_bytes_total", map[string]string{"channel": "sync"}) +
		metric(b, fresh.reg, "lucid_meta_sent_bytes_total", map[string]string{"channel": "sync"})
	t0 := time.Now()
	res, err := fresh.r.CatchUp(ctx, a.id())
	fullTime := time.Since(t0)
	require.NoError(b, err)
	require.Equal(b, a.r.Digest(), fresh.r.Digest())
	full := metric(b, a.reg, "lucid_meta_sent_bytes_total", map[string]string{"channel": "sync"}) +
		metric(b, fresh.reg, "lucid_meta_sent_bytes_total", map[string]string{"channel": "sync"}) - full0
	b.Logf("catch-up of %d envelopes: %.1f MB in %v", res.Received, full/1e6, fullTime.Round(time.Millisecond))

	n := float64(rounds)
	b.ReportMetric(aeUp/n, "ae-up-B")
	b.ReportMetric(aeDown/n, "ae-down-B")
	b.ReportMetric((aeUp+aeDown)/n, "ae-B")
	b.ReportMetric(aeTime/n*1e3, "ae-ms")
	// Envelopes the node that is behind sends anyway: where a record's
	// hashes differ, neither side knows which is ahead, so both send.
	b.ReportMetric(staleUp/n, "ae-stale-envs-up")
	b.ReportMetric(full, "full-B")
	b.ReportMetric(float64(fullTime.Milliseconds()), "full-ms")
	b.ReportMetric((aeUp+aeDown)/n/full, "ae/full")
}
