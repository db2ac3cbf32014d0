package consensus

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/media"
)

// resign re-signs a modified proof with the node's key, so the test
// reaches the body checks.
func resign(tb testing.TB, a actor, p *Proof) *Proof {
	tb.Helper()
	p.Sig = nil
	require.NoError(tb, p.Sign(a.priv))
	return p
}

func cloneProof(tb testing.TB, p *Proof) *Proof {
	tb.Helper()
	d, err := DecodeProof(mustEncode(tb, p))
	require.NoError(tb, err)
	return d
}

func TestVerifyRejectsSignatures(t *testing.T) {
	p, f, proofs := sampleProofs(t)
	ctx := f.ctx()
	for _, pr := range proofs {
		forged := cloneProof(t, pr)
		forged.Sig[0] ^= 1
		requireSentinel(t, VerifyProof(forged, p, 10, ctx), ErrBadSignature)

		unsigned := cloneProof(t, pr)
		unsigned.Sig = nil
		requireSentinel(t, VerifyProof(unsigned, p, 10, ctx), ErrBadSignature)

		// Signed by another key, claiming the node's identity.
		other := newActor(t, "impostor")
		imp := cloneProof(t, pr)
		imp.Sig = nil
		sig, err := other.priv.Sign(append([]byte(ProofDomain), imp.unsigned()...))
		require.NoError(t, err)
		imp.Sig = sig
		requireSentinel(t, VerifyProof(imp, p, 10, ctx), ErrBadSignature)

		// Changing any field after signing breaks the signature.
		moved := cloneProof(t, pr)
		moved.Slot++
		requireSentinel(t, VerifyProof(moved, p, 10, ctx), ErrBadSignature)
	}
	// A node whose key is not Ed25519.
	seed := sha256.Sum256([]byte("secp"))
	sk, _, err := crypto.GenerateSecp256k1Key(bytes.NewReader(seed[:]))
	require.NoError(t, err)
	sid, err := peer.IDFromPrivateKey(sk)
	require.NoError(t, err)
	_, err = NewUptime(sk, nil, 10)
	requireSentinel(t, err, ErrUnsupportedKey)
	u := &Proof{Version: ProofVersion, Type: TypeUptime, Node: sid, Slot: 10, Sig: make([]byte, 64)}
	requireSentinel(t, VerifyProof(u, p, 10, ctx), ErrUnsupportedKey)
}

func TestVerifyRejectsSlotOutsideWindow(t *testing.T) {
	p, f, proofs := sampleProofs(t)
	for _, pr := range proofs {
		for _, now := range []Slot{10 - Slot(p.AcceptWindow), 10 + Slot(p.AcceptWindow)} {
			err := VerifyProof(pr, p, now, f.ctx())
			require.NoError(t, err, "%s at %d", pr.Type, now)
		}
		for _, now := range []Slot{10 - Slot(p.AcceptWindow) - 1, 10 + Slot(p.AcceptWindow) + 1, 1000} {
			requireSentinel(t, VerifyProof(pr, p, now, f.ctx()), ErrSlotOutOfWindow)
		}
	}
}

func TestVerifyRejectsOversize(t *testing.T) {
	p := testParams()
	host := newActor(t, "host")
	var rs []MeteringReceipt
	for i := range 30 {
		rs = append(rs, signedReceipt(t, newActor(t, "c"), host.id, sid(i), 5, 5, 1))
	}
	pr := relayProof(t, host, nil, 5, rs...)
	require.NoError(t, VerifyProof(pr, p, 5, VerifyContext{}))
	small := p
	small.MaxProofSize = 4096
	requireSentinel(t, VerifyProof(pr, small, 5, VerifyContext{}), ErrOversize)
	few := p
	few.MaxReceiptsPerProof = 29
	requireSentinel(t, VerifyProof(pr, few, 5, VerifyContext{}), ErrOversize)
}

