package consensus

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
	"lukechampine.com/blake3"

	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/sessions"
)

// allSentinels lists every exported sentinel, for "wraps exactly one"
// checks.
var allSentinels = []error{
	ErrMalformed, ErrUnsupportedVersion, ErrUnknownType, ErrOversize, ErrInvalidParams, ErrInvalidArgument,
	ErrBadSignature, ErrUnsupportedKey, ErrSlotOutOfWindow, ErrNotPoolMember,
	ErrMissingCounterSignature, ErrBadCounterSignature, ErrReceiptHost, ErrReceiptSlot, ErrSelfDealing,
	ErrUnknownSeed, ErrNoClaims, ErrUnknownRoot, ErrChallengeMismatch, ErrBadInclusion, ErrBadSlice, ErrChunkMismatch,
	ErrUnknownBlock, ErrBlockMismatch, ErrDuplicate, ErrEquivocation, ErrReplay, ErrDedupFull, ErrWrongTally, ErrPruned,
}

// tbLike is what both *testing.T and *rapid.T offer.
type tbLike interface {
	require.TestingT
	Helper()
	Fatalf(format string, args ...any)
}

// requireSentinel checks that err wraps want and no other sentinel.
func requireSentinel(tb tbLike, err error, want ...error) {
	tb.Helper()
	requireOneOf(tb, allSentinels, err, want...)
}

// requireOneOf checks that err wraps exactly one of sentinels, and that
// it is one of want.
func requireOneOf(tb tbLike, sentinels []error, err error, want ...error) {
	tb.Helper()
	require.Error(tb, err)
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	require.Equal(tb, 1, n, "error %q wraps %d sentinels", err, n)
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	tb.Fatalf("error %q wraps none of %v", err, want)
}

// testKey derives a deterministic Ed25519 key from name.
func testKey(tb testing.TB, name string) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	priv, id, err := keyFromName(name)
	require.NoError(tb, err)
	return priv, id
}

func keyFromName(name string) (crypto.PrivKey, peer.ID, error) {
	seed := sha256.Sum256([]byte(name))
	priv, _, err := crypto.GenerateEd25519Key(bytes.NewReader(seed[:]))
	if err != nil {
		return nil, "", err
	}
	id, err := peer.IDFromPrivateKey(priv)
	return priv, id, err
}

type actor struct {
	name string
	priv crypto.PrivKey
	id   peer.ID
}

func newActor(tb testing.TB, name string) actor {
	priv, id := testKey(tb, name)
	return actor{name: name, priv: priv, id: id}
}

