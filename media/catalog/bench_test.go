package catalog

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/media"
)

// bigDataset is sessions × chunksPer chunks over a few days and owners.
func bigDataset(tb testing.TB, sessions, chunksPer int) dataset {
	r := rand.New(rand.NewPCG(1, 2))
	host := testPeer(tb, r)
	owners := []peer.ID{testPeer(tb, r), testPeer(tb, r), testPeer(tb, r)}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var d dataset
	for i := range sessions {
		m := media.Manifest{Session: testID(tb, r), Host: host, Client: owners[i%len(owners)], Service: "rdp",
			Started: base.Add(time.Duration(i) * 37 * time.Minute)}
		at := m.Started
		for idx := range uint64(chunksPer) {
			c := media.ChunkInfo{Index: idx, SealedSize: uint64(r.IntN(8 << 20)), PlaintextSize: uint64(r.IntN(8 << 20)), First: at}
			at = at.Add(time.Minute)
			c.Last = at
			m.Chunks = append(m.Chunks, c)
		}
		m.ChunkCount, m.Ended = uint64(chunksPer), at
		d.manifests = append(d.manifests, m)
	}
	return d
}

// BenchmarkStats100k aggregates 100,000 chunk records (100 sessions) by
// day: the embedded catalog (a Badger scan summed in Go) in the timed
// loop, and MongoDB (three single-$sum pipelines) when MONGO_URI is set,
// timed over 3 runs in the same benchmark; mongo-vs-embedded is the ratio
// of their median query times.
func BenchmarkStats100k(b *testing.B) {
	d := bigDataset(b, 100, 1000)
	chunks := d.chunks()
	load := func(c Catalog) time.Duration {
		ctx := testCtx(b)
		start := time.Now()
		for batch := range slices.Chunk(chunks, 1000) {
			if err := c.PutChunks(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	check := func(st Stats) {
		if st.Total.Chunks != uint64(len(chunks)) || st.Total.Sessions != 100 {
			b.Fatalf("stats total %+v", st.Total)
		}
	}
	embedded := openBadger(b)
	embeddedLoad := load(embedded)
	var mongoQuery time.Duration
	if m := openMongo(b); m != nil {
		mongoLoad := load(m)
		var runs []time.Duration
		for range 3 {
			start := time.Now()
			st, err := m.Stats(testCtx(b), ByDay)
			if err != nil {
				b.Fatal(err)
			}
			runs = append(runs, time.Since(start))
			check(st)
		}
		slices.Sort(runs)
		mongoQuery = runs[1]
		defer func() {
			b.ReportMetric(float64(len(chunks))/mongoLoad.Seconds(), "mongo-inserts/s")
			b.ReportMetric(float64(mongoQuery.Milliseconds()), "mongo-ms/query")
		}()
	} else {
		b.Log("MONGO_URI unset: MongoDB not measured (make bench-mongo)")
	}
	ctx := testCtx(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		st, err := embedded.Stats(ctx, ByDay)
		if err != nil {
			b.Fatal(err)
		}
		check(st)
	}
	perQuery := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(len(chunks))/embeddedLoad.Seconds(), "embedded-inserts/s")
	b.ReportMetric(float64(perQuery.Milliseconds()), "embedded-ms/query")
	if mongoQuery > 0 {
		b.ReportMetric(float64(mongoQuery)/float64(perQuery), "mongo-vs-embedded")
	}
}
