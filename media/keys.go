package media

import (
	"crypto/ecdh"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// Recipient labels: who a wrapped session key is for.
const (
	LabelOwner    = "owner"    // the session's owner: its client
	LabelAuditor  = "auditor"  // a party allowed to review it
	LabelRecovery = "recovery" // an offline escrow key
)

// Key text forms, one line each, for key files and the command line. The
// key is unpadded base64url (RFC 4648 §5) of the 32 raw bytes.
const (
	RecipientPrefix = "lucid-x25519-pub:"
	IdentityPrefix  = "lucid-x25519-priv:"
)

// KeyWrapInfo starts the HKDF info of every wrap key.
const KeyWrapInfo = "lucid/key-wrap/1"

// wrappedKeyLen is a sealed session key: 32 bytes plus the Poly1305 tag.
const wrappedKeyLen = SessionKeyLen + chacha20poly1305.Overhead

// WrappedKey is the session key encrypted to one recipient, as the
// manifest carries it. The session key itself is never stored in clear.
type WrappedKey struct {
	Recipient [32]byte // the recipient's X25519 public key
	Label     string   // LabelOwner, LabelAuditor or LabelRecovery
	Ephemeral [32]byte // the sender's one-time X25519 public key
	Nonce     [24]byte
	Sealed    []byte // XChaCha20-Poly1305 of the session key: 48 bytes
}

// NewSessionKey draws a fresh session key from rand (crypto/rand.Reader in
// production).
func NewSessionKey(rand io.Reader) ([]byte, error) {
	k := make([]byte, SessionKeyLen)
	if _, err := io.ReadFull(rand, k); err != nil {
		return nil, fmt.Errorf("media: reading randomness for session key: %w", err)
	}
	return k, nil
}

// GenerateIdentity draws an X25519 key pair from rand. It reads exactly 32
// bytes: crypto/ecdh's GenerateKey ignores its reader in current Go, which
// would make tests nondeterministic.
func GenerateIdentity(rand io.Reader) (*ecdh.PrivateKey, error) {
	var seed [32]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("media: reading randomness for X25519 key: %w", err)
	}
	return ecdh.X25519().NewPrivateKey(seed[:])
}

// wrapKey derives the key that wraps a session key for one recipient:
// HKDF-SHA256 (as age does) with the X25519 shared secret as input, no
// salt, and info = KeyWrapInfo ‖ ephemeral public key ‖ recipient public
// key, so the wrap key is bound to both ends of the exchange.
func wrapKey(shared []byte, ephemeral, recipient []byte) []byte {
	info := make([]byte, 0, len(KeyWrapInfo)+64)
	info = append(info, KeyWrapInfo...)
	info = append(info, ephemeral...)
	info = append(info, recipient...)
	k := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, shared, nil, info), k); err != nil {
		panic(err) // HKDF-SHA256 yields up to 8160 bytes
	}
	return k
}

// WrapKey encrypts sessionKey to recipient, like age's X25519 recipients:
// a fresh ephemeral X25519 key (32 bytes from rand), the shared secret with
// the recipient, a wrap key from it (see wrapKey), and XChaCha20-Poly1305
// with a random 24-byte nonce (the next 24 bytes from rand). The wrap key
// is already unique per ephemeral key; the random nonce costs nothing and
// keeps the construction safe even if a caller's rand repeats an
// ephemeral key but not the rest. Label is left empty: set it before
// putting the key in a manifest. Errors wrap ErrBadKey, or the reader's
// error.
func WrapKey(sessionKey []byte, recipient *ecdh.PublicKey, rand io.Reader) (WrappedKey, error) {
	if len(sessionKey) != SessionKeyLen {
		return WrappedKey{}, fmt.Errorf("%w: session key is %d bytes, want %d", ErrBadKey, len(sessionKey), SessionKeyLen)
	}
	if recipient == nil || recipient.Curve() != ecdh.X25519() {
		return WrappedKey{}, fmt.Errorf("%w: recipient is not an X25519 public key", ErrBadKey)
	}
	eph, err := GenerateIdentity(rand)
	if err != nil {
		return WrappedKey{}, err
	}
	var w WrappedKey
	if _, err := io.ReadFull(rand, w.Nonce[:]); err != nil {
		return WrappedKey{}, fmt.Errorf("media: reading randomness for key-wrap nonce: %w", err)
	}
	shared, err := eph.ECDH(recipient)
	if err != nil {
		// Only for low-order points, which no honest key is.
		return WrappedKey{}, fmt.Errorf("%w: recipient: %v", ErrBadKey, err)
	}
	copy(w.Recipient[:], recipient.Bytes())
	copy(w.Ephemeral[:], eph.PublicKey().Bytes())
	aead, err := chacha20poly1305.NewX(wrapKey(shared, w.Ephemeral[:], w.Recipient[:]))
	if err != nil {
		return WrappedKey{}, fmt.Errorf("media: key-wrap cipher: %w", err)
	}
	w.Sealed = aead.Seal(nil, w.Nonce[:], sessionKey, nil)
	return w, nil
}

