package media

import (
	"bytes"
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// testT0 is the fixed "now" of the tests.
var testT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// allSentinels lists every sentinel error of the package.
var allSentinels = []error{
	ErrMalformed, ErrUnsupportedVersion, ErrInvalidArgument, ErrTooLarge, ErrBadKey,
	ErrWrongChunk, ErrTampered, ErrNotRecipient, ErrBadProof, ErrVerification,
}

// requireSentinel checks that err wraps exactly one sentinel, and that it
// is want.
func requireSentinel(tb testing.TB, err error, want error) {
	tb.Helper()
	require.Error(tb, err)
	n := 0
	for _, s := range allSentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	require.Equal(tb, 1, n, "error must wrap exactly one sentinel: %v", err)
	require.ErrorIs(tb, err, want)
}

// requireOneOf checks that err wraps exactly one sentinel, from allowed.
func requireOneOf(tb testing.TB, err error, allowed ...error) {
	tb.Helper()
	require.Error(tb, err)
	n := 0
	for _, s := range allSentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	require.Equal(tb, 1, n, "error must wrap exactly one sentinel: %v", err)
	for _, s := range allowed {
		if errors.Is(err, s) {
			return
		}
	}
	require.Failf(tb, "unexpected sentinel", "%v is none of %v", err, allowed)
}

// seeded returns a deterministic byte stream for name.
func seeded(name string) io.Reader {
	return rand.NewChaCha8(sha256.Sum256([]byte("media-test:" + name)))
}

// pcg is a seeded math/rand/v2 source for property tests.
func pcg(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6c75636964)) }

func testSession(tb testing.TB, name string) sessions.ID {
	tb.Helper()
	id, err := sessions.NewID(seeded("session:" + name))
	require.NoError(tb, err)
	return id
}

func testSessionKey(tb testing.TB, name string) []byte {
	tb.Helper()
	k, err := NewSessionKey(seeded("key:" + name))
	require.NoError(tb, err)
	return k
}

func testIdentity(tb testing.TB, name string) *ecdh.PrivateKey {
	tb.Helper()
	k, err := GenerateIdentity(seeded("identity:" + name))
	require.NoError(tb, err)
	return k
}

// testPeer derives a deterministic Ed25519 libp2p key from name.
func testPeer(tb testing.TB, name string) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	priv, _, err := crypto.GenerateEd25519Key(seeded("peer:" + name))
	require.NoError(tb, err)
	id, err := peer.IDFromPrivateKey(priv)
	require.NoError(tb, err)
	return priv, id
}

