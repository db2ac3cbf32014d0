package sessions

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"
)

// The benchmarks report their cost relative to a baseline measured in the
// same process, so figures compare across machines (a Pi and a laptop
// differ by far more than the ratios should).

func BenchmarkConsentVerify(b *testing.B) {
	req := coreRequest(b, ServiceRDP)
	seed := sha256.Sum256([]byte("bench-baseline"))
	edPriv := ed25519.NewKeyFromSeed(seed[:])
	pub := edPriv.Public().(ed25519.PublicKey)
	msg := bytes.Repeat([]byte{0x5a}, 100)
	sig := ed25519.Sign(edPriv, msg)
	base := coreNsPerOp(func() {
		if !ed25519.Verify(pub, msg, sig) {
			panic("baseline signature does not verify")
		}
	})

	b.ReportAllocs()
	for b.Loop() {
		if err := req.Consent.Verify(); err != nil {
			b.Fatal(err)
		}
	}
	coreReportRatio(b, base, "x-vs-ed25519-verify")
}

func BenchmarkReadWriteMessage(b *testing.B) {
	req := coreRequest(b, ServiceSSH)
	base := coreNsPerOp(func() {
		js, err := json.Marshal(req)
		if err != nil {
			panic(err)
		}
		var back Request
		if err := json.Unmarshal(js, &back); err != nil {
			panic(err)
		}
	})

	var buf bytes.Buffer
	if err := WriteMessage(&buf, req); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := WriteMessage(&buf, req); err != nil {
			b.Fatal(err)
		}
		if _, err := ReadMessage(&buf); err != nil {
			b.Fatal(err)
		}
	}
	coreReportRatio(b, base, "x-vs-json")
}

// coreNsPerOp times f in a plain loop. testing.Benchmark cannot be used
// here: it takes the same lock as the enclosing benchmark and would
// deadlock.
func coreNsPerOp(f func()) float64 {
	const minDuration = 200 * time.Millisecond
	n := 0
	start := time.Now()
	for time.Since(start) < minDuration {
		for range 64 {
			f()
		}
		n += 64
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

func coreReportRatio(b *testing.B, baseNsPerOp float64, unit string) {
	if b.N == 0 || baseNsPerOp <= 0 {
		return
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp/baseNsPerOp, unit)
}
