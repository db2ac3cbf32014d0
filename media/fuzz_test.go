package media

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// Fuzz targets. Each seeds with valid encodings and checks: no panics;
// every error wraps exactly one sentinel; whatever is accepted is
// canonical (re-encoding gives the input back).

func fuzzChunkSeeds(tb testing.TB) (key []byte, session sessions.ID, sealed [][]byte) {
	key, session = testSessionKey(tb, "fuzz"), testSession(tb, "fuzz")
	for i, p := range [][]byte{{}, []byte("x"), goldenFrames(), realLooking(pcg(40), 3000), randomBytes(pcg(41), 700)} {
		s, err := SealChunk(key, session, uint64(i), p)
		require.NoError(tb, err)
		sealed = append(sealed, s)
	}
	return key, session, sealed
}

// FuzzOpenChunk opens arbitrary bytes two ways: as a sealed chunk (almost
// always stopped by the header or the tag), and as the Zstd payload of a
// chunk authenticated with the test key, with a stated plaintext length
// taken from the input, so the frame checks and the decoder are reached.
// An accepted chunk decodes to exactly the stated length, and re-sealing
// it gives the input back.
func FuzzOpenChunk(f *testing.F) {
	key, session, sealed := fuzzChunkSeeds(f)
	for i, s := range sealed {
		f.Add(s, uint32(0), uint64(i))
		h, err := ParseChunkHeader(s)
		require.NoError(f, err)
		// The decrypted payload as a seed for the second path.
		pt, err := OpenChunk(key, session, uint64(i), s)
		require.NoError(f, err)
		f.Add(zstdEncoder().EncodeAll(pt, nil), h.PlaintextLen, uint64(i))
	}
	f.Add([]byte{}, uint32(5), uint64(0))

	f.Fuzz(func(t *testing.T, data []byte, plainLen uint32, index uint64) {
		index %= uint64(len(sealed)) + 1
		if pt, err := OpenChunk(key, session, index, data); err != nil {
			requireOneOf(t, err, ErrMalformed, ErrUnsupportedVersion, ErrWrongChunk, ErrTampered)
		} else {
			again, err := SealChunk(key, session, index, pt)
			require.NoError(t, err)
			require.Equal(t, data, again, "a chunk that opens is the one SealChunk makes")
		}

		// Up to 1 MiB keeps executions fast; TestOpenChunkBoundedDecompression
		// covers the full range.
		plainLen %= 1<<20 + 1
		if len(data) > maxCompressedLen(int(plainLen)) {
			return
		}
		raw := sealRaw(key, session, index, plainLen, data)
		pt, err := OpenChunk(key, session, index, raw)
		if err != nil {
			requireSentinel(t, err, ErrMalformed)
			return
		}
		require.Len(t, pt, int(plainLen))
		require.Equal(t, len(pt), cap(pt))
	})
}

// FuzzParseChunkHeader: an accepted header describes exactly the input's
// length and re-encodes to the input's first 64 bytes.
func FuzzParseChunkHeader(f *testing.F) {
	_, _, sealed := fuzzChunkSeeds(f)
	for _, s := range sealed {
		f.Add(s)
		f.Add(s[:ChunkHeaderLen])
	}
	f.Add([]byte("LCHK"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseChunkHeader(data)
		if err != nil {
			requireOneOf(t, err, ErrMalformed, ErrUnsupportedVersion)
			return
		}
		require.Equal(t, len(data), h.SealedLen())
		require.True(t, h.Session.Valid())
		require.LessOrEqual(t, h.PlaintextLen, uint32(MaxChunkPlaintext))
		b := make([]byte, ChunkHeaderLen)
		h.putFixed(b)
		copy(b[headerNonceOff:], h.Nonce[:])
		require.Equal(t, data[:ChunkHeaderLen], b)
	})
}

// FuzzDecodeManifest: decode∘encode is the identity on accepted inputs,
// the hash is stable, and the JSON view renders. (Receipt signatures are
// package sessions' business and its fuzzers'.)
func FuzzDecodeManifest(f *testing.F) {
	m := goldenManifest(f)
	enc, err := m.Encode()
	require.NoError(f, err)
	f.Add(enc)
	rec := newRecording(f, "fuzz-manifest", nil, 0, 0)
	rec.m.Consent, rec.m.HostReceipt, rec.m.Participants = sessions.ConsentReceipt{}, sessions.HostReceipt{}, nil
	minimal, err := rec.m.Encode()
	require.NoError(f, err)
	f.Add(minimal)
	f.Add([]byte{0xa1, 0x01, 0x02})
	f.Add([]byte{0xa0})

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeManifest(data)
		if err != nil {
			requireOneOf(t, err, ErrMalformed, ErrUnsupportedVersion)
			return
		}
		again, err := m.Encode()
		require.NoError(t, err)
		require.Equal(t, data, again)
		require.Equal(t, m.Hash(), m.Hash())
		_, err = json.Marshal(m)
		require.NoError(t, err)
	})
}

