package chain

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// BenchmarkValidateFullBlock times what a node does with a full block
// received from the network: decode it, verify the header and the 1,000
// transaction signatures, execute them and compare the state root
// (Engine.Add on a fresh engine). The floor is verifying the 1,000
// Ed25519 signatures alone, timed in every iteration next to the block so
// that the ratio x_sigverify does not drift with the machine's load.
func BenchmarkValidateFullBlock(b *testing.B) {
	const n = 1000
	keys, ids := testKeys(b, 1)
	g := testGenesis(ids[0])
	e, err := New(g)
	if err != nil {
		b.Fatal(err)
	}
	// 1,000 distinct senders: the worst case for key extraction.
	txs := make([][]byte, n)
	pubs := make([]ed25519.PublicKey, n)
	msgs := make([][]byte, n)
	sigs := make([][]byte, n)
	for i := range n {
		seed := make([]byte, ed25519.SeedSize)
		seed[0], seed[1], seed[2] = byte(i), byte(i>>8), 0xbe
		k, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
		if err != nil {
			b.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(k)
		tx := &vm.Tx{Sender: id, Body: &vm.RegisterSession{Session: vm.SessionID{0: 0xbe, 1: byte(i), 2: byte(i >> 8)},
			Manifest: [32]byte{byte(i)}, Root: [32]byte{byte(i >> 8)}, Chunks: 1000, Owner: []byte("bench-owner")}}
		if err := tx.Sign(k); err != nil {
			b.Fatal(err)
		}
		txs[i] = tx.Encode()
		pubs[i] = ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		msgs[i], sigs[i] = tx.SigningBytes(), tx.Sig
	}
	blk, err := e.Build(e.GenesisHash(), 1, keys[0], Candidates{Txs: txs})
	if err != nil {
		b.Fatal(err)
	}
	if len(blk.Body.Txs) != n {
		b.Fatalf("built block holds %d transactions, want %d", len(blk.Body.Txs), n)
	}
	raw := blk.Encode()
	limits := consensus.BlockParams{MaxBlockBytes: 16 << 20, MaxBlockTxs: 10_000}

	var floor time.Duration
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		fresh, err := New(g)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for i := range n {
			if !ed25519.Verify(pubs[i], msgs[i], sigs[i]) {
				b.Fatal("signature")
			}
		}
		floor += time.Since(t0)
		b.StartTimer()

		d, err := consensus.DecodeBlock(raw, limits)
		if err != nil {
			b.Fatal(err)
		}
		r, err := fresh.Add(d, consensus.ArrivalAny)
		if err != nil || !r.HeadChanged {
			b.Fatalf("%+v %v", r, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/tx")
	b.ReportMetric(float64(floor.Nanoseconds())/float64(b.N*n), "sigverify-ns/tx")
	b.ReportMetric(float64(b.Elapsed())/float64(floor), "x_sigverify")
}
