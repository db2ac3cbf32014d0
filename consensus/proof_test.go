package consensus

import (
	"bytes"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"
)

// sampleProofs returns one valid, signed proof of each type.
func sampleProofs(tb testing.TB) (Params, *fakeChain, []*Proof) {
	tb.Helper()
	p := testParams()
	host, client, storer := newActor(tb, "host"), newActor(tb, "client"), newActor(tb, "storer")
	f := newFakeChain(p)
	for s := Slot(0); s <= 12; s++ {
		f.addBlock(tb, s, 3)
	}
	rec := newRecording(sid(9), 5, 2500, 900)
	set, err := NewClaimSet([]StorageClaim{rec.claim()})
	require.NoError(tb, err)
	f.claims[storer.id] = set
	const slot = 10
	return p, f, []*Proof{
		relayProof(tb, host, []byte("pool-1"), slot,
			signedReceipt(tb, client, host.id, sid(1), slot, 4, 12_345_678),
			signedReceipt(tb, client, host.id, sid(2), slot, slot, 99)),
		proveFor(tb, p, storer, nil, f, slot, rec),
		validationProof(tb, host, nil, slot, 3),
		uptimeProof(tb, host, []byte("pool-1"), slot),
	}
}

func TestProofRoundTrip(t *testing.T) {
	p, f, proofs := sampleProofs(t)
	for _, pr := range proofs {
		require.NoError(t, VerifyProof(pr, p, 10, f.ctx()), pr.Type)
		b := mustEncode(t, pr)
		d, err := DecodeProof(b)
		require.NoError(t, err)
		require.Equal(t, b, mustEncode(t, d))
		require.Equal(t, pr.ID(), d.ID())
		require.NoError(t, VerifyProof(d, p, 10, f.ctx()))
	}
	require.Equal(t, PoolEntity([]byte("pool-1")), proofs[0].Entity())
	require.Equal(t, NodeEntity(proofs[2].Node), proofs[2].Entity())
}

// The decoder accepts only the canonical encoding.
func TestProofDecoderStrict(t *testing.T) {
	_, _, proofs := sampleProofs(t)
	b := mustEncode(t, proofs[3])
	var m map[uint64]cbor.RawMessage
	require.NoError(t, cbor.Unmarshal(b, &m))

	enc := func(v any) []byte { x, err := cbor.Marshal(v); require.NoError(t, err); return x }
	unknown := map[uint64]cbor.RawMessage{}
	for k, v := range m {
		unknown[k] = v
	}
	unknown[42] = enc(1)
	cases := map[string][]byte{
		"empty":          {},
		"not a map":      {0x01},
		"trailing":       append(bytes.Clone(b), 0x00),
		"unknown key":    mustCanon(t, unknown),
		"indefinite":     append([]byte{0xbf}, append(b[1:], 0xff)...),
		"duplicate key":  dupKey(t, b),
		"non-shortest":   nonShortestVersion(b),
		"explicit zero":  withExplicitZeroSlot(t, m),
		"unsorted keys":  unsorted(t, m),
		"version 2":      withVersion(t, m, 2),
		"sig 63 bytes":   withField(t, m, 9, enc(make([]byte, 63))),
		"type 5":         withField(t, m, 2, enc(5)),
		"type 0":         without(t, m, 2),
		"pool 65 bytes":  withField(t, m, 4, enc(make([]byte, 65))),
		"bad node":       withField(t, m, 3, enc([]byte{1, 2, 3})),
		"uptime w/ body": withField(t, m, 8, enc(map[uint64]any{1: make([]byte, 32)})),
	}
	for name, in := range cases {
		_, err := DecodeProof(in)
		switch name {
		case "version 2":
			requireSentinel(t, err, ErrUnsupportedVersion)
		case "type 5", "type 0":
			requireSentinel(t, err, ErrUnknownType)
		default:
			requireSentinel(t, err, ErrMalformed)
		}
	}
	_, err := DecodeProof(make([]byte, maxProofSizeLimit+1))
	requireSentinel(t, err, ErrOversize)
}

