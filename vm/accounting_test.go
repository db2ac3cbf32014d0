package vm

import (
	"github.com/lucidnet/lucid/consensus"

	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCommitTally(t *testing.T) {
	c := newChain(t)
	n1, n2 := newActor(t, "n1"), newActor(t, "n2")
	e1, e2 := nodeEntity(n1.id), nodeEntity(n2.id)
	if bytes.Compare(e1, e2) > 0 {
		e1, e2 = e2, e1
	}
	tally := &CommitTally{Epoch: 0, Root: h32("t0"), Credits: []Credit{{Entity: e1, Micro: 7_000_000}, {Entity: e2, Micro: 3}}}
	// Slot 100 is in epoch 0 (720 slots): epoch 0 is not over.
	require.ErrorIs(t, c.blockAt(100, c.next(c.proposer, tally))[0].Err, ErrEpochNotOver)
	// Only the block's proposer may commit.
	require.ErrorIs(t, c.blockAt(720, c.next(n1, tally))[0].Err, ErrNotProposer)
	require.NoError(t, c.blockAt(721, c.next(c.proposer, tally))[0].Err)
	require.Equal(t, uint64(7_000_000), c.s.Credits(0, e1))
	require.Equal(t, uint64(3), c.s.Credits(0, e2))
	tr, ok := c.s.Tally(0)
	require.True(t, ok)
	require.Equal(t, h32("t0"), tr.Root)
	require.Equal(t, uint64(2), tr.Entries)
	// Once per epoch.
	require.ErrorIs(t, c.blockAt(722, c.next(c.proposer, tally))[0].Err, ErrTallyCommitted)
}

// equivocate returns evidence that a signed two headers for slot.
func equivocate(t *testing.T, a actor, slot uint64) *Equivocation {
	h1 := Header{Slot: consensus.Slot(slot), Height: 9, TxRoot: h32("one"), Proposer: a.id}
	h2 := Header{Slot: consensus.Slot(slot), Height: 9, TxRoot: h32("two"), Proposer: a.id}
	require.NoError(t, h1.Sign(a.priv))
	require.NoError(t, h2.Sign(a.priv))
	if bytes.Compare(h1.Encode(), h2.Encode()) > 0 {
		h1, h2 = h2, h1
	}
	return &Equivocation{A: h1, B: h2}
}

func TestEquivocation(t *testing.T) {
	c := newChain(t)
	bad, good, reporter := newActor(t, "bad"), newActor(t, "good"), newActor(t, "reporter")
	eb, eg := nodeEntity(bad.id), nodeEntity(good.id)
	credits := []Credit{{Entity: eb, Micro: 100}, {Entity: eg, Micro: 200}}
	if bytes.Compare(eb, eg) > 0 {
		credits[0], credits[1] = credits[1], credits[0]
	}
	require.NoError(t, c.blockAt(800, c.next(c.proposer, &CommitTally{Epoch: 0, Root: h32("t"), Credits: credits}))[0].Err)
	require.Equal(t, uint64(100), c.s.Credits(0, eb))

	// Bad evidence: different slots, different proposers, a forged signature.
	ev := equivocate(t, bad, 10)
	other := equivocate(t, bad, 11)
	require.ErrorIs(t, c.one(c.next(reporter, &Equivocation{A: ev.A, B: other.B})), ErrBadEvidence)
	mixed := equivocate(t, good, 10)
	x := &Equivocation{A: ev.A, B: mixed.B}
	if bytes.Compare(x.A.Encode(), x.B.Encode()) > 0 {
		x.A, x.B = x.B, x.A
	}
	require.ErrorIs(t, c.one(c.next(reporter, x)), ErrBadEvidence)
	forged := *ev
	forged.B.Sig = bytes.Clone(forged.B.Sig)
	forged.B.Sig[5] ^= 1
	if bytes.Compare(forged.A.Encode(), forged.B.Encode()) < 0 {
		require.ErrorIs(t, c.one(c.next(reporter, &forged)), ErrBadEvidence)
	}
	require.Equal(t, uint64(100), c.s.Credits(0, eb))

	// Valid evidence takes the proposer's credits for the epoch of the slot.
	require.NoError(t, c.one(c.next(reporter, ev)))
	require.Equal(t, uint64(0), c.s.Credits(0, eb))
	require.Equal(t, uint64(200), c.s.Credits(0, eg))
	require.True(t, c.s.Slashed(0, eb))
	require.ErrorIs(t, c.one(c.next(reporter, equivocate(t, bad, 12))), ErrAlreadySlashed)

	// Evidence before the epoch's tally: the tally then records nothing for
	// the slashed entity.
	require.NoError(t, c.one(c.next(reporter, equivocate(t, bad, 720+5))))
	require.NoError(t, c.blockAt(1500, c.next(c.proposer, &CommitTally{Epoch: 1, Root: h32("t1"), Credits: credits}))[0].Err)
	require.Equal(t, uint64(0), c.s.Credits(1, eb))
	require.Equal(t, uint64(200), c.s.Credits(1, eg))
	tr, _ := c.s.Tally(1)
	require.Equal(t, uint64(1), tr.Entries)
}