func TestVerifyRejectsRelay(t *testing.T) {
	p := testParams()
	host, client, other := newActor(t, "host"), newActor(t, "client"), newActor(t, "other-host")
	const slot = 5
	ok := signedReceipt(t, client, host.id, sid(1), slot, 1, 10_000_000)
	require.NoError(t, VerifyProof(relayProof(t, host, nil, slot, ok), p, slot, VerifyContext{}))

	missing := ok
	missing.Sig = nil
	requireSentinel(t, VerifyProof(relayProof(t, host, nil, slot, missing), p, slot, VerifyContext{}), ErrMissingCounterSignature)

	inflated := ok
	inflated.Bytes *= 100 // the host raises the count after the client signed
	requireSentinel(t, VerifyProof(relayProof(t, host, nil, slot, inflated), p, slot, VerifyContext{}), ErrBadCounterSignature)

	hostSigned := MeteringReceipt{Session: sid(1), Host: host.id, Client: client.id, Slot: slot, Start: 1, Bytes: 1 << 40}
	hostSigned.Sig, _ = host.priv.Sign(hostSigned.signedBytes()) // the host forges its client's receipt
	requireSentinel(t, VerifyProof(relayProof(t, host, nil, slot, hostSigned), p, slot, VerifyContext{}), ErrBadCounterSignature)

	forOther := signedReceipt(t, client, other.id, sid(2), slot, 1, 10)
	requireSentinel(t, VerifyProof(relayProof(t, host, nil, slot, forOther), p, slot, VerifyContext{}), ErrReceiptHost)

	self := signedReceipt(t, host, host.id, sid(3), slot, 1, 10)
	requireSentinel(t, VerifyProof(relayProof(t, host, nil, slot, self), p, slot, VerifyContext{}), ErrSelfDealing)

	stale := signedReceipt(t, client, host.id, sid(4), slot-1, 1, 10)
	requireSentinel(t, VerifyProof(relayProof(t, host, nil, slot, stale), p, slot, VerifyContext{}), ErrReceiptSlot)

	// One bad receipt among good ones rejects the proof.
	requireSentinel(t, VerifyProof(relayProof(t, host, nil, slot, ok, missing2(t, client, host, slot)), p, slot, VerifyContext{}), ErrMissingCounterSignature)
}

func missing2(tb testing.TB, client, host actor, slot Slot) MeteringReceipt {
	r := signedReceipt(tb, client, host.id, sid(99), slot, 1, 10)
	r.Sig = nil
	return r
}