func mustCanon(tb testing.TB, m map[uint64]cbor.RawMessage) []byte {
	tb.Helper()
	b, err := encMode.Marshal(m)
	require.NoError(tb, err)
	return b
}

func withField(tb testing.TB, m map[uint64]cbor.RawMessage, k uint64, v []byte) []byte {
	c := map[uint64]cbor.RawMessage{}
	for kk, vv := range m {
		c[kk] = vv
	}
	c[k] = v
	return mustCanon(tb, c)
}

func without(tb testing.TB, m map[uint64]cbor.RawMessage, k uint64) []byte {
	c := map[uint64]cbor.RawMessage{}
	for kk, vv := range m {
		if kk != k {
			c[kk] = vv
		}
	}
	return mustCanon(tb, c)
}

func withVersion(tb testing.TB, m map[uint64]cbor.RawMessage, v byte) []byte {
	return withField(tb, m, 1, []byte{v})
}

func withExplicitZeroSlot(tb testing.TB, m map[uint64]cbor.RawMessage) []byte {
	c := map[uint64]cbor.RawMessage{}
	for kk, vv := range m {
		c[kk] = vv
	}
	c[4] = []byte{0x40} // empty pool: the zero value must be absent
	return mustCanon(tb, c)
}

// unsorted re-emits the map with keys in descending order.
func unsorted(tb testing.TB, m map[uint64]cbor.RawMessage) []byte {
	tb.Helper()
	var keys []uint64
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] > keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	out := []byte{0xa0 | byte(len(keys))}
	for _, k := range keys {
		out = append(out, byte(k))
		out = append(out, m[k]...)
	}
	return out
}

// dupKey repeats the version entry (key 1 → 1) at the end.
func dupKey(tb testing.TB, b []byte) []byte {
	tb.Helper()
	n := int(b[0] & 0x1f)
	out := []byte{0xa0 | byte(n+1)}
	out = append(out, b[1:]...)
	return append(out, 0x01, 0x01)
}

// nonShortestVersion encodes the version value 1 as a one-byte-argument
// integer (0x18 0x01).
func nonShortestVersion(b []byte) []byte {
	out := bytes.Clone(b)
	i := bytes.Index(out, []byte{0x01, 0x01})
	return append(append(out[:i+1:i+1], 0x18, 0x01), out[i+2:]...)
}

func TestReceiptRoundTrip(t *testing.T) {
	client, host := newActor(t, "client"), newActor(t, "host")
	r := signedReceipt(t, client, host.id, sid(1), 10, 3, 5_000_001)
	require.NoError(t, r.Verify())
	b, err := r.Encode()
	require.NoError(t, err)
	d, err := DecodeReceipt(b)
	require.NoError(t, err)
	require.Equal(t, r, d)
	require.NoError(t, d.Verify())

	bad := r
	bad.Start = 11
	_, err = bad.Encode()
	requireSentinel(t, err, ErrMalformed)
	require.Error(t, bad.Sign(client.priv))
	// Only the client may sign.
	r2 := r
	requireSentinel(t, r2.Sign(host.priv), ErrInvalidArgument)
	// Tampering breaks the client's signature.
	r2.Bytes++
	requireSentinel(t, r2.Verify(), ErrBadCounterSignature)
	r2.Sig = nil
	requireSentinel(t, r2.Verify(), ErrMissingCounterSignature)
}

func TestEntityID(t *testing.T) {
	_, id := testKey(t, "n")
	n := NodeEntity(id)
	got, ok := n.Node()
	require.True(t, ok)
	require.Equal(t, id, got)
	require.False(t, n.IsPool())
	pl := PoolEntity([]byte{0xab})
	require.True(t, pl.IsPool())
	require.Equal(t, "pool:ab", pl.String())
	require.Equal(t, "node:"+id.String(), n.String())
	require.Equal(t, "none", EntityID("").String())
	require.True(t, n.valid() && pl.valid())
	require.False(t, EntityID("\x03x").valid())
}
