package poot

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/sessions"
)

type testNode struct {
	key crypto.PrivKey
	net *p2p.Network
	reg *prometheus.Registry
	svc *Service
}

// testParams: one-second slots from a genesis just past, a short window.
func testParams(genesis time.Time) consensus.Params {
	p := consensus.DefaultParams()
	p.SlotLength = time.Second
	p.Genesis = genesis
	p.WindowSlots = 30
	p.EpochSlots = 30
	p.CooldownSlots = 2
	p.SlotTimeout = 100 * time.Millisecond
	return p
}

func startNodes(t *testing.T, n int, params consensus.Params) []*testNode {
	t.Helper()
	var nodes []*testNode
	stores := map[*testNode]datastore.Batching{}
	for range n {
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		require.NoError(t, err)
		h, err := p2p.NewHost(p2p.HostConfig{Identity: key, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}, Transports: p2p.BuiltinTransports(), Profile: p2p.ProfileServer})
		require.NoError(t, err)
		store := dssync.MutexWrap(datastore.NewMapDatastore())
		nw, err := p2p.JoinNetwork(h, p2p.NetworkConfig{Datastore: store})
		require.NoError(t, err)
		nd := &testNode{key: key, net: nw, reg: prometheus.NewRegistry()}
		stores[nd] = store
		t.Cleanup(func() { _ = nw.Close() })
		nodes = append(nodes, nd)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			require.NoError(t, p2p.Connect(ctx, a.net.Host, peer.AddrInfo{ID: b.net.Host.ID(), Addrs: b.net.Host.Addrs()}))
		}
	}
	for _, nd := range nodes {
		svc, err := New(Config{Network: nd.net, Key: nd.key, Store: stores[nd], Params: params, Registry: nd.reg, Beacons: true})
		require.NoError(t, err)
		nd.svc = svc
		t.Cleanup(func() { _ = svc.Close() })
	}
	for _, nd := range nodes {
		require.Eventually(t, func() bool { return len(nd.svc.topic.ListPeers()) == n-1 }, 10*time.Second, 20*time.Millisecond)
	}
	return nodes
}

// relayProof is a relay proof for the current slot, countersigned by a
// fresh client key.
func relayProof(t *testing.T, host *testNode, slot consensus.Slot, bytes uint64) *consensus.Proof {
	t.Helper()
	ck, _, err := crypto.GenerateEd25519Key(rand.Reader)
	require.NoError(t, err)
	client, err := peer.IDFromPrivateKey(ck)
	require.NoError(t, err)
	id, err := sessions.NewID(rand.Reader)
	require.NoError(t, err)
	r := consensus.MeteringReceipt{Session: id, Host: host.net.Host.ID(), Client: client, Slot: slot, Start: slot, Bytes: bytes}
	require.NoError(t, r.Sign(ck))
	p, err := consensus.NewRelay(host.key, nil, slot, []consensus.MeteringReceipt{r})
	require.NoError(t, err)
	return p
}

