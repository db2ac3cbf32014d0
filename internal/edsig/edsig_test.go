package edsig

import (
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestSignVerify(t *testing.T) {
	k, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	other, _, _ := crypto.GenerateEd25519Key(nil)
	otherID, _ := peer.IDFromPrivateKey(other)
	rsa, _, err := crypto.GenerateRSAKeyPair(2048, nil)
	if err != nil {
		t.Fatal(err)
	}
	rsaID, _ := peer.IDFromPrivateKey(rsa)
	secp, _, err := crypto.GenerateSecp256k1Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	secpID, _ := peer.IDFromPrivateKey(secp) // small key: embedded in the ID
	msg := []byte("lucid")

	sig, err := Sign(k, id, msg)
	if err != nil || len(sig) != Size {
		t.Fatalf("Sign: %d bytes, %v", len(sig), err)
	}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"valid", Verify(id, msg, sig), nil},
		{"other message", Verify(id, []byte("other"), sig), ErrBadSignature},
		{"other signer", Verify(otherID, msg, sig), ErrBadSignature},
		{"short signature", Verify(id, msg, sig[:63]), ErrBadSignature},
		{"secp256k1 peer", Verify(secpID, msg, sig), ErrNotEd25519},
		{"RSA peer (key hashed, not embedded)", Verify(rsaID, msg, sig), ErrNoPublicKey},
		{"no embedded key", Verify(peer.ID("not a peer id"), msg, sig), ErrNoPublicKey},
		{"nil key", second(Sign(nil, id, msg)), ErrNoKey},
		{"RSA key", second(Sign(rsa, rsaID, msg)), ErrNotEd25519},
		{"wrong key", second(Sign(other, id, msg)), ErrWrongKey},
	} {
		if !errors.Is(c.err, c.want) || (c.want == nil) != (c.err == nil) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
}

func second(_ []byte, err error) error { return err }