// sid returns a valid, deterministic session ID.
func sid(i int) sessions.ID {
	var id sessions.ID
	h := sha256.Sum256([]byte(fmt.Sprintf("session-%d", i)))
	copy(id[:], h[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

var testGenesis = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testParams are small, fast parameters: 1 s slots, a 100-slot window,
// 50-slot epochs.
func testParams() Params {
	p := DefaultParams()
	p.SlotLength = time.Second
	p.Genesis = testGenesis
	p.WindowSlots = 100
	p.EpochSlots = 50
	p.CooldownSlots = 3
	p.SlotTimeout = 100 * time.Millisecond
	p.MaxFallbacks = 3
	return p
}

// signedReceipt returns a receipt signed by client.
func signedReceipt(tb testing.TB, client actor, host peer.ID, s sessions.ID, slot, start Slot, n uint64) MeteringReceipt {
	tb.Helper()
	r := MeteringReceipt{Session: s, Host: host, Client: client.id, Slot: slot, Start: start, Bytes: n}
	require.NoError(tb, r.Sign(client.priv))
	return r
}

func relayProof(tb testing.TB, host actor, pool []byte, slot Slot, rs ...MeteringReceipt) *Proof {
	tb.Helper()
	p, err := NewRelay(host.priv, pool, slot, rs)
	require.NoError(tb, err)
	return p
}

func uptimeProof(tb testing.TB, a actor, pool []byte, slot Slot) *Proof {
	tb.Helper()
	p, err := NewUptime(a.priv, pool, slot)
	require.NoError(tb, err)
	return p
}

func validationProof(tb testing.TB, a actor, pool []byte, slot Slot, sessions uint64) *Proof {
	tb.Helper()
	p, err := NewValidation(a.priv, pool, slot, ValidationBody{Block: blockHash(slot), Height: uint64(slot), Sessions: sessions})
	require.NoError(tb, err)
	return p
}

func blockHash(s Slot) [32]byte { return blake3.Sum256(be64(uint64(s))) }

// recording is a stored recording: sealed chunk bytes, leaves, root.
type recording struct {
	session sessions.ID
	chunks  [][]byte
	leaves  [][32]byte
	root    [32]byte
}

// newRecording makes n pseudo-random "sealed chunks" of the given sizes
// (cycled).
func newRecording(session sessions.ID, n int, sizes ...int) recording {
	r := recording{session: session}
	for i := range n {
		size := sizes[i%len(sizes)]
		b := make([]byte, size)
		x := blake3.New(32, nil)
		x.Write(session[:])
		binary.Write(x, binary.BigEndian, uint64(i))
		x.XOF().Read(b)
		r.chunks = append(r.chunks, b)
		r.leaves = append(r.leaves, media.LeafHash(b))
	}
	r.root = media.MerkleRoot(r.leaves)
	return r
}

func (r recording) claim() StorageClaim {
	c := StorageClaim{Session: r.session, Root: r.root}
	for _, b := range r.chunks {
		c.ChunkSizes = append(c.ChunkSizes, uint64(len(b)))
	}
	return c
}

// fakeChain is a VerifyContext backed by maps.
type fakeChain struct {
	chain  *Chain
	claims map[peer.ID]*ClaimSet
	blocks map[[32]byte]BlockInfo
	pools  map[string]map[peer.ID]bool
}

func newFakeChain(p Params) *fakeChain {
	return &fakeChain{
		chain:  NewChain(p, [32]byte{}),
		claims: map[peer.ID]*ClaimSet{},
		blocks: map[[32]byte]BlockInfo{},
	}
}

func (f *fakeChain) addBlock(tb testing.TB, s Slot, sessions uint64) {
	tb.Helper()
	h := blockHash(s)
	require.NoError(tb, f.chain.Append(BlockRef{Slot: s, Hash: h}))
	f.blocks[h] = BlockInfo{Slot: s, Height: uint64(s), Sessions: sessions}
}

func (f *fakeChain) ctx() VerifyContext {
	c := VerifyContext{
		Seeds:  f.chain,
		Claims: func(n peer.ID, _ Slot) (*ClaimSet, bool) { cs, ok := f.claims[n]; return cs, ok },
		Block:  func(h [32]byte) (BlockInfo, bool) { b, ok := f.blocks[h]; return b, ok },
	}
	if f.pools != nil {
		c.PoolMember = func(pool []byte, n peer.ID) bool { return f.pools[string(pool)][n] }
	}
	return c
}

// proveFor answers the storage challenge of a for slot from the
// recordings it holds.
func proveFor(tb testing.TB, p Params, a actor, pool []byte, f *fakeChain, slot Slot, recs ...recording) *Proof {
	tb.Helper()
	seed, ok := f.chain.Seed(slot)
	require.True(tb, ok)
	set := f.claims[a.id]
	ch, err := StorageChallenge(seed, slot, a.id, set)
	require.NoError(tb, err)
	for _, r := range recs {
		if r.root == ch.Root {
			pr, err := ProveStorage(a.priv, pool, p, seed, slot, set, r.chunks[ch.Chunk], r.leaves)
			require.NoError(tb, err)
			return pr
		}
	}
	tb.Fatalf("challenge for unknown root")
	return nil
}

func mustEncode(tb tbLike, p *Proof) []byte {
	tb.Helper()
	b, err := p.Encode()
	require.NoError(tb, err)
	return b
}
