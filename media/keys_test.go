package media

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWrapUnwrapRoundTrip(t *testing.T) {
	key := testSessionKey(t, "wrap")
	for _, label := range []string{LabelOwner, LabelAuditor, LabelRecovery} {
		t.Run(label, func(t *testing.T) {
			id := testIdentity(t, label)
			w, err := WrapKey(key, id.PublicKey(), seeded("wrap:"+label))
			require.NoError(t, err)
			w.Label = label
			require.Equal(t, id.PublicKey().Bytes(), w.Recipient[:])
			require.Len(t, w.Sealed, SessionKeyLen+16)
			got, err := UnwrapKey(w, id)
			require.NoError(t, err)
			require.Equal(t, key, got)

			// Deterministic given the reader.
			again, err := WrapKey(key, id.PublicKey(), seeded("wrap:"+label))
			require.NoError(t, err)
			again.Label = label
			require.Equal(t, w, again)
		})
	}
}

func TestUnwrapErrors(t *testing.T) {
	key := testSessionKey(t, "unwrap")
	owner, stranger := testIdentity(t, "owner"), testIdentity(t, "stranger")
	w, err := WrapKey(key, owner.PublicKey(), rand.Reader)
	require.NoError(t, err)

	_, err = UnwrapKey(w, stranger)
	requireSentinel(t, err, ErrNotRecipient)

	mut := func(f func(*WrappedKey)) WrappedKey {
		c := w
		c.Sealed = bytes.Clone(w.Sealed)
		f(&c)
		return c
	}
	cases := []struct {
		name string
		w    WrappedKey
		want error
	}{
		{"sealed bit", mut(func(c *WrappedKey) { c.Sealed[0] ^= 1 }), ErrTampered},
		{"tag bit", mut(func(c *WrappedKey) { c.Sealed[len(c.Sealed)-1] ^= 0x80 }), ErrTampered},
		{"nonce bit", mut(func(c *WrappedKey) { c.Nonce[3] ^= 1 }), ErrTampered},
		{"ephemeral bit", mut(func(c *WrappedKey) { c.Ephemeral[5] ^= 1 }), ErrTampered},
		{"low-order ephemeral", mut(func(c *WrappedKey) { c.Ephemeral = [32]byte{} }), ErrMalformed},
		{"short sealed", mut(func(c *WrappedKey) { c.Sealed = c.Sealed[:47] }), ErrMalformed},
		{"recipient changed", mut(func(c *WrappedKey) { c.Recipient[0] ^= 1 }), ErrNotRecipient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := UnwrapKey(tc.w, owner)
			requireSentinel(t, err, tc.want)
			require.Nil(t, got)
		})
	}
	_, err = UnwrapKey(w, nil)
	requireSentinel(t, err, ErrBadKey)
}

func TestWrapKeyErrors(t *testing.T) {
	owner := testIdentity(t, "owner")
	_, err := WrapKey(make([]byte, 31), owner.PublicKey(), rand.Reader)
	requireSentinel(t, err, ErrBadKey)
	_, err = WrapKey(make([]byte, 32), nil, rand.Reader)
	requireSentinel(t, err, ErrBadKey)
	p256, err := ecdh.P256().GenerateKey(rand.Reader)
	require.NoError(t, err)
	_, err = WrapKey(make([]byte, 32), p256.PublicKey(), rand.Reader)
	requireSentinel(t, err, ErrBadKey)
	_, err = UnwrapKey(WrappedKey{}, p256)
	requireSentinel(t, err, ErrBadKey)

	// A reader that runs dry is reported as such, not as a bad key.
	_, err = WrapKey(make([]byte, 32), owner.PublicKey(), bytes.NewReader(make([]byte, 40)))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, err = NewSessionKey(bytes.NewReader(nil))
	require.ErrorIs(t, err, io.EOF)
	_, err = GenerateIdentity(bytes.NewReader(make([]byte, 31)))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestWrapNonceUniqueness(t *testing.T) {
	key := testSessionKey(t, "many")
	owner := testIdentity(t, "owner")
	nonces := map[[24]byte]bool{}
	ephemerals := map[[32]byte]bool{}
	r := seeded("many wraps")
	for range 2000 {
		w, err := WrapKey(key, owner.PublicKey(), r)
		require.NoError(t, err)
		require.False(t, nonces[w.Nonce], "nonce repeated")
		require.False(t, ephemerals[w.Ephemeral], "ephemeral key repeated")
		nonces[w.Nonce], ephemerals[w.Ephemeral] = true, true
	}
}

func TestKeyText(t *testing.T) {
	id := testIdentity(t, "text")
	pubText, privText := FormatRecipient(id.PublicKey()), FormatIdentity(id)
	require.True(t, strings.HasPrefix(pubText, "lucid-x25519-pub:"))
	require.True(t, strings.HasPrefix(privText, "lucid-x25519-priv:"))
	require.Len(t, pubText, len(RecipientPrefix)+43)

	pub, err := ParseRecipient(pubText)
	require.NoError(t, err)
	require.True(t, pub.Equal(id.PublicKey()))
	priv, err := ParseIdentity(privText + "\n") // key files end in a newline
	require.NoError(t, err)
	require.True(t, priv.Equal(id))

	body := strings.TrimPrefix(pubText, RecipientPrefix)
	last := body[len(body)-1]
	// The last character carries 4 unused bits; a different spelling of
	// the same bytes must be refused.
	alt := map[byte]byte{'A': 'B', 'E': 'F', 'I': 'J', 'M': 'N', 'Q': 'R', 'U': 'V', 'Y': 'Z', 'c': 'd', 'g': 'h', 'k': 'l', 'o': 'p', 's': 't', 'w': 'x', '0': '1', '4': '5', '8': '9'}[last]
	require.NotZero(t, alt)
	bad := []string{
		"",
		body,
		"lucid-x25519-priv:" + body,
		"LUCID-X25519-PUB:" + body,
		RecipientPrefix + body + "=",
		RecipientPrefix + body[:42],
		RecipientPrefix + body + "AAAA",
		RecipientPrefix + strings.NewReplacer("-", "+", "_", "/").Replace(body) + "+/",
		RecipientPrefix + body[:42] + string(alt),
		RecipientPrefix + " " + body,
	}
	for _, s := range bad {
		_, err := ParseRecipient(s)
		requireSentinel(t, err, ErrBadKey)
	}
	_, err = ParseIdentity(pubText)
	requireSentinel(t, err, ErrBadKey)
	_, err = ParseIdentity(IdentityPrefix + "@@@")
	requireSentinel(t, err, ErrBadKey)
}
