package meta

import (
	"bytes"
	"crypto/ecdh"
	"encoding/binary"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/sessions"
)

// Fuzz targets for what a node decodes from strangers: envelopes (gossip,
// sync stream, disk) and sealed blobs (replicated bytes a participant
// opens). Run each with, e.g.,
//
//	go test -run '^$' -fuzz '^FuzzOpenEnvelope$' -fuzztime 15s ./node/meta/

// fuzzKey is a deterministic Ed25519 key, so seed corpora are stable.
func fuzzKey(t testing.TB, seed byte) (crypto.PrivKey, peer.ID) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(mrand.NewChaCha8([32]byte{seed}))
	require.NoError(t, err)
	id, err := peer.IDFromPrivateKey(k)
	require.NoError(t, err)
	return k, id
}

func fuzzIdentity(t testing.TB, k crypto.PrivKey) *ecdh.PrivateKey {
	t.Helper()
	x, err := media.IdentityForKey(k)
	require.NoError(t, err)
	return x
}

// seedEnvelopes are valid envelopes of several shapes.
func seedEnvelopes(t testing.TB) [][]byte {
	t.Helper()
	key, id := fuzzKey(t, 1)
	self := crdt.ReplicaID(id)
	m := crdt.NewMap(crdt.Params{})
	clock := crdt.NewClock(self, 0)
	at := time.UnixMilli(1_700_000_000_000)
	rnd := mrand.NewChaCha8([32]byte{2})
	var out [][]byte
	var ds []crdt.Delta
	for i := range 3 {
		sid, err := sessions.NewID(rnd)
		require.NoError(t, err)
		steps := [][]crdt.Change{
			{crdt.Create(self, "ssh", at), crdt.SetPhase(sessions.StateActive, at)},
			{crdt.AddCounters(uint64(i)+1, 1<<33, 7)},
			{crdt.AddRelay(self), crdt.AddParticipant([]byte("sealed participant")), crdt.SetPrivate(bytes.Repeat([]byte{byte(i)}, 100))},
			{crdt.SetManifest([32]byte{byte(i)}), crdt.SetAnchor(crdt.Anchor{Status: crdt.AnchorPending, Ref: []byte("tx")})},
			{crdt.RemoveRelay(self), crdt.SetPhase(sessions.StateEnded, at.Add(time.Minute))},
		}
		for _, changes := range steps {
			d, err := m.Update(self, clock, at.Add(time.Hour), sid, changes...)
			require.NoError(t, err)
			ds = append(ds, d)
			env, err := Seal(key, d)
			require.NoError(t, err)
			out = append(out, env.Bytes())
		}
	}
	joined, err := crdt.JoinDeltas(ds...)
	require.NoError(t, err)
	env, err := Seal(key, joined)
	require.NoError(t, err)
	return append(out, env.Bytes())
}

func FuzzOpenEnvelope(f *testing.F) {
	for _, b := range seedEnvelopes(f) {
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{envelopeVersion, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := OpenEnvelope(b)
		if err != nil {
			return
		}
		// What is accepted is exactly one canonical envelope: version,
		// minimal length, the delta's canonical encoding, a signature that
		// verifies under the author's key.
		body := env.Delta.Encode()
		canonical := append([]byte{envelopeVersion}, binary.AppendUvarint(nil, uint64(len(body)))...)
		canonical = append(canonical, body...)
		require.True(t, bytes.HasPrefix(b, canonical), "accepted a non-canonical envelope")
		require.Equal(t, b, env.Bytes())
		require.Equal(t, peer.ID(env.Delta.Author()), env.Signer())
		pub, err := env.Signer().ExtractPublicKey()
		require.NoError(t, err)
		ok, err := pub.Verify(signedBytes(body), b[len(canonical):])
		require.NoError(t, err)
		require.True(t, ok)
		again, err := OpenEnvelope(bytes.Clone(b))
		require.NoError(t, err)
		require.Equal(t, env.Delta.Encode(), again.Delta.Encode())
	})
}

