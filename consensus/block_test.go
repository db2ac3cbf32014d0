package consensus

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lucidnet/lucid/internal/golden"
	"github.com/stretchr/testify/require"
)

// blockSentinels extends allSentinels with the block layer's.
var blockSentinels = append(slices.Clone(allSentinels), ErrBlockTooLarge, ErrBlockTooManyTxs, ErrBlockHeight,
	ErrBlockSlot, ErrBlockPrev, ErrNotProposer, ErrProposerEarly, ErrBlockSignature, ErrTxRoot, ErrProofRoot,
	ErrUnknownParent, ErrRevertsFinal)

// requireBlockSentinel checks that err wraps want and no other sentinel.
func requireBlockSentinel(tb tbLike, err error, want ...error) {
	tb.Helper()
	requireOneOf(tb, blockSentinels, err, want...)
}

// blockNet is four nodes; slot s has primary node s mod 4 and the other
// three as fallbacks in rotation.
type blockNet struct {
	nodes []actor
	bp    BlockParams
}

func newBlockNet(tb testing.TB) *blockNet {
	tb.Helper()
	n := &blockNet{bp: DefaultBlockParams(testParams())}
	for i := range 4 {
		n.nodes = append(n.nodes, newActor(tb, fmt.Sprintf("block-node-%d", i)))
	}
	return n
}

func (n *blockNet) leaders(s Slot) (SlotLeaders, bool) {
	k := len(n.nodes)
	l := SlotLeaders{Slot: s, Primary: NodeEntity(n.nodes[int(s)%k].id)}
	for i := 1; i < k; i++ {
		l.Fallbacks = append(l.Fallbacks, NodeEntity(n.nodes[(int(s)+i)%k].id))
	}
	return l, true
}

// leadersOf is n.leaders as a LeadersFunc (the test schedule does not
// depend on the branch).
func (n *blockNet) leadersOf(_ [32]byte, s Slot) (SlotLeaders, bool) { return n.leaders(s) }

// proposer returns the node of the given rank at slot s.
func (n *blockNet) proposer(s Slot, rank int) actor { return n.nodes[(int(s)+rank)%len(n.nodes)] }

var testBlockGenesis = BlockHeader{Version: BlockVersion, StateRoot: [32]byte{0x6e}}

// block returns a signed block after parent at slot s by the proposer of
// that rank; salt varies the state root (to make equivocations).
func (n *blockNet) block(tb testing.TB, parent *BlockHeader, s Slot, rank int, salt byte, txs ...[]byte) *Block {
	tb.Helper()
	a := n.proposer(s, rank)
	b := &Block{Body: Body{Txs: txs, Proofs: [][]byte{{0xa1, 0x01, 0x01}}}}
	b.Header = BlockHeader{Height: parent.Height + 1, Slot: s, Prev: parent.Hash(), Proposer: a.id,
		TxRoot: TxRoot(txs), ProofRoot: ProofRoot(b.Body.Proofs), StateRoot: [32]byte{salt, byte(s)}}
	require.NoError(tb, b.Header.Sign(a.priv))
	return b
}

