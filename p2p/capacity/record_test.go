package capacity

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSealOpenRoundTrip(t *testing.T) {
	priv, id := testKey(t, "a")
	for name, r := range map[string]*Record{
		"full":    fullRecord(t, id),
		"minimal": minimalRecord(t, id),
	} {
		t.Run(name, func(t *testing.T) {
			data := mustSeal(t, r, priv)
			assert.LessOrEqual(t, len(data), MaxRecordSize)

			got, err := Open(data)
			require.NoError(t, err)
			assert.Equal(t, r, got)

			// Ed25519 signing is deterministic and the encoding canonical,
			// so re-sealing what was opened reproduces the same bytes.
			again := mustSeal(t, got, priv)
			assert.Equal(t, data, again)
		})
	}
}

func TestSealOpenOtherKeyTypes(t *testing.T) {
	gens := map[string]func() (crypto.PrivKey, crypto.PubKey, error){
		"secp256k1": func() (crypto.PrivKey, crypto.PubKey, error) { return crypto.GenerateSecp256k1Key(rand.Reader) },
		"ecdsa":     func() (crypto.PrivKey, crypto.PubKey, error) { return crypto.GenerateECDSAKeyPair(rand.Reader) },
		"rsa2048":   func() (crypto.PrivKey, crypto.PubKey, error) { return crypto.GenerateRSAKeyPair(2048, rand.Reader) },
	}
	for name, gen := range gens {
		t.Run(name, func(t *testing.T) {
			priv, _, err := gen()
			require.NoError(t, err)
			id, err := peer.IDFromPrivateKey(priv)
			require.NoError(t, err)
			r := fullRecord(t, id)
			data := mustSeal(t, r, priv)
			got, err := Open(data)
			require.NoError(t, err)
			assert.Equal(t, r, got)
			require.NoError(t, testValidator.Validate(Key(id), data))
		})
	}
}

func TestSealTruncatesTimesToSeconds(t *testing.T) {
	priv, id := testKey(t, "a")
	r := fullRecord(t, id)
	r.IssuedAt = t0.Add(900 * time.Millisecond)
	r.Expires = t0.Add(time.Hour + 500*time.Millisecond)
	got, err := Open(mustSeal(t, r, priv))
	require.NoError(t, err)
	assert.Equal(t, t0, got.IssuedAt)
	assert.Equal(t, t0.Add(time.Hour), got.Expires)
}

func TestSealRejects(t *testing.T) {
	privA, idA := testKey(t, "a")
	_, idB := testKey(t, "b")

	t.Run("peer mismatch", func(t *testing.T) {
		_, err := fullRecord(t, idB).Seal(privA)
		assert.ErrorIs(t, err, ErrPeerMismatch)
	})
	t.Run("nil key", func(t *testing.T) {
		_, err := fullRecord(t, idA).Seal(nil)
		assert.ErrorIs(t, err, ErrPeerMismatch)
	})
	t.Run("schema", func(t *testing.T) {
		r := fullRecord(t, idA)
		r.CPUCores = 0
		_, err := r.Seal(privA)
		assert.ErrorIs(t, err, ErrSchema)
	})
	t.Run("oversize", func(t *testing.T) {
		r := oversizeRecord(t, idA)
		require.NoError(t, r.Validate(), "each field is within bounds")
		_, err := r.Seal(privA)
		assert.ErrorIs(t, err, ErrOversize)
	})
}

// oversizeRecord is schema-valid (16 addrs of <=256 bytes) but too large.
func oversizeRecord(tb testing.TB, id peer.ID) *Record {
	r := fullRecord(tb, id)
	r.Addrs = nil
	for i := 0; i < maxAddrs; i++ {
		host := strings.Repeat(string(rune('a'+i)), 240)
		r.Addrs = append(r.Addrs, mustAddr(tb, "/dns/"+host+"/tcp/4001"))
	}
	return r
}

