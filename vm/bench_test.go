package vm

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkApplyBlock1000Register applies a block of 1,000 RegisterSession
// transactions (100 senders × 10 nonces) to a fresh genesis state: decode,
// signature checks, execution and the new state root. As a same-run
// baseline it times verifying the 1,000 signatures alone and reports
// ns/block, sigverify-ns/block and their ratio.
func BenchmarkApplyBlock1000Register(b *testing.B) {
	var senders []actor
	for i := range 100 {
		senders = append(senders, newActor(b, fmt.Sprint("bench-", i)))
	}
	var txs [][]byte
	for i := range 1000 {
		txs = append(txs, senders[i%100].tx(b, uint64(i/100), register(i, 1000)))
	}
	s, err := Genesis(nil)
	if err != nil {
		b.Fatal(err)
	}
	in := BlockInput{Height: 1, Slot: 1, Proposer: senders[0].id, Txs: txs}
	decoded := make([]*Tx, len(txs))
	for i, raw := range txs {
		if decoded[i], err = DecodeTx(raw); err != nil {
			b.Fatal(err)
		}
	}
	// Baseline: the signature checks alone (key extraction + Ed25519).
	verify := func() {
		for _, tx := range decoded {
			if err := verifySig(tx.Sender, tx.SigningBytes(), tx.Sig); err != nil {
				b.Fatal(err)
			}
		}
	}
	verify()
	const reps = 5
	start := time.Now()
	for range reps {
		verify()
	}
	verifyNs := float64(time.Since(start).Nanoseconds()) / reps

	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ns, rs, err := ApplyBlock(s, in)
		if err != nil || len(rs) != 1000 || !rs[999].OK() || ns.Len() == 0 {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perBlock := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perBlock, "ns/block")
	b.ReportMetric(verifyNs, "sigverify-ns/block")
	b.ReportMetric(perBlock/verifyNs, "x-sigverify")
}