func TestVerifyRejectsStorage(t *testing.T) {
	p := testParams()
	node := newActor(t, "storer")
	f := newFakeChain(p)
	for s := Slot(0); s <= 12; s++ {
		f.addBlock(t, s, 1)
	}
	rec := newRecording(sid(1), 6, 4000, 1500)
	set, err := NewClaimSet([]StorageClaim{rec.claim()})
	require.NoError(t, err)
	f.claims[node.id] = set
	const slot = 10
	good := proveFor(t, p, node, nil, f, slot, rec)
	require.NoError(t, VerifyProof(good, p, slot, f.ctx()))
	ch, err := StorageChallenge(mustSeed(t, f, slot), slot, node.id, set)
	require.NoError(t, err)

	// The node does not hold the challenged chunk: it has other bytes of
	// the same size. It copies the leaf and inclusion proof from the
	// manifest, but its slice cannot verify against the leaf.
	fake := make([]byte, ch.Size)
	copy(fake, "not the chunk")
	bad := cloneProof(t, good)
	bad.Storage.Slice, err = BaoSlice(fake, ch.Offset, ch.Length)
	require.NoError(t, err)
	requireSentinel(t, VerifyProof(resign(t, node, bad), p, slot, f.ctx()), ErrBadSlice)

	// Using the leaf of its own bytes instead makes the slice consistent
	// but the leaf is not in the anchored tree.
	bad = cloneProof(t, bad)
	bad.Storage.Leaf = media.LeafHash(fake)
	requireSentinel(t, VerifyProof(resign(t, node, bad), p, slot, f.ctx()), ErrBadInclusion)

	// ProveStorage refuses to build either.
	_, err = ProveStorage(node.priv, nil, p, mustSeed(t, f, slot), slot, set, fake, rec.leaves)
	requireSentinel(t, err, ErrChunkMismatch)

	// A slice whose length header claims another size.
	bad = cloneProof(t, good)
	bad.Storage.Slice[0]++
	requireSentinel(t, VerifyProof(resign(t, node, bad), p, slot, f.ctx()), ErrBadSlice)

	// A slice of another block of the right chunk.
	other := (ch.Offset + ChallengeBlock) % (((ch.Size + 1 + ChallengeBlock - 1) / ChallengeBlock) * ChallengeBlock)
	bad = cloneProof(t, good)
	bad.Storage.Slice, err = BaoSlice(rec.chunks[ch.Chunk], other, min(ChallengeBlock, ch.Size+1-other))
	require.NoError(t, err)
	requireSentinel(t, VerifyProof(resign(t, node, bad), p, slot, f.ctx()), ErrBadSlice)

	// A valid proof for a chunk the challenge did not pick.
	idx := (ch.Chunk + 1) % ch.ChunkCount
	inc, err := media.Prove(rec.leaves, idx)
	require.NoError(t, err)
	bad = cloneProof(t, good)
	bad.Storage.Chunk, bad.Storage.Leaf, bad.Storage.Inclusion = idx, rec.leaves[idx], inc
	bad.Storage.Size = uint64(len(rec.chunks[idx]))
	bad.Storage.Slice, err = BaoSlice(rec.chunks[idx], 0, min(ChallengeBlock, bad.Storage.Size+1))
	require.NoError(t, err)
	requireSentinel(t, VerifyProof(resign(t, node, bad), p, slot, f.ctx()), ErrChallengeMismatch)

	// The same answer replayed for another slot does not answer that
	// slot's challenge (or, by chance, the same chunk and block: then it
	// is a valid answer). Find a slot whose challenge differs.
	for s := Slot(slot - 2); s <= slot+2; s++ {
		c2, err := StorageChallenge(mustSeed(t, f, s), s, node.id, set)
		require.NoError(t, err)
		if c2 == ch {
			continue
		}
		moved := cloneProof(t, good)
		moved.Slot = s
		err = VerifyProof(resign(t, node, moved), p, slot, f.ctx())
		requireSentinel(t, err, ErrChallengeMismatch, ErrBadSlice)
	}

	// Inclusion proof for a tree of another size.
	bad = cloneProof(t, good)
	bad.Storage.Inclusion.Count++
	if _, err := bad.Encode(); err == nil {
		requireSentinel(t, VerifyProof(resign(t, node, bad), p, slot, f.ctx()), ErrBadInclusion)
	}

	// A root the node has not claimed.
	bad = cloneProof(t, good)
	bad.Storage.Root[0] ^= 1
	requireSentinel(t, VerifyProof(resign(t, node, bad), p, slot, f.ctx()), ErrUnknownRoot)

	// A node without claims, and a slot whose seed is not final.
	stranger := newActor(t, "stranger")
	bad = cloneProof(t, good)
	bad.Node = stranger.id
	requireSentinel(t, VerifyProof(resign(t, stranger, bad), p, slot, f.ctx()), ErrNoClaims)
	late := cloneProof(t, good)
	late.Slot = 12 + Slot(p.Lookahead) + 1
	requireSentinel(t, VerifyProof(resign(t, node, late), p, late.Slot, f.ctx()), ErrUnknownSeed)
	requireSentinel(t, VerifyProof(good, p, slot, VerifyContext{}), ErrUnknownSeed)
}

func mustSeed(tb testing.TB, f *fakeChain, s Slot) [32]byte {
	tb.Helper()
	seed, ok := f.chain.Seed(s)
	require.True(tb, ok)
	return seed
}

