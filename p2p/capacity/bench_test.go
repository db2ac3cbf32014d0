package capacity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"
)

// The benchmarks report their cost relative to the raw Ed25519 operation on
// the same payload, measured in the same process, so the overhead of the
// envelope, CBOR and schema checks can be compared across machines (a Pi and
// a laptop differ by far more than the ratio should).

func BenchmarkOpen(b *testing.B) {
	priv, id := testKey(b, "bench")
	r := fullRecord(b, id)
	data := mustSeal(b, r, priv)
	payload, err := encodePayload(r.wire(), nil)
	if err != nil {
		b.Fatal(err)
	}
	edPriv := rawEd25519Key()
	pub := edPriv.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(edPriv, payload)
	base := nsPerOp(func() {
		if !ed25519.Verify(pub, payload, sig) {
			panic("baseline signature does not verify")
		}
	})

	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Open(data); err != nil {
			b.Fatal(err)
		}
	}
	reportRatio(b, base, "x-vs-ed25519-verify")
}

func BenchmarkSeal(b *testing.B) {
	priv, id := testKey(b, "bench")
	r := fullRecord(b, id)
	payload, err := encodePayload(r.wire(), nil)
	if err != nil {
		b.Fatal(err)
	}
	edPriv := rawEd25519Key()
	base := nsPerOp(func() { ed25519.Sign(edPriv, payload) })

	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Seal(priv); err != nil {
			b.Fatal(err)
		}
	}
	reportRatio(b, base, "x-vs-ed25519-sign")
}

func BenchmarkValidatorSelect(b *testing.B) {
	priv, id := testKey(b, "bench")
	older, newer := fullRecord(b, id), fullRecord(b, id)
	newer.Seq++
	values := [][]byte{mustSeal(b, newer, priv), mustSeal(b, older, priv)}
	key := Key(id)
	b.ReportAllocs()
	for b.Loop() {
		if i, err := testValidator.Select(key, values); err != nil || i != 0 {
			b.Fatal(i, err)
		}
	}
}

func rawEd25519Key() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("bench-baseline"))
	return ed25519.NewKeyFromSeed(seed[:])
}

// nsPerOp times f in a plain loop. testing.Benchmark cannot be used here: it
// takes the same lock as the enclosing benchmark and would deadlock.
func nsPerOp(f func()) float64 {
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

func reportRatio(b *testing.B, baseNsPerOp float64, unit string) {
	if b.N == 0 || baseNsPerOp <= 0 {
		return
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp/baseNsPerOp, unit)
}
