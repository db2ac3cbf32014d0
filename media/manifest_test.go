package media

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
	"lukechampine.com/blake3"

	"github.com/lucidnet/lucid/sessions"
)

// fullManifest is a valid manifest with every optional field set.
func fullManifest(t *testing.T) Manifest {
	t.Helper()
	rec := newRecording(t, "full", streamFrames(pcg(10), realLooking(pcg(11), 3000), randomBytes(pcg(12), 2000), 300, time.Second), 1024, 10*time.Second)
	m := rec.m
	auditor, err := WrapKey(rec.key, testIdentity(t, "auditor").PublicKey(), seeded("auditor"))
	require.NoError(t, err)
	auditor.Label = LabelAuditor
	recovery, err := WrapKey(rec.key, testIdentity(t, "recovery").PublicKey(), seeded("recovery"))
	require.NoError(t, err)
	recovery.Label = LabelRecovery
	m.Keys = append(m.Keys, auditor, recovery)
	_, p2 := testPeer(t, "observer-2")
	m.Participants = append(m.Participants, p2)
	m.Gaps = []Gap{
		{AfterIndex: 1, Reason: "recorder crashed; journal lost 2 s", From: testT0.Add(time.Minute), To: testT0.Add(time.Minute + 2*time.Second)},
		{AfterIndex: 1, Reason: "second gap after the same chunk"},
	}
	require.GreaterOrEqual(t, m.ChunkCount, uint64(2))
	return m
}

// canonicalOrder sorts what Encode sorts, so a struct compares equal to
// its decoding.
func canonicalOrder(m Manifest) Manifest {
	enc, err := m.Encode()
	if err != nil {
		panic(err)
	}
	d, err := DecodeManifest(enc)
	if err != nil {
		panic(err)
	}
	m.Participants, m.Keys = d.Participants, d.Keys
	return m
}

func TestManifestRoundTrip(t *testing.T) {
	for name, m := range map[string]Manifest{
		"full":    fullManifest(t),
		"minimal": newRecording(t, "min", nil, 0, 0).m,
	} {
		t.Run(name, func(t *testing.T) {
			if name == "minimal" {
				m.Participants, m.Ended, m.PolicyHash = nil, time.Time{}, [32]byte{}
				m.Consent, m.HostReceipt = sessions.ConsentReceipt{}, sessions.HostReceipt{}
				require.Zero(t, m.ChunkCount)
				require.Equal(t, EmptyRoot, m.Root)
			}
			enc, err := m.Encode()
			require.NoError(t, err)
			require.NoError(t, m.Validate())
			got, err := DecodeManifest(enc)
			require.NoError(t, err)
			require.Equal(t, canonicalOrder(m), got)
			again, err := got.Encode()
			require.NoError(t, err)
			require.Equal(t, enc, again)
			require.Equal(t, m.Hash(), got.Hash())
		})
	}
}

func TestManifestReceiptsSurvive(t *testing.T) {
	m := fullManifest(t)
	enc, err := m.Encode()
	require.NoError(t, err)
	got, err := DecodeManifest(enc)
	require.NoError(t, err)
	require.NoError(t, got.Consent.Verify())
	require.NoError(t, got.HostReceipt.Verify())
	require.Equal(t, m.Consent.Hash(), got.Consent.Hash())
	require.Equal(t, got.HostReceipt.ConsentHash, got.Consent.Hash())
}

func TestManifestEncodeSortsLists(t *testing.T) {
	m := fullManifest(t)
	a, err := m.Encode()
	require.NoError(t, err)
	m.Keys = []WrappedKey{m.Keys[2], m.Keys[0], m.Keys[1]}
	m.Participants = []peer.ID{m.Participants[1], m.Participants[0]}
	b, err := m.Encode()
	require.NoError(t, err)
	require.Equal(t, a, b)
}