func TestBlockRoundTripAndGolden(t *testing.T) {
	n := newBlockNet(t)
	b := n.block(t, &testBlockGenesis, 3, 1, 7, []byte("tx-0"), []byte("tx-1"), []byte("tx-2"))
	enc := b.Encode()
	d, err := DecodeBlock(enc, n.bp)
	require.NoError(t, err)
	require.Equal(t, b, d)
	h, err := DecodeBlockHeader(b.Header.Encode())
	require.NoError(t, err)
	require.Equal(t, b.Header, h)
	l, _ := n.leaders(3)
	require.NoError(t, VerifyBlock(d, &testBlockGenesis, l, n.bp, 150*time.Millisecond))

	got := map[string]string{
		"block":            hex.EncodeToString(enc),
		"header":           hex.EncodeToString(b.Header.Encode()),
		"hash":             hex.EncodeToString(hexHash(b.Hash())),
		"genesis_hash":     hex.EncodeToString(hexHash(testBlockGenesis.Hash())),
		"tx_root":          hex.EncodeToString(b.Header.TxRoot[:]),
		"proof_root":       hex.EncodeToString(b.Header.ProofRoot[:]),
		"empty_tx_root":    hex.EncodeToString(hexHash(TxRoot(nil))),
		"empty_proof_root": hex.EncodeToString(hexHash(ProofRoot(nil))),
	}
	path := filepath.Join("testdata", "block-golden.json")
	var want map[string]string
	golden.JSON(t, path, got, &want)
	require.Equal(t, want, got, "block encoding or hash changed: a consensus change")
	wantEnc, err := hex.DecodeString(want["block"])
	require.NoError(t, err)
	d, err = DecodeBlock(wantEnc, n.bp)
	require.NoError(t, err)
	require.Equal(t, b, d)
}

func hexHash(h [32]byte) []byte { return h[:] }

func TestMerkleRoots(t *testing.T) {
	items := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	require.NotEqual(t, TxRoot(items), ProofRoot(items), "trees are domain separated")
	require.NotEqual(t, TxRoot(nil), TxRoot([][]byte{{}}))
	seen := map[[32]byte]int{}
	for k := 0; k <= 9; k++ {
		var l [][]byte
		for i := range k {
			l = append(l, []byte{byte(i)})
		}
		r := TxRoot(l)
		_, dup := seen[r]
		require.False(t, dup, "root of %d items repeats", k)
		seen[r] = k
	}
	// Order matters, and an inner node is not a leaf.
	require.NotEqual(t, TxRoot(items), TxRoot([][]byte{items[1], items[0], items[2]}))
	require.Len(t, TxRoot(items), 32)
}

func TestDecodeBlockStrict(t *testing.T) {
	n := newBlockNet(t)
	good := n.block(t, &testBlockGenesis, 1, 0, 0, []byte("tx"))
	enc := good.Encode()
	hdr := func(mut func(w *wireBlockHeader)) []byte {
		w := good.Header.wire(true)
		mut(w)
		return mustMarshal(&wireBlock{Version: BlockVersion, Header: w, Txs: good.Body.Txs, Proofs: good.Body.Proofs})
	}
	type extra struct {
		wireBlock
		X uint64 `cbor:"9,keyasint,omitempty"`
	}
	small := n.bp
	small.MaxBlockBytes = len(enc) - 1
	fewTxs := n.bp
	fewTxs.MaxBlockTxs = 0
	for _, tc := range []struct {
		name string
		b    []byte
		bp   BlockParams
		want error
	}{
		{"empty", nil, n.bp, ErrMalformed},
		{"not a map", []byte{0x80}, n.bp, ErrMalformed},
		{"trailing byte", append(append([]byte(nil), enc...), 0x00), n.bp, ErrMalformed},
		{"version 2", mustMarshal(&wireBlock{Version: 2}), n.bp, ErrUnsupportedVersion},
		{"header version 2", hdr(func(w *wireBlockHeader) { w.Version = 2 }), n.bp, ErrUnsupportedVersion},
		{"no header", mustMarshal(&wireBlock{Version: BlockVersion}), n.bp, ErrMalformed},
		{"unknown key", mustMarshal(&extra{wireBlock{Version: BlockVersion, Header: good.Header.wire(true)}, 5}), n.bp, ErrMalformed},
		{"short prev", hdr(func(w *wireBlockHeader) { w.Prev = w.Prev[:31] }), n.bp, ErrMalformed},
		{"no state root", hdr(func(w *wireBlockHeader) { w.StateRoot = nil }), n.bp, ErrMalformed},
		{"bad proposer", hdr(func(w *wireBlockHeader) { w.Proposer = []byte{1, 2, 3} }), n.bp, ErrMalformed},
		{"short signature", hdr(func(w *wireBlockHeader) { w.Sig = w.Sig[:10] }), n.bp, ErrMalformed},
		{"empty tx", mustMarshal(&wireBlock{Version: BlockVersion, Header: good.Header.wire(true), Txs: [][]byte{{}}}), n.bp, ErrMalformed},
		{"non-canonical int", nonCanonicalHeight(t, good), n.bp, ErrMalformed},
		{"too large", enc, small, ErrBlockTooLarge},
		{"too many txs", enc, fewTxs, ErrBlockTooManyTxs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeBlock(tc.b, tc.bp)
			requireBlockSentinel(t, err, tc.want)
		})
	}
	_, err := DecodeBlockHeader(make([]byte, maxHeaderBytes+1))
	requireBlockSentinel(t, err, ErrMalformed)
	_, err = DecodeBlockHeader(append(good.Header.Encode(), 0))
	requireBlockSentinel(t, err, ErrMalformed)
}

