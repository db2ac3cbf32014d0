package consensus

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/media"
)

// The benchmark network: 1,000 entities (960 solo nodes and 40 pools of 3
// nodes) over a full 7-day window of default 120 s slots (5,040 slots).
// Per node and slot: an uptime beacon with probability 0.95, a
// validation with 0.2, a storage proof with 0.05, a relay proof (1–3
// receipts of 2,000 clients) with 0.02: about 5.1 M beacons and 1.5 M
// other proofs. Nothing asserts a time; figures are reported with
// b.ReportMetric next to baselines measured in the same run.
const (
	benchSolo    = 960
	benchPools   = 40
	benchPerPool = 3
	benchClients = 2000
)

type benchEnv struct {
	p        Params
	t        *Tally
	at       Slot
	seed     [32]byte
	proofs   int
	stats    TallyStats
	heapMB   float64
	ingestNs float64
	sample   []*Proof // the same mix, signed, for the baselines
}

var (
	benchOnce sync.Once
	benchVal  *benchEnv
)

func getBenchEnv(b *testing.B) *benchEnv {
	benchOnce.Do(func() { benchVal = newBenchEnv(b) })
	return benchVal
}

func newBenchEnv(b *testing.B) *benchEnv {
	p := DefaultParams()
	rng := rand.New(rand.NewPCG(42, 42))
	type node struct {
		a    actor
		pool []byte
	}
	var nodes []node
	for i := range benchSolo + benchPools*benchPerPool {
		n := node{a: newActor(b, fmt.Sprintf("bench-node-%d", i))}
		if i >= benchSolo {
			n.pool = fmt.Appendf(nil, "bench-pool-%d", (i-benchSolo)/benchPerPool)
		}
		nodes = append(nodes, n)
	}
	var clients []peer.ID
	for i := range benchClients {
		clients = append(clients, newActor(b, fmt.Sprintf("bench-client-%d", i)).id)
	}
	env := &benchEnv{p: p, at: Slot(p.WindowSlots - 1), seed: blockHash(1)}

	// gen produces the proofs of one slot; emit receives each (the
	// structs are reused: Tally.Add keeps no pointer into a proof).
	var up, val, st, rel Proof
	var rs [3]MeteringReceipt
	gen := func(slot Slot, emit func(*Proof)) {
		for i, n := range nodes {
			if rng.Float64() < 0.95 {
				up = Proof{Version: ProofVersion, Type: TypeUptime, Node: n.a.id, Pool: n.pool, Slot: slot}
				emit(&up)
			}
			if rng.Float64() < 0.2 {
				val = Proof{Version: ProofVersion, Type: TypeValidation, Node: n.a.id, Pool: n.pool, Slot: slot,
					Validation: &ValidationBody{Block: blockHash(slot), Height: uint64(slot), Sessions: uint64(slot % 30)}}
				emit(&val)
			}
			if rng.Float64() < 0.05 {
				l := rng.IntN(100_000)
				st = Proof{Version: ProofVersion, Type: TypeStorage, Node: n.a.id, Pool: n.pool, Slot: slot, Storage: &StorageBody{
					Session: sid(l), Root: blockHash(Slot(1<<32 + l)), Size: 8 << 20, Leaf: blockHash(Slot(1<<33 + l)),
					Inclusion: media.Proof{Count: 1}, Slice: make([]byte, 1500),
				}}
				emit(&st)
			}
			if rng.Float64() < 0.02 {
				k := 1 + rng.IntN(3)
				for j := range k {
					s := sid(i*4 + j) // up to 4 long-lived sessions per node
					rs[j] = MeteringReceipt{Session: s, Host: n.a.id, Client: clients[(i*7+j)%benchClients], Slot: slot,
						Start: slot / 100 * 100, Bytes: uint64(slot%100+1) * 30_000_000}
				}
				sortReceipts(rs[:k])
				rel = Proof{Version: ProofVersion, Type: TypeRelay, Node: n.a.id, Pool: n.pool, Slot: slot,
					Relay: &RelayBody{Receipts: rs[:k]}}
				emit(&rel)
			}
		}
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t, err := NewTally(p)
	require.NoError(b, err)
	start := time.Now()
	for s := Slot(0); s <= env.at; s++ {
		gen(s, func(pr *Proof) {
			if err := t.Add(pr); err != nil {
				b.Fatal(err)
			}
			env.proofs++
		})
	}
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	env.t, env.stats = t, t.Stats()
	env.heapMB = float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	// Generation is counted too: this is an upper bound for ingestion.
	env.ingestNs = float64(elapsed.Nanoseconds()) / float64(env.proofs)

	// The baseline sample: 40 slots of the same mix, signed (relay
	// receipts by a throw-away client key: only sizes and hashing matter).
	for s := Slot(0); s < 40; s++ {
		gen(s, func(pr *Proof) {
			c := cloneBench(pr)
			for i := range nodes {
				if nodes[i].a.id == c.Node {
					if c.Relay != nil {
						for j := range c.Relay.Receipts {
							c.Relay.Receipts[j].Sig = make([]byte, 64)
						}
					}
					require.NoError(b, c.Sign(nodes[i].a.priv))
					break
				}
			}
			env.sample = append(env.sample, c)
		})
	}
	b.Logf("bench network: %d proofs (%d beacons, %d validations, %d receipts, %d storage proofs), %d entities, tally heap %.1f MiB (estimate %.1f MiB), ingest %.0f ns/proof",
		env.proofs, env.stats.Beacons, env.stats.Validations, env.stats.Receipts, env.stats.StorageProofs, env.stats.Entities,
		env.heapMB, float64(env.stats.ApproxBytes)/(1<<20), env.ingestNs)
	return env
}

func cloneBench(p *Proof) *Proof {
	c := *p
	c.Pool = append([]byte(nil), p.Pool...)
	if p.Relay != nil {
		c.Relay = &RelayBody{Receipts: append([]MeteringReceipt(nil), p.Relay.Receipts...)}
	}
	if p.Storage != nil {
		s := *p.Storage
		c.Storage = &s
	}
	if p.Validation != nil {
		v := *p.Validation
		c.Validation = &v
	}
	return &c
}

// baselines measures, on the sample, the per-proof cost of encoding and
// hashing (Proof.ID), of decoding, and of verifying the signature, and
// extrapolates to the window's proofs.
func (env *benchEnv) baselines() (hashNs, decodeNs, verifyNs float64) {
	encoded := make([][]byte, len(env.sample))
	start := time.Now()
	for i, pr := range env.sample {
		_ = pr.ID()
		encoded[i], _ = pr.Encode()
	}
	hashNs = float64(time.Since(start).Nanoseconds()) / float64(len(env.sample))
	start = time.Now()
	for _, b := range encoded {
		if _, err := DecodeProof(b); err != nil {
			panic(err)
		}
	}
	decodeNs = float64(time.Since(start).Nanoseconds()) / float64(len(encoded))
	n := min(len(env.sample), 2000)
	start = time.Now()
	for _, pr := range env.sample[:n] {
		if err := pr.verifySignature(); err != nil {
			panic(err)
		}
	}
	verifyNs = float64(time.Since(start).Nanoseconds()) / float64(n)
	return
}

// BenchmarkTallyAndSchedule: one op = the full tally of the 7-day window
// (uncached) plus the leaders of the next slot.
func BenchmarkTallyAndSchedule(b *testing.B) {
	env := getBenchEnv(b)
	slot := env.at + Slot(env.p.Lag())
	recent := make([]EntityID, env.p.CooldownSlots)
	var res *TallyResult
	for b.Loop() {
		var err error
		if res, err = env.t.compute(env.at); err != nil {
			b.Fatal(err)
		}
		if _, err := Leaders(env.p, res, env.seed, slot, recent); err != nil {
			b.Fatal(err)
		}
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	hashNs, decodeNs, verifyNs := env.baselines()
	all := float64(env.proofs)
	b.ReportMetric(all, "proofs")
	b.ReportMetric(float64(len(res.Entries)), "entities")
	b.ReportMetric(env.heapMB, "tally-heap-MiB")
	b.ReportMetric(env.ingestNs, "ingest-ns/proof")
	b.ReportMetric(hashNs*all/1e6, "baseline-hash-all-ms")
	b.ReportMetric(decodeNs*all/1e6, "baseline-decode-all-ms")
	b.ReportMetric(verifyNs*all/1e9, "baseline-verify-all-s")
	b.ReportMetric(perOp/(hashNs*all), "tally/hash-all")
}

// BenchmarkLeaders: one slot's leaders from a computed 1,000-entity tally.
func BenchmarkLeaders(b *testing.B) {
	env := getBenchEnv(b)
	res, err := env.t.Compute(env.at)
	require.NoError(b, err)
	slot := env.at + Slot(env.p.Lag())
	recent := make([]EntityID, env.p.CooldownSlots)
	for b.Loop() {
		if _, err := Leaders(env.p, res, env.seed, slot, recent); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyStorage: verifying one storage proof (signature, Merkle
// inclusion in a 1,024-chunk recording, Bao slice of an 8 MiB chunk).
func BenchmarkVerifyStorage(b *testing.B) {
	p := testParams()
	node := newActor(b, "bench-storer")
	f := newFakeChain(p)
	for s := Slot(0); s <= 12; s++ {
		f.addBlock(b, s, 1)
	}
	rec := newRecording(sid(1), 1, 8<<20)
	claim := rec.claim()
	leaves := rec.leaves
	for i := 1; i < 1024; i++ { // same chunk bytes at every index: only the shape matters
		leaves = append(leaves, rec.leaves[0])
		claim.ChunkSizes = append(claim.ChunkSizes, claim.ChunkSizes[0])
	}
	rec.leaves, rec.root = leaves, media.MerkleRoot(leaves)
	claim.Root = rec.root
	for range 1023 {
		rec.chunks = append(rec.chunks, rec.chunks[0])
	}
	set, err := NewClaimSet([]StorageClaim{claim})
	require.NoError(b, err)
	f.claims[node.id] = set
	pr := proveFor(b, p, node, nil, f, 10, rec)
	ctx := f.ctx()
	for b.Loop() {
		if err := VerifyProof(pr, p, 10, ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(mustEncode(b, pr))), "proof-bytes")
}