func TestManifestHash(t *testing.T) {
	m := fullManifest(t)
	enc, err := m.Encode()
	require.NoError(t, err)
	require.Equal(t, blake3.Sum256(append([]byte("lucid/manifest/1"), enc...)), m.Hash())

	// Any field change changes the hash.
	mutations := map[string]func(m *Manifest){
		"session":      func(m *Manifest) { m.Session = testSession(t, "other") },
		"host":         func(m *Manifest) { _, m.Host = testPeer(t, "other-host") },
		"service":      func(m *Manifest) { m.Service = sessions.ServiceVNC },
		"max plain":    func(m *Manifest) { m.MaxChunkPlaintext++ },
		"max age":      func(m *Manifest) { m.MaxChunkAge += time.Millisecond },
		"root":         func(m *Manifest) { m.Root[0] ^= 1 },
		"chunk size":   func(m *Manifest) { m.Chunks[1].SealedSize++ },
		"chunk leaf":   func(m *Manifest) { m.Chunks[0].Leaf[31] ^= 1 },
		"chunk time":   func(m *Manifest) { m.Chunks[0].First = m.Chunks[0].First.Add(1) },
		"policy":       func(m *Manifest) { m.PolicyHash[0] ^= 1 },
		"consent sig":  func(m *Manifest) { m.Consent.Signature = append([]byte{1}, m.Consent.Signature[1:]...) },
		"host limits":  func(m *Manifest) { m.HostReceipt.Limits.IdleTimeout = time.Minute },
		"recorder":     func(m *Manifest) { m.Recorder += "x" },
		"ended":        func(m *Manifest) { m.Ended = m.Ended.Add(time.Nanosecond) },
		"key label":    func(m *Manifest) { m.Keys[0].Label = LabelRecovery },
		"key sealed":   func(m *Manifest) { m.Keys[0].Sealed = append([]byte{0}, m.Keys[0].Sealed[1:]...) },
		"gap reason":   func(m *Manifest) { m.Gaps[0].Reason = "other" },
		"no gaps":      func(m *Manifest) { m.Gaps = nil },
		"participants": func(m *Manifest) { m.Participants = m.Participants[:1] },
	}
	seen := map[[32]byte]string{m.Hash(): "original"}
	for name, f := range mutations {
		c := m
		c.Participants = append([]peer.ID(nil), m.Participants...)
		c.Chunks = append([]ChunkInfo(nil), m.Chunks...)
		c.Keys = append([]WrappedKey(nil), m.Keys...)
		c.Gaps = append([]Gap(nil), m.Gaps...)
		f(&c)
		h := c.Hash()
		prev, dup := seen[h]
		require.False(t, dup, "%s and %s hash alike", name, prev)
		seen[h] = name
	}
	require.Equal(t, enc, func() []byte { b, _ := m.Encode(); return b }(), "mutations worked on copies")
}

// TestManifestTamperedEncoding: every single-byte change of an encoding
// either fails to decode or decodes to a manifest with another hash.
func TestManifestTamperedEncoding(t *testing.T) {
	m := fullManifest(t)
	enc, err := m.Encode()
	require.NoError(t, err)
	want := m.Hash()
	for i := range enc {
		for _, x := range []byte{0x01, 0x80} {
			b := bytes.Clone(enc)
			b[i] ^= x
			got, err := DecodeManifest(b)
			if err != nil {
				requireOneOf(t, err, ErrMalformed, ErrUnsupportedVersion)
				continue
			}
			require.NotEqual(t, want, got.Hash(), "byte %d ^ %#x decoded to the same manifest", i, x)
		}
	}
}