// nonCanonicalHeight encodes height 1 as a two-byte integer (0x18 0x01).
func nonCanonicalHeight(t *testing.T, b *Block) []byte {
	w := b.Header.wire(true)
	w.Height = 0x17
	enc := mustMarshal(&wireBlock{Version: BlockVersion, Header: w, Txs: b.Body.Txs, Proofs: b.Body.Proofs})
	// Key 2 (0x02) followed by 0x17 is the height; widen it to 0x18 0x17.
	for i := 0; i+1 < len(enc); i++ {
		if enc[i] == 0x02 && enc[i+1] == 0x17 {
			out := append(append(append([]byte(nil), enc[:i+1]...), 0x18, 0x17), enc[i+2:]...)
			return out
		}
	}
	t.Fatal("height not found")
	return nil
}

func TestVerifyBlockRejections(t *testing.T) {
	n := newBlockNet(t)
	parent := n.block(t, &testBlockGenesis, 2, 0, 0).Header
	l5, _ := n.leaders(5)
	resign := func(b *Block, a actor) {
		require.NoError(t, b.Header.Sign(a.priv))
	}
	other := newActor(t, "block-outsider")
	cases := []struct {
		name    string
		mut     func(b *Block)
		leaders SlotLeaders
		bp      func(bp BlockParams) BlockParams
		arrival time.Duration
		want    error
	}{
		{"version", func(b *Block) { b.Header.Version = 2 }, l5, nil, ArrivalAny, ErrUnsupportedVersion},
		{"leaders of another slot", nil, SlotLeaders{Slot: 4}, nil, ArrivalAny, ErrInvalidArgument},
		{"height", func(b *Block) { b.Header.Height = 3; resign(b, n.proposer(5, 1)) }, l5, nil, ArrivalAny, ErrBlockHeight},
		{"slot", func(b *Block) { b.Header.Slot = 2; resign(b, n.proposer(5, 1)) }, SlotLeaders{Slot: 2}, nil, ArrivalAny, ErrBlockSlot},
		{"prev", func(b *Block) { b.Header.Prev[0] ^= 1; resign(b, n.proposer(5, 1)) }, l5, nil, ArrivalAny, ErrBlockPrev},
		{"outsider", func(b *Block) { b.Header.Proposer = other.id; resign(b, other) }, l5, nil, ArrivalAny, ErrNotProposer},
		{"no leaders", nil, SlotLeaders{Slot: 5}, nil, ArrivalAny, ErrNotProposer},
		{"fallback early", nil, l5, nil, 99 * time.Millisecond, ErrProposerEarly},
		{"unsigned", func(b *Block) { b.Header.Sig = nil }, l5, nil, ArrivalAny, ErrBlockSignature},
		{"bad signature", func(b *Block) { b.Header.StateRoot[5] ^= 1 }, l5, nil, ArrivalAny, ErrBlockSignature},
		{"signed by another key", func(b *Block) { b.Header.Sig = n.block(t, &parent, 5, 2, 1).Header.Sig }, l5, nil, ArrivalAny, ErrBlockSignature},
		{"too many txs", nil, l5, func(bp BlockParams) BlockParams { bp.MaxBlockTxs = 1; return bp }, ArrivalAny, ErrBlockTooManyTxs},
		{"too large", nil, l5, func(bp BlockParams) BlockParams { bp.MaxBlockBytes = 100; return bp }, ArrivalAny, ErrBlockTooLarge},
		{"tx root", func(b *Block) { b.Body.Txs[0] = []byte("ty") }, l5, nil, ArrivalAny, ErrTxRoot},
		{"proof root", func(b *Block) { b.Body.Proofs = nil }, l5, nil, ArrivalAny, ErrProofRoot},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := n.block(t, &parent, 5, 1, 0, []byte("tx"), []byte("tx2"))
			if tc.mut != nil {
				tc.mut(b)
			}
			bp := n.bp
			if tc.bp != nil {
				bp = tc.bp(bp)
			}
			requireBlockSentinel(t, VerifyBlock(b, &parent, tc.leaders, bp, tc.arrival), tc.want)
		})
	}
	// Accepted: the fallback at its turn, after the slot, and any time.
	for _, at := range []time.Duration{100 * time.Millisecond, 999 * time.Millisecond, 5 * time.Second, ArrivalAny} {
		require.NoError(t, VerifyBlock(n.block(t, &parent, 5, 1, 0), &parent, l5, n.bp, at), "arrival %v", at)
	}
	// The primary is always on time; LeaderAt agrees with the turn rule.
	require.NoError(t, VerifyBlock(n.block(t, &parent, 5, 0, 0), &parent, l5, n.bp, 0))
	e, ok := l5.LeaderAt(n.bp.Params, 250*time.Millisecond)
	require.True(t, ok)
	r, ok := ProposerRank(l5, n.proposer(5, 2).id, nil)
	require.True(t, ok)
	require.Equal(t, 2, r)
	require.Equal(t, NodeEntity(n.proposer(5, 2).id), e)
	_, ok = ProposerRank(l5, other.id, nil)
	require.False(t, ok)
	// Bootstrap proposer in a slot without leaders.
	boot := n.bp
	boot.Bootstrap = n.nodes[0].id
	b := n.block(t, &parent, 8, 0, 0) // node 0 is primary of slot 8
	require.NoError(t, VerifyBlock(b, &parent, SlotLeaders{Slot: 8}, boot, 0))
	requireBlockSentinel(t, VerifyBlock(n.block(t, &parent, 8, 1, 0), &parent, SlotLeaders{Slot: 8}, boot, 0), ErrNotProposer)
}

func TestDetectEquivocation(t *testing.T) {
	n := newBlockNet(t)
	a := n.block(t, &testBlockGenesis, 4, 0, 1).Header
	b := n.block(t, &testBlockGenesis, 4, 0, 2).Header
	require.True(t, DetectEquivocation(&a, &b))
	require.True(t, DetectEquivocation(&b, &a))
	require.False(t, DetectEquivocation(&a, &a), "same content")
	c := n.block(t, &testBlockGenesis, 4, 1, 2).Header
	require.False(t, DetectEquivocation(&a, &c), "other proposer")
	d := n.block(t, &testBlockGenesis, 8, 0, 2).Header
	require.False(t, DetectEquivocation(&a, &d), "other slot")
	forged := b
	forged.Sig = a.Sig
	require.False(t, DetectEquivocation(&a, &forged), "invalid signature is no evidence")
	// Re-signing the same content is not equivocation: the hash ignores Sig.
	resigned := a
	resigned.Sig = append([]byte(nil), a.Sig...)
	resigned.Sig[0] ^= 1
	require.Equal(t, a.Hash(), resigned.Hash())
}
