package meta

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	badger4 "github.com/ipfs/go-ds-badger4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
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
	reg    *prometheus.Registry
	r      *Replica
}

func (n *testNode) id() peer.ID { return n.net.Host.ID() }

func (n *testNode) rid() crdt.ReplicaID { return crdt.ReplicaID(n.net.Host.ID()) }

func (n *testNode) info() peer.AddrInfo {
	return peer.AddrInfo{ID: n.id(), Addrs: n.net.Host.Addrs()}
}

func openTestStore(t testing.TB, dir string) datastore.Batching {
	t.Helper()
	opts := badger4.DefaultOptions
	opts.Options = opts.Options.WithMemTableSize(8 << 20).WithValueLogFileSize(16 << 20).WithNumCompactors(2).WithLoggingLevel(3).
		WithBlockCacheSize(4 << 20).WithIndexCacheSize(4 << 20)
	ds, err := badger4.NewDatastore(dir, &opts)
	require.NoError(t, err)
	return ds
}

func newTestNode(t testing.TB) *testNode {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	require.NoError(t, err)
	nd := &testNode{key: key, dir: t.TempDir()}
	nd.store = openTestStore(t, nd.dir)
	return nd
}

// startNodes starts n connected nodes (each to the next three: a
// connected graph that gossip meshes out over).
func startNodes(t testing.TB, n int, cfg func(i int, c *Config)) []*testNode {
	t.Helper()
	nodes := make([]*testNode, 0, n)
	for i := range n {
		nd := newTestNode(t)
		nodes = append(nodes, nd)
		startNode(t, nd, i, cfg)
	}
	for i, nd := range nodes {
		for j := 1; j <= 3 && i+j < len(nodes); j++ {
			connect(t, nd, nodes[i+j])
		}
	}
	return nodes
}

func connect(t testing.TB, a, b *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p2p.Connect(ctx, a.net.Host, b.info()))
}

// startNode starts (or restarts, from nd.key and nd.store) a node's host,
// network and replica.
func startNode(t testing.TB, nd *testNode, i int, cfg func(i int, c *Config)) {
	t.Helper()
	if nd.store == nil {
		nd.store = openTestStore(t, nd.dir)
	}
	h, err := p2p.NewHost(p2p.HostConfig{
		Identity: nd.key, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Transports: p2p.BuiltinTransports(), Profile: p2p.ProfileServer,
	})
	require.NoError(t, err)
	nd.net, err = p2p.JoinNetwork(h, p2p.NetworkConfig{Datastore: nd.store})
	require.NoError(t, err)
	nd.reg = prometheus.NewRegistry()
	c := Config{Network: nd.net, Key: nd.key, Store: nd.store, SyncInterval: 500 * time.Millisecond, Faults: nd.faults, Registry: nd.reg}
	if cfg != nil {
		cfg(i, &c)
	}
	nd.faults = c.Faults
	nd.r, err = New(c)
	require.NoError(t, err)
	t.Cleanup(func() { nd.stop() })
}

// stop closes the replica, the network and the store, in that order: a
// clean shutdown.
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
		crdt.Create(n.rid(), "ssh", at), crdt.SetPhase(sessions.StateActive, at)))
}

func ids(nodes []*testNode) []peer.ID {
	out := make([]peer.ID, len(nodes))
	for i, nd := range nodes {
		out[i] = nd.id()
	}
	return out
}

// partition splits nodes into two halves that ignore each other (gossip
// and sync, both ways); heal undoes it. Every node needs Faults.
func partition(a, b []*testNode) {
	for _, nd := range a {
		nd.faults.Partition(ids(b))
	}
	for _, nd := range b {
		nd.faults.Partition(ids(a))
	}
}

func heal(nodes []*testNode) {
	for _, nd := range nodes {
		nd.faults.Partition(nil)
	}
}

