package media

import (
	"bytes"
	stdhkdf "crypto/hkdf"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/lucidnet/lucid/sessions"
)

// sealRaw builds a correctly authenticated chunk around arbitrary
// "compressed" bytes and a stated plaintext length, as only a key holder
// could: it lets tests and fuzzers reach the Zstd checks behind the tag.
func sealRaw(key []byte, session sessions.ID, index uint64, plainLen uint32, compressed []byte) []byte {
	out := make([]byte, ChunkHeaderLen, ChunkHeaderLen+len(compressed)+ChunkTagLen)
	h := ChunkHeader{Version: ChunkVersion, Session: session, Index: index, PlaintextLen: plainLen, CompressedLen: uint32(len(compressed))}
	h.putFixed(out[:headerNonceOff])
	k := deriveChunkKeys(key, session, index)
	nonce := chunkNonce(&k.nonce, out[:headerNonceOff], compressed)
	copy(out[headerNonceOff:], nonce[:])
	aead, err := chacha20poly1305.NewX(k.aead[:])
	if err != nil {
		panic(err)
	}
	return aead.Seal(out, nonce[:], compressed, out[:ChunkHeaderLen])
}

func TestZstdLevelIsThree(t *testing.T) {
	// The codec is called "zstd-3": klauspost's SpeedDefault is its match
	// for Zstandard level 3.
	require.Equal(t, zstd.SpeedDefault, zstd.EncoderLevelFromZstd(3))
}

func TestSealOpenRoundTrip(t *testing.T) {
	r := pcg(1)
	key, session := testSessionKey(t, "rt"), testSession(t, "rt")
	cases := []struct {
		name  string
		plain []byte
	}{
		{"empty", []byte{}},
		{"one byte", []byte{7}},
		{"frames", AppendFrame(nil, Frame{Dir: sessions.ClientToHost, At: testT0, Data: []byte("hello")})},
		{"random 64 KiB", randomBytes(r, 64<<10)},
		{"random 1 MiB", randomBytes(r, 1<<20)},
		{"real-looking 1 MiB", realLooking(r, 1<<20)},
		{"zeros 9 MiB (above the encoder window)", make([]byte, 9<<20)},
		{"real-looking max", realLooking(r, MaxChunkPlaintext)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			idx := uint64(i) * 1000
			sealed, err := SealChunk(key, session, idx, tc.plain)
			require.NoError(t, err)
			h, err := ParseChunkHeader(sealed)
			require.NoError(t, err)
			require.Equal(t, ChunkHeader{Version: 1, Codec: CodecZstd3, Session: session, Index: idx,
				PlaintextLen: uint32(len(tc.plain)), CompressedLen: h.CompressedLen, Nonce: h.Nonce}, h)
			require.Equal(t, len(sealed), h.SealedLen())
			require.LessOrEqual(t, int(h.CompressedLen), maxCompressedLen(len(tc.plain)))

			got, err := OpenChunk(key, session, idx, sealed)
			require.NoError(t, err)
			require.Equal(t, len(tc.plain), len(got))
			require.True(t, bytes.Equal(tc.plain, got))

			again, err := SealChunk(key, session, idx, tc.plain)
			require.NoError(t, err)
			require.Equal(t, sealed, again, "sealing is deterministic")
		})
	}
}

func TestSealChunkCompresses(t *testing.T) {
	r := pcg(2)
	key, session := testSessionKey(t, "c"), testSession(t, "c")
	plain := realLooking(r, 1<<20)
	sealed, err := SealChunk(key, session, 0, plain)
	require.NoError(t, err)
	require.Less(t, len(sealed), len(plain)/3, "real-looking data compresses")
}

func TestSealChunkErrors(t *testing.T) {
	key, session := testSessionKey(t, "e"), testSession(t, "e")
	_, err := SealChunk(key[:31], session, 0, []byte("x"))
	requireSentinel(t, err, ErrBadKey)
	_, err = SealChunk(append(bytes.Clone(key), 0), session, 0, []byte("x"))
	requireSentinel(t, err, ErrBadKey)
	_, err = SealChunk(key, sessions.ID{}, 0, []byte("x"))
	requireSentinel(t, err, ErrInvalidArgument)
	_, err = SealChunk(key, session, 0, make([]byte, MaxChunkPlaintext+1))
	requireSentinel(t, err, ErrTooLarge)
}

