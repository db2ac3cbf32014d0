package vm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
)

type actor struct {
	priv crypto.PrivKey
	id   peer.ID
}

func newActor(tb testing.TB, name string) actor {
	tb.Helper()
	seed := sha256.Sum256([]byte(name))
	priv, _, err := crypto.GenerateEd25519Key(bytes.NewReader(seed[:]))
	require.NoError(tb, err)
	id, err := peer.IDFromPrivateKey(priv)
	require.NoError(tb, err)
	return actor{priv: priv, id: id}
}

// signed builds and signs a transaction.
func (a actor) tx(tb testing.TB, nonce uint64, body Body) []byte {
	tb.Helper()
	t := &Tx{Sender: a.id, Nonce: nonce, Body: body}
	require.NoError(tb, t.Sign(a.priv))
	return t.Encode()
}

func sid(i int) SessionID {
	var id SessionID
	h := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("session"), uint64(i)))
	copy(id[:], h[:])
	return id
}

func h32(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func register(i int, chunks uint64) *RegisterSession {
	return &RegisterSession{Session: sid(i), Manifest: h32("manifest" + string(rune(i))), Root: h32("root" + string(rune(i))),
		Chunks: chunks, Owner: []byte("owner-key")}
}

// testGenesis has short governance periods.
func testGenesis(tb testing.TB) *State {
	tb.Helper()
	s, err := Genesis(map[string]uint64{ParamGovVotingBlocks: 10, ParamGovTimelockBlocks: 6, ParamGovQuorumPPM: 500_000})
	require.NoError(tb, err)
	return s
}

// chain applies blocks one after another, tracking nonces.
type chain struct {
	tb       testing.TB
	s        *State
	proposer actor
	eligible []peer.ID
	nonces   map[peer.ID]uint64
}

func newChain(tb testing.TB) *chain {
	return &chain{tb: tb, s: testGenesis(tb), proposer: newActor(tb, "proposer"), nonces: map[peer.ID]uint64{}}
}

// next returns a transaction from a with its next nonce.
func (c *chain) next(a actor, body Body) []byte {
	n := c.nonces[a.id]
	c.nonces[a.id] = n + 1
	return a.tx(c.tb, n, body)
}

// block applies txs at the next height and slot and returns the
// receipts; the block must be valid.
func (c *chain) block(txs ...[]byte) []Receipt {
	c.tb.Helper()
	return c.blockAt(c.s.Slot()+1, txs...)
}

func (c *chain) blockAt(slot uint64, txs ...[]byte) []Receipt {
	c.tb.Helper()
	s, rs, err := ApplyBlock(c.s, BlockInput{Height: c.s.Height() + 1, Slot: slot, Proposer: c.proposer.id,
		Txs: txs, Eligible: c.eligible})
	require.NoError(c.tb, err)
	require.Len(c.tb, rs, len(txs))
	c.s = s
	return rs
}

// one applies a single transaction and returns its receipt error.
func (c *chain) one(tx []byte) error {
	c.tb.Helper()
	return c.block(tx)[0].Err
}
