package consensus

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// Sybil clusters: hosts and clients that relay only to each other. The
// client counter-signature cannot be skipped, but colluding client keys
// cost nothing, so what a cluster earns is decided by the limits alone.
// This test pins the figures (in whole relay credits per host over one
// 100-slot window of testParams: ClientRelayCap 5,000, NodeRelayCapPerSlot
// 300). Changing them is a visible decision: update the package doc's
// "Sybil clusters" section with them.
func TestSybilRelayFigures(t *testing.T) {
	p := testParams()
	const hosts = 4
	const slot = 50
	relayOf := func(ta *Tally, h actor) uint64 {
		r, err := ta.Compute(99)
		require.NoError(t, err)
		e, ok := r.Entry(NodeEntity(h.id))
		require.True(t, ok)
		return e.Relay / Micro
	}
	mk := func(prefix string, n int) []actor {
		var out []actor
		for i := range n {
			out = append(out, newActor(t, fmt.Sprintf("%s-%d", prefix, i)))
		}
		return out
	}
	// Each host: 10 sessions of 50 MB (500 MB) in the window.
	const sessions, perSession = 10, 50 * MB
	sessionID := 0
	serve := func(ta *Tally, h actor, clients []actor, bytes uint64) {
		var rs []MeteringReceipt
		for i := range sessions {
			c := clients[i%len(clients)]
			rs = append(rs, signedReceipt(t, c, h.id, sid(sessionID), slot, slot, bytes))
			sessionID++
		}
		pr := relayProof(t, h, nil, slot, rs...)
		require.NoError(t, VerifyProof(pr, p, slot, VerifyContext{}))
		addAll(t, ta, pr)
	}

	// Honest: every host serves 10 distinct real clients.
	honest := newTestTally(t, p)
	hs := mk("honest-host", hosts)
	for i, h := range hs {
		serve(honest, h, mk(fmt.Sprintf("real-client-%d", i), 10), perSession)
	}
	// A: the cluster uses its own node keys as clients (host i's client is
	// host i+1). The receipts verify, but a key that publishes node proofs
	// is not a client: 0.
	clusterA := newTestTally(t, p)
	as := mk("sybil-a", hosts)
	for i, h := range as {
		serve(clusterA, h, []actor{as[(i+1)%hosts]}, perSession)
	}
	// B: one fresh colluding client key per host, same claimed volume:
	// indistinguishable from honest work.
	clusterB := newTestTally(t, p)
	bs := mk("sybil-b", hosts)
	for i, h := range bs {
		serve(clusterB, h, mk(fmt.Sprintf("sybil-b-client-%d", i), 1), perSession)
	}
	// C: one client key per host claiming 1 TB per session (10 TB): the
	// client cap binds.
	clusterC := newTestTally(t, p)
	cs := mk("sybil-c", hosts)
	for i, h := range cs {
		serve(clusterC, h, mk(fmt.Sprintf("sybil-c-client-%d", i), 1), 1_000_000*MB)
	}
	// D: 10 fresh client keys per host claiming 1 TB per session: the node
	// cap (300 per slot × 100 slots) binds.
	clusterD := newTestTally(t, p)
	ds := mk("sybil-d", hosts)
	for i, h := range ds {
		serve(clusterD, h, mk(fmt.Sprintf("sybil-d-client-%d", i), 10), 1_000_000*MB)
	}

	got := map[string][hosts]uint64{}
	for name, c := range map[string]struct {
		ta *Tally
		hs []actor
	}{
		"honest": {honest, hs}, "A": {clusterA, as}, "B": {clusterB, bs}, "C": {clusterC, cs}, "D": {clusterD, ds},
	} {
		var v [hosts]uint64
		for i, h := range c.hs {
			v[i] = relayOf(c.ta, h)
		}
		got[name] = v
	}
	// The pinned figures.
	require.Equal(t, [hosts]uint64{100, 100, 100, 100}, got["honest"], "10 × max(1, ⌈50 MB / 5 MB⌉)")
	require.Equal(t, [hosts]uint64{0, 0, 0, 0}, got["A"], "node keys as clients")
	require.Equal(t, got["honest"], got["B"], "same volume, colluding client: ratio 1.00")
	require.Equal(t, [hosts]uint64{5000, 5000, 5000, 5000}, got["C"], "ClientRelayCap")
	require.Equal(t, [hosts]uint64{30000, 30000, 30000, 30000}, got["D"], "NodeRelayCapPerSlot × window")
	// Uncapped, C and D would claim 10 × 200,000 = 2,000,000 credits per
	// host: the caps cut that 400-fold (C) and 67-fold (D), but D still
	// earns 300 × the honest host. Only an identity cost bounds the number
	// of such hosts (see the package doc).
	t.Logf("relay credits per host per window: honest %d, A %d, B %d, C %d, D %d",
		got["honest"][0], got["A"][0], got["B"][0], got["C"][0], got["D"][0])
}

// What a capped Sybil cluster gets from the leader schedule: the top
// CooldownSlots+1 entities by live score share all primary slots, so k
// capped identities against honest entities below the cap lead
// min(k, C+1)/(C+1) of the slots. Pinned for cooldown 3: 2 identities lead
// half the slots, 4 lead all of them.
func TestSybilLeadershipShare(t *testing.T) {
	p := testParams() // cooldown 3
	var honest []uint64
	for i := range 20 {
		honest = append(honest, uint64(100+i)*Micro) // honest relay + validation, below the cap
	}
	for _, c := range []struct {
		sybils int
		share  int // of 100 slots
	}{{1, 25}, {2, 50}, {3, 75}, {4, 100}, {10, 100}} {
		scores := append([]uint64(nil), honest...)
		for range c.sybils {
			scores = append(scores, 30000*Micro) // node cap, full uptime
		}
		entries := scored(scores...)
		sched := schedule(t, p, staticTallies{p, entries}, openChain(p, 200), 40, 100)
		n := 0
		for _, l := range sched {
			var idx int
			_, err := fmt.Sscanf(string(l.Primary[1:]), "e%02d", &idx)
			require.NoError(t, err)
			if idx >= len(honest) {
				n++
			}
		}
		require.Equal(t, c.share, n, "%d capped Sybil identities", c.sybils)
	}
}
