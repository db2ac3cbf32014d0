package chain

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/node/poot"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/sessions"
)

type testNode struct {
	key   crypto.PrivKey
	id    peer.ID
	net   *p2p.Network
	store datastore.Batching
	poot  *poot.Service
	chain *Service

	mu      sync.Mutex
	blocked map[peer.ID]bool
}

func (nd *testNode) reachable(p peer.ID) bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return !nd.blocked[p]
}

// partition cuts blocks and fetches between the two groups (proofs still
// flow: they are not the chain).
func partition(a, b []*testNode) {
	for _, x := range a {
		for _, y := range b {
			x.mu.Lock()
			x.blocked[y.id] = true
			x.mu.Unlock()
			y.mu.Lock()
			y.blocked[x.id] = true
			y.mu.Unlock()
		}
	}
}

func heal(nodes []*testNode) {
	for _, x := range nodes {
		x.mu.Lock()
		x.blocked = map[peer.ID]bool{}
		x.mu.Unlock()
	}
}

// testGenesis is a dev chain whose slot 1 starts about a second from now.
func testGenesis(t testing.TB, bootstrap peer.ID) *chain.Genesis {
	g := &chain.Genesis{ChainID: "lucid-node-test", Time: time.UnixMilli(time.Now().UnixMilli()).UTC(), Bootstrap: bootstrap,
		Dev: true, Params: chain.DevParams()}
	require.NoError(t, g.Validate())
	return g
}

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	require.NoError(t, err)
	id, err := peer.IDFromPrivateKey(k)
	require.NoError(t, err)
	return k, id
}

// newHostNode is a host on loopback with the DHT and GossipSub, and an
// in-memory store, without services.
func newHostNode(t testing.TB) *testNode {
	k, id := newKey(t)
	h, err := p2p.NewHost(p2p.HostConfig{Identity: k, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Transports: p2p.BuiltinTransports(), Profile: p2p.ProfileServer})
	require.NoError(t, err)
	store := dssync.MutexWrap(datastore.NewMapDatastore())
	nw, err := p2p.JoinNetwork(h, p2p.NetworkConfig{Datastore: store})
	require.NoError(t, err)
	t.Cleanup(func() { _ = nw.Close() })
	return &testNode{key: k, id: id, net: nw, store: store, blocked: map[peer.ID]bool{}}
}

// startNodes starts n connected nodes on loopback, each with a PoOT
// service feeding its chain service; node 0 is the genesis bootstrap.
func startNodes(t testing.TB, n int, tweak ...func(*chain.Genesis)) ([]*testNode, *chain.Genesis) {
	t.Helper()
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = newHostNode(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			require.NoError(t, p2p.Connect(ctx, a.net.Host, peer.AddrInfo{ID: b.id, Addrs: b.net.Host.Addrs()}))
		}
	}
	g := testGenesis(t, nodes[0].id)
	for _, f := range tweak {
		f(g)
	}
	require.NoError(t, g.Validate())
	for _, nd := range nodes {
		startServices(t, nd, g)
	}
	for _, nd := range nodes {
		require.Eventually(t, func() bool { return len(nd.chain.blockTopic.ListPeers()) == n-1 }, 10*time.Second, 20*time.Millisecond)
	}
	return nodes, g
}

// joinNode starts one more node, connected to the given ones.
func joinNode(t testing.TB, to []*testNode, g *chain.Genesis, tune ...func(*Config)) *testNode {
	nd := newHostNode(t)
	nw := nd.net
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, o := range to {
		require.NoError(t, p2p.Connect(ctx, nw.Host, peer.AddrInfo{ID: o.id, Addrs: o.net.Host.Addrs()}))
	}
	startServices(t, nd, g, tune...)
	return nd
}

// stopServices closes a node's chain and PoOT services (its host and
// store stay), as a daemon restart would.
func stopServices(t testing.TB, nd *testNode) {
	require.NoError(t, nd.poot.Close())
	require.NoError(t, nd.chain.Close())
}

func startServices(t testing.TB, nd *testNode, g *chain.Genesis, tune ...func(*Config)) {
	st, err := g.State()
	require.NoError(t, err)
	params, err := chain.ConsensusParams(st, g.Time)
	require.NoError(t, err)
	cfg := Config{Network: nd.net, Key: nd.key, Store: nd.store, Genesis: g, Produce: true,
		Registry: prometheus.NewRegistry(), Reachable: nd.reachable, SnapshotEvery: 8}
	for _, f := range tune {
		f(&cfg)
	}
	cs, err := New(cfg)
	require.NoError(t, err)
	ps, err := poot.New(poot.Config{Network: nd.net, Key: nd.key, Store: nd.store, Params: params, Beacons: true,
		Registry: prometheus.NewRegistry(), Proofs: func(p *consensus.Proof, raw []byte) { cs.AddProof(raw, p) }})
	require.NoError(t, err)
	nd.mu.Lock()
	nd.chain, nd.poot = cs, ps
	nd.mu.Unlock()
	t.Cleanup(func() {
		_ = ps.Close()
		_ = cs.Close()
	})
}

// relayWork makes every live node earn relay credits: each slot a client
// of its own countersigns a metering receipt for 10 MB more.
func relayWork(ctx context.Context, t testing.TB, nodes []*testNode, params consensus.Params, live func(i int) bool) {
	type client struct {
		key     crypto.PrivKey
		id      peer.ID
		session sessions.ID
	}
	clients := make([]client, len(nodes))
	for i := range clients {
		k, id := newKey(t)
		sid, err := sessions.NewID(rand.Reader)
		require.NoError(t, err)
		clients[i] = client{k, id, sid}
	}
	go func() {
		start := params.SlotAt(time.Now())
		for slot := start; ; slot++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(params.SlotStart(slot).Add(params.SlotLength / 4))):
			}
			for i, nd := range nodes {
				if !live(i) {
					continue
				}
				c := clients[i]
				r := consensus.MeteringReceipt{Session: c.session, Host: nd.id, Client: c.id, Slot: slot, Start: start,
					Bytes: uint64(slot-start+1) * 10_000_000}
				nd.mu.Lock()
				ps := nd.poot // a restart replaces it
				nd.mu.Unlock()
				if r.Sign(c.key) == nil {
					_ = ps.AddReceipt(r)
				}
			}
		}
	}()
}
