package vm

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/lucidnet/lucid/internal/golden"
	"github.com/stretchr/testify/require"
)

// The golden vector pins encodings, hash domains, the state layout and the
// rules: a genesis state and three blocks with their transactions, roots
// and receipt codes. Ed25519 signatures are deterministic, so the file
// does not depend on randomness. Rewrite with -update (or
// LUCID_UPDATE_GOLDEN=1) only for an intended change: nodes on the old
// rules would compute other roots.

type goldenBlock struct {
	Height       uint64   `json:"height"`
	Slot         uint64   `json:"slot"`
	Proposer     string   `json:"proposer"`
	Txs          []string `json:"txs"`
	TxRoot       string   `json:"tx_root"`
	Codes        []uint64 `json:"receipt_codes"`
	ReceiptsRoot string   `json:"receipts_root"`
	StateRoot    string   `json:"state_root"`
}

type goldenFile struct {
	Description string        `json:"description"`
	Genesis     string        `json:"genesis_root"`
	Blocks      []goldenBlock `json:"blocks"`
	Proof       string        `json:"session_proof"`
}

func goldenChain(t *testing.T) goldenFile {
	c := newChain(t)
	n0, n1, n2 := newActor(t, "golden-0"), newActor(t, "golden-1"), newActor(t, "golden-2")
	c.eligible = []peer.ID{n0.id, n1.id, n2.id}
	g := goldenFile{
		Description: "vm golden vector: genesis (gov_voting_blocks 10, gov_timelock_blocks 6, gov_quorum_ppm 500000) and three blocks",
		Genesis:     hex.EncodeToString(c.s.root[:]),
	}
	e0, e1 := nodeEntity(n0.id), nodeEntity(n1.id)
	cr := []Credit{{Entity: e0, Micro: 1_500_000}, {Entity: e1, Micro: 250_000}}
	if bytes.Compare(e0, e1) > 0 {
		cr[0], cr[1] = cr[1], cr[0]
	}
	blocks := []goldenStep{
		{1, [][]byte{
			c.next(n0, register(1, 3)),
			c.next(n1, register(2, 1)),
			c.next(n1, register(1, 9)), // fails: already registered
			c.next(n0, &ProposeParam{Name: "cooldown_slots", Value: 24}),
		}},
		{2, [][]byte{
			c.next(n0, &AnchorChunk{Session: sid(1), Index: 2, Leaf: h32("chunk-2")}),
			c.next(n1, &Vote{Proposal: 1, Yes: true}),
			c.next(n2, &Vote{Proposal: 1, Yes: true}),
			c.next(n1, &Vote{Proposal: 1}), // fails: double vote
		}},
		{721, [][]byte{
			c.next(c.proposer, &CommitTally{Epoch: 0, Root: h32("tally-0"), Credits: cr}),
			c.next(n2, equivocate(t, n1, 700)),
		}},
	}
	g.Blocks = c.goldenBlocks(blocks)
	p, _, err := c.s.ProveSession(sid(1))
	require.NoError(t, err)
	g.Proof = hex.EncodeToString(p.Encode())
	return g
}

func TestGolden(t *testing.T) {
	checkGolden(t, filepath.Join("testdata", "golden.json"), goldenChain(t))
}

// goldenClaimChain pins ClaimStorage (added after golden.json, which is
// left byte-identical): its encoding, the 0x0c key layout and receipt
// codes 18 and 19.
func goldenClaimChain(t *testing.T) goldenFile {
	c := newChain(t)
	n0, n1, n2 := newActor(t, "golden-0"), newActor(t, "golden-1"), newActor(t, "golden-2")
	c.eligible = []peer.ID{n0.id, n1.id, n2.id}
	g := goldenFile{
		Description: "vm golden vector for storage claims: genesis (gov_voting_blocks 10, gov_timelock_blocks 6, gov_quorum_ppm 500000) and two blocks",
		Genesis:     hex.EncodeToString(c.s.root[:]),
	}
	blocks := []goldenStep{
		{1, [][]byte{
			c.next(n0, register(1, 3)),
			c.next(n0, register(2, 1)),
		}},
		{2, [][]byte{
			c.next(n1, &ClaimStorage{Session: sid(1), ChunkSizes: []uint64{1 << 20, 1 << 20, 12_345}}),
			c.next(n2, &ClaimStorage{Session: sid(1), ChunkSizes: []uint64{1 << 20, 1 << 20, 12_345}}),
			c.next(n1, &ClaimStorage{Session: sid(2), ChunkSizes: []uint64{MaxClaimChunkSize}}),
			c.next(n2, &ClaimStorage{Session: sid(2), ChunkSizes: []uint64{1, 2}}),    // fails: mismatch (18)
			c.next(n1, &ClaimStorage{Session: sid(1), ChunkSizes: []uint64{1, 2, 3}}), // fails: exists (19)
			c.next(n0, &ClaimStorage{Session: sid(3), ChunkSizes: []uint64{1}}),       // fails: unknown session (2)
		}},
	}
	g.Blocks = c.goldenBlocks(blocks)
	require.Equal(t, []uint64{0, 0, 0, 18, 19, 2}, g.Blocks[1].Codes)
	p, _, err := c.s.ProveSession(sid(1))
	require.NoError(t, err)
	g.Proof = hex.EncodeToString(p.Encode())
	return g
}

