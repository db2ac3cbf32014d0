package media

import (
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"lukechampine.com/blake3"

	"github.com/lucidnet/lucid/sessions"
)

// The benchmarks are single-threaded and report their cost relative to
// the primitives they are built from, measured in the same process on the
// same data, so figures compare across machines (a Pi and a laptop differ
// by far more than the ratios should). x-vs-zstd = SealChunk time / Zstd
// EncodeAll time, and so on: the overhead of the format over the
// primitive.

func nsPerOp(f func()) float64 {
	const minDuration = 300 * time.Millisecond
	f() // warm up pools and lazy state
	n := 0
	start := time.Now()
	for time.Since(start) < minDuration {
		f()
		n++
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func reportRatio(b *testing.B, baseNsPerOp float64, unit string) {
	if b.N == 0 || baseNsPerOp <= 0 {
		return
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp/baseNsPerOp, unit)
}

const benchSize = 8 << 20

func benchInputs() map[string][]byte {
	return map[string][]byte{
		"compressible": realLooking(pcg(50), benchSize),
		"random":       randomBytes(pcg(51), benchSize),
	}
}

type baselines struct{ zstd, zstdDecode, xchacha, xchachaOpen, blake3 float64 }

func measureBaselines(data []byte) baselines {
	key := make([]byte, chacha20poly1305.KeySize)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic(err)
	}
	compressed := zstdEncoder().EncodeAll(data, nil)
	sealed := aead.Seal(nil, nonce, data, nil)
	zbuf := make([]byte, 0, len(data)+len(data)/100+1024)
	abuf := make([]byte, 0, len(data)+chacha20poly1305.Overhead)
	dbuf := make([]byte, 0, len(data)+decodeSlack)
	return baselines{
		zstd:    nsPerOp(func() { zstdEncoder().EncodeAll(data, zbuf[:0]) }),
		xchacha: nsPerOp(func() { aead.Seal(abuf[:0], nonce, data, nil) }),
		blake3:  nsPerOp(func() { blake3.Sum256(data) }),
		zstdDecode: nsPerOp(func() {
			if _, err := zstdDecoder().DecodeAll(compressed, dbuf[:0]); err != nil {
				panic(err)
			}
		}),
		xchachaOpen: nsPerOp(func() {
			if _, err := aead.Open(abuf[:0], nonce, sealed, nil); err != nil {
				panic(err)
			}
		}),
	}
}

func BenchmarkSealChunk(b *testing.B) {
	key, session := testSessionKey(b, "bench"), testSession(b, "bench")
	for _, name := range []string{"compressible", "random"} {
		data := benchInputs()[name]
		b.Run(name+"-8MiB", func(b *testing.B) {
			base := measureBaselines(data)
			var sealed []byte
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				var err error
				if sealed, err = SealChunk(key, session, 1, data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(sealed))/float64(len(data)), "sealed/plain")
			reportRatio(b, base.zstd, "x-vs-zstd")
			reportRatio(b, base.xchacha, "x-vs-xchacha")
			reportRatio(b, base.blake3, "x-vs-blake3")
		})
	}
}

func BenchmarkOpenChunk(b *testing.B) {
	key, session := testSessionKey(b, "bench"), testSession(b, "bench")
	for _, name := range []string{"compressible", "random"} {
		data := benchInputs()[name]
		b.Run(name+"-8MiB", func(b *testing.B) {
			sealed, err := SealChunk(key, session, 1, data)
			if err != nil {
				b.Fatal(err)
			}
			base := measureBaselines(data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := OpenChunk(key, session, 1, sealed); err != nil {
					b.Fatal(err)
				}
			}
			reportRatio(b, base.zstdDecode, "x-vs-zstd-decode")
			reportRatio(b, base.xchachaOpen, "x-vs-xchacha-open")
		})
	}
}

// BenchmarkLeafHash is BLAKE3 over a sealed chunk with the domain byte;
// the ratio should be 1.
func BenchmarkLeafHash(b *testing.B) {
	data := randomBytes(pcg(52), benchSize)
	base := nsPerOp(func() { blake3.Sum256(data) })
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		LeafHash(data)
	}
	reportRatio(b, base, "x-vs-blake3")
}

// BenchmarkChunkerAdd feeds 32 KiB frames (the tunnel's buffer size) and
// compares with copying the same bytes.
func BenchmarkChunkerAdd(b *testing.B) {
	frame := realLooking(pcg(53), 32<<10)
	dst := make([]byte, len(frame))
	base := nsPerOp(func() { copy(dst, frame) })
	c, err := NewChunker(0, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	at := testT0
	for b.Loop() {
		at = at.Add(time.Millisecond)
		if _, err := c.Add(Frame{Dir: sessions.HostToClient, At: at, Data: frame}); err != nil {
			b.Fatal(err)
		}
	}
	reportRatio(b, base, "x-vs-copy")
}

// BenchmarkDecodeManifest decodes a manifest of 10000 chunks (about 22 h
// at the 8 MiB default and 1 Mbit/s) and reports the cost per chunk.
func BenchmarkDecodeManifest(b *testing.B) {
	m := goldenManifest(b)
	m.Chunks = make([]ChunkInfo, 10000)
	for i := range m.Chunks {
		m.Chunks[i] = ChunkInfo{Index: uint64(i), SealedSize: 5 << 20, PlaintextSize: 8 << 20,
			Leaf: LeafHash([]byte{byte(i), byte(i >> 8)}), First: testT0.Add(time.Duration(i) * time.Minute), Last: testT0.Add(time.Duration(i)*time.Minute + 59*time.Second)}
	}
	m.ChunkCount, m.Root, m.Gaps = uint64(len(m.Chunks)), MerkleRoot(m.Leaves()), nil
	enc, err := m.Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeManifest(enc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(m.Chunks)), "ns/chunk")
	b.ReportMetric(float64(len(enc))/float64(len(m.Chunks)), "bytes/chunk")
}
