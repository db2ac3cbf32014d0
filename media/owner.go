package media

import (
	"crypto/ecdh"
	"crypto/sha512"
	"fmt"

	"filippo.io/edwards25519"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A session's owner is its client, known to the host only by peer ID. Its
// recording key is wrapped to the X25519 form of the client's Ed25519
// identity key (the birational map that age and libsodium use), so the
// host can name the owner as a recipient without asking for a second key,
// and the owner unwraps with the identity it already has.

// RecipientForPeer is the X25519 public key of a peer whose ID embeds an
// Ed25519 key. Other key types cannot own recordings: ErrBadKey.
func RecipientForPeer(id peer.ID) (*ecdh.PublicKey, error) {
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: peer %s has no embedded public key: %v", ErrBadKey, id, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: peer %s has a %s key; recordings need Ed25519", ErrBadKey, id, pub.Type())
	}
	raw, err := pub.Raw()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	p, err := new(edwards25519.Point).SetBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: peer %s: not a valid Ed25519 point: %v", ErrBadKey, id, err)
	}
	x, err := ecdh.X25519().NewPublicKey(p.BytesMontgomery())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return x, nil
}

// IdentityForKey is the X25519 private key matching RecipientForPeer for
// an Ed25519 identity: the clamped first half of SHA-512 of the seed, as
// Ed25519 itself derives its scalar.
func IdentityForKey(priv crypto.PrivKey) (*ecdh.PrivateKey, error) {
	if priv.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: a %s key cannot own recordings; recordings need Ed25519", ErrBadKey, priv.Type())
	}
	raw, err := priv.Raw() // seed ‖ public key
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	h := sha512.Sum512(raw[:32])
	// X25519 clamps the scalar itself; the digest's first half is the key.
	x, err := ecdh.X25519().NewPrivateKey(h[:32])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return x, nil
}
