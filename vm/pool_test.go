package vm

import (
	"bytes"
	"slices"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/consensus"
)

func join(pool string) *SetPool { return &SetPool{Pool: []byte(pool)} }

func leave() *SetPool { return &SetPool{} }

func poolEntries(s *State) map[string]string {
	m := map[string]string{}
	for _, k := range s.keysWithPrefix(string([]byte{prefixPool})) {
		m[k] = string(s.kv[k])
	}
	return m
}

// epochSlot returns a slot of epoch e (the test genesis keeps
// epoch_slots at its default).
func epochSlot(t *testing.T, s *State, e, off uint64) uint64 {
	n, ok := s.Param(ParamEpochSlots)
	require.True(t, ok)
	return e*n + off
}

func TestSetPoolRules(t *testing.T) {
	c := newChain(t)
	a, b := newActor(t, "pool-a"), newActor(t, "pool-b")
	for _, tc := range []struct {
		name  string
		epoch uint64
		by    actor
		body  *SetPool
		want  error
		after string // a's pool afterwards ("" = none)
	}{
		{"leave, never joined", 0, a, leave(), ErrNotInPool, ""},
		{"join", 0, a, join("alpha"), nil, "alpha"},
		{"switch, same epoch", 0, a, join("beta"), ErrPoolChangeTooSoon, "alpha"},
		{"rejoin, same epoch", 0, a, join("alpha"), ErrPoolChangeTooSoon, "alpha"},
		{"leave, same epoch", 0, a, leave(), ErrPoolChangeTooSoon, "alpha"},
		{"another node, same epoch", 0, b, join("alpha"), nil, "alpha"},
		{"switch, next epoch", 1, a, join("beta"), nil, "beta"},
		{"rejoin, later epoch: no-op", 2, a, join("beta"), nil, "beta"},
		{"a no-op is no change", 2, a, join("gamma"), nil, "gamma"},
		{"leave, next epoch", 3, a, leave(), nil, ""},
		{"leave again, same epoch", 3, a, leave(), ErrPoolChangeTooSoon, ""},
		{"join after leaving, same epoch", 3, a, join("alpha"), ErrPoolChangeTooSoon, ""},
		{"leave when not in a pool", 4, a, leave(), ErrNotInPool, ""},
		{"join after leaving, next epoch", 4, a, join("alpha"), nil, "alpha"},
		{"largest pool ID", 5, a, &SetPool{Pool: bytes.Repeat([]byte{0xff}, MaxPoolLen)}, nil, string(bytes.Repeat([]byte{0xff}, MaxPoolLen))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.s
			slot := epochSlot(t, c.s, tc.epoch, 0)
			if slot <= c.s.Slot() {
				slot = c.s.Slot() + 1
			}
			require.Equal(t, tc.epoch, slot/epochSlot(t, c.s, 1, 0), "test slot in the wrong epoch")
			rs := c.blockAt(slot, c.next(tc.by, tc.body))
			require.ErrorIs(t, rs[0].Err, tc.want)
			if tc.want != nil {
				require.Equal(t, codeOf(tc.want), rs[0].Code)
				// A failed SetPool writes nothing.
				require.Equal(t, poolEntries(before), poolEntries(c.s))
			} else {
				require.Zero(t, rs[0].Code)
			}
			got, ok := c.s.PoolOf(a.id)
			require.Equal(t, tc.after != "", ok)
			require.Equal(t, tc.after, string(got))
		})
	}
	// The record outlives the pool ID: b never changed since epoch 0.
	got, ok := c.s.PoolOf(b.id)
	require.True(t, ok)
	require.Equal(t, "alpha", string(got))
	_, ok = c.s.PoolOf(c.proposer.id)
	require.False(t, ok)
}

// A no-op rejoin writes nothing: the epoch of the last change stays.
func TestSetPoolNoopWritesNothing(t *testing.T) {
	c := newChain(t)
	a := newActor(t, "pool-a")
	c.blockAt(1, c.next(a, join("alpha")))
	before := poolEntries(c.s)
	rs := c.blockAt(epochSlot(t, c.s, 1, 5), c.next(a, join("alpha")))
	require.NoError(t, rs[0].Err)
	require.Equal(t, before, poolEntries(c.s))
	rec := mustDecodePool(c.s.kv[poolKey(a.id)])
	require.Equal(t, poolRecord{Pool: []byte("alpha")}, rec)
}

// Two changes in one block fall in one epoch; the second fails.
func TestSetPoolOncePerEpochInOneBlock(t *testing.T) {
	c := newChain(t)
	a := newActor(t, "pool-a")
	rs := c.blockAt(epochSlot(t, c.s, 7, 3), c.next(a, join("alpha")), c.next(a, join("beta")), c.next(a, leave()))
	require.NoError(t, rs[0].Err)
	require.ErrorIs(t, rs[1].Err, ErrPoolChangeTooSoon)
	require.ErrorIs(t, rs[2].Err, ErrPoolChangeTooSoon)
	got, _ := c.s.PoolOf(a.id)
	require.Equal(t, "alpha", string(got))
	require.Equal(t, poolRecord{Pool: []byte("alpha"), Epoch: 7}, mustDecodePool(c.s.kv[poolKey(a.id)]))
}