func TestVerifyRejectsValidation(t *testing.T) {
	p := testParams()
	v := newActor(t, "validator")
	f := newFakeChain(p)
	for s := Slot(0); s <= 12; s++ {
		f.addBlock(t, s, 7)
	}
	good := validationProof(t, v, nil, 10, 7)
	require.NoError(t, VerifyProof(good, p, 10, f.ctx()))
	requireSentinel(t, VerifyProof(validationProof(t, v, nil, 10, 8), p, 10, f.ctx()), ErrBlockMismatch)
	wrongSlot := cloneProof(t, good)
	wrongSlot.Slot = 9
	requireSentinel(t, VerifyProof(resign(t, v, wrongSlot), p, 10, f.ctx()), ErrBlockMismatch)
	unknown := cloneProof(t, good)
	unknown.Validation.Block[0] ^= 1
	requireSentinel(t, VerifyProof(resign(t, v, unknown), p, 10, f.ctx()), ErrUnknownBlock)
	requireSentinel(t, VerifyProof(good, p, 10, VerifyContext{}), ErrUnknownBlock)
	// More sessions than a block may anchor.
	f.blocks[blockHash(11)] = BlockInfo{Slot: 11, Height: 11, Sessions: 101}
	requireSentinel(t, VerifyProof(validationProof(t, v, nil, 11, 101), p, 11, f.ctx()), ErrBlockMismatch)
}

func TestVerifyPoolMembership(t *testing.T) {
	p := testParams()
	a, b := newActor(t, "a"), newActor(t, "b")
	f := newFakeChain(p)
	f.pools = map[string]map[peer.ID]bool{"pool": {a.id: true}}
	require.NoError(t, VerifyProof(uptimeProof(t, a, []byte("pool"), 5), p, 5, f.ctx()))
	requireSentinel(t, VerifyProof(uptimeProof(t, b, []byte("pool"), 5), p, 5, f.ctx()), ErrNotPoolMember)
	require.NoError(t, VerifyProof(uptimeProof(t, b, nil, 5), p, 5, f.ctx()))
}

func TestDedup(t *testing.T) {
	p := testParams()
	a := newActor(t, "a")
	d := NewDedup(p, 10, 100)
	u := uptimeProof(t, a, nil, 10)
	require.NoError(t, d.Seen(u))
	requireSentinel(t, d.Seen(u), ErrDuplicate)
	requireSentinel(t, d.Seen(cloneProof(t, u)), ErrDuplicate)
	// Same content, signature re-made: still the same proof.
	again := cloneProof(t, u)
	again.Sig = nil
	require.NoError(t, again.Sign(a.priv))
	requireSentinel(t, d.Seen(again), ErrDuplicate)
	// Another proof for the same (node, slot, type).
	eq := uptimeProof(t, a, []byte("pool"), 10)
	requireSentinel(t, d.Seen(eq), ErrEquivocation)
	// Other types and slots are independent.
	require.NoError(t, d.Seen(validationProof(t, a, nil, 10, 1)))
	require.NoError(t, d.Seen(uptimeProof(t, a, nil, 11)))
	requireSentinel(t, d.Seen(uptimeProof(t, a, nil, 13)), ErrSlotOutOfWindow)
	require.Equal(t, 3, d.Len())

	// Moving on forgets old slots; their proofs are then replays.
	d.Advance(20)
	require.Equal(t, 0, d.Len())
	requireSentinel(t, d.Seen(u), ErrReplay)
	requireSentinel(t, VerifyProof(u, p, 20, VerifyContext{}), ErrSlotOutOfWindow)
	require.NoError(t, d.Seen(uptimeProof(t, a, nil, 18)))
	requireSentinel(t, d.Seen(uptimeProof(t, a, nil, 17)), ErrReplay)
	d.Advance(19) // never backwards
	requireSentinel(t, d.Seen(uptimeProof(t, a, nil, 17)), ErrReplay)

	full := NewDedup(p, 10, 1)
	require.NoError(t, full.Seen(u))
	requireSentinel(t, full.Seen(uptimeProof(t, newActor(t, "b"), nil, 10)), ErrDedupFull)
	// A jump far ahead forgets everything.
	full.Advance(1 << 30)
	require.Equal(t, 0, full.Len())
}
