package chain

import (
	"context"
	crand "crypto/rand"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/lucidnet/lucid/sessions"
	"github.com/lucidnet/lucid/vm"
)

// BenchmarkSealToAnchor measures, on ten nodes on loopback with
// one-second slots, the time from a sealed manifest (the moment the
// register-session transaction is submitted) to the transaction being in
// a block on the chosen chain of the submitting node. Submissions fall at
// random points of a slot, so the expected wait is about half a slot plus
// the time to build, gossip and execute the block: the ratio
// anchored_per_slot reports it against the slot length measured in the
// same run. submit_ms is the part the original spec bounds at 300 ms:
// signing, pooling and gossiping the transaction.
func BenchmarkSealToAnchor(b *testing.B) {
	nodes, g := startNodes(b, 10)
	p := params(b, g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relayWork(ctx, b, nodes, p, func(int) bool { return true })
	waitSlot(b, p, 8) // leadership has left the bootstrap node
	var submit, anchored []time.Duration
	b.ResetTimer()
	// Ten registrations per op, so that one op (the harness's first
	// estimate at one-second slots) already gives a median.
	for i := range b.N * 10 {
		time.Sleep(time.Duration(rand.Int64N(int64(p.SlotLength))))
		nd := nodes[i%len(nodes)]
		sid, err := sessions.NewID(crand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		body := &vm.RegisterSession{Session: vm.SessionID(sid), Manifest: [32]byte{1}, Root: [32]byte{2}, Chunks: 1, Owner: []byte(nd.id)}
		start := time.Now()
		h, err := nd.chain.Register(ctx, body)
		if err != nil {
			b.Fatal(err)
		}
		submit = append(submit, time.Since(start))
		wctx, wcancel := context.WithTimeout(ctx, 10*p.SlotLength)
		if _, err := nd.chain.WaitTx(wctx, h, false); err != nil {
			b.Fatalf("registration %d not anchored: %v", i, err)
		}
		wcancel()
		anchored = append(anchored, time.Since(start))
	}
	b.StopTimer()
	med := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	ma := med(anchored)
	b.ReportMetric(float64(med(submit).Microseconds())/1000, "submit_ms")
	b.ReportMetric(float64(ma.Milliseconds()), "anchored_ms")
	b.ReportMetric(float64(ma)/float64(p.SlotLength), "anchored_per_slot")
}
