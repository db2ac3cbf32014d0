package meta

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/sessions"
)

// TestSealedPrivateBlob: the private blob replicates to every node as
// opaque bytes; the client's and the host's identities (derived from
// their libp2p keys) open it, a third node's cannot, nor can anyone open
// the participants sealed to others.
func TestSealedPrivateBlob(t *testing.T) {
	nodes := startNodes(t, 2, nil)
	host, third := nodes[0], nodes[1]
	clientKey, _, err := crypto.GenerateEd25519Key(rand.Reader)
	require.NoError(t, err)
	client, err := peer.IDFromPrivateKey(clientKey)
	require.NoError(t, err)

	id := newSession(t)
	consent := sessions.ConsentReceipt{User: client, Session: id, PolicyHash: [32]byte{1}, TermsHash: [32]byte{2}, AcceptedAt: time.Now()}
	require.NoError(t, consent.Sign(clientKey))
	blob, err := SealPrivate(Private{Client: client, Consent: consent}, host.id(), rand.Reader)
	require.NoError(t, err)
	require.LessOrEqual(t, len(blob), crdt.MaxPrivateSize)
	participant, err := SealTo([]peer.ID{client, host.id()}, []byte(client), rand.Reader)
	require.NoError(t, err)

	now := time.Now()
	require.NoError(t, host.r.Update(context.Background(), id, crdt.Create(host.rid(), "ssh", now),
		crdt.AddParticipant(participant), crdt.SetPrivate(blob), crdt.SetPhase(sessions.StateActive, now)))
	converged(t, nodes, 1, 10*time.Second)

	rec, ok := third.r.Get(id)
	require.True(t, ok)
	require.Equal(t, blob, rec.Private)
	require.NotContains(t, string(rec.Private), string(client), "the client's peer ID travels sealed")

	identity := func(k crypto.PrivKey) *ecdh.PrivateKey {
		x, err := media.IdentityForKey(k)
		require.NoError(t, err)
		return x
	}
	for name, k := range map[string]crypto.PrivKey{"client": clientKey, "host": host.key} {
		got, err := OpenPrivate(rec.Private, identity(k))
		require.NoError(t, err, name)
		require.Equal(t, client, got.Client, name)
		require.Equal(t, consent.CBOR(), got.Consent.CBOR(), name)
		require.NoError(t, got.Consent.Verify(), name)
		plain, err := OpenSealed(rec.Participants[0], identity(k))
		require.NoError(t, err, name)
		require.Equal(t, []byte(client), plain, name)
	}
	_, err = OpenPrivate(rec.Private, identity(third.key))
	require.ErrorIs(t, err, ErrNotRecipient)
	_, err = OpenSealed(rec.Participants[0], identity(third.key))
	require.ErrorIs(t, err, ErrNotRecipient)

	// Tampering is detected, not mis-decrypted.
	bad := append([]byte(nil), rec.Private...)
	bad[len(bad)-1] ^= 1
	_, err = OpenPrivate(bad, identity(clientKey))
	require.Error(t, err)
}