// Every node tallies the same proofs and computes the same final
// schedule; the node with the most relayed bytes leads first.
func TestNodesAgreeOnCreditsAndLeaders(t *testing.T) {
	params := testParams(time.Now().Add(-2 * time.Second).Truncate(time.Second))
	nodes := startNodes(t, 4, params)
	ctx := context.Background()
	// Beacons flow every slot; nodes 0 and 1 also relay, 0 the most.
	for range 4 {
		slot := params.SlotAt(time.Now())
		require.NoError(t, nodes[0].svc.Publish(ctx, relayProof(t, nodes[0], slot, 50_000_000)))
		require.NoError(t, nodes[1].svc.Publish(ctx, relayProof(t, nodes[1], slot, 10_000_000)))
		time.Sleep(time.Until(params.SlotStart(slot+1)) + 50*time.Millisecond)
	}
	// Wait for the relayed slots to become final everywhere.
	time.Sleep(time.Duration(params.AcceptWindow+1) * params.SlotLength)

	var want []ScheduledSlot
	require.Eventually(t, func() bool {
		var first []ScheduledSlot
		for i, nd := range nodes {
			sched, err := nd.svc.Schedule(3)
			if err != nil {
				t.Logf("node %d: %v", i, err)
				return false
			}
			var final []ScheduledSlot
			for _, s := range sched {
				if s.Final {
					s.Mine, s.MyRank = false, 0
					final = append(final, s)
				}
			}
			if i == 0 {
				first = final
			} else if len(final) == 0 || !equalSchedules(first, final) {
				return false
			}
		}
		want = first
		return len(first) > 0
	}, 10*time.Second, 100*time.Millisecond)
	require.NotEmpty(t, want[0].Primary, "someone is eligible")

	st0, err := nodes[0].svc.Status(context.Background())
	require.NoError(t, err)
	st1, err := nodes[1].svc.Status(context.Background())
	require.NoError(t, err)
	require.Greater(t, st0.Credits.Relay, st1.Credits.Relay)
	require.Equal(t, 1, st0.Rank, "%+v", st0)
	require.Equal(t, 2, st1.Rank, "%+v", st1)
	require.Positive(t, st0.SentWindow["uptime"])
	st2, err := nodes[2].svc.Status(context.Background())
	require.NoError(t, err)
	require.False(t, st2.Eligible, "beacons alone earn no credits")
}

func equalSchedules(a, b []ScheduledSlot) bool {
	n := min(len(a), len(b))
	for i := range n {
		if a[i].Slot != b[i].Slot || a[i].Primary != b[i].Primary || len(a[i].Fallbacks) != len(b[i].Fallbacks) {
			return false
		}
		for j := range a[i].Fallbacks {
			if a[i].Fallbacks[j] != b[i].Fallbacks[j] {
				return false
			}
		}
	}
	return n > 0
}

// A forged proof is rejected with its reason, and the peer that sent it
// loses score.
func TestForgedProofsAreRejected(t *testing.T) {
	params := testParams(time.Now().Truncate(time.Second))
	nodes := startNodes(t, 2, params)
	victim, rogue := nodes[0], nodes[1]
	ctx := context.Background()
	slot := params.SlotAt(time.Now())

	// A relay proof whose receipt the client did not sign.
	unsigned := relayProof(t, rogue, slot, 1<<30)
	unsigned.Relay.Receipts[0].Sig = nil
	require.NoError(t, unsigned.Sign(rogue.key))
	// A proof for a slot far away.
	far, err := consensus.NewUptime(rogue.key, nil, slot+100)
	require.NoError(t, err)
	// Someone else's beacon, re-signed by the rogue: the signature fails.
	other, err := consensus.NewUptime(victim.key, nil, slot)
	require.NoError(t, err)
	other.Sig[0] ^= 1
	for _, p := range []*consensus.Proof{unsigned, far, other} {
		b, err := p.Encode()
		require.NoError(t, err)
		require.NoError(t, rogue.svc.topic.Publish(ctx, b))
	}
	for _, reason := range []string{"missing_countersignature", "wrong_slot", "bad_signature"} {
		require.Eventually(t, func() bool {
			return testutil.ToFloat64(victim.svc.met.rejected.WithLabelValues(reason)) >= 1
		}, 10*time.Second, 20*time.Millisecond, reason)
	}
	require.Eventually(t, func() bool { return victim.net.PeerScores()[rogue.net.Host.ID()] < 0 }, 10*time.Second, 50*time.Millisecond)
}

// Proofs older than the window leave the store; newer ones stay.
func TestOldProofsAreDeleted(t *testing.T) {
	params := testParams(time.Now().Add(-time.Hour).Truncate(time.Second))
	nodes := startNodes(t, 1, params)
	s := nodes[0].svc
	ctx := context.Background()
	for _, slot := range []consensus.Slot{10, 11, 500, 501} {
		p, err := consensus.NewUptime(nodes[0].key, nil, slot)
		require.NoError(t, err)
		raw, err := p.Encode()
		require.NoError(t, err)
		require.NoError(t, s.store(ctx, p, raw))
	}
	n, err := s.deleteBefore(ctx, 500)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = s.deleteBefore(ctx, 500)
	require.NoError(t, err)
	require.Zero(t, n)
}
