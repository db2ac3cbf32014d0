package meta

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/sessions"
)

// Fields that identify users travel sealed: encrypted under a random key
// that is wrapped to each participant's X25519 key, derived from its peer
// ID as recordings are (media.RecipientForPeer). Other nodes replicate
// the bytes without being able to read them.
type sealedBlob struct {
	Version uint64      `cbor:"1,keyasint"`
	Keys    []sealedKey `cbor:"2,keyasint"`
	Nonce   []byte      `cbor:"3,keyasint"`
	Box     []byte      `cbor:"4,keyasint"`
}

type sealedKey struct {
	Recipient []byte `cbor:"1,keyasint"`
	Ephemeral []byte `cbor:"2,keyasint"`
	Nonce     []byte `cbor:"3,keyasint"`
	Sealed    []byte `cbor:"4,keyasint"`
}

// ErrNotRecipient: this identity cannot open the blob.
var ErrNotRecipient = errors.New("meta: sealed to other peers")

// SealTo encrypts plaintext to the peers (Ed25519 peer IDs).
func SealTo(recipients []peer.ID, plaintext []byte, rnd io.Reader) ([]byte, error) {
	key, err := media.NewSessionKey(rnd)
	if err != nil {
		return nil, err
	}
	b := sealedBlob{Version: 1, Nonce: make([]byte, chacha20poly1305.NonceSizeX)}
	for _, p := range recipients {
		pub, err := media.RecipientForPeer(p)
		if err != nil {
			return nil, err
		}
		w, err := media.WrapKey(key, pub, rnd)
		if err != nil {
			return nil, err
		}
		b.Keys = append(b.Keys, sealedKey{Recipient: w.Recipient[:], Ephemeral: w.Ephemeral[:], Nonce: w.Nonce[:], Sealed: w.Sealed})
	}
	if _, err := io.ReadFull(rnd, b.Nonce); err != nil {
		return nil, err
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	b.Box = aead.Seal(nil, b.Nonce, plaintext, nil)
	return cbor.Marshal(b)
}

// OpenSealed decrypts a blob sealed to id.
func OpenSealed(blob []byte, id *ecdh.PrivateKey) ([]byte, error) {
	if len(blob) > crdt.MaxPrivateSize {
		return nil, fmt.Errorf("meta: sealed blob of %d bytes", len(blob))
	}
	var b sealedBlob
	if err := cbor.Unmarshal(blob, &b); err != nil {
		return nil, fmt.Errorf("meta: sealed blob: %w", err)
	}
	if b.Version != 1 || len(b.Nonce) != chacha20poly1305.NonceSizeX {
		return nil, errors.New("meta: sealed blob: unknown version or bad nonce")
	}
	pub := id.PublicKey().Bytes()
	for _, k := range b.Keys {
		if string(k.Recipient) != string(pub) || len(k.Ephemeral) != 32 || len(k.Nonce) != 24 {
			continue
		}
		w := media.WrappedKey{Sealed: k.Sealed}
		copy(w.Recipient[:], k.Recipient)
		copy(w.Ephemeral[:], k.Ephemeral)
		copy(w.Nonce[:], k.Nonce)
		key, err := media.UnwrapKey(w, id)
		if err != nil {
			return nil, err
		}
		aead, err := chacha20poly1305.NewX(key)
		if err != nil {
			return nil, err
		}
		return aead.Open(nil, b.Nonce, b.Box, nil)
	}
	return nil, ErrNotRecipient
}

// Private is what a session's private blob holds: who the client is and
// what it consented to.
type Private struct {
	Client  peer.ID
	Consent sessions.ConsentReceipt
}

type wirePrivate struct {
	Client  []byte `cbor:"1,keyasint"`
	Consent []byte `cbor:"2,keyasint,omitempty"`
}

// SealPrivate seals the private blob to the client and the host.
func SealPrivate(p Private, host peer.ID, rnd io.Reader) ([]byte, error) {
	w := wirePrivate{Client: []byte(p.Client)}
	if !p.Consent.IsZero() {
		w.Consent = p.Consent.CBOR()
	}
	plain, err := cbor.Marshal(w)
	if err != nil {
		return nil, err
	}
	return SealTo([]peer.ID{p.Client, host}, plain, rnd)
}

// OpenPrivate opens a private blob with a participant's identity.
func OpenPrivate(blob []byte, id *ecdh.PrivateKey) (Private, error) {
	plain, err := OpenSealed(blob, id)
	if err != nil {
		return Private{}, err
	}
	var w wirePrivate
	if err := cbor.Unmarshal(plain, &w); err != nil {
		return Private{}, fmt.Errorf("meta: private blob: %w", err)
	}
	client, err := peer.IDFromBytes(w.Client)
	if err != nil {
		return Private{}, fmt.Errorf("meta: private blob client: %w", err)
	}
	p := Private{Client: client}
	if len(w.Consent) > 0 {
		if p.Consent, err = sessions.DecodeConsent(w.Consent); err != nil {
			return Private{}, err
		}
	}
	return p, nil
}