func TestPoolMembers(t *testing.T) {
	c := newChain(t)
	var nodes []actor
	for _, n := range []string{"m0", "m1", "m2", "m3", "m4"} {
		nodes = append(nodes, newActor(t, n))
	}
	c.blockAt(1, c.next(nodes[3], join("alpha")), c.next(nodes[0], join("alpha")), c.next(nodes[1], join("beta")),
		c.next(nodes[4], join("alpha")), c.next(nodes[2], join("alphabet")))
	sorted := func(as ...actor) []peer.ID {
		var ids []peer.ID
		for _, a := range as {
			ids = append(ids, a.id)
		}
		slices.SortFunc(ids, func(x, y peer.ID) int { return bytes.Compare([]byte(x), []byte(y)) })
		return ids
	}
	require.Equal(t, sorted(nodes[0], nodes[3], nodes[4]), c.s.PoolMembers([]byte("alpha")))
	require.Equal(t, sorted(nodes[1]), c.s.PoolMembers([]byte("beta")))
	require.Equal(t, sorted(nodes[2]), c.s.PoolMembers([]byte("alphabet")))
	require.Empty(t, c.s.PoolMembers([]byte("alph")))
	require.Empty(t, c.s.PoolMembers([]byte("gamma")))
	require.Empty(t, c.s.PoolMembers(nil))

	// Next epoch: one leaves, one switches; leavers are no members of the
	// empty pool.
	c.blockAt(epochSlot(t, c.s, 1, 0), c.next(nodes[0], leave()), c.next(nodes[3], join("beta")))
	require.Equal(t, sorted(nodes[4]), c.s.PoolMembers([]byte("alpha")))
	require.Equal(t, sorted(nodes[1], nodes[3]), c.s.PoolMembers([]byte("beta")))
	require.Empty(t, c.s.PoolMembers([]byte{}))
	_, ok := c.s.PoolOf(nodes[0].id)
	require.False(t, ok)

	// PoolOf returns a copy.
	p, ok := c.s.PoolOf(nodes[4].id)
	require.True(t, ok)
	p[0] = 'X'
	p, _ = c.s.PoolOf(nodes[4].id)
	require.Equal(t, "alpha", string(p))

	// Every member's pool is a valid consensus pool entity.
	for _, id := range c.s.PoolMembers([]byte("beta")) {
		p, _ := c.s.PoolOf(id)
		require.NoError(t, validEntity([]byte(consensus.PoolEntity(p))))
	}
	require.NoError(t, validEntity([]byte(consensus.PoolEntity(bytes.Repeat([]byte{1}, MaxPoolLen)))))
}

func TestPoolReceiptCodes(t *testing.T) {
	// Appended to the table: the codes before them are unchanged.
	require.Equal(t, uint64(19), codeOf(ErrClaimExists))
	require.Equal(t, uint64(20), codeOf(ErrPoolChangeTooSoon))
	require.Equal(t, uint64(21), codeOf(ErrNotInPool))
	require.Equal(t, ErrPoolChangeTooSoon, ReceiptError(20))
	require.Equal(t, ErrNotInPool, ReceiptError(21))
	require.Error(t, ReceiptError(22))
	require.Equal(t, "set_pool", TypeSetPool.String())
	require.Equal(t, TxType(8), TypeSetPool)
}

func TestSetPoolWire(t *testing.T) {
	a := newActor(t, "a")
	for i, body := range []*SetPool{join("alpha"), {Pool: bytes.Repeat([]byte{7}, MaxPoolLen)}, {Pool: []byte{0}}, leave()} {
		raw := a.tx(t, uint64(i), body)
		tx, err := DecodeTx(raw)
		require.NoError(t, err)
		require.Equal(t, body, tx.Body)
		require.Equal(t, raw, tx.Encode())
		require.NoError(t, tx.VerifySignature())
		require.Equal(t, uint64(GasPerTx+GasPerByte*len(raw)+GasSetPool), TxGas(tx, len(raw)))
	}
	require.Equal(t, GasVote, GasSetPool)

	// The body is a map: 1 = pool; leaving is the empty map.
	var m map[uint64]any
	require.NoError(t, decMode.Unmarshal(mustMarshal(join("alpha").wire()), &m))
	require.Equal(t, map[uint64]any{1: []byte("alpha")}, m)
	require.Equal(t, []byte{0xa0}, mustMarshal(leave().wire()))
	require.Equal(t, []byte{0xa0}, mustMarshal((&SetPool{Pool: []byte{}}).wire()))
}

func TestSetPoolRejects(t *testing.T) {
	for name, w := range map[string]any{
		"65-byte pool":   wireSetPool{Pool: make([]byte, MaxPoolLen+1)},
		"huge pool":      wireSetPool{Pool: make([]byte, 4096)},
		"explicit empty": map[uint64]any{1: []byte{}},
		"pool a string":  map[uint64]any{1: "alpha"},
		"pool an int":    map[uint64]any{1: 1},
		"unknown key":    map[uint64]any{1: []byte("alpha"), 2: 1},
		"only key 2":     map[uint64]any{2: 1},
		"not a map":      []byte("alpha"),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := encMode.Marshal(w)
			require.NoError(t, err)
			_, err = decodeBody(TypeSetPool, b)
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
	// A missing body is not the empty body.
	_, err := decodeBody(TypeSetPool, nil)
	require.ErrorIs(t, err, ErrMalformed)

	// A 65-byte pool in a signed transaction: DecodeTx refuses it, and a
	// block holding it is invalid.
	a := newActor(t, "a")
	raw := a.tx(t, 0, &SetPool{Pool: make([]byte, MaxPoolLen+1)})
	_, err = DecodeTx(raw)
	require.ErrorIs(t, err, ErrMalformed)
	_, _, err = ApplyBlock(testGenesis(t), BlockInput{Height: 1, Slot: 1, Proposer: a.id, Txs: [][]byte{raw}})
	require.ErrorIs(t, err, ErrMalformed)

	// A transaction whose body key 5 is absent is malformed too.
	var w wireTx
	require.NoError(t, decMode.Unmarshal(a.tx(t, 0, leave()), &w))
	w.Body = nil
	_, err = DecodeTx(mustMarshal(&w))
	require.ErrorIs(t, err, ErrMalformed)
}