func TestOpenChunkErrors(t *testing.T) {
	key, session := testSessionKey(t, "o"), testSession(t, "o")
	plain := realLooking(pcg(3), 5000)
	sealed, err := SealChunk(key, session, 5, plain)
	require.NoError(t, err)
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(sealed)) }
	flip := func(off int) []byte { return mutate(func(b []byte) []byte { b[off] ^= 0x01; return b }) }

	other := testSession(t, "other")
	cases := []struct {
		name    string
		key     []byte // nil: the right key
		session sessions.ID
		index   uint64
		sealed  []byte
		want    error
	}{
		{"wrong index", nil, session, 6, sealed, ErrWrongChunk},
		{"wrong session", nil, other, 5, sealed, ErrWrongChunk},
		{"wrong key", testSessionKey(t, "other"), session, 5, sealed, ErrTampered},
		{"short key", key[:16], session, 5, sealed, ErrBadKey},
		{"magic", nil, session, 5, flip(0), ErrMalformed},
		{"version", nil, session, 5, mutate(func(b []byte) []byte { b[4] = 2; return b }), ErrUnsupportedVersion},
		{"codec", nil, session, 5, mutate(func(b []byte) []byte { b[5] = 2; return b }), ErrUnsupportedVersion},
		{"flags", nil, session, 5, flip(7), ErrMalformed},
		{"session not v4", nil, session, 5, mutate(func(b []byte) []byte { b[8+6] ^= 0x40; return b }), ErrMalformed},
		{"session byte", nil, session, 5, flip(8), ErrWrongChunk},
		{"index byte", nil, session, 5, flip(31), ErrWrongChunk},
		{"plaintext length", nil, session, 5, flip(35), ErrTampered},
		{"plaintext length over limit", nil, session, 5, mutate(func(b []byte) []byte { b[32] = 0xff; return b }), ErrMalformed},
		{"compressed length", nil, session, 5, flip(39), ErrMalformed},
		{"nonce", nil, session, 5, flip(50), ErrTampered},
		{"ciphertext", nil, session, 5, flip(ChunkHeaderLen + 3), ErrTampered},
		{"tag", nil, session, 5, flip(len(sealed) - 1), ErrTampered},
		{"truncated", nil, session, 5, sealed[:len(sealed)-1], ErrMalformed},
		{"truncated header", nil, session, 5, sealed[:ChunkHeaderLen-1], ErrMalformed},
		{"extended", nil, session, 5, append(bytes.Clone(sealed), 0), ErrMalformed},
		{"empty", nil, session, 5, []byte{}, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.key
			if k == nil {
				k = key
			}
			got, err := OpenChunk(k, tc.session, tc.index, tc.sealed)
			requireSentinel(t, err, tc.want)
			require.Nil(t, got)
		})
	}
	_, err = ParseChunkHeader(sealed)
	require.NoError(t, err, "the original is untouched")
}

// TestOpenChunkEveryBitFlip: no single-bit change to a sealed chunk
// opens.
func TestOpenChunkEveryBitFlip(t *testing.T) {
	key, session := testSessionKey(t, "bits"), testSession(t, "bits")
	sealed, err := SealChunk(key, session, 3, []byte("a short chunk of session bytes"))
	require.NoError(t, err)
	for i := range len(sealed) * 8 {
		b := bytes.Clone(sealed)
		b[i/8] ^= 1 << (i % 8)
		_, err := OpenChunk(key, session, 3, b)
		requireOneOf(t, err, ErrMalformed, ErrUnsupportedVersion, ErrWrongChunk, ErrTampered)
	}
}

// TestNonceAndKeyUniqueness: per-chunk keys and nonces differ across
// indexes and sessions, and resealing an index with other content gets
// another nonce.
func TestNonceAndKeyUniqueness(t *testing.T) {
	key := testSessionKey(t, "uniq")
	aeadKeys := map[[32]byte]bool{}
	nonceKeys := map[[32]byte]bool{}
	nonces := map[[24]byte]bool{}
	const perSession = 500
	for s := range 8 {
		session := testSession(t, string(rune('a'+s)))
		for i := range uint64(perSession) {
			k := deriveChunkKeys(key, session, i)
			require.False(t, aeadKeys[k.aead], "AEAD key repeated")
			require.False(t, nonceKeys[k.nonce], "nonce key repeated")
			aeadKeys[k.aead], nonceKeys[k.nonce] = true, true
			sealed, err := SealChunk(key, session, i, []byte("same plaintext everywhere"))
			require.NoError(t, err)
			h, err := ParseChunkHeader(sealed)
			require.NoError(t, err)
			require.False(t, nonces[h.Nonce], "nonce repeated")
			nonces[h.Nonce] = true
		}
	}
	require.Len(t, nonces, 8*perSession)
	require.NotEqual(t, deriveChunkKeys(key, testSession(t, "a"), 0), deriveChunkKeys(testSessionKey(t, "k2"), testSession(t, "a"), 0))

	// The same index sealed twice with different content (a reseal after a
	// crash) never reuses the nonce under its key.
	session := testSession(t, "reseal")
	seen := map[[24]byte]bool{}
	for v := range 200 {
		sealed, err := SealChunk(key, session, 42, []byte{byte(v), byte(v >> 8)})
		require.NoError(t, err)
		h, err := ParseChunkHeader(sealed)
		require.NoError(t, err)
		require.False(t, seen[h.Nonce])
		seen[h.Nonce] = true
	}
}

// TestChunkKeyDerivation recomputes the chunk keys with the standard
// library's HKDF, following the documented info layout.
func TestChunkKeyDerivation(t *testing.T) {
	key, session := testSessionKey(t, "kdf"), testSession(t, "kdf")
	const index = 0x0102030405060708
	info := append([]byte("lucid/chunk-key/1"), session[:]...)
	info = binary.BigEndian.AppendUint64(info, index)
	okm, err := stdhkdf.Key(newBLAKE2b512, key, nil, string(info), 64)
	require.NoError(t, err)
	k := deriveChunkKeys(key, session, index)
	require.Equal(t, okm[:32], k.aead[:])
	require.Equal(t, okm[32:], k.nonce[:])
}

