package poot

import (
	"context"
	"crypto/rand"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/p2p"
)

// BenchmarkProofPropagation50 publishes proofs from random nodes of a
// 50-node network (each dialled to 6 random others) and measures publish →
// acceptance at every other node: median and p99. The baseline in the same
// run is a plain GossipSub topic on the same hosts (no validator):
// x-vs-plain-gossip is the proof's median over the plain message's.
func BenchmarkProofPropagation50(b *testing.B) {
	const n, degree, proofs = 50, 6, 20
	params := consensus.DefaultParams()
	params.Genesis = time.Now().Add(-time.Hour).Truncate(time.Second)

	var mu sync.Mutex
	arrived := map[[32]byte][]time.Duration{}
	published := map[[32]byte]time.Time{}
	var nodes []*testNode
	var plainTopics []*pubsub.Topic
	var plainSubs []*pubsub.Subscription
	for range n {
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		require.NoError(b, err)
		h, err := p2p.NewHost(p2p.HostConfig{Identity: key, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}, Transports: p2p.BuiltinTransports(), Profile: p2p.ProfileServer})
		require.NoError(b, err)
		store := dssync.MutexWrap(datastore.NewMapDatastore())
		nw, err := p2p.JoinNetwork(h, p2p.NetworkConfig{Datastore: store})
		require.NoError(b, err)
		svc, err := New(Config{Network: nw, Key: key, Store: store, Params: params, PeerRate: 1000, Accepted: func(p *consensus.Proof) {
			id := p.ID()
			mu.Lock()
			arrived[id] = append(arrived[id], time.Since(published[id]))
			mu.Unlock()
		}})
		require.NoError(b, err)
		plain, err := nw.PubSub.Join("/lucid/bench-plain/1")
		require.NoError(b, err)
		sub, err := plain.Subscribe()
		require.NoError(b, err)
		plainTopics, plainSubs = append(plainTopics, plain), append(plainSubs, sub)
		nodes = append(nodes, &testNode{key: key, net: nw, svc: svc})
	}
	b.Cleanup(func() {
		for i, nd := range nodes {
			plainSubs[i].Cancel()
			_ = plainTopics[i].Close()
			_ = nd.svc.Close()
			_ = nd.net.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i, nd := range nodes {
		for range degree / 2 {
			j := rng.IntN(n)
			if j != i {
				_ = nd.net.Host.Connect(ctx, peer.AddrInfo{ID: nodes[j].net.Host.ID(), Addrs: nodes[j].net.Host.Addrs()})
			}
		}
	}
	time.Sleep(3 * time.Second) // meshes form over a few heartbeats

	// Baseline: plain messages, timed at every subscriber.
	var plainLat []time.Duration
	var pmu sync.Mutex
	for i := range nodes {
		go func() {
			for {
				m, err := plainSubs[i].Next(ctx)
				if err != nil {
					return
				}
				if m.ReceivedFrom == nodes[i].net.Host.ID() || len(m.Data) < 8 {
					continue
				}
				sent := time.Unix(0, int64(uint64(m.Data[0])|uint64(m.Data[1])<<8|uint64(m.Data[2])<<16|uint64(m.Data[3])<<24|uint64(m.Data[4])<<32|uint64(m.Data[5])<<40|uint64(m.Data[6])<<48|uint64(m.Data[7])<<56))
				pmu.Lock()
				plainLat = append(plainLat, time.Since(sent))
				pmu.Unlock()
			}
		}()
	}

	b.ResetTimer()
	for range b.N {
		for k := range proofs {
			src := nodes[rng.IntN(n)]
			now := params.SlotAt(time.Now())
			p, err := consensus.NewUptime(src.key, nil, now)
			require.NoError(b, err)
			mu.Lock()
			published[p.ID()] = time.Now()
			mu.Unlock()
			if err := src.svc.Publish(ctx, p); err != nil {
				// One beacon per node and slot: a second pick of the same
				// node in a slot is a duplicate, not a measurement.
				mu.Lock()
				delete(published, p.ID())
				mu.Unlock()
			}
			t := time.Now().UnixNano()
			msg := make([]byte, 64)
			for i := range 8 {
				msg[i] = byte(uint64(t) >> (8 * i))
			}
			msg[8] = byte(k)
			require.NoError(b, plainTopics[rng.IntN(n)].Publish(ctx, msg))
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second)
	b.StopTimer()

	mu.Lock()
	var lat []time.Duration
	complete := 0
	for id := range published {
		lat = append(lat, arrived[id]...)
		if len(arrived[id]) == n-1 {
			complete++
		}
	}
	mu.Unlock()
	pmu.Lock()
	defer pmu.Unlock()
	if len(lat) == 0 || len(plainLat) == 0 {
		b.Fatal("nothing arrived")
	}
	q := func(d []time.Duration, f float64) time.Duration {
		slices.Sort(d)
		return d[min(len(d)-1, int(f*float64(len(d))))]
	}
	b.ReportMetric(float64(q(lat, 0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(q(plainLat, 0.5).Microseconds())/1000, "plain-p50-ms")
	b.ReportMetric(float64(q(plainLat, 0.99).Microseconds())/1000, "plain-p99-ms")
	b.ReportMetric(float64(q(lat, 0.5))/float64(q(plainLat, 0.5)), "x-vs-plain-gossip")
	b.ReportMetric(float64(complete)/float64(len(published)), "reached-all-fraction")
}
