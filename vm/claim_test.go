package vm

import (
	"bytes"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/sessions"
)

func sizes(n int, size uint64) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = size + uint64(i)
	}
	return s
}

func claimEntries(s *State) map[string]string {
	m := map[string]string{}
	for _, k := range s.keysWithPrefix(string([]byte{prefixClaim})) {
		m[k] = string(s.kv[k])
	}
	return m
}

func claim(i, n int) *ClaimStorage { return &ClaimStorage{Session: sid(i), ChunkSizes: sizes(n, 1000)} }

func TestClaimStorageRules(t *testing.T) {
	c := newChain(t)
	a, b, o := newActor(t, "claim-a"), newActor(t, "claim-b"), newActor(t, "claim-owner")
	c.block(c.next(o, register(1, 3)), c.next(o, register(2, 1)))

	for _, tc := range []struct {
		name string
		by   actor
		body *ClaimStorage
		want error
	}{
		{"unknown session", a, claim(9, 3), ErrUnknownSession},
		{"too few sizes", a, claim(1, 2), ErrClaimMismatch},
		{"too many sizes", a, claim(1, 4), ErrClaimMismatch},
		{"first claim", a, claim(1, 3), nil},
		{"duplicate claim", a, claim(1, 3), ErrClaimExists},
		{"duplicate claim, other sizes", a, &ClaimStorage{Session: sid(1), ChunkSizes: []uint64{7, 8, 9}}, ErrClaimExists},
		{"duplicate claim, wrong count", a, claim(1, 1), ErrClaimMismatch}, // the count is checked first
		{"another node, same session", b, claim(1, 3), nil},
		{"the registrant may claim", o, claim(1, 3), nil},
		{"same node, other session", a, claim(2, 1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := c.s
			rs := c.block(c.next(tc.by, tc.body))
			require.ErrorIs(t, rs[0].Err, tc.want)
			if tc.want == nil {
				require.Zero(t, rs[0].Code)
				got, ok := c.s.StorageClaim(tc.by.id, tc.body.Session)
				require.True(t, ok)
				require.Equal(t, tc.body.ChunkSizes, got.ChunkSizes)
				return
			}
			require.Equal(t, codeOf(tc.want), rs[0].Code)
			// A failed claim writes no claim entry.
			require.Equal(t, claimEntries(before), claimEntries(c.s))
		})
	}
	require.Len(t, c.s.StorageClaims(a.id), 2)
	require.Len(t, c.s.StorageClaims(b.id), 1)
	require.Len(t, c.s.StorageClaims(o.id), 1)
	require.Empty(t, c.s.StorageClaims(c.proposer.id))
	_, ok := c.s.StorageClaim(b.id, sid(2))
	require.False(t, ok)
}

func TestClaimReceiptCodes(t *testing.T) {
	// Appended to the table: the codes before them are unchanged.
	require.Equal(t, uint64(17), codeOf(ErrAlreadySlashed))
	require.Equal(t, uint64(18), codeOf(ErrClaimMismatch))
	require.Equal(t, uint64(19), codeOf(ErrClaimExists))
	require.Equal(t, ErrClaimExists, ReceiptError(19))
	require.Equal(t, "claim_storage", TypeClaimStorage.String())
	require.Equal(t, TxType(7), TypeClaimStorage)
}

func TestStorageClaimsOrderAndRoot(t *testing.T) {
	c := newChain(t)
	a, b := newActor(t, "claim-a"), newActor(t, "claim-b")
	ids := []int{5, 1, 4, 2, 3}
	var regs [][]byte
	for _, i := range ids {
		regs = append(regs, c.next(b, register(i, uint64(i))))
	}
	c.block(regs...)
	// Claimed over two blocks in an arbitrary order; b claims some too.
	c.block(c.next(a, claim(4, 4)), c.next(a, claim(1, 1)), c.next(b, claim(2, 2)))
	c.block(c.next(a, claim(3, 3)), c.next(b, claim(5, 5)), c.next(a, claim(5, 5)))

	got := c.s.StorageClaims(a.id)
	require.Len(t, got, 4)
	require.True(t, slices.IsSortedFunc(got, func(x, y StorageClaimRecord) int {
		return bytes.Compare(x.Session[:], y.Session[:])
	}), "not in session order")
	want := map[SessionID]int{sid(1): 1, sid(3): 3, sid(4): 4, sid(5): 5}
	for _, r := range got {
		n, ok := want[r.Session]
		require.True(t, ok, "unexpected claim %x", r.Session)
		rec, _ := c.s.Session(r.Session)
		require.Equal(t, rec.Root, r.Root)
		require.Equal(t, register(n, 1).Root, r.Root)
		require.Equal(t, sizes(n, 1000), r.ChunkSizes)
		one, ok := c.s.StorageClaim(a.id, r.Session)
		require.True(t, ok)
		require.Equal(t, r, one)
	}
	gotB := c.s.StorageClaims(b.id)
	require.Len(t, gotB, 2)
	s2, s5 := sid(2), sid(5)
	if bytes.Compare(s2[:], s5[:]) < 0 {
		require.Equal(t, []SessionID{sid(2), sid(5)}, []SessionID{gotB[0].Session, gotB[1].Session})
	} else {
		require.Equal(t, []SessionID{sid(5), sid(2)}, []SessionID{gotB[0].Session, gotB[1].Session})
	}

	// The records are copies: modifying one leaves the state alone.
	got[0].ChunkSizes[0] = 0
	require.NotZero(t, c.s.StorageClaims(a.id)[0].ChunkSizes[0])
}

