package capacity

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
)

// t0 is the fixed issue time of test records; testNow is the validator clock.
var (
	t0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	testNow = t0.Add(10 * time.Minute)
)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

var testValidator = Validator{Now: fixedClock(testNow)}

// testKey derives a deterministic Ed25519 key from name so fuzz seeds and
// signatures are reproducible.
func testKey(tb testing.TB, name string) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	seed := sha256.Sum256([]byte(name))
	priv, _, err := crypto.GenerateEd25519Key(bytes.NewReader(seed[:]))
	require.NoError(tb, err)
	id, err := peer.IDFromPrivateKey(priv)
	require.NoError(tb, err)
	return priv, id
}

func mustAddr(tb testing.TB, s string) multiaddr.Multiaddr {
	tb.Helper()
	a, err := multiaddr.NewMultiaddr(s)
	require.NoError(tb, err)
	return a
}

// fullRecord returns a valid record with every field set.
func fullRecord(tb testing.TB, id peer.ID) *Record {
	tb.Helper()
	return &Record{
		Peer: id,
		Addrs: []multiaddr.Multiaddr{
			mustAddr(tb, "/ip4/192.0.2.10/tcp/4001"),
			mustAddr(tb, "/ip6/2001:db8::10/udp/4001/quic-v1"),
			mustAddr(tb, "/dns4/pi-7.example.net/tcp/4001"),
		},
		Software:      "lucid/0.1.0",
		Arch:          "linux/arm64",
		CPUCores:      4,
		MemoryBytes:   8 << 30,
		DiskFreeBytes: 100 << 30,
		SlotsTotal:    4,
		SlotsFree:     3,
		BandwidthBps:  50_000_000,
		Services:      []string{ServiceRDP, ServiceSSH, ServiceVNC},
		Region:        "eu-west",
		Seq:           1_767_225_600_000,
		IssuedAt:      t0,
		Expires:       t0.Add(DefaultLifetime),
	}
}

// minimalRecord has only the required fields.
func minimalRecord(tb testing.TB, id peer.ID) *Record {
	tb.Helper()
	return &Record{
		Peer:     id,
		Addrs:    []multiaddr.Multiaddr{mustAddr(tb, "/ip4/192.0.2.1/tcp/1")},
		Software: "x",
		Arch:     "a",
		CPUCores: 1,
		Seq:      1,
		IssuedAt: t0,
		Expires:  t0.Add(time.Hour),
	}
}

func mustSeal(tb testing.TB, r *Record, priv crypto.PrivKey) []byte {
	tb.Helper()
	data, err := r.Seal(priv)
	require.NoError(tb, err)
	return data
}

// sealUnchecked signs r without Seal's schema, peer and size checks, to
// produce records that remote validators must reject.
func sealUnchecked(tb testing.TB, r *Record, priv crypto.PrivKey) []byte {
	tb.Helper()
	payload, err := encodePayload(r.wire(), nil)
	require.NoError(tb, err)
	return sealRaw(tb, payload, priv)
}

func sealRaw(tb testing.TB, payload []byte, priv crypto.PrivKey) []byte {
	tb.Helper()
	data, err := sealPayload(payload, priv)
	require.NoError(tb, err)
	return data
}

// foreignPayload seals bytes under an arbitrary domain and payload type.
type foreignPayload struct {
	domain string
	codec  []byte
	raw    []byte
}

func (f *foreignPayload) Domain() string                 { return f.domain }
func (f *foreignPayload) Codec() []byte                  { return f.codec }
func (f *foreignPayload) MarshalRecord() ([]byte, error) { return f.raw, nil }
func (f *foreignPayload) UnmarshalRecord(b []byte) error { f.raw = b; return nil }

func sealForeign(tb testing.TB, domain string, codec, payload []byte, priv crypto.PrivKey) []byte {
	tb.Helper()
	env, err := record.Seal(&foreignPayload{domain: domain, codec: codec, raw: payload}, priv)
	require.NoError(tb, err)
	data, err := env.Marshal()
	require.NoError(tb, err)
	return data
}

// kv is one entry of a hand-built CBOR map.
type kv struct {
	k uint64
	v []byte
}

// payloadEntries splits a canonical payload into its map entries, in order.
func payloadEntries(tb testing.TB, payload []byte) []kv {
	tb.Helper()
	var m map[uint64]cbor.RawMessage
	require.NoError(tb, cbor.Unmarshal(payload, &m))
	var out []kv
	for k := uint64(0); k < 256; k++ {
		if v, ok := m[k]; ok {
			out = append(out, kv{k, v})
		}
	}
	require.Len(tb, out, len(m))
	return out
}

// buildMap encodes entries in the given order with minimal heads, so tests
// control exactly one deviation from the canonical form at a time.
func buildMap(entries []kv) []byte {
	var b []byte
	b = appendHead(b, 5, uint64(len(entries)))
	for _, e := range entries {
		b = appendHead(b, 0, e.k)
		b = append(b, e.v...)
	}
	return b
}

func appendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func mustCBOR(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := encMode.Marshal(v)
	require.NoError(tb, err)
	return b
}

// allSentinels lists every error Open, Validate and friends may wrap.
var allSentinels = []error{
	ErrMalformed, ErrBadSignature, ErrPeerMismatch, ErrKeyMismatch,
	ErrStaleSequence, ErrExpired, ErrTooFarInFuture, ErrOversize,
	ErrSchema, ErrUnsupportedVersion, ErrNoValidRecord,
}

// sentinelOf returns the single sentinel err wraps, failing if it wraps none.
func sentinelOf(tb testing.TB, err error) error {
	tb.Helper()
	for _, s := range allSentinels {
		if s != ErrNoValidRecord && errors.Is(err, s) {
			return s
		}
	}
	tb.Fatalf("error %q wraps no sentinel", err)
	return nil
}