func TestGoldenClaims(t *testing.T) {
	checkGolden(t, filepath.Join("testdata", "golden_claims.json"), goldenClaimChain(t))
}

// goldenPoolChain pins SetPool (added after golden.json and
// golden_claims.json, which are left byte-identical): its encoding, the
// 0x0d key layout, the once-per-epoch rule and receipt codes 20 and 21.
func goldenPoolChain(t *testing.T) goldenFile {
	c := newChain(t)
	n0, n1, n2 := newActor(t, "golden-0"), newActor(t, "golden-1"), newActor(t, "golden-2")
	c.eligible = []peer.ID{n0.id, n1.id, n2.id}
	g := goldenFile{
		Description: "vm golden vector for pool membership: genesis (gov_voting_blocks 10, gov_timelock_blocks 6, gov_quorum_ppm 500000) and three blocks in epochs 0, 1 and 2",
		Genesis:     hex.EncodeToString(c.s.root[:]),
	}
	blocks := []goldenStep{
		{1, [][]byte{
			c.next(n0, register(1, 1)),
			c.next(n0, &SetPool{Pool: []byte("pool-a")}),
			c.next(n1, &SetPool{Pool: []byte("pool-a")}),
			c.next(n2, &SetPool{}),                       // fails: not in a pool (21)
			c.next(n0, &SetPool{Pool: []byte("pool-b")}), // fails: changed this epoch (20)
		}},
		{721, [][]byte{
			c.next(n0, &SetPool{Pool: []byte("pool-b")}),
			c.next(n1, &SetPool{}),
			c.next(n1, &SetPool{Pool: []byte("pool-a")}), // fails: changed this epoch (20)
			c.next(n2, &SetPool{Pool: bytes.Repeat([]byte{0xff}, MaxPoolLen)}),
		}},
		{1441, [][]byte{
			c.next(n0, &SetPool{Pool: []byte("pool-b")}), // no-op
			c.next(n1, &SetPool{}),                       // fails: not in a pool (21)
			c.next(n2, &SetPool{Pool: []byte("pool-b")}),
		}},
	}
	g.Blocks = c.goldenBlocks(blocks)
	require.Equal(t, []uint64{0, 0, 0, 21, 20}, g.Blocks[0].Codes)
	require.Equal(t, []uint64{0, 0, 20, 0}, g.Blocks[1].Codes)
	require.Equal(t, []uint64{0, 21, 0}, g.Blocks[2].Codes)
	require.Len(t, c.s.PoolMembers([]byte("pool-b")), 2)
	require.Empty(t, c.s.PoolMembers([]byte("pool-a")))
	p, _, err := c.s.ProveSession(sid(1))
	require.NoError(t, err)
	g.Proof = hex.EncodeToString(p.Encode())
	return g
}

func TestGoldenPools(t *testing.T) {
	checkGolden(t, filepath.Join("testdata", "golden_pools.json"), goldenPoolChain(t))
}

// goldenStep is one block of a golden chain: its slot and transactions.
type goldenStep struct {
	slot uint64
	txs  [][]byte
}

// goldenBlocks applies the steps and records each block as the golden
// file holds it.
func (c *chain) goldenBlocks(steps []goldenStep) []goldenBlock {
	var out []goldenBlock
	for _, b := range steps {
		rs := c.blockAt(b.slot, b.txs...)
		gb := goldenBlock{Height: c.s.Height(), Slot: b.slot, Proposer: c.proposer.id.String()}
		for i, tx := range b.txs {
			gb.Txs = append(gb.Txs, hex.EncodeToString(tx))
			gb.Codes = append(gb.Codes, rs[i].Code)
		}
		tr, rr, sr := TxRoot(b.txs), ReceiptsRoot(rs), c.s.Root()
		gb.TxRoot, gb.ReceiptsRoot, gb.StateRoot = hex.EncodeToString(tr[:]), hex.EncodeToString(rr[:]), hex.EncodeToString(sr[:])
		out = append(out, gb)
	}
	return out
}

func checkGolden(t *testing.T, path string, got goldenFile) {
	t.Helper()
	var want goldenFile
	golden.JSON(t, path, got, &want)
	require.Equal(t, want, got)

	// Replaying the file's transactions on a fresh genesis gives its roots.
	s := testGenesis(t)
	require.Equal(t, want.Genesis, hex.EncodeToString(s.root[:]))
	for _, gb := range want.Blocks {
		in := BlockInput{Height: gb.Height, Slot: gb.Slot, Eligible: []peer.ID{
			newActor(t, "golden-0").id, newActor(t, "golden-1").id, newActor(t, "golden-2").id}}
		var err error
		in.Proposer, err = peer.Decode(gb.Proposer)
		require.NoError(t, err)
		for _, h := range gb.Txs {
			tx, err := hex.DecodeString(h)
			require.NoError(t, err)
			in.Txs = append(in.Txs, tx)
		}
		s, _, err = ApplyBlock(s, in)
		require.NoError(t, err)
		r := s.Root()
		require.Equal(t, gb.StateRoot, hex.EncodeToString(r[:]))
	}
	pb, err := hex.DecodeString(want.Proof)
	require.NoError(t, err)
	p, err := DecodeSessionProof(pb)
	require.NoError(t, err)
	require.NoError(t, VerifySessionProof(s.Root(), p))
}