func TestOpenRejects(t *testing.T) {
	privA, idA := testKey(t, "a")
	_, idB := testKey(t, "b")
	good := mustSeal(t, fullRecord(t, idA), privA)
	goodPayload, err := encodePayload(fullRecord(t, idA).wire(), nil)
	require.NoError(t, err)
	entries := payloadEntries(t, goodPayload)

	// withEntry returns the canonical entries with key k's value replaced
	// (or removed when v is nil).
	withEntry := func(k uint64, v []byte) []kv {
		var out []kv
		for _, e := range entries {
			if e.k == k {
				if v == nil {
					continue
				}
				e.v = v
			}
			out = append(out, e)
		}
		return out
	}
	payload := func(es []kv) []byte { return sealRaw(t, buildMap(es), privA) }

	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 0x01 // the signature is the last field

	reordered := slices.Clone(entries)
	reordered[0], reordered[1] = reordered[1], reordered[0]

	nonMinimalSeq := []byte{0x1b, 0, 0, 0, 0, 0, 0, 0, 1} // 1 as a 64-bit head

	indefServices := []byte{0x9f}
	for _, s := range []string{"rdp", "ssh", "vnc"} {
		indefServices = append(indefServices, mustCBOR(t, s)...)
	}
	indefServices = append(indefServices, 0xff)

	wrongPeer := fullRecord(t, idB)

	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"random bytes", []byte("definitely not an envelope, just some text"), ErrMalformed},
		{"truncated by one byte", good[:len(good)-1], ErrMalformed},
		{"trailing junk", append(bytes.Clone(good), 0x00), ErrMalformed},
		{"unknown envelope field appended", append(bytes.Clone(good), 0x30, 0x01), ErrMalformed},
		{"duplicate payload_type field appended", append(bytes.Clone(good), append([]byte{0x12, byte(len(PayloadType))}, PayloadType...)...), ErrMalformed},
		{"unknown envelope field prepended", append([]byte{0x08, 0x00}, good...), ErrMalformed},
		{"bad signature", flipped, ErrBadSignature},
		{"wrong domain", sealForeign(t, "other-domain", PayloadType, goodPayload, privA), ErrBadSignature},
		{"wrong payload type", sealForeign(t, Domain, []byte("/lucid/other/1"), goodPayload, privA), ErrMalformed},
		{"record names another peer", sealUnchecked(t, wrongPeer, privA), ErrPeerMismatch},
		{"oversize", sealUnchecked(t, oversizeRecord(t, idA), privA), ErrOversize},
		{"padded over limit", append(bytes.Clone(good), make([]byte, MaxRecordSize)...), ErrOversize},
		{"payload not a map", sealRaw(t, []byte{0x80}, privA), ErrMalformed},
		{"payload empty", sealRaw(t, []byte{}, privA), ErrMalformed},
		{"payload null", sealRaw(t, []byte{0xf6}, privA), ErrMalformed},
		{"payload trailing bytes", sealRaw(t, append(bytes.Clone(goodPayload), 0x00), privA), ErrMalformed},
		{"payload truncated", sealRaw(t, goodPayload[:len(goodPayload)-1], privA), ErrMalformed},
		{"payload keys out of order", payload(reordered), ErrMalformed},
		{"payload duplicate key", payload(append(slices.Clone(entries), entries[len(entries)-1])), ErrMalformed},
		{"payload non-minimal map head", sealRaw(t, append([]byte{0xb8, byte(len(entries))}, goodPayload[1:]...), privA), ErrMalformed},
		{"payload non-minimal integer", payload(withEntry(14, nonMinimalSeq)), ErrMalformed},
		{"payload indefinite-length array", payload(withEntry(12, indefServices)), ErrMalformed},
		{"payload zero value present", payload(append(withEntry(13, nil), kv{13, mustCBOR(t, "")})), ErrMalformed},
		{"payload wrong field type", payload(withEntry(4, mustCBOR(t, []byte("lucid/0.1.0")))), ErrMalformed},
		{"payload text key", sealRaw(t, mustCBOR(t, map[string]int{"v": 1}), privA), ErrMalformed},
		{"payload negative key", sealRaw(t, []byte{0xa2, 0x01, 0x01, 0x20, 0x00}, privA), ErrMalformed},
		{"payload without version", payload(withEntry(keyVersion, nil)), ErrMalformed},
		{"payload version not an int", payload(withEntry(keyVersion, mustCBOR(t, "1"))), ErrMalformed},
		{"payload version 2", payload(withEntry(keyVersion, mustCBOR(t, 2))), ErrUnsupportedVersion},
		{"payload version 0", payload(withEntry(keyVersion, mustCBOR(t, 0))), ErrUnsupportedVersion},
		{"payload version 2 with new layout", payload([]kv{{1, mustCBOR(t, 2)}, {2, mustCBOR(t, "a string now")}}), ErrUnsupportedVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Open(tc.data)
			require.Error(t, err)
			assert.Nil(t, r)
			assert.ErrorIs(t, err, tc.want)
			assert.Equal(t, tc.want, sentinelOf(t, err), "exactly one sentinel: %v", err)
		})
	}

	t.Run("every truncation fails cleanly", func(t *testing.T) {
		for i := range good {
			_, err := Open(good[:i])
			require.Error(t, err)
			s := sentinelOf(t, err)
			require.Contains(t, []error{ErrMalformed, ErrBadSignature}, s, "prefix %d: %v", i, err)
		}
	})
}

