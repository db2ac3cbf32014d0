package media

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/lucidnet/lucid/sessions"
)

// BenchmarkPipeline records 256 MiB of one session per iteration through
// the whole pipeline (framing, chunking, Zstd, XChaCha20-Poly1305, BLAKE3
// leaves, durable chunk files and journal, manifest) with one sealing
// worker per CPU, on one long-lived pipeline as a node runs it, and
// reports its plaintext throughput, from the first byte recorded until the
// manifest is on disk, against each stage alone, single-threaded, on the
// same data in the same run: Zstd, XChaCha20-Poly1305, BLAKE3 (which
// spreads one large input over several goroutines), and the disk stage
// (fsync-write), which commits the data's sealed chunk the way the
// pipeline does, one chunk at a time, into new files: chunk file written
// (direct I/O where available), synced and renamed, directory synced,
// journal record appended and synced. The disk stage is measured after
// every iteration on as many chunks as the iteration wrote, so that both
// see the same disk and the same neighbours. All rates are of plaintext.
// x-vs-slowest-stage is pipeline throughput over the slowest stage's;
// above 1 means the parallel pipeline beats a single stage.
//
// Two more figures tell what limits it. cpu-bound-MB/s is GOMAXPROCS
// times the rate of the CPU work one chunk needs, single-threaded
// (framing into the chunker, sealing, leaf hash): no pipeline on this
// many cores can beat it, whatever the disk. pipeline-cores is the CPU
// time the process used over the pipeline's wall time; below GOMAXPROCS,
// the pipeline waited or, on a shared machine, neighbours had the CPU.
//
// The stream is 32 chunks long so that filling the pipeline (no chunk can
// be sealed before 8 MiB have been recorded) and draining it (the last
// chunk is sealed and committed alone) weigh little against the steady
// state, which is what a long session sees.
func BenchmarkPipeline(b *testing.B) {
	const total = 256 << 20
	for name, piece := range benchInputs() {
		b.Run(name, func(b *testing.B) {
			base := measureBaselines(piece)
			st, err := OpenFileStore(filepath.Join(b.TempDir(), "rec"))
			if err != nil {
				b.Fatal(err)
			}
			sealed := make(chan Manifest, 1)
			p, err := NewPipeline(PipelineConfig{Store: st, Indexer: sealedIndexer(sealed)})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			disk := newDiskStage(b, piece)
			// What the CPU allows: every chunk is framed, sealed and hashed
			// once, so GOMAXPROCS cores, perfectly shared, give at most
			// this; the disk's CPU is left out, so it is an upper bound.
			cpuBound := float64(runtime.GOMAXPROCS(0)) * float64(benchSize) / cpuStages(b, piece) * 1e3
			mbps := func(nsPerBenchSize float64) float64 { return float64(benchSize) / nsPerBenchSize * 1e9 / 1e6 }
			b.SetBytes(total)
			b.ResetTimer()
			var elapsed, diskElapsed, cpu time.Duration
			for range b.N {
				b.StopTimer()
				info, _ := hostedSession(b)
				p.SessionEvent(sessions.Event{Kind: sessions.EventStarted, Info: info})
				b.StartTimer()
				cpu -= processCPU()
				start := time.Now()
				at := start
				for sent := 0; sent < total; sent += 32 << 10 {
					off := sent % len(piece)
					at = at.Add(time.Microsecond)
					p.Record(info.ID, sessions.ClientToHost, at, piece[off:min(off+32<<10, len(piece))])
				}
				info.State, info.EndedAt = sessions.StateEnded, at
				p.SessionEvent(sessions.Event{Kind: sessions.EventEnded, Info: info})
				if m := <-sealed; m.ChunkCount < total/benchSize || len(m.Gaps) > 0 {
					b.Fatalf("recorded %d chunks, gaps %v", m.ChunkCount, m.Gaps)
				}
				elapsed += time.Since(start)
				cpu += processCPU()
				b.StopTimer()
				diskElapsed += disk.run(total / benchSize)
				b.StartTimer()
			}
			pipeline := float64(total*b.N) / elapsed.Seconds() / 1e6
			diskNs := float64(diskElapsed.Nanoseconds()) / float64(b.N*total/benchSize)
			slowest := max(base.zstd, base.xchacha, base.blake3, diskNs) // ns per benchSize bytes
			b.ReportMetric(pipeline, "pipeline-MB/s")
			b.ReportMetric(mbps(base.zstd), "zstd-MB/s")
			b.ReportMetric(mbps(base.xchacha), "xchacha-MB/s")
			b.ReportMetric(mbps(base.blake3), "blake3-MB/s")
			b.ReportMetric(mbps(diskNs), "fsync-write-MB/s")
			b.ReportMetric(pipeline/mbps(slowest), "x-vs-slowest-stage")
			b.ReportMetric(cpuBound, "cpu-bound-MB/s")
			if cpu > 0 {
				b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "pipeline-cores")
			}
		})
	}
}

