package vm

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
)

// govChain has four eligible nodes (quorum 50 % = 2 votes, voting 10
// blocks, timelock 6) and one ineligible node.
func govChain(t *testing.T) (*chain, []actor, actor) {
	c := newChain(t)
	var nodes []actor
	for _, n := range []string{"g0", "g1", "g2", "g3"} {
		a := newActor(t, n)
		nodes = append(nodes, a)
		c.eligible = append(c.eligible, a.id)
	}
	return c, nodes, newActor(t, "outsider")
}

func (c *chain) proposal(id uint64) Proposal {
	p, ok := c.s.Proposal(id)
	require.True(c.tb, ok)
	return p
}

func TestGovernanceAppliesAtTimelock(t *testing.T) {
	c, n, _ := govChain(t)
	require.NoError(t, c.one(c.next(n[0], &ProposeParam{Name: ParamMaxBlockTxs, Value: 10}))) // height 1
	p := c.proposal(1)
	require.Equal(t, uint64(11), p.Deadline)
	require.Equal(t, uint64(17), p.ApplyAt)
	require.Equal(t, uint64(4), p.Electorate)
	require.Equal(t, uint64(2), p.Quorum)
	require.NoError(t, c.one(c.next(n[1], &Vote{Proposal: 1, Yes: true})))
	require.NoError(t, c.one(c.next(n[2], &Vote{Proposal: 1, Yes: true})))
	require.NoError(t, c.one(c.next(n[3], &Vote{Proposal: 1})))
	for c.s.Height() < 11 {
		p = c.proposal(1)
		require.ErrorIs(t, p.Err(), ErrVotingOpen)
		c.block()
	}
	c.block() // height 12: the vote closes
	p = c.proposal(1)
	require.Equal(t, StatusPassed, p.Status)
	require.ErrorIs(t, p.Err(), ErrTimelock)
	require.Equal(t, [2]uint64{2, 1}, [2]uint64{p.Yes, p.No})

	a := newActor(t, "sender")
	eleven := func() [][]byte {
		var txs [][]byte
		for i := range 11 {
			txs = append(txs, a.tx(t, uint64(i), register(i, 1)))
		}
		return txs
	}
	for c.s.Height() < 15 {
		c.block()
	}
	// Height 16 still runs under 1000 transactions per block.
	s16, _, err := ApplyBlock(c.s, BlockInput{Height: 16, Slot: c.s.Slot() + 1, Proposer: c.proposer.id, Txs: eleven()})
	require.NoError(t, err)
	v, _ := s16.Param(ParamMaxBlockTxs)
	require.Equal(t, uint64(1000), v)
	c.block()
	require.ErrorIs(t, c.proposal(1).Err(), ErrTimelock)
	// Height 17 is the first block under 10.
	_, _, err = ApplyBlock(c.s, BlockInput{Height: 17, Slot: c.s.Slot() + 1, Proposer: c.proposer.id, Txs: eleven()})
	require.ErrorIs(t, err, ErrBlockLimit)
	c.block()
	v, _ = c.s.Param(ParamMaxBlockTxs)
	require.Equal(t, uint64(10), v)
	p = c.proposal(1)
	require.Equal(t, StatusApplied, p.Status)
	require.NoError(t, p.Err())
}

func TestGovernanceBelowQuorumAndRejected(t *testing.T) {
	c, n, _ := govChain(t)
	require.NoError(t, c.one(c.next(n[0], &ProposeParam{Name: "cooldown_slots", Value: 32})))
	require.NoError(t, c.one(c.next(n[0], &ProposeParam{Name: "cooldown_slots", Value: 8})))
	require.NoError(t, c.one(c.next(n[1], &Vote{Proposal: 1, Yes: true}))) // 1 of 2 needed
	require.NoError(t, c.one(c.next(n[1], &Vote{Proposal: 2, Yes: true})))
	require.NoError(t, c.one(c.next(n[2], &Vote{Proposal: 2, Yes: false}))) // tie: not a majority
	for c.s.Height() < 30 {
		c.block()
	}
	p1, p2 := c.proposal(1), c.proposal(2)
	require.ErrorIs(t, p1.Err(), ErrBelowQuorum)
	require.ErrorIs(t, p2.Err(), ErrRejected)
	v, _ := c.s.Param("cooldown_slots")
	require.Equal(t, uint64(16), v)
}