// FuzzParseFrames: accepted frames re-encode to the input, and the
// iterator agrees with ParseFrames.
func FuzzParseFrames(f *testing.F) {
	f.Add(goldenFrames())
	f.Add(AppendFrame(nil, Frame{Dir: sessions.ClientToHost, At: testT0, Data: []byte{0}}))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, err := ParseFrames(data)
		n := 0
		var iterErr error
		for _, err := range Frames(data) {
			if err != nil {
				iterErr = err
				break
			}
			n++
		}
		if err != nil {
			requireSentinel(t, err, ErrMalformed)
			require.Error(t, iterErr)
			return
		}
		require.NoError(t, iterErr)
		require.Len(t, fs, n)
		var b []byte
		for _, fr := range fs {
			b = AppendFrame(b, fr)
		}
		require.True(t, bytes.Equal(data, b))
	})
}

// FuzzProofDecode: accepted proofs re-encode to the input and verify
// against the root they lead to.
func FuzzProofDecode(f *testing.F) {
	leaves := testLeaves(7)
	for i := range uint64(7) {
		p, err := Prove(leaves, i)
		require.NoError(f, err)
		enc, err := p.Encode()
		require.NoError(f, err)
		f.Add(enc)
	}
	f.Add([]byte{0xa1, 0x02, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeProof(data)
		if err != nil {
			requireSentinel(t, err, ErrMalformed)
			return
		}
		again, err := p.Encode()
		require.NoError(t, err)
		require.Equal(t, data, again)
		// Recompute the root this proof implies for some leaf; it must
		// verify, and a changed leaf must not.
		leaf := LeafHash(data)
		root := leaf
		rest := p.Siblings
		for i, n := p.Index, p.Count; n > 1; i, n = i/2, (n+1)/2 {
			switch {
			case i%2 == 1:
				root, rest = nodeHash(rest[0], root), rest[1:]
			case i+1 < n:
				root, rest = nodeHash(root, rest[0]), rest[1:]
			}
		}
		require.Empty(t, rest)
		require.NoError(t, Verify(root, leaf, p))
		leaf[0] ^= 1
		requireSentinel(t, Verify(root, leaf, p), ErrBadProof)
	})
}

// FuzzChunker drives the chunker with frames and ticks decoded from the
// input: chunks never exceed the limit or come out empty, and the frames
// reassemble to what went in.
func FuzzChunker(f *testing.F) {
	f.Add(uint16(100), []byte("\x05\x01hello\x10\x02world\x00\x00\xff\x01x"))
	f.Add(uint16(0), bytes.Repeat([]byte{0xff, 0x02, 'a'}, 50))
	f.Fuzz(func(t *testing.T, extra uint16, script []byte) {
		limit := MinChunkPlaintext + int(extra)%4096
		c, err := NewChunker(limit, time.Second)
		require.NoError(t, err)
		at := testT0
		var in, out []Frame
		collect := func(cs []Chunk) {
			for _, ch := range cs {
				require.NotEmpty(t, ch.Plaintext)
				require.LessOrEqual(t, len(ch.Plaintext), limit)
				fs, err := ParseFrames(ch.Plaintext)
				require.NoError(t, err)
				out = append(out, fs...)
			}
		}
		for i := 0; i+1 < len(script); i += 2 {
			op, arg := script[i], script[i+1]
			at = at.Add(time.Duration(op&0x0f) * 100 * time.Millisecond)
			if op&0x10 != 0 {
				collect(c.Tick(at))
				continue
			}
			// arg scales a length of up to 3x the chunk limit; the bytes
			// cycle through the script.
			data := make([]byte, int(arg)*(3*limit/255+1))
			for j := range data {
				data[j] = script[(i+j)%len(script)]
			}
			fr := Frame{Dir: sessions.Direction(1 + op>>7), At: at, Data: data}
			cs, err := c.Add(fr)
			require.NoError(t, err)
			if len(data) > 0 {
				in = append(in, fr)
			}
			collect(cs)
		}
		collect(c.Flush())
		require.Equal(t, Reassemble(in), Reassemble(out))
	})
}