func TestManifestValidateRejects(t *testing.T) {
	base := fullManifest(t)
	_, other := testPeer(t, "x")
	cases := map[string]func(m *Manifest){
		"zero session":           func(m *Manifest) { m.Session = sessions.ID{} },
		"no host":                func(m *Manifest) { m.Host = "" },
		"bad client":             func(m *Manifest) { m.Client = peer.ID("junk") },
		"host is client":         func(m *Manifest) { m.Client = m.Host },
		"participant is host":    func(m *Manifest) { m.Participants = []peer.ID{m.Host} },
		"duplicate participant":  func(m *Manifest) { m.Participants = []peer.ID{other, other} },
		"bad service":            func(m *Manifest) { m.Service = "RDP" },
		"max plain too small":    func(m *Manifest) { m.MaxChunkPlaintext = MinChunkPlaintext - 1 },
		"max plain too large":    func(m *Manifest) { m.MaxChunkPlaintext = MaxChunkPlaintext + 1 },
		"no max age":             func(m *Manifest) { m.MaxChunkAge = 0 },
		"sub-ms max age":         func(m *Manifest) { m.MaxChunkAge = time.Second + 1 },
		"count mismatch":         func(m *Manifest) { m.ChunkCount++ },
		"root mismatch":          func(m *Manifest) { m.Root[0] ^= 1 },
		"chunk misnumbered":      func(m *Manifest) { m.Chunks[1].Index = 5 },
		"chunk plaintext zero":   func(m *Manifest) { m.Chunks[0].PlaintextSize = 0 },
		"chunk plaintext > max":  func(m *Manifest) { m.Chunks[0].PlaintextSize = uint64(m.MaxChunkPlaintext) + 1 },
		"chunk sealed too small": func(m *Manifest) { m.Chunks[0].SealedSize = ChunkOverhead },
		"chunk sealed too large": func(m *Manifest) { m.Chunks[0].SealedSize = 1 << 30 },
		"chunk without time":     func(m *Manifest) { m.Chunks[0].First = time.Time{} },
		"chunk time before 1970": func(m *Manifest) { m.Chunks[0].Last = time.Unix(-1, 0) },
		"consent sub-ms":         func(m *Manifest) { m.Consent.AcceptedAt = m.Consent.AcceptedAt.Add(1) },
		"consent no session":     func(m *Manifest) { m.Consent.Session = sessions.ID{} },
		"host receipt service":   func(m *Manifest) { m.HostReceipt.Service = "" },
		"host limits sub-second": func(m *Manifest) { m.HostReceipt.Limits.MaxDuration = time.Second + 1 },
		"no recorder":            func(m *Manifest) { m.Recorder = "" },
		"recorder not ascii":     func(m *Manifest) { m.Recorder = "lucid\n" },
		"no start":               func(m *Manifest) { m.Started = time.Time{} },
		"ends before start":      func(m *Manifest) { m.Ended = m.Started.Add(-1) },
		"no keys":                func(m *Manifest) { m.Keys = nil },
		"key without label":      func(m *Manifest) { m.Keys[0].Label = "" },
		"key unknown label":      func(m *Manifest) { m.Keys[0].Label = "admin" },
		"duplicate recipient":    func(m *Manifest) { m.Keys[1].Recipient = m.Keys[0].Recipient },
		"key sealed length":      func(m *Manifest) { m.Keys[0].Sealed = m.Keys[0].Sealed[:40] },
		"gap past the end":       func(m *Manifest) { m.Gaps[1].AfterIndex = m.ChunkCount },
		"gaps out of order":      func(m *Manifest) { m.Gaps[0].AfterIndex = m.Gaps[1].AfterIndex + 1 },
		"gap without reason":     func(m *Manifest) { m.Gaps[0].Reason = "" },
		"gap reason escape":      func(m *Manifest) { m.Gaps[0].Reason = "\x1b[2J" },
		"gap ends before start":  func(m *Manifest) { m.Gaps[0].To = m.Gaps[0].From.Add(-1) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			m := base
			m.Participants = append([]peer.ID(nil), base.Participants...)
			m.Chunks = append([]ChunkInfo(nil), base.Chunks...)
			m.Keys = append([]WrappedKey(nil), base.Keys...)
			m.Gaps = append([]Gap(nil), base.Gaps...)
			f(&m)
			requireSentinel(t, m.Validate(), ErrMalformed)
			_, err := m.Encode()
			requireSentinel(t, err, ErrMalformed)
			_ = m.Hash() // defined for every value
		})
	}
}

// rawManifest re-encodes enc's map after f edits it, without the canonical
// encoder's help where needed.
func rawManifest(t *testing.T, enc []byte, f func(map[uint64]cbor.RawMessage)) []byte {
	t.Helper()
	var fields map[uint64]cbor.RawMessage
	require.NoError(t, cbor.Unmarshal(enc, &fields))
	f(fields)
	b, err := encMode.Marshal(fields)
	require.NoError(t, err)
	return b
}

