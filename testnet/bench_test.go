package testnet

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/lucidnet/lucid/p2p/capacity"
)

// hopCounter follows a DHT lookup's query events. A peer the querier asked
// first is at depth 1; a peer learnt from a depth-d peer's answer is at
// depth d+1. A lookup's hop count is the depth of the peer that told us
// about the target, or the deepest peer asked when no answer named it.
type hopCounter struct {
	mu     sync.Mutex
	depth  map[peer.ID]int
	target peer.ID
	found  int
	max    int
}

func (h *hopCounter) observe(ev *routing.QueryEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Type != routing.PeerResponse {
		return
	}
	d, ok := h.depth[ev.ID]
	if !ok {
		d = 1
		h.depth[ev.ID] = d
	}
	h.max = max(h.max, d)
	for _, ai := range ev.Responses {
		if _, seen := h.depth[ai.ID]; !seen {
			h.depth[ai.ID] = d + 1
		}
		if ai.ID == h.target && h.found == 0 {
			h.found = d
		}
	}
}

func (h *hopCounter) hops() int {
	if h.found > 0 {
		return h.found
	}
	return h.max
}

// countHops runs fn with a context that reports query events to a counter.
func countHops(ctx context.Context, target peer.ID, fn func(context.Context) error) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctx, events := routing.RegisterForQueryEvents(ctx)
	hc := &hopCounter{depth: map[peer.ID]int{}, target: target}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range events {
			hc.observe(ev)
		}
	}()
	err := fn(ctx)
	cancel()
	<-done
	return hc.hops(), err
}

type samples []time.Duration

func (s samples) quantile(q float64) time.Duration {
	c := slices.Clone(s)
	slices.Sort(c)
	return c[min(len(c)-1, int(q*float64(len(c))))]
}

func medianInt(v []int) float64 {
	c := slices.Clone(v)
	slices.Sort(c)
	return float64(c[len(c)/2])
}

// BenchmarkLookup50 measures, in a 50-node network on loopback, the latency
// and hop count of FindPeer (with the connection to the target closed first,
// so the lookup is real) and of fetching a capacity record, against the
// baseline of one libp2p ping round trip between connected nodes.
func BenchmarkLookup50(b *testing.B) {
	const nodes, lookups = 50, 200
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nw, err := Start(ctx, Options{Nodes: nodes, Transports: []string{"tcp"}})
	if err != nil {
		b.Fatal(err)
	}
	defer nw.Close()
	if err := nw.WaitPublished(ctx); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pair := func() (int, int) {
		a := rng.IntN(nodes)
		return a, (a + 1 + rng.IntN(nodes-1)) % nodes
	}

	b.ResetTimer()
	for range b.N {
		var ping, find, get samples
		var findHops, getHops []int
		for range lookups {
			a, t := pair()
			src, dst := nw.Nodes[a].Network(), nw.Nodes[t].Network()
			rtt, err := src.Ping(ctx, dst.Host.ID(), 1, 0)
			if err != nil {
				if _, cerr := src.Connect(ctx, dst.Host.ID(), false); cerr != nil {
					b.Fatal(cerr)
				}
				if rtt, err = src.Ping(ctx, dst.Host.ID(), 1, 0); err != nil {
					b.Fatal(err)
				}
			}
			ping = append(ping, rtt[0])

			_ = src.Host.Network().ClosePeer(dst.Host.ID())
			start := time.Now()
			hops, err := countHops(ctx, dst.Host.ID(), func(ctx context.Context) error {
				_, err := src.DHT.FindPeer(ctx, dst.Host.ID())
				return err
			})
			if err != nil {
				b.Fatalf("FindPeer %d→%d: %v", a, t, err)
			}
			find, findHops = append(find, time.Since(start)), append(findHops, hops)

			start = time.Now()
			hops, err = countHops(ctx, dst.Host.ID(), func(ctx context.Context) error {
				_, err := src.DHT.GetValue(ctx, capacity.Key(dst.Host.ID()))
				return err
			})
			if err != nil {
				b.Fatalf("GetValue %d→%d: %v", a, t, err)
			}
			get, getHops = append(get, time.Since(start)), append(getHops, hops)
		}
		base := ping.quantile(0.5)
		b.ReportMetric(float64(base.Microseconds())/1000, "ping-p50-ms")
		b.ReportMetric(float64(find.quantile(0.5).Microseconds())/1000, "findpeer-p50-ms")
		b.ReportMetric(float64(find.quantile(0.99).Microseconds())/1000, "findpeer-p99-ms")
		b.ReportMetric(medianInt(findHops), "findpeer-hops-p50")
		b.ReportMetric(float64(slices.Max(findHops)), "findpeer-hops-max")
		b.ReportMetric(float64(get.quantile(0.5).Microseconds())/1000, "capget-p50-ms")
		b.ReportMetric(float64(get.quantile(0.99).Microseconds())/1000, "capget-p99-ms")
		b.ReportMetric(medianInt(getHops), "capget-hops-p50")
		b.ReportMetric(float64(find.quantile(0.5))/float64(base), "findpeer-x-vs-ping")
		b.ReportMetric(float64(get.quantile(0.5))/float64(base), "capget-x-vs-ping")
	}
}
