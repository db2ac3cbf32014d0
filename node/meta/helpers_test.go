package meta

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	badger4 "github.com/ipfs/go-ds-badger4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/sessions"
)

// testNode is a real libp2p host on loopback with a real Badger store and
// a Replica.
type testNode struct {
	key    crypto.PrivKey
	net    *p2p.Network
	store  datastore.Batching
	dir    string
	faults *Faults
	r      *Replica
}

func (n *testNode) id() peer.ID { return n.net.Host.ID() }

func openTestStore(t testing.TB, dir string) datastore.Batching {
	t.Helper()
	opts := badger4.DefaultOptions
	opts.Options = opts.Options.WithMemTableSize(8 << 20).WithValueLogFileSize(16 << 20).WithNumCompactors(2).WithLoggingLevel(3)
	ds, err := badger4.NewDatastore(dir, &opts)
	require.NoError(t, err)
	return ds
}

// startNodes starts n connected nodes (a chain plus bootstrap to node 0,
// which gossip meshes out from).
func startNodes(t testing.TB, n int, cfg func(i int, c *Config)) []*testNode {
	t.Helper()
	var nodes []*testNode
	for i := range n {
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		require.NoError(t, err)
		nd := &testNode{key: key, dir: t.TempDir()}
		nd.store = openTestStore(t, nd.dir)
		nodes = append(nodes, nd)
		startNode(t, nd, i, cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, nd := range nodes {
		for j := 1; j <= 3 && i+j < len(nodes); j++ {
			other := nodes[(i+j)%len(nodes)]
			require.NoError(t, nd.net.Host.Connect(ctx, peer.AddrInfo{ID: other.id(), Addrs: other.net.Host.Addrs()}))
		}
	}
	return nodes
}

func startNode(t testing.TB, nd *testNode, i int, cfg func(i int, c *Config)) {
	t.Helper()
	h, err := p2p.NewHost(p2p.HostConfig{
		Identity: nd.key, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Transports: p2p.BuiltinTransports(), Profile: p2p.ProfileServer,
	})
	require.NoError(t, err)
	nd.net, err = p2p.JoinNetwork(h, p2p.NetworkConfig{Datastore: nd.store})
	require.NoError(t, err)
	c := Config{Network: nd.net, Key: nd.key, Store: nd.store, SyncInterval: 500 * time.Millisecond, Faults: nd.faults}
	if cfg != nil {
		cfg(i, &c)
	}
	nd.faults = c.Faults
	nd.r, err = New(c)
	require.NoError(t, err)
	t.Cleanup(func() { nd.stop() })
}

func (n *testNode) stop() {
	if n.r != nil {
		_ = n.r.Close()
		n.r = nil
	}
	if n.net != nil {
		_ = n.net.Close()
		n.net = nil
	}
	if n.store != nil {
		_ = n.store.Close()
		n.store = nil
	}
}

func newSession(t testing.TB) sessions.ID {
	t.Helper()
	id, err := sessions.NewID(rand.Reader)
	require.NoError(t, err)
	return id
}

// host writes a session's opening as its host would.
func (n *testNode) host(t testing.TB, id sessions.ID, at time.Time) {
	t.Helper()
	require.NoError(t, n.r.Update(context.Background(), id,
		crdt.Create(crdt.ReplicaID(n.id()), "ssh", at), crdt.SetPhase(sessions.StateActive, at)))
}

// converged waits until every node has the same digest and n keys.
func converged(t testing.TB, nodes []*testNode, keys int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.Eventually(t, func() bool {
		d := nodes[0].r.Digest()
		for _, nd := range nodes {
			if nd.r.Digest() != d || len(nd.r.Records()) != keys {
				return false
			}
		}
		return true
	}, within, 20*time.Millisecond)
	return time.Since(start)
}