func TestOpenIgnoresUnknownKeys(t *testing.T) {
	priv, id := testKey(t, "a")
	r := fullRecord(t, id)
	p, err := encodePayload(r.wire(), nil)
	require.NoError(t, err)
	entries := payloadEntries(t, p)
	extended := append(slices.Clone(entries),
		kv{17, mustCBOR(t, []byte("future field"))},
		kv{100, mustCBOR(t, map[uint64]any{1: "nested", 2: []int{1, 2}})},
		// Unknown values are opaque: even a non-minimal integer is carried.
		kv{1000, []byte{0x18, 0x01}},
	)
	got, err := Open(sealRaw(t, buildMap(extended), priv))
	require.NoError(t, err)
	assert.Equal(t, r, got)

	// Key 0 is not defined by v1 either and sorts first.
	got, err = Open(sealRaw(t, buildMap(append([]kv{{0, mustCBOR(t, true)}}, entries...)), priv))
	require.NoError(t, err)
	assert.Equal(t, r, got)

	// Unknown keys must still be in canonical order.
	shuffled := append([]kv{{17, mustCBOR(t, 1)}}, entries...)
	_, err = Open(sealRaw(t, buildMap(shuffled), priv))
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestSchema(t *testing.T) {
	priv, id := testKey(t, "a")
	long := func(n int) string { return strings.Repeat("a", n) }
	addrOfLen := func(n int) multiaddr.Multiaddr {
		// /dns/<host>/ encodes as code(1) + varint len + host; pick host so
		// the whole multiaddr is exactly n bytes.
		hostLen := n - 1 - 2
		if hostLen < 128 {
			hostLen = n - 1 - 1
		}
		a := mustAddr(t, "/dns/"+long(hostLen))
		require.Len(t, a.Bytes(), n)
		return a
	}
	manyAddrs := func(n int) []multiaddr.Multiaddr {
		out := make([]multiaddr.Multiaddr, n)
		for i := range out {
			out[i] = mustAddr(t, "/ip4/192.0.2.1/tcp/1")
		}
		return out
	}
	services := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "svc" + string(rune('a'+i))
		}
		return out
	}

	tests := []struct {
		name  string
		mut   func(r *Record)
		valid bool
	}{
		{"baseline", func(r *Record) {}, true},
		{"empty peer", func(r *Record) { r.Peer = "" }, false},
		{"invalid peer bytes", func(r *Record) { r.Peer = peer.ID("not a multihash") }, false},
		{"no addrs", func(r *Record) { r.Addrs = nil }, false},
		{"16 addrs", func(r *Record) { r.Addrs = manyAddrs(16) }, true},
		{"17 addrs", func(r *Record) { r.Addrs = manyAddrs(17) }, false},
		{"empty addr", func(r *Record) { r.Addrs = []multiaddr.Multiaddr{nil} }, false},
		{"addr 256 bytes", func(r *Record) { r.Addrs = []multiaddr.Multiaddr{addrOfLen(256)} }, true},
		{"addr 257 bytes", func(r *Record) { r.Addrs = []multiaddr.Multiaddr{addrOfLen(257)} }, false},
		{"addr with invalid UTF-8 DNS name", func(r *Record) { r.Addrs = []multiaddr.Multiaddr{rawAddr(t, "\x36\x02\x30\xa1")} }, false},
		{"empty software", func(r *Record) { r.Software = "" }, false},
		{"software 64 bytes", func(r *Record) { r.Software = long(64) }, true},
		{"software 65 bytes", func(r *Record) { r.Software = long(65) }, false},
		{"software control char", func(r *Record) { r.Software = "lucid\n" }, false},
		{"software non-ASCII", func(r *Record) { r.Software = "lücid" }, false},
		{"empty arch", func(r *Record) { r.Arch = "" }, false},
		{"arch 32 bytes", func(r *Record) { r.Arch = long(32) }, true},
		{"arch 33 bytes", func(r *Record) { r.Arch = long(33) }, false},
		{"arch all allowed chars", func(r *Record) { r.Arch = "linux/arm_v7-0z" }, true},
		{"arch upper case", func(r *Record) { r.Arch = "Linux/arm64" }, false},
		{"arch space", func(r *Record) { r.Arch = "linux arm64" }, false},
		{"no services", func(r *Record) { r.Services = nil }, true},
		{"8 services", func(r *Record) { r.Services = services(8) }, true},
		{"9 services", func(r *Record) { r.Services = services(9) }, false},
		{"service unsorted", func(r *Record) { r.Services = []string{"ssh", "rdp"} }, false},
		{"service duplicate", func(r *Record) { r.Services = []string{"rdp", "rdp"} }, false},
		{"service empty", func(r *Record) { r.Services = []string{""} }, false},
		{"service 16 chars", func(r *Record) { r.Services = []string{"a" + strings.Repeat("-", 14) + "9"} }, true},
		{"service 17 chars", func(r *Record) { r.Services = []string{long(17)} }, false},
		{"service leading digit", func(r *Record) { r.Services = []string{"9p"} }, false},
		{"service leading dash", func(r *Record) { r.Services = []string{"-x"} }, false},
		{"service upper case", func(r *Record) { r.Services = []string{"SSH"} }, false},
		{"service underscore", func(r *Record) { r.Services = []string{"my_svc"} }, false},
		{"region empty", func(r *Record) { r.Region = "" }, true},
		{"region 32 bytes", func(r *Record) { r.Region = long(32) }, true},
		{"region 33 bytes", func(r *Record) { r.Region = long(33) }, false},
		{"region control char", func(r *Record) { r.Region = "eu\x00" }, false},
		{"slots 0/0", func(r *Record) { r.SlotsTotal, r.SlotsFree = 0, 0 }, true},
		{"slots_total 1024", func(r *Record) { r.SlotsTotal, r.SlotsFree = 1024, 1024 }, true},
		{"slots_total 1025", func(r *Record) { r.SlotsTotal, r.SlotsFree = 1025, 0 }, false},
		{"slots_free > slots_total", func(r *Record) { r.SlotsTotal, r.SlotsFree = 2, 3 }, false},
		{"cpu_cores 0", func(r *Record) { r.CPUCores = 0 }, false},
		{"cpu_cores 1024", func(r *Record) { r.CPUCores = 1024 }, true},
		{"cpu_cores 1025", func(r *Record) { r.CPUCores = 1025 }, false},
		{"seq 0", func(r *Record) { r.Seq = 0 }, false},
		{"issued == expires", func(r *Record) { r.Expires = r.IssuedAt }, true},
		{"issued after expires", func(r *Record) { r.IssuedAt = r.Expires.Add(time.Second) }, false},
		{"lifetime == max", func(r *Record) { r.Expires = r.IssuedAt.Add(MaxLifetime) }, true},
		{"lifetime > max", func(r *Record) { r.Expires = r.IssuedAt.Add(MaxLifetime + time.Second) }, false},
		{"zero times", func(r *Record) { r.IssuedAt, r.Expires = time.Time{}, time.Time{} }, false},
		{"unix epoch", func(r *Record) { r.IssuedAt, r.Expires = time.Unix(0, 0), time.Unix(60, 0) }, true},
		{"year 10000", func(r *Record) {
			r.IssuedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			r.Expires = r.IssuedAt
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := fullRecord(t, id)
			tc.mut(r)

			validateErr := r.Validate()
			_, sealErr := r.Seal(priv)
			// What Seal refuses, a hand-signed record must not sneak past Open.
			_, openErr := Open(sealUnchecked(t, r, priv))
			if tc.valid {
				assert.NoError(t, validateErr)
				assert.NoError(t, sealErr)
				assert.NoError(t, openErr)
				return
			}
			assert.ErrorIs(t, validateErr, ErrSchema)
			assert.ErrorIs(t, sealErr, ErrSchema)
			if tc.name == "empty peer" || tc.name == "invalid peer bytes" {
				// Open compares the payload's peer to the signer first.
				assert.ErrorIs(t, openErr, ErrPeerMismatch)
				return
			}
			assert.ErrorIs(t, openErr, ErrSchema)
		})
	}
}