// The claims are what a storage challenge needs: consensus.NewClaimSet
// accepts them.
func TestStorageClaimsFeedConsensus(t *testing.T) {
	c := newChain(t)
	a := newActor(t, "claim-a")
	valid := func(i int) SessionID {
		id := sid(i)
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		return id
	}
	var txs [][]byte
	for i := range 3 {
		r := register(i, uint64(i+1))
		r.Session = valid(i)
		txs = append(txs, c.next(a, r))
	}
	c.block(txs...)
	txs = nil
	for i := range 3 {
		txs = append(txs, c.next(a, &ClaimStorage{Session: valid(i), ChunkSizes: sizes(i+1, 1<<20)}))
	}
	c.block(txs...)
	var claims []consensus.StorageClaim
	for _, r := range c.s.StorageClaims(a.id) {
		claims = append(claims, consensus.StorageClaim{Session: sessions.ID(r.Session), Root: r.Root, ChunkSizes: r.ChunkSizes})
	}
	set, err := consensus.NewClaimSet(claims)
	require.NoError(t, err)
	require.Equal(t, uint64(1+2+3), set.Chunks())
	_, err = consensus.StorageChallenge(h32("seed"), 10, a.id, set)
	require.NoError(t, err)
}

func TestClaimStorageWire(t *testing.T) {
	a := newActor(t, "a")
	body := &ClaimStorage{Session: sid(1), ChunkSizes: []uint64{1, 1 << 20, MaxClaimChunkSize}}
	raw := a.tx(t, 0, body)
	tx, err := DecodeTx(raw)
	require.NoError(t, err)
	require.Equal(t, body, tx.Body)
	require.Equal(t, raw, tx.Encode())
	require.Equal(t, uint64(GasPerTx+GasPerByte*len(raw)+GasClaimBase+3*GasClaimChunk), TxGas(tx, len(raw)))

	// The body is a map: 1 = session, 2 = sizes.
	var m map[uint64]any
	require.NoError(t, decMode.Unmarshal(mustMarshal(body.wire()), &m))
	s1 := sid(1)
	require.Equal(t, map[uint64]any{1: s1[:], 2: []any{uint64(1), uint64(1 << 20), uint64(MaxClaimChunkSize)}}, m)

	// The largest claim decodes, and fits a block at the lowest gas limit.
	big := &ClaimStorage{Session: sid(1), ChunkSizes: slices.Repeat([]uint64{MaxClaimChunkSize}, MaxClaimChunks)}
	raw = a.tx(t, 1, big)
	tx, err = DecodeTx(raw)
	require.NoError(t, err)
	require.Equal(t, big, tx.Body)
	s, err := Genesis(map[string]uint64{ParamMaxBlockGas: 1_000_000})
	require.NoError(t, err)
	require.Less(t, TxGas(tx, len(raw)), uint64(1_000_000))
	reg := register(1, MaxClaimChunks)
	s, _, err = ApplyBlock(s, BlockInput{Height: 1, Slot: 1, Proposer: a.id, Txs: [][]byte{a.tx(t, 0, reg), raw}})
	require.NoError(t, err)
	got, ok := s.StorageClaim(a.id, sid(1))
	require.True(t, ok)
	require.Len(t, got.ChunkSizes, MaxClaimChunks)
}

func TestClaimStorageRejects(t *testing.T) {
	s1 := sid(1)
	good := wireClaim{Session: s1[:], Sizes: []uint64{1, 2}}
	for name, w := range map[string]any{
		"no session":     wireClaim{Sizes: []uint64{1}},
		"short session":  wireClaim{Session: s1[:15], Sizes: []uint64{1}},
		"long session":   wireClaim{Session: append(s1[:], 0), Sizes: []uint64{1}},
		"zero session":   wireClaim{Session: make([]byte, 16), Sizes: []uint64{1}},
		"no sizes":       wireClaim{Session: s1[:]},
		"zero size":      wireClaim{Session: s1[:], Sizes: []uint64{1, 0, 2}},
		"oversize value": wireClaim{Session: s1[:], Sizes: []uint64{MaxClaimChunkSize + 1}},
		"max uint64":     wireClaim{Session: s1[:], Sizes: []uint64{^uint64(0)}},
		"too many sizes": wireClaim{Session: s1[:], Sizes: slices.Repeat([]uint64{1}, MaxClaimChunks+1)},
		"way too many":   wireClaim{Session: s1[:], Sizes: slices.Repeat([]uint64{1}, 1<<16+1)},
		"unknown key":    map[uint64]any{1: good.Session, 2: good.Sizes, 3: 1},
		"sizes not ints": map[uint64]any{1: good.Session, 2: []string{"a"}},
		"sizes a map":    map[uint64]any{1: good.Session, 2: map[uint64]uint64{1: 1}},
		"explicit empty": map[uint64]any{1: good.Session, 2: []uint64{}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := encMode.Marshal(w)
			require.NoError(t, err)
			_, err = decodeBody(TypeClaimStorage, b)
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
	// A non-shortest size (0x19 0x00 0x01 for 1) is refused.
	b := mustMarshal(&good)
	i := bytes.Index(b, []byte{0x82, 0x01, 0x02})
	require.GreaterOrEqual(t, i, 0)
	nonShortest := slices.Concat(b[:i+1], []byte{0x19, 0x00, 0x01}, b[i+2:])
	_, err := decodeBody(TypeClaimStorage, nonShortest)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = decodeBody(TypeClaimStorage, b)
	require.NoError(t, err)
}