// seedSealed returns blobs sealed to the fuzz identity (key 1), to it and
// another peer, and to another peer only.
func seedSealed(t testing.TB) (blobs, private [][]byte) {
	t.Helper()
	key, me := fuzzKey(t, 1)
	_, other := fuzzKey(t, 3)
	rnd := mrand.NewChaCha8([32]byte{4})
	sid, err := sessions.NewID(rnd)
	require.NoError(t, err)
	consent := sessions.ConsentReceipt{User: me, Session: sid, PolicyHash: [32]byte{1}, AcceptedAt: time.UnixMilli(1_700_000_000_000)}
	require.NoError(t, consent.Sign(key))
	for _, to := range [][]peer.ID{{me}, {other, me}, {other}} {
		b, err := SealTo(to, []byte("a participant"), rnd)
		require.NoError(t, err)
		blobs = append(blobs, b)
	}
	for _, p := range []Private{{Client: other}, {Client: me, Consent: consent}} {
		b, err := SealPrivate(p, me, rnd)
		require.NoError(t, err)
		private = append(private, b)
	}
	return blobs, private
}

func FuzzOpenSealed(f *testing.F) {
	key, _ := fuzzKey(f, 1)
	id := fuzzIdentity(f, key)
	blobs, private := seedSealed(f)
	for _, b := range append(blobs, private...) {
		f.Add(b)
		f.Add(b[:len(b)-1])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		plain, err := OpenSealed(b, id)
		if err != nil {
			require.Nil(t, plain)
			return
		}
		require.LessOrEqual(t, len(b), crdt.MaxPrivateSize)
	})
}

func FuzzOpenPrivate(f *testing.F) {
	key, _ := fuzzKey(f, 1)
	id := fuzzIdentity(f, key)
	blobs, private := seedSealed(f)
	for _, b := range append(private, blobs...) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := OpenPrivate(b, id)
		if err != nil {
			return
		}
		require.NotEmpty(t, p.Client)
		if !p.Consent.IsZero() {
			_, err := sessions.DecodeConsent(p.Consent.CBOR())
			require.NoError(t, err)
		}
	})
}

// TestSealedSeedsOpen: the fuzz seeds are what they claim: openable by
// their recipients only.
func TestSealedSeedsOpen(t *testing.T) {
	key, me := fuzzKey(t, 1)
	id := fuzzIdentity(t, key)
	blobs, private := seedSealed(t)
	for i, b := range blobs[:2] {
		plain, err := OpenSealed(b, id)
		require.NoError(t, err, i)
		require.Equal(t, []byte("a participant"), plain)
	}
	_, err := OpenSealed(blobs[2], id)
	require.ErrorIs(t, err, ErrNotRecipient)
	p, err := OpenPrivate(private[1], id)
	require.NoError(t, err)
	require.Equal(t, me, p.Client)
	require.Equal(t, me, p.Consent.User)
	require.NoError(t, p.Consent.Verify())
	for _, b := range seedEnvelopes(t) {
		_, err := OpenEnvelope(b)
		require.NoError(t, err)
	}
}

// TestOpenEnvelopeCanonicalLength: the delta's length has one encoding;
// an envelope with a padded varint is another byte string for the same
// signed delta (stored and forwarded twice).
func TestOpenEnvelopeCanonicalLength(t *testing.T) {
	b := seedEnvelopes(t)[0]
	n, k := binary.Uvarint(b[1:])
	require.Positive(t, k)
	padded := append([]byte{envelopeVersion}, binary.AppendUvarint(nil, n)...)
	padded[len(padded)-1] |= 0x80
	padded = append(padded, 0x00)
	_, k2 := binary.Uvarint(padded[1:])
	require.Equal(t, len(padded)-1, k2, "padded varint decodes")
	padded = append(padded, b[1+k:]...)
	_, err := OpenEnvelope(padded)
	require.ErrorIs(t, err, ErrBadEnvelope)
}