// sameDigest reports whether every node holds the same digest and keys.
func sameDigest(nodes []*testNode, keys int) bool {
	d := nodes[0].r.Digest()
	for _, nd := range nodes {
		if nd.r.Digest() != d || nd.r.Status().Keys != keys {
			return false
		}
	}
	return true
}

// converged waits until every node has the same digest and keys records,
// and returns how long that took. On timeout it fails the test with the
// digests seen.
func converged(t testing.TB, nodes []*testNode, keys int, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(within)
	for !sameDigest(nodes, keys) {
		if time.Now().After(deadline) {
			var s string
			for i, nd := range nodes {
				st := nd.r.Status()
				s += fmt.Sprintf("\n  node %d: digest %.16s keys %d", i, st.Digest, st.Keys)
			}
			require.FailNowf(t, "not converged", "after %v (want %d keys):%s", within, keys, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// eventually polls cond every 20 ms until it holds or within passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNowf(t, "timed out", "waiting %v for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric reads a counter or gauge from a registry: the sum over the
// series of name whose labels include the given ones (nil: every series).
func metric(t testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == k && lp.GetValue() == v)
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// sumMetric sums a metric over nodes.
func sumMetric(t testing.TB, nodes []*testNode, name string, labels map[string]string) float64 {
	t.Helper()
	var s float64
	for _, nd := range nodes {
		s += metric(t, nd.reg, name, labels)
	}
	return s
}

// model tracks the effect of every acknowledged update (Update returned
// nil), to check that none is lost.
type model struct {
	mu   sync.Mutex
	sess map[sessions.ID]*modelSession
	// updates counts the acknowledged updates.
	updates int
}

type modelSession struct {
	host     crdt.ReplicaID
	phase    sessions.State
	manifest [32]byte
	counts   map[crdt.ReplicaID]crdt.Counts
	relays   map[crdt.ReplicaID]bool
}

func newModel() *model { return &model{sess: map[sessions.ID]*modelSession{}} }

func (m *model) created(id sessions.ID, host crdt.ReplicaID, phase sessions.State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.updates++
	m.sess[id] = &modelSession{host: host, phase: phase, counts: map[crdt.ReplicaID]crdt.Counts{}, relays: map[crdt.ReplicaID]bool{}}
}

func (m *model) apply(id sessions.ID, f func(s *modelSession)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.updates++
	f(m.sess[id])
}

func (m *model) count(id sessions.ID, by crdt.ReplicaID, in, out, chunks uint64) {
	m.apply(id, func(s *modelSession) {
		c := s.counts[by]
		c.BytesIn += in
		c.BytesOut += out
		c.Chunks += chunks
		s.counts[by] = c
	})
}

// check asserts that every acknowledged effect is visible on every node.
func (m *model) check(t testing.TB, nodes []*testNode) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, nd := range nodes {
		for id, s := range m.sess {
			rec, ok := nd.r.Get(id)
			require.True(t, ok, "node %d lacks session %s", i, id)
			require.Equal(t, s.host, rec.Host, "node %d session %s host", i, id)
			require.Equal(t, s.phase, rec.Phase, "node %d session %s phase", i, id)
			require.Equal(t, s.manifest, rec.ManifestHash, "node %d session %s manifest", i, id)
			var total crdt.Counts
			for by, c := range s.counts {
				total.BytesIn += c.BytesIn
				total.BytesOut += c.BytesOut
				total.Chunks += c.Chunks
				var got crdt.Counts
				for _, e := range rec.Counters {
					if e.Replica == by {
						got = e.Counts
					}
				}
				require.Equal(t, c, got, "node %d session %s counters of %s", i, id, by)
			}
			require.Equal(t, total, rec.Totals, "node %d session %s totals", i, id)
			relays := map[crdt.ReplicaID]bool{}
			for _, r := range rec.Relays {
				relays[r] = true
			}
			require.Equal(t, s.relays, relays, "node %d session %s relays", i, id)
		}
	}
}

// writer runs random acknowledged updates of one node's own sessions (and,
// as a relay, of others'), recording each acknowledged effect in the model.
type writer struct {
	nd    *testNode
	m     *model
	rng   *mrand.Rand
	own   []sessions.ID
	peers []crdt.ReplicaID
}

// step makes one random update; it returns an error only for failures
// that are not "not yet" (a relay whose AddRelay has not arrived).
func (w *writer) step(ctx context.Context, now time.Time) error {
	r := w.nd.r
	self := w.nd.rid()
	switch k := w.rng.IntN(10); {
	case len(w.own) == 0 || k == 0:
		id, err := sessions.NewID(rand.Reader)
		if err != nil {
			return err
		}
		if err := r.Update(ctx, id, crdt.Create(self, "ssh", now), crdt.SetPhase(sessions.StateActive, now)); err != nil {
			return err
		}
		w.m.created(id, self, sessions.StateActive)
		w.own = append(w.own, id)
	case k <= 4:
		id := w.own[w.rng.IntN(len(w.own))]
		in, out, chunks := uint64(w.rng.IntN(1000)+1), uint64(w.rng.IntN(1000)), uint64(w.rng.IntN(3))
		if err := r.Update(ctx, id, crdt.AddCounters(in, out, chunks)); err != nil {
			return err
		}
		w.m.count(id, self, in, out, chunks)
	case k == 5:
		id := w.own[w.rng.IntN(len(w.own))]
		var h [32]byte
		_, _ = rand.Read(h[:])
		if err := r.Update(ctx, id, crdt.SetManifest(h)); err != nil {
			return err
		}
		w.m.apply(id, func(s *modelSession) { s.manifest = h })
	case k == 6 && len(w.peers) > 0:
		id := w.own[w.rng.IntN(len(w.own))]
		relay := w.peers[w.rng.IntN(len(w.peers))]
		rec, _ := r.Get(id)
		if len(rec.Relays) >= 4 || rec.Phase >= sessions.StateEnded {
			return nil
		}
		if err := r.Update(ctx, id, crdt.AddRelay(relay)); err != nil {
			return err
		}
		w.m.apply(id, func(s *modelSession) { s.relays[relay] = true })
	case k == 7:
		id := w.own[w.rng.IntN(len(w.own))]
		rec, _ := r.Get(id)
		if rec.Phase >= sessions.StateEnded {
			return nil
		}
		end := sessions.StateEnded
		if w.rng.IntN(4) == 0 {
			end = sessions.StateFailed
		}
		if err := r.Update(ctx, id, crdt.SetPhase(end, now)); err != nil {
			return err
		}
		w.m.apply(id, func(s *modelSession) { s.phase = end })
	default:
		// Count as a relay of someone else's session, once the host's
		// AddRelay has arrived here.
		var mine []sessions.ID
		for _, rec := range r.Records() {
			if rec.Host == self {
				continue
			}
			for _, rl := range rec.Relays {
				if rl == self {
					mine = append(mine, rec.ID)
				}
			}
		}
		if len(mine) == 0 {
			return nil
		}
		id := mine[w.rng.IntN(len(mine))]
		in := uint64(w.rng.IntN(500) + 1)
		if err := r.Update(ctx, id, crdt.AddCounters(in, 0, 1)); err != nil {
			return err
		}
		w.m.count(id, self, in, 0, 1)
	}
	return nil
}

// writeAll runs steps updates on each node concurrently.
func writeAll(t testing.TB, ws []*writer, steps int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Go(func() {
			for range steps {
				if err := w.step(ctx, time.Now()); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
}

func writers(nodes []*testNode, m *model, seed uint64) []*writer {
	ws := make([]*writer, len(nodes))
	for i, nd := range nodes {
		var peers []crdt.ReplicaID
		for _, o := range nodes {
			if o != nd {
				peers = append(peers, o.rid())
			}
		}
		ws[i] = &writer{nd: nd, m: m, rng: mrand.New(mrand.NewPCG(seed, uint64(i))), peers: peers}
	}
	return ws
}