// UnwrapKey recovers the session key from w with the recipient's private
// key. Errors wrap ErrNotRecipient (w is for another public key; checked
// first, so a wrong identity is told apart from damage), ErrMalformed (a
// sealed key of the wrong length, a low-order ephemeral key) or
// ErrTampered (the tag fails).
func UnwrapKey(w WrappedKey, priv *ecdh.PrivateKey) ([]byte, error) {
	if priv == nil || priv.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%w: identity is not an X25519 private key", ErrBadKey)
	}
	pub := priv.PublicKey().Bytes()
	if subtle.ConstantTimeCompare(pub, w.Recipient[:]) != 1 {
		return nil, fmt.Errorf("%w: key is for %s, identity is %s", ErrNotRecipient, formatKey(RecipientPrefix, w.Recipient[:]), formatKey(RecipientPrefix, pub))
	}
	if len(w.Sealed) != wrappedKeyLen {
		return nil, malformed("wrapped key: %d sealed bytes, want %d", len(w.Sealed), wrappedKeyLen)
	}
	eph, err := ecdh.X25519().NewPublicKey(w.Ephemeral[:])
	if err != nil {
		return nil, malformed("wrapped key: ephemeral key: %v", err)
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		return nil, malformed("wrapped key: ephemeral key: %v", err)
	}
	aead, err := chacha20poly1305.NewX(wrapKey(shared, w.Ephemeral[:], w.Recipient[:]))
	if err != nil {
		return nil, fmt.Errorf("media: key-wrap cipher: %w", err)
	}
	key, err := aead.Open(nil, w.Nonce[:], w.Sealed, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: wrapped session key", ErrTampered)
	}
	return key, nil
}

var keyEncoding = base64.RawURLEncoding.Strict()

func formatKey(prefix string, b []byte) string { return prefix + keyEncoding.EncodeToString(b) }

// FormatRecipient renders a public key as "lucid-x25519-pub:<base64url>".
func FormatRecipient(pub *ecdh.PublicKey) string { return formatKey(RecipientPrefix, pub.Bytes()) }

// FormatIdentity renders a private key as "lucid-x25519-priv:<base64url>".
// The result is a secret.
func FormatIdentity(priv *ecdh.PrivateKey) string {
	return formatKey(IdentityPrefix, priv.Bytes())
}

// parseKey accepts exactly prefix and 43 base64url characters, after
// trimming surrounding white space (key files end in a newline). Padding,
// the standard alphabet and non-zero trailing bits are refused, so each key
// has one spelling.
func parseKey(s, prefix, what string) ([]byte, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return nil, fmt.Errorf("%w: %s must start with %q", ErrBadKey, what, prefix)
	}
	b, err := keyEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, what, err)
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("%w: %s: %d bytes, want 32", ErrBadKey, what, len(b))
	}
	return b, nil
}

// ParseRecipient parses FormatRecipient's output. Errors wrap ErrBadKey.
func ParseRecipient(s string) (*ecdh.PublicKey, error) {
	b, err := parseKey(s, RecipientPrefix, "recipient")
	if err != nil {
		return nil, err
	}
	pub, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: recipient: %v", ErrBadKey, err)
	}
	return pub, nil
}

// ParseIdentity parses FormatIdentity's output. Errors wrap ErrBadKey and
// never contain the key text.
func ParseIdentity(s string) (*ecdh.PrivateKey, error) {
	b, err := parseKey(s, IdentityPrefix, "identity")
	if err != nil {
		return nil, err
	}
	priv, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: identity: %v", ErrBadKey, err)
	}
	return priv, nil
}

// validLabel reports whether s is one of the recipient labels.
func validLabel(s string) bool {
	return s == LabelOwner || s == LabelAuditor || s == LabelRecovery
}
