package vm

import (
	"bytes"
	"testing"
)

func FuzzDecodeTx(f *testing.F) {
	a := newActor(f, "fuzz")
	for i, b := range sampleBodies(f) {
		f.Add(a.tx(f, uint64(i), b))
	}
	f.Add([]byte{0xa0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := DecodeTx(b)
		if err != nil {
			if tx != nil {
				t.Fatal("value with error")
			}
			return
		}
		// Canonical: one encoding per value.
		if !bytes.Equal(tx.Encode(), b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", tx.Encode(), b)
		}
		_ = tx.VerifySignature()
		_ = TxGas(tx, len(b))
	})
}

func FuzzDecodeSessionProof(f *testing.F) {
	c := newChain(f)
	a := newActor(f, "fuzz")
	c.block(c.next(a, register(1, 2)), c.next(a, register(2, 2)))
	p, root, err := c.s.ProveSession(sid(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeSessionProof(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Encode(), b) {
			t.Fatal("re-encoding differs")
		}
		_ = VerifySessionProof(root, p)
	})
}