func TestDecodeManifestRejects(t *testing.T) {
	m := fullManifest(t)
	enc, err := m.Encode()
	require.NoError(t, err)
	raw := func(v any) cbor.RawMessage {
		b, err := cbor.Marshal(v)
		require.NoError(t, err)
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"not a map", raw([]int{1}), ErrMalformed},
		{"trailing byte", append(bytes.Clone(enc), 0), ErrMalformed},
		{"version 2", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { f[1] = raw(2) }), ErrUnsupportedVersion},
		{"no version", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { delete(f, 1) }), ErrMalformed},
		{"codec zstd-19", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { f[7] = raw("zstd-19") }), ErrUnsupportedVersion},
		{"chunk format 2", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { f[8] = raw(2) }), ErrUnsupportedVersion},
		{"unknown key", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { f[99] = raw(1) }), ErrMalformed},
		{"explicit empty gaps", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { f[21] = raw([]any{}) }), ErrMalformed},
		{"explicit zero ended", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { f[19] = raw(0) }), ErrMalformed},
		{"non-shortest integer", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { f[9] = []byte{0x1a, 0, 0, 4, 0} }), ErrMalformed},
		{"unsorted keys", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) {
			f[13] = rawManifestChunksReversed(t, f[13])
		}), ErrMalformed},
		{"unsorted wrapped keys", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) {
			var ks []cbor.RawMessage
			require.NoError(t, cbor.Unmarshal(f[20], &ks))
			ks[0], ks[1] = ks[1], ks[0]
			f[20] = raw(ks)
		}), ErrMalformed},
		{"indefinite-length array", func() []byte {
			var f map[uint64]cbor.RawMessage
			require.NoError(t, cbor.Unmarshal(enc, &f))
			indef := append(append([]byte{0x9f}, rawElems(t, f[5])...), 0xff)
			return bytes.Replace(enc, f[5], indef, 1)
		}(), ErrMalformed},
		{"tagged time", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { f[18] = append([]byte{0xc1}, f[18]...) }), ErrMalformed},
		{"time past 2262", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { f[18] = raw(uint64(1) << 63) }), ErrMalformed},
		{"text as bytes", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { f[17] = raw([]byte("lucid")) }), ErrMalformed},
		{"invalid UTF-8", rawManifest(t, enc, func(f map[uint64]cbor.RawMessage) { f[17] = []byte{0x62, 0xff, 0xfe} }), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeManifest(tc.b)
			requireSentinel(t, err, tc.want)
		})
	}

	// A duplicate key, written by hand: a one-entry map repeated.
	dup := append([]byte{0xa2}, append(raw(uint64(1))[:1], raw(1)...)...)
	dup = append(dup, append(raw(uint64(1))[:1], raw(1)...)...)
	_, err = DecodeManifest(dup)
	requireSentinel(t, err, ErrMalformed)
}

func rawElems(t *testing.T, arr cbor.RawMessage) []byte {
	t.Helper()
	var elems []cbor.RawMessage
	require.NoError(t, cbor.Unmarshal(arr, &elems))
	var out []byte
	for _, e := range elems {
		out = append(out, e...)
	}
	return out
}

// rawManifestChunksReversed writes each chunk map with its keys (1..6) in
// descending order.
func rawManifestChunksReversed(t *testing.T, arr cbor.RawMessage) cbor.RawMessage {
	t.Helper()
	var chunks []map[uint64]cbor.RawMessage
	require.NoError(t, cbor.Unmarshal(arr, &chunks))
	require.Less(t, len(chunks), 24)
	out := []byte{0x80 | byte(len(chunks))}
	for _, c := range chunks {
		out = append(out, 0xa0|byte(len(c)))
		for k := uint64(6); k >= 1; k-- {
			if v, ok := c[k]; ok {
				out = append(out, byte(k))
				out = append(out, v...)
			}
		}
	}
	return out
}

func TestManifestJSON(t *testing.T) {
	m := fullManifest(t)
	b, err := json.Marshal(m)
	require.NoError(t, err)
	var j map[string]any
	require.NoError(t, json.Unmarshal(b, &j))
	h := m.Hash()
	require.Equal(t, hexString(h[:]), j["manifest_hash"])
	require.Equal(t, m.Session.String(), j["session_id"])
	require.Equal(t, m.Host.String(), j["host_id"])
	require.Equal(t, CodecZstd3, j["codec"])
	require.Equal(t, hexString(m.Root[:]), j["merkle_root"])
	require.EqualValues(t, m.ChunkCount, j["chunk_count"])
	require.EqualValues(t, 10000, j["max_chunk_age_ms"])
	chunks := j["chunks"].([]any)
	require.Len(t, chunks, len(m.Chunks))
	c0 := chunks[0].(map[string]any)
	require.Equal(t, hexString(m.Chunks[0].Leaf[:]), c0["leaf"])
	require.Equal(t, m.Chunks[0].First.Format(time.RFC3339Nano), c0["first_frame"])
	keys := j["wrapped_keys"].([]any)
	require.Len(t, keys, 3)
	require.Contains(t, keys[0].(map[string]any)["recipient"], RecipientPrefix)
	require.Contains(t, j["consent_receipt"].(map[string]any), "policy_hash")
	require.Contains(t, j["host_receipt"].(map[string]any), "consent_hash")
	require.Len(t, j["gaps"].([]any), 2)
	for _, k := range []string{"version", "client_id", "participants", "service", "chunk_format", "max_chunk_plaintext", "policy_hash", "recorder", "started_at", "ended_at"} {
		require.Contains(t, j, k)
	}
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
