// Package edsig signs and verifies the Ed25519 signatures of Lucid's
// signed records (proofs, receipts, blocks, transactions): the signer's
// peer ID embeds its public key, so a record names its signer and carries
// only the 64-byte signature. Each format maps these errors to its own
// sentinels.
package edsig

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Size is the length of an Ed25519 signature.
const Size = 64

// Errors. Sign fails with ErrNoKey, ErrNotEd25519, ErrWrongKey or
// ErrSign; Verify with ErrNoPublicKey, ErrNotEd25519 or ErrBadSignature.
var (
	ErrNoKey        = errors.New("no signing key")
	ErrNotEd25519   = errors.New("key is not Ed25519")
	ErrWrongKey     = errors.New("key belongs to another peer")
	ErrSign         = errors.New("signing failed")
	ErrNoPublicKey  = errors.New("peer ID embeds no public key")
	ErrBadSignature = errors.New("signature does not verify")
)

// Sign signs msg with priv after checking that priv is the Ed25519 key of
// want.
func Sign(priv crypto.PrivKey, want peer.ID, msg []byte) ([]byte, error) {
	if priv == nil {
		return nil, ErrNoKey
	}
	if priv.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: key type %s", ErrNotEd25519, priv.Type())
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: deriving peer ID: %v", ErrNoKey, err)
	}
	if id != want {
		return nil, fmt.Errorf("%w: %s, not %s", ErrWrongKey, id, want)
	}
	sig, err := priv.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSign, err)
	}
	return sig, nil
}

// Verify checks an Ed25519 signature by the key embedded in id.
func Verify(id peer.ID, msg, sig []byte) error {
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNoPublicKey, id, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return fmt.Errorf("%w: %s has a %s key", ErrNotEd25519, id, pub.Type())
	}
	if len(sig) != Size {
		return fmt.Errorf("%w: by %s: %d-byte signature", ErrBadSignature, id, len(sig))
	}
	if ok, err := pub.Verify(msg, sig); err != nil || !ok {
		return fmt.Errorf("%w: by %s", ErrBadSignature, id)
	}
	return nil
}
