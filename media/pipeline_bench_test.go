package media

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/lucidnet/lucid/sessions"
)

// BenchmarkPipeline records 64 MiB of one session through the whole
// pipeline (framing, chunking, Zstd, XChaCha20-Poly1305, BLAKE3 leaves,
// fsynced chunk files and journal, manifest) with one sealing worker per
// CPU, and reports its plaintext throughput against each stage alone
// (single-threaded, same data, same run: Zstd, XChaCha20-Poly1305, BLAKE3,
// and a durable file write): x-vs-slowest-stage is pipeline throughput
// over the slowest stage's; above 1 means the parallel pipeline beats a
// single stage.
func BenchmarkPipeline(b *testing.B) {
	const total = 64 << 20
	for name, piece := range benchInputs() {
		b.Run(name, func(b *testing.B) {
			base := measureBaselines(piece)
			// Durable writes are a stage too: a chunk-sized file written,
			// fsynced and renamed into place, as the store does.
			dir := b.TempDir()
			disk := nsPerOp(func() {
				if err := writeAtomic(dir, "chunk", piece); err != nil {
					b.Fatal(err)
				}
			})
			slowest := max(base.zstd, base.xchacha, base.blake3, disk) // ns per benchSize bytes
			mbps := func(nsPerBenchSize float64) float64 { return float64(benchSize) / nsPerBenchSize * 1e9 / 1e6 }
			b.SetBytes(total)
			b.ResetTimer()
			var elapsed time.Duration
			for range b.N {
				b.StopTimer()
				st, err := OpenFileStore(filepath.Join(b.TempDir(), "rec"))
				if err != nil {
					b.Fatal(err)
				}
				p, err := NewPipeline(PipelineConfig{Store: st})
				if err != nil {
					b.Fatal(err)
				}
				info, _ := hostedSession(b)
				p.SessionEvent(sessions.Event{Kind: sessions.EventStarted, Info: info})
				b.StartTimer()
				start := time.Now()
				at := start
				for sent := 0; sent < total; sent += 32 << 10 {
					off := sent % len(piece)
					at = at.Add(time.Microsecond)
					p.Record(info.ID, sessions.ClientToHost, at, piece[off:min(off+32<<10, len(piece))])
				}
				info.State, info.EndedAt = sessions.StateEnded, at
				p.SessionEvent(sessions.Event{Kind: sessions.EventEnded, Info: info})
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
			}
			pipeline := float64(total*b.N) / elapsed.Seconds() / 1e6
			b.ReportMetric(pipeline, "pipeline-MB/s")
			b.ReportMetric(mbps(base.zstd), "zstd-MB/s")
			b.ReportMetric(mbps(base.xchacha), "xchacha-MB/s")
			b.ReportMetric(mbps(base.blake3), "blake3-MB/s")
			b.ReportMetric(mbps(disk), "fsync-write-MB/s")
			b.ReportMetric(pipeline/mbps(slowest), "x-vs-slowest-stage")
		})
	}
}