func TestGovernanceRejections(t *testing.T) {
	c, n, out := govChain(t)
	for _, tc := range []struct {
		name  string
		value uint64
		want  error
	}{
		{"no_such_param", 1, ErrUnknownParam},
		{ParamSlotLengthMs, 120_000, ErrImmutableParam},
		{ParamEpochSlots, 720, ErrImmutableParam},
		{"cooldown_slots", 7, ErrParamOutOfBounds},
		{"cooldown_slots", 65, ErrParamOutOfBounds},
		{"d_min", 600_000, ErrParamOutOfBounds},
		{ParamMaxBlockBytes, 1 << 30, ErrParamOutOfBounds},
		{"confirmation_blocks", 0, ErrParamOutOfBounds},
	} {
		require.ErrorIs(t, c.one(c.next(n[0], &ProposeParam{Name: tc.name, Value: tc.value})), tc.want, tc.name)
	}
	// (max_fallbacks + 1) × slot_timeout_ms ≤ slot_length_ms.
	require.NoError(t, c.one(c.next(n[0], &ProposeParam{Name: ParamSlotTimeoutMs, Value: 10_000})))
	require.NoError(t, c.one(c.next(n[0], &ProposeParam{Name: ParamMaxFallbacks, Value: 16}))) // fits the current 5 s timeout
	_, ok := c.s.Proposal(2)
	require.True(t, ok)

	require.ErrorIs(t, c.one(c.next(out, &ProposeParam{Name: "cooldown_slots", Value: 32})), ErrNotEligible)
	require.ErrorIs(t, c.one(c.next(out, &Vote{Proposal: 1, Yes: true})), ErrNotEligible)
	require.ErrorIs(t, c.one(c.next(n[1], &Vote{Proposal: 9, Yes: true})), ErrUnknownProposal)
	require.NoError(t, c.one(c.next(n[1], &Vote{Proposal: 1, Yes: true})))
	require.ErrorIs(t, c.one(c.next(n[1], &Vote{Proposal: 1, Yes: false})), ErrDoubleVote)
	// Eligibility is per block: a node out of this block's set cannot vote.
	saved := c.eligible
	c.eligible = []peer.ID{n[0].id, n[1].id}
	require.ErrorIs(t, c.one(c.next(n[2], &Vote{Proposal: 1, Yes: true})), ErrNotEligible)
	c.eligible = saved
	deadline := c.proposal(1).Deadline
	for c.s.Height() < deadline {
		c.block()
	}
	require.ErrorIs(t, c.one(c.next(n[2], &Vote{Proposal: 1, Yes: true})), ErrVotingClosed)
	p := c.proposal(1)
	require.Equal(t, uint64(1), p.Yes)
	require.ErrorIs(t, p.Err(), ErrBelowQuorum)
}

// Two proposals that pass separately but break the cross-parameter
// constraint together: the second fails when it would take effect.
func TestGovernanceCrossConstraintAtApply(t *testing.T) {
	c, n, _ := govChain(t)
	require.NoError(t, c.one(c.next(n[0], &ProposeParam{Name: ParamSlotTimeoutMs, Value: 10_000})))
	require.NoError(t, c.one(c.next(n[0], &ProposeParam{Name: ParamMaxFallbacks, Value: 16})))
	for id := uint64(1); id <= 2; id++ {
		require.NoError(t, c.one(c.next(n[1], &Vote{Proposal: id, Yes: true})))
		require.NoError(t, c.one(c.next(n[2], &Vote{Proposal: id, Yes: true})))
	}
	for c.s.Height() < 30 {
		c.block()
	}
	p1, p2 := c.proposal(1), c.proposal(2)
	require.NoError(t, p1.Err())
	require.ErrorIs(t, p2.Err(), ErrParamOutOfBounds)
	v, _ := c.s.Param(ParamMaxFallbacks)
	require.Equal(t, uint64(5), v)
}

func TestGenesisOverrides(t *testing.T) {
	_, err := Genesis(map[string]uint64{"nope": 1})
	require.ErrorIs(t, err, ErrUnknownParam)
	_, err = Genesis(map[string]uint64{"cooldown_slots": 1})
	require.ErrorIs(t, err, ErrParamOutOfBounds)
	_, err = Genesis(map[string]uint64{ParamMaxFallbacks: 16, ParamSlotTimeoutMs: 10_000})
	require.ErrorIs(t, err, ErrParamOutOfBounds)
	s, err := Genesis(nil)
	require.NoError(t, err)
	for _, p := range Params() {
		v, ok := s.Param(p.Name)
		require.True(t, ok)
		require.Equal(t, p.Default, v, p.Name)
		require.GreaterOrEqual(t, v, p.Min, p.Name)
		require.LessOrEqual(t, v, p.Max, p.Name)
	}
}

func TestGovernanceCrossConstraintAtProposal(t *testing.T) {
	a := newActor(t, "a")
	s, err := Genesis(map[string]uint64{ParamSlotTimeoutMs: 10_000, ParamMaxFallbacks: 11})
	require.NoError(t, err)
	_, rs, err := ApplyBlock(s, BlockInput{Height: 1, Proposer: a.id, Eligible: []peer.ID{a.id},
		Txs: [][]byte{a.tx(t, 0, &ProposeParam{Name: ParamMaxFallbacks, Value: 12})}})
	require.NoError(t, err)
	require.ErrorIs(t, rs[0].Err, ErrParamOutOfBounds)
}