// rawAddr builds a multiaddr from bytes the binary codec accepts.
func rawAddr(tb testing.TB, b string) multiaddr.Multiaddr {
	tb.Helper()
	a, err := multiaddr.NewMultiaddrBytes([]byte(b))
	require.NoError(tb, err)
	return a
}

func TestKey(t *testing.T) {
	_, id := testKey(t, "a")
	key := Key(id)
	assert.Equal(t, "/lucid-cap/"+id.String(), key)
	got, err := PeerFromKey(key)
	require.NoError(t, err)
	assert.Equal(t, id, got)

	for name, k := range map[string]string{
		"other namespace":  "/pk/" + id.String(),
		"no namespace":     id.String(),
		"prefix only":      "/lucid-cap/",
		"garbage peer":     "/lucid-cap/not-a-peer",
		"cid-encoded peer": "/lucid-cap/" + peer.ToCid(id).String(),
		"trailing slash":   key + "/",
		"raw peer bytes":   "/lucid-cap/" + string(id),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := PeerFromKey(k)
			assert.ErrorIs(t, err, ErrKeyMismatch)
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	_, id := testKey(t, "a")
	r := fullRecord(t, id)
	data, err := json.Marshal(r)
	require.NoError(t, err)

	var fields map[string]any
	require.NoError(t, json.Unmarshal(data, &fields))
	assert.Equal(t, id.String(), fields["peer_id"])
	assert.Equal(t, []any{"/ip4/192.0.2.10/tcp/4001", "/ip6/2001:db8::10/udp/4001/quic-v1", "/dns4/pi-7.example.net/tcp/4001"}, fields["addrs"])
	assert.Equal(t, "2026-01-01T00:00:00Z", fields["issued_at"])
	assert.Equal(t, "2026-01-01T01:00:00Z", fields["expires"])
	for _, k := range []string{"software", "arch", "cpu_cores", "memory_bytes", "disk_free_bytes", "slots_total", "slots_free", "bandwidth_bps", "services", "region", "seq"} {
		assert.Contains(t, fields, k)
	}
	assert.Len(t, fields, 15)

	var back Record
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, r, &back)

	// By value too, and an empty service list renders as [].
	m := minimalRecord(t, id)
	data, err = json.Marshal(*m)
	require.NoError(t, err)
	assert.Contains(t, string(data), `"services":[]`)
	var backMin Record
	require.NoError(t, json.Unmarshal(data, &backMin))
	assert.Equal(t, m, &backMin)

	// Non-UTC input times are normalised.
	require.NoError(t, json.Unmarshal([]byte(`{"issued_at":"2026-01-01T02:00:00+02:00"}`), &backMin))
	assert.Equal(t, t0, backMin.IssuedAt)

	for name, bad := range map[string]string{
		"peer":  `{"peer_id":"nope"}`,
		"addr":  `{"addrs":["/nope"]}`,
		"time":  `{"expires":"yesterday"}`,
		"types": `{"cpu_cores":"four"}`,
	} {
		t.Run(name, func(t *testing.T) {
			var r Record
			assert.Error(t, json.Unmarshal([]byte(bad), &r))
		})
	}
}

func TestOffers(t *testing.T) {
	_, id := testKey(t, "a")
	r := fullRecord(t, id)
	assert.True(t, r.Offers(ServiceSSH))
	assert.True(t, r.Offers(ServiceRDP))
	assert.False(t, r.Offers("ftp"))
	assert.False(t, minimalRecord(t, id).Offers(ServiceSSH))
}

func TestNextSeq(t *testing.T) {
	ms := uint64(t0.UnixMilli())
	assert.Equal(t, ms, NextSeq(0, t0), "fresh node starts at the clock")
	assert.Equal(t, ms, NextSeq(ms-5, t0))
	assert.Equal(t, ms+1, NextSeq(ms, t0), "same millisecond still increases")
	assert.Equal(t, ms+101, NextSeq(ms+100, t0), "clock behind last seq still increases")
	assert.Equal(t, uint64(1), NextSeq(0, time.Unix(-5, 0)), "pre-epoch clock")
	assert.Equal(t, uint64(1<<64-1), NextSeq(1<<64-1, t0), "saturates")
}