// sealedIndexer passes on the manifests of sealed recordings.
type sealedIndexer chan<- Manifest

func (sealedIndexer) RecordingStarted(Manifest)         {}
func (sealedIndexer) ChunkDurable(*Manifest, ChunkInfo) {}
func (s sealedIndexer) RecordingSealed(m Manifest)      { s <- m }

// diskStage commits one sealed chunk after the other as the pipeline's
// committer does when it finds one chunk ready: new chunk files in a
// session directory, each followed by its journal record.
type diskStage struct {
	b      *testing.B
	st     *FileStore
	id     sessions.ID
	sealed []byte
	info   ChunkInfo
	next   uint64
}

func newDiskStage(b *testing.B, plaintext []byte) *diskStage {
	st, err := OpenFileStore(filepath.Join(b.TempDir(), "disk"))
	if err != nil {
		b.Fatal(err)
	}
	key, id := testSessionKey(b, "disk stage"), testSession(b, "disk stage")
	// A buffer from the pipeline's pool, as the committer gets it.
	sealed, err := sealChunk(*newSealBufPool(len(plaintext)).get(), key, id, 0, plaintext)
	if err != nil {
		b.Fatal(err)
	}
	d := &diskStage{b: b, st: st, id: id, sealed: sealed,
		info: ChunkInfo{SealedSize: uint64(len(sealed)), PlaintextSize: uint64(len(plaintext)), Leaf: LeafHash(sealed), First: testT0, Last: testT0}}
	d.run(1) // warm up
	return d
}

func (d *diskStage) run(chunks int) time.Duration {
	start := time.Now()
	for range chunks {
		d.info.Index = d.next
		d.next++
		if err := d.st.commitChunks(d.id, []chunkWrite{{index: d.info.Index, sealed: d.sealed, direct: true}}, AppendJournalChunk(nil, d.info)); err != nil {
			d.b.Fatal(err)
		}
	}
	return time.Since(start)
}

// cpuStages is the CPU time the pipeline spends on one chunk of
// plaintext, single-threaded, in ns: framing it into the chunker in
// tunnel-sized frames, with chunk buffers from a pool as the pipeline
// has them, sealing it (Zstd, BLAKE3 nonce, XChaCha20-Poly1305) into a
// pooled buffer, and its leaf hash.
func cpuStages(b *testing.B, plaintext []byte) float64 {
	key, id := testSessionKey(b, "cpu stages"), testSession(b, "cpu stages")
	c, err := NewChunker(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	plain := newPlainBufPool(c.MaxPlaintext(), 2)
	c.alloc = plain.get
	at := testT0
	chunker := nsPerOp(func() {
		for off := 0; off < len(plaintext); off += 32 << 10 {
			at = at.Add(time.Microsecond)
			chunks, err := c.Add(Frame{Dir: sessions.ClientToHost, At: at, Data: plaintext[off:min(off+32<<10, len(plaintext))]})
			if err != nil {
				b.Fatal(err)
			}
			for _, ch := range chunks {
				plain.put(ch.Plaintext)
			}
		}
		for _, ch := range c.Flush() {
			plain.put(ch.Plaintext)
		}
	})
	buf := newSealBufPool(len(plaintext)).get()
	var sealed []byte
	seal := nsPerOp(func() {
		if sealed, err = sealChunk(*buf, key, id, 0, plaintext); err != nil {
			b.Fatal(err)
		}
	})
	leaf := nsPerOp(func() { LeafHash(sealed) })
	return chunker + seal + leaf
}

// BenchmarkChunkerAddPooled is BenchmarkChunkerAdd with the chunk
// buffers the pipeline gives its chunkers: from a pool, back to it once
// the chunk is done with.
func BenchmarkChunkerAddPooled(b *testing.B) {
	frame := realLooking(pcg(53), 32<<10)
	dst := make([]byte, len(frame))
	base := nsPerOp(func() { copy(dst, frame) })
	c, err := NewChunker(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	plain := newPlainBufPool(c.MaxPlaintext(), 2)
	c.alloc = plain.get
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	at := testT0
	for b.Loop() {
		at = at.Add(time.Millisecond)
		chunks, err := c.Add(Frame{Dir: sessions.HostToClient, At: at, Data: frame})
		if err != nil {
			b.Fatal(err)
		}
		for _, ch := range chunks {
			plain.put(ch.Plaintext)
		}
	}
	reportRatio(b, base, "x-vs-copy")
}
