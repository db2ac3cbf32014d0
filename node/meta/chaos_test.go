package meta

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/sessions"
)

// withFaults gives node i fault injection: drop, dup, delay up to delay.
func withFaults(drop, dup float64, delay time.Duration) func(i int, c *Config) {
	return func(i int, c *Config) {
		c.Faults = NewFaults(uint64(i)+1, drop, dup, delay)
	}
}

// TestChaosPartitionHeal: 15 nodes whose gossip loses 20% of messages,
// duplicates 10% and reorders the rest (random delays), split into two
// halves that both keep writing, then healed: every node reaches the
// same digest, and every acknowledged update is visible everywhere.
func TestChaosPartitionHeal(t *testing.T) {
	if testing.Short() {
		t.Skip("15 real nodes")
	}
	const n = 15
	nodes := startNodes(t, n, withFaults(0.2, 0.1, 40*time.Millisecond))
	m := newModel()
	ws := writers(nodes, m, 1)

	writeAll(t, ws, 4)
	partition(nodes[:n/2], nodes[n/2:])
	// Deliveries already delayed when the partition began may still
	// cross it; let them land before writing on both sides.
	time.Sleep(100 * time.Millisecond)
	writeAll(t, ws, 8)

	// Both halves wrote: they cannot agree until they are healed.
	require.NotEqual(t, nodes[0].r.Digest(), nodes[n-1].r.Digest())

	heal(nodes)
	took := converged(t, nodes, len(m.sess), 60*time.Second)
	t.Logf("%d nodes, %d acknowledged updates of %d sessions: converged %v after the heal (rejected %v: unknown_session %v, not_relay %v)",
		n, m.updates, len(m.sess), took.Round(time.Millisecond),
		sumMetric(t, nodes, "lucid_meta_deltas_rejected_total", nil),
		sumMetric(t, nodes, "lucid_meta_deltas_rejected_total", map[string]string{"reason": "unknown_session"}),
		sumMetric(t, nodes, "lucid_meta_deltas_rejected_total", map[string]string{"reason": "not_relay"}))
	m.check(t, nodes)
	// Nothing honest was refused for good reason: only "not yet".
	for _, reason := range []string{"bad_signature", "bad_envelope", "not_host", "host_conflict", "wrong_signer", "foreign_stamp", "foreign_counter", "from_future", "too_large", "other"} {
		require.Zero(t, sumMetric(t, nodes, "lucid_meta_deltas_rejected_total", map[string]string{"reason": reason}), reason)
	}
}

// TestPartitionDivergesThenConverges: Faults-partitioned halves each
// converge among themselves to different digests, and to one after the
// heal.
func TestPartitionDivergesThenConverges(t *testing.T) {
	nodes := startNodes(t, 6, withFaults(0, 0, 0))
	a, b := nodes[:3], nodes[3:]
	now := time.Now()
	first := newSession(t)
	nodes[0].host(t, first, now)
	converged(t, nodes, 1, 20*time.Second)

	partition(a, b)
	ctx := context.Background()
	for _, nd := range nodes {
		nd.host(t, newSession(t), now)
	}
	// The host of the shared session counts on side a; nobody on b
	// sees it.
	require.NoError(t, nodes[0].r.Update(ctx, first, crdt.AddCounters(10, 20, 1)))
	converged(t, a, 4, 20*time.Second)
	converged(t, b, 4, 20*time.Second)
	require.NotEqual(t, a[0].r.Digest(), b[0].r.Digest())
	rec, _ := b[0].r.Get(first)
	require.Zero(t, rec.Totals)
	// Explicit anti-entropy across the boundary is refused.
	_, err := a[0].r.Sync(ctx, b[0].id())
	require.Error(t, err)
	require.NotEqual(t, a[0].r.Digest(), b[0].r.Digest())

	heal(nodes)
	took := converged(t, nodes, 7, 30*time.Second)
	t.Logf("6 nodes converged %v after the heal", took.Round(time.Millisecond))
	for _, nd := range nodes {
		rec, ok := nd.r.Get(first)
		require.True(t, ok)
		require.Equal(t, crdt.Counts{BytesIn: 10, BytesOut: 20, Chunks: 1}, rec.Totals)
		require.Equal(t, sessions.StateActive, rec.Phase)
	}
}

// TestRandomInterleavingsConverge: several hosts update concurrently and
// at random (creates, host and relay counters, relays, manifests, ends)
// under loss, duplication and reordering; for each seed every node ends
// with the same digest and every acknowledged update's effect.
func TestRandomInterleavingsConverge(t *testing.T) {
	nodes := startNodes(t, 5, withFaults(0.3, 0.2, 30*time.Millisecond))
	m := newModel()
	for seed := uint64(1); seed <= 3; seed++ {
		ws := writers(nodes, m, seed)
		// Earlier seeds' sessions are relays' to count on too.
		writeAll(t, ws, 12)
		took := converged(t, nodes, len(m.sess), 30*time.Second)
		t.Logf("seed %d: %d updates so far, converged %v after the writes", seed, m.updates, took.Round(time.Millisecond))
		m.check(t, nodes)
	}
}
