package media

import (
	"crypto/rand"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
)

// The owner's recipient key, computed by the host from the peer ID alone,
// matches the private key the owner derives from its identity: a key
// wrapped by the host unwraps with the owner's identity and no one else's.
func TestOwnerKeysFromPeerIdentity(t *testing.T) {
	for range 20 {
		priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
		require.NoError(t, err)
		id, err := peer.IDFromPrivateKey(priv)
		require.NoError(t, err)

		recipient, err := RecipientForPeer(id)
		require.NoError(t, err)
		identity, err := IdentityForKey(priv)
		require.NoError(t, err)
		require.True(t, identity.PublicKey().Equal(recipient), "derived keys must pair")

		sessionKey, err := NewSessionKey(rand.Reader)
		require.NoError(t, err)
		w, err := WrapKey(sessionKey, recipient, rand.Reader)
		require.NoError(t, err)
		got, err := UnwrapKey(w, identity)
		require.NoError(t, err)
		require.Equal(t, sessionKey, got)

		other, _, err := crypto.GenerateEd25519Key(rand.Reader)
		require.NoError(t, err)
		otherIdentity, err := IdentityForKey(other)
		require.NoError(t, err)
		_, err = UnwrapKey(w, otherIdentity)
		require.ErrorIs(t, err, ErrNotRecipient)
	}
}

func TestOwnerKeysNeedEd25519(t *testing.T) {
	priv, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	require.NoError(t, err)
	id, err := peer.IDFromPrivateKey(priv)
	require.NoError(t, err)
	_, err = RecipientForPeer(id)
	require.ErrorIs(t, err, ErrBadKey)
	_, err = IdentityForKey(priv)
	require.ErrorIs(t, err, ErrBadKey)
}