func TestParseChunkHeaderSizes(t *testing.T) {
	key, session := testSessionKey(t, "h"), testSession(t, "h")
	sealed, err := SealChunk(key, session, 1, bytes.Repeat([]byte("ab"), 1000))
	require.NoError(t, err)
	// A header whose lengths describe a body larger than the bound is
	// refused before anything is allocated for it.
	b := bytes.Clone(sealed)
	binary.BigEndian.PutUint32(b[32:36], 10)
	binary.BigEndian.PutUint32(b[36:40], 0xffffffff)
	_, err = ParseChunkHeader(b)
	requireSentinel(t, err, ErrMalformed)
}

func zstdFrame(t *testing.T, plain []byte, opts ...zstd.EOption) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, opts...)
	require.NoError(t, err)
	defer enc.Close()
	return enc.EncodeAll(plain, nil)
}

// allocated returns the bytes f allocates.
// allocNoise is what the process may allocate beside f while allocated
// measures it (other tests' goroutines, the runtime): the bounds are about
// megabytes a decompression bomb would cost, not these kilobytes.
const allocNoise = 64 << 10

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// warmDecoders has every pooled Zstd decoder allocate its fixed working
// set (a few hundred KiB, once), so that allocation measurements see only
// what depends on the input.
func warmDecoders(t *testing.T, key []byte, session sessions.ID) {
	t.Helper()
	sealed, err := SealChunk(key, session, 99, realLooking(pcg(99), 4<<20))
	require.NoError(t, err)
	for range 4 * runtime.GOMAXPROCS(0) {
		_, err := OpenChunk(key, session, 99, sealed)
		require.NoError(t, err)
	}
}

// TestOpenChunkBoundedDecompression feeds authenticated but hostile Zstd
// payloads: whatever they claim, decoding allocates at most the header's
// plaintext length plus one block, and fails.
func TestOpenChunkBoundedDecompression(t *testing.T) {
	key, session := testSessionKey(t, "bomb"), testSession(t, "bomb")
	zeros := make([]byte, 8<<20)
	warmDecoders(t, key, session)

	// A frame stating 70000 bytes whose blocks expand to 8 MiB.
	bomb := zstdFrame(t, zeros, zstd.WithSingleSegment(false), zstd.WithEncoderCRC(false))
	var h zstd.Header
	require.NoError(t, h.Decode(bomb))
	require.True(t, h.HasFCS)
	fcsOff := h.HeaderSize - 4 // a 4-byte content size field ends the header here
	require.Equal(t, uint32(len(zeros)), binary.LittleEndian.Uint32(bomb[fcsOff:]))
	binary.LittleEndian.PutUint32(bomb[fcsOff:], 70000)

	valid := zstdFrame(t, []byte("hello hello hello"), zstd.WithSingleSegment(true))
	noFCS := zstdFrame(t, []byte("tiny"), zstd.WithSingleSegment(false))
	var nh zstd.Header
	require.NoError(t, nh.Decode(noFCS))
	require.False(t, nh.HasFCS)
	skippable := append([]byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0}, "skip"...)

	cases := []struct {
		name     string
		plainLen uint32
		payload  []byte
	}{
		{"content size lies", 70000, bomb},
		{"states 8 MiB, header says 70000", 70000, zstdFrame(t, zeros, zstd.WithSingleSegment(true))},
		{"two frames", uint32(17), append(bytes.Clone(valid), valid...)},
		{"trailing garbage", 17, append(bytes.Clone(valid), 0)},
		{"no content size", 4, noFCS},
		{"skippable frame", 0, skippable},
		{"truncated frame", 17, valid[:len(valid)-2]},
		{"not zstd", 5, []byte("hello")},
		{"empty payload", 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sealed := sealRaw(key, session, 0, tc.plainLen, tc.payload)
			var err error
			n := allocated(func() { _, err = OpenChunk(key, session, 0, sealed) })
			requireSentinel(t, err, ErrMalformed)
			t.Logf("%v; allocated %d bytes", err, n)
			limit := uint64(tc.plainLen) + decodeSlack + uint64(len(tc.payload)) + allocNoise
			require.LessOrEqual(t, n, limit, "allocated %d bytes", n)
		})
	}

	// A stated 16 MiB that really is 16 MiB opens, however well it
	// compresses.
	big := make([]byte, MaxChunkPlaintext)
	sealed, err := SealChunk(key, session, 1, big)
	require.NoError(t, err)
	require.Less(t, len(sealed), 4096)
	var got []byte
	n := allocated(func() { got, err = OpenChunk(key, session, 1, sealed) })
	require.NoError(t, err)
	require.Len(t, got, MaxChunkPlaintext)
	require.LessOrEqual(t, n, uint64(MaxChunkPlaintext+decodeSlack+allocNoise))
}
