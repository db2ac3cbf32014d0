package vm

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRegisterAndAnchor(t *testing.T) {
	c := newChain(t)
	a, b := newActor(t, "a"), newActor(t, "b")
	r0 := c.s.Root()
	require.NoError(t, c.one(c.next(a, register(1, 3))))
	require.NotEqual(t, r0, c.s.Root())
	rec, ok := c.s.Session(sid(1))
	require.True(t, ok)
	require.Equal(t, a.id, rec.Registrant)
	require.Equal(t, uint64(1), rec.Height)
	require.Equal(t, uint64(3), rec.Chunks)

	// A second registration of the session, even by its registrant, fails.
	require.ErrorIs(t, c.one(c.next(a, register(1, 5))), ErrSessionExists)
	require.ErrorIs(t, c.one(c.next(b, register(1, 3))), ErrSessionExists)
	rec2, _ := c.s.Session(sid(1))
	require.Equal(t, rec, rec2)

	require.ErrorIs(t, c.one(c.next(a, &AnchorChunk{Session: sid(2), Leaf: h32("x")})), ErrUnknownSession)
	require.ErrorIs(t, c.one(c.next(b, &AnchorChunk{Session: sid(1), Leaf: h32("x")})), ErrNotOwner)
	require.ErrorIs(t, c.one(c.next(a, &AnchorChunk{Session: sid(1), Index: 3, Leaf: h32("x")})), ErrChunkIndex)
	require.NoError(t, c.one(c.next(a, &AnchorChunk{Session: sid(1), Index: 2, Leaf: h32("x")})))
	require.ErrorIs(t, c.one(c.next(a, &AnchorChunk{Session: sid(1), Index: 2, Leaf: h32("y")})), ErrChunkAnchored)
	leaf, ok := c.s.Chunk(sid(1), 2)
	require.True(t, ok)
	require.Equal(t, h32("x"), leaf)
	_, ok = c.s.Chunk(sid(1), 1)
	require.False(t, ok)
}

func TestFailedTxConsumesNonceOnly(t *testing.T) {
	c := newChain(t)
	a := newActor(t, "a")
	c.block(c.next(a, register(1, 1)))
	before := c.s
	rs := c.block(c.next(a, register(1, 1)))
	require.ErrorIs(t, rs[0].Err, ErrSessionExists)
	require.Equal(t, codeOf(ErrSessionExists), rs[0].Code)
	require.Equal(t, uint64(2), c.s.Nonce(a.id))
	// Only the nonce, height and slot changed.
	diff := 0
	for _, e := range c.s.Entries() {
		v, ok := before.kv[string(e.Key)]
		if !ok || string(v) != string(e.Value) {
			diff++
		}
	}
	require.Equal(t, 3, diff)
}

func TestBlockInvalid(t *testing.T) {
	c := newChain(t)
	a := newActor(t, "a")
	p := c.proposer.id
	s := c.s
	apply := func(in BlockInput) error {
		if in.Proposer == "" {
			in.Proposer = p
		}
		_, _, err := ApplyBlock(s, in)
		return err
	}
	require.ErrorIs(t, apply(BlockInput{Height: 2}), ErrInvalidBlock)
	require.ErrorIs(t, apply(BlockInput{Height: 1, Proposer: "x"}), ErrInvalidBlock)
	require.ErrorIs(t, apply(BlockInput{Height: 1, Txs: [][]byte{{0xa0}}}), ErrMalformed)
	// Replay: nonce 0 twice in one block, or a gap.
	tx0 := a.tx(t, 0, register(1, 1))
	require.ErrorIs(t, apply(BlockInput{Height: 1, Txs: [][]byte{tx0, tx0}}), ErrBadNonce)
	require.ErrorIs(t, apply(BlockInput{Height: 1, Txs: [][]byte{a.tx(t, 1, register(1, 1))}}), ErrBadNonce)
	// Bad signature.
	tx, err := DecodeTx(tx0)
	require.NoError(t, err)
	tx.Sig[0] ^= 1
	require.ErrorIs(t, apply(BlockInput{Height: 1, Txs: [][]byte{tx.Encode()}}), ErrBadSignature)
	var te *TxError
	err = apply(BlockInput{Height: 1, Txs: [][]byte{tx0, tx.Encode()}})
	require.ErrorAs(t, err, &te)
	require.Equal(t, 1, te.Index)

	// Slots must increase after height 1; a replayed block is refused.
	c.blockAt(5, c.next(a, register(1, 1)))
	s = c.s
	require.ErrorIs(t, apply(BlockInput{Height: 2, Slot: 5}), ErrInvalidBlock)
	require.ErrorIs(t, apply(BlockInput{Height: 2, Slot: 6, Txs: [][]byte{tx0}}), ErrBadNonce)
	require.NoError(t, apply(BlockInput{Height: 2, Slot: 6}))
	// The failed attempts left the input state alone.
	require.Equal(t, uint64(1), s.Height())
	require.True(t, s.Equal(c.s))
}

func TestBlockLimits(t *testing.T) {
	s, err := Genesis(map[string]uint64{ParamMaxBlockTxs: 10, ParamMaxBlockBytes: 64 << 10, ParamMaxBlockGas: 1_000_000})
	require.NoError(t, err)
	a := newActor(t, "a")
	p := newActor(t, "p").id
	var txs [][]byte
	for i := range 11 {
		txs = append(txs, a.tx(t, uint64(i), register(i, 1)))
	}
	_, _, err = ApplyBlock(s, BlockInput{Height: 1, Proposer: p, Txs: txs})
	require.ErrorIs(t, err, ErrBlockLimit)
	_, rs, err := ApplyBlock(s, BlockInput{Height: 1, Proposer: p, Txs: txs[:10]})
	require.NoError(t, err)
	require.Len(t, rs, 10)

	big := &CommitTally{Root: h32("r")}
	for i := range 5000 {
		big.Credits = append(big.Credits, Credit{Entity: []byte{2, byte(i >> 8), byte(i)}, Micro: 1})
	}
	_, _, err = ApplyBlock(s, BlockInput{Height: 1, Proposer: p, Txs: [][]byte{a.tx(t, 0, big)}})
	require.ErrorIs(t, err, ErrBlockLimit) // gas 5000·200 > 10^6
}