// randomBytes is incompressible data.
func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// realLooking is repetitive, compressible data resembling a terminal or
// protocol stream: lines from a small vocabulary with counters, and now and
// then a few random bytes.
func realLooking(r *rand.Rand, n int) []byte {
	words := []string{"GET", "/api/v1/status", "200", "OK", "user@host:~$", "ls", "-la", "drwxr-xr-x",
		"total", "session", "frame", "update", "cursor", "bitmap", "0x0000", "\x1b[0m", "\x1b[32m"}
	var b bytes.Buffer
	line := 0
	for b.Len() < n {
		fmt.Fprintf(&b, "%06d ", line)
		for range 3 + r.IntN(8) {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		if r.IntN(10) == 0 {
			b.Write(randomBytes(r, 1+r.IntN(16)))
		}
		b.WriteString("\r\n")
		line++
	}
	return b.Bytes()[:n]
}

// streamFrames cuts the two streams into frames of random sizes up to
// maxFrame, interleaved at random, with times advancing by up to step.
func streamFrames(r *rand.Rand, c2h, h2c []byte, maxFrame int, step time.Duration) []Frame {
	var frames []Frame
	at := testT0
	for len(c2h) > 0 || len(h2c) > 0 {
		dir, src := sessions.ClientToHost, &c2h
		if len(c2h) == 0 || (len(h2c) > 0 && r.IntN(2) == 0) {
			dir, src = sessions.HostToClient, &h2c
		}
		n := min(len(*src), 1+r.IntN(maxFrame))
		frames = append(frames, Frame{Dir: dir, At: at, Data: (*src)[:n]})
		*src = (*src)[n:]
		if step > 0 {
			at = at.Add(time.Duration(r.Int64N(int64(step))))
		}
	}
	return frames
}

// chunkAll runs frames through a new chunker and flushes it.
func chunkAll(tb testing.TB, frames []Frame, maxPlain int, maxAge time.Duration) []Chunk {
	tb.Helper()
	c, err := NewChunker(maxPlain, maxAge)
	require.NoError(tb, err)
	var out []Chunk
	for _, f := range frames {
		cs, err := c.Add(f)
		require.NoError(tb, err)
		out = append(out, cs...)
	}
	return append(out, c.Flush()...)
}

// recording is a complete recording built from frames, as the pipeline
// and store would produce it.
type recording struct {
	key     []byte
	session sessions.ID
	owner   *ecdh.PrivateKey
	m       Manifest
	plain   []Chunk
	sealed  [][]byte
}

// chunkFunc serves the sealed chunks like a store would.
func (r *recording) chunkFunc() func(uint64) ([]byte, error) {
	return func(i uint64) ([]byte, error) {
		if i >= uint64(len(r.sealed)) || r.sealed[i] == nil {
			return nil, fmt.Errorf("chunk %d: %w", i, fs.ErrNotExist)
		}
		return r.sealed[i], nil
	}
}

func newRecording(tb testing.TB, name string, frames []Frame, maxPlain int, maxAge time.Duration) *recording {
	tb.Helper()
	rec := &recording{key: testSessionKey(tb, name), session: testSession(tb, name), owner: testIdentity(tb, name+":owner")}
	rec.plain = chunkAll(tb, frames, maxPlain, maxAge)
	var infos []ChunkInfo
	for _, c := range rec.plain {
		s, err := SealChunk(rec.key, rec.session, c.Index, c.Plaintext)
		require.NoError(tb, err)
		rec.sealed = append(rec.sealed, s)
		infos = append(infos, ChunkInfo{Index: c.Index, SealedSize: uint64(len(s)), PlaintextSize: uint64(len(c.Plaintext)),
			Leaf: LeafHash(s), First: c.First, Last: c.Last})
	}
	rec.m = testManifest(tb, rec.session, rec.key, rec.owner, infos, maxPlain, maxAge)
	return rec
}

// testManifest builds a valid manifest with signed receipts for the given
// chunks.
func testManifest(tb testing.TB, session sessions.ID, key []byte, owner *ecdh.PrivateKey, infos []ChunkInfo, maxPlain int, maxAge time.Duration) Manifest {
	tb.Helper()
	if maxPlain == 0 {
		maxPlain = DefaultChunkPlaintext
	}
	if maxAge == 0 {
		maxAge = DefaultChunkAge
	}
	clientPriv, client := testPeer(tb, "client")
	hostPriv, host := testPeer(tb, "host")
	_, observer := testPeer(tb, "observer")
	req, err := sessions.NewRequest(clientPriv, session, sessions.ServiceRDP, sessions.ParamsForService(sessions.ServiceRDP), testT0)
	require.NoError(tb, err)
	hr, err := sessions.NewHostReceipt(hostPriv, req, sessions.Limits{MaxDuration: time.Hour, BandwidthBps: 8 << 20}, testT0)
	require.NoError(tb, err)
	wk, err := WrapKey(key, owner.PublicKey(), seeded("wrap:"+session.String()))
	require.NoError(tb, err)
	wk.Label = LabelOwner
	leaves := make([][32]byte, len(infos))
	for i := range infos {
		leaves[i] = infos[i].Leaf
	}
	return Manifest{
		Session:           session,
		Host:              host,
		Client:            client,
		Participants:      []peer.ID{observer},
		Service:           sessions.ServiceRDP,
		MaxChunkPlaintext: maxPlain,
		MaxChunkAge:       maxAge,
		ChunkCount:        uint64(len(infos)),
		Root:              MerkleRoot(leaves),
		Chunks:            infos,
		Consent:           req.Consent,
		HostReceipt:       *hr,
		PolicyHash:        req.PolicyHash,
		Recorder:          "lucid/test",
		Started:           testT0,
		Ended:             testT0.Add(time.Hour),
		Keys:              []WrappedKey{wk},
	}
}

// reassembleChunks opens every sealed chunk of rec and reassembles them.
func reassembleChunks(tb testing.TB, rec *recording) map[sessions.Direction][]byte {
	tb.Helper()
	var frames []Frame
	for i, s := range rec.sealed {
		pt, err := OpenChunk(rec.key, rec.session, uint64(i), s)
		require.NoError(tb, err)
		fs, err := ParseFrames(pt)
		require.NoError(tb, err)
		frames = append(frames, fs...)
	}
	return Reassemble(frames)
}

// expectStreams is what Reassemble should give for the two streams.
func expectStreams(c2h, h2c []byte) map[sessions.Direction][]byte {
	m := map[sessions.Direction][]byte{}
	if len(c2h) > 0 {
		m[sessions.ClientToHost] = c2h
	}
	if len(h2c) > 0 {
		m[sessions.HostToClient] = h2c
	}
	return m
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(tb, err)
	return b
}
