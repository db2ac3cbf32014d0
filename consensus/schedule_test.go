package consensus

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// staticTallies returns the same entries as the tally of every slot.
type staticTallies struct {
	p       Params
	entries []TallyEntry
}

func (s staticTallies) TallyAt(at Slot) (*TallyResult, error) {
	return &TallyResult{Params: s.p.Hash(), Slot: at, Entries: s.entries}, nil
}

// entities returns n pool entities "e00".."e(n-1)" with the given live
// scores (all eligible unless score is 0).
func scored(scores ...uint64) []TallyEntry {
	var es []TallyEntry
	for i, s := range scores {
		es = append(es, TallyEntry{Entity: PoolEntity(fmt.Appendf(nil, "e%02d", i)), LiveScore: s, Eligible: s > 0})
	}
	slices.SortFunc(es, func(a, b TallyEntry) int { return bytes.Compare([]byte(a.Entity), []byte(b.Entity)) })
	return es
}

func ent(i int) EntityID { return PoolEntity(fmt.Appendf(nil, "e%02d", i)) }

// openChain is a chain whose seeds are known for every slot: a block in
// every slot.
func openChain(p Params, n int) *Chain {
	c := NewChain(p, [32]byte{})
	for s := range n {
		_ = c.Append(BlockRef{Slot: Slot(s), Hash: blockHash(Slot(s))})
	}
	return c
}

func schedule(tb testing.TB, p Params, src TallySource, c Seeds, from Slot, n int) []SlotLeaders {
	tb.Helper()
	s, err := Schedule(p, src, c, make([]EntityID, min(uint64(from), p.CooldownSlots)), from, n)
	require.NoError(tb, err)
	return s
}

// Cooldown: an entity is not primary again within CooldownSlots slots
// while others are eligible; the best entity leads every CooldownSlots+1
// slots. Fails if cooldown is ignored (the best entity would lead every
// slot) or mis-sized.
func TestScheduleCooldown(t *testing.T) {
	p := testParams() // cooldown 3
	src := staticTallies{p, scored(900, 800, 700, 600, 500, 400)}
	s := schedule(t, p, src, openChain(p, 200), 10, 40)
	for i, l := range s {
		want := ent(i % 4) // e00..e03 rotate; e04, e05 never lead
		require.Equal(t, want, l.Primary, "slot %d", l.Slot)
		for j := max(0, i-int(p.CooldownSlots)); j < i; j++ {
			require.NotEqual(t, s[j].Primary, l.Primary, "slot %d repeats the primary of slot %d", l.Slot, s[j].Slot)
		}
	}
	// Fewer eligible entities than CooldownSlots+1: round-robin, least
	// recently primary first.
	src = staticTallies{p, scored(900, 100)}
	s = schedule(t, p, src, openChain(p, 200), 10, 6)
	var got []EntityID
	for _, l := range s {
		got = append(got, l.Primary)
	}
	require.Equal(t, []EntityID{ent(0), ent(1), ent(0), ent(1), ent(0), ent(1)}, got)

	// The history given by the caller counts too.
	hist := []EntityID{"", ent(0), ent(1)}
	l, err := Leaders(p, mustTally(t, src, 10-Slot(p.Lag())), [32]byte{}, 10, hist)
	require.NoError(t, err)
	require.Equal(t, ent(0), l.Primary, "e00 led longer ago than e01")
}

func mustTally(tb testing.TB, src TallySource, s Slot) *TallyResult {
	tb.Helper()
	r, err := src.TallyAt(s)
	require.NoError(tb, err)
	return r
}

// Ties are broken by TieKey(seed, slot, entity), never by local state or
// entity order. Fails if ties fall back to entity order (e00 would always
// win) or ignore the seed.
func TestScheduleTieBreak(t *testing.T) {
	p := testParams()
	src := staticTallies{p, scored(500, 500, 500, 500, 100)}
	tally := mustTally(t, src, 0)
	wins := map[EntityID]int{}
	for i := range 200 {
		seed := blockHash(Slot(1000 + i))
		slot := Slot(50 + i)
		want := ent(0)
		for j := 1; j < 4; j++ {
			a, b := TieKey(seed, slot, ent(j)), TieKey(seed, slot, want)
			if bytes.Compare(a[:], b[:]) < 0 {
				want = ent(j)
			}
		}
		r := mustTally(t, src, slot-Slot(p.Lag()))
		l, err := Leaders(p, r, seed, slot, make([]EntityID, p.CooldownSlots))
		require.NoError(t, err)
		require.Equal(t, want, l.Primary)
		// The lower score never wins a tie it is not part of.
		require.NotEqual(t, ent(4), l.Primary)
		wins[l.Primary]++
		// Same inputs, same answer (no hidden randomness).
		again, _ := Leaders(p, r, seed, slot, make([]EntityID, p.CooldownSlots))
		require.Equal(t, l, again)
	}
	require.Len(t, wins, 4, "every tied entity wins some seeds")
	for e, n := range wins {
		require.Greater(t, n, 20, "%s won %d of 200", e, n)
	}
	// Ranking depends on the seed and the slot.
	r1 := Ranking(tally, [32]byte{1}, 7)
	r2 := Ranking(tally, [32]byte{2}, 7)
	r3 := Ranking(tally, [32]byte{1}, 8)
	require.Equal(t, ent(4), r1[4])
	require.False(t, slices.Equal(r1, r2) && slices.Equal(r1, r3), "seed and slot both feed the tie-break")
}

// Ineligible entities never lead, whatever their score. Fails if the
// schedule ranks all entries.
func TestScheduleDMin(t *testing.T) {
	p := testParams()
	es := scored(100, 200, 300)
	es = append(es, TallyEntry{Entity: PoolEntity([]byte("zz-top")), LiveScore: 1 << 60, Eligible: false})
	src := staticTallies{p, es}
	for _, l := range schedule(t, p, src, openChain(p, 100), 10, 30) {
		require.NotEqual(t, PoolEntity([]byte("zz-top")), l.Primary)
		require.NotContains(t, l.Fallbacks, PoolEntity([]byte("zz-top")))
	}
	// Nobody eligible: no primary (the bootstrap rule applies).
	src = staticTallies{p, []TallyEntry{{Entity: ent(0), LiveScore: 5}}}
	for _, l := range schedule(t, p, src, openChain(p, 100), 10, 5) {
		require.Equal(t, EntityID(""), l.Primary)
		_, ok := l.LeaderAt(p, 0)
		require.False(t, ok)
	}
	// Before the first tally (slot < Lag) nobody is eligible either.
	s := schedule(t, p, src, openChain(p, 100), 0, int(p.Lag()))
	for _, l := range s {
		require.Equal(t, EntityID(""), l.Primary)
	}
}

// Fallbacks are the next entities in rank order (outside cooldown first),
// each taking over SlotTimeout later. Fails if fallbacks are unordered,
// include the primary or a cooling entity ahead of an available one, or
// if LeaderAt's timing is off.
func TestScheduleFallbacks(t *testing.T) {
	p := testParams() // timeout 100 ms, 3 fallbacks, cooldown 3
	src := staticTallies{p, scored(10, 90, 80, 70, 60, 50, 40)}
	tally := mustTally(t, src, 20-Slot(p.Lag()))
	// e01 (best) and e02 are cooling.
	l, err := Leaders(p, tally, [32]byte{}, 20, []EntityID{ent(1), "", ent(2)})
	require.NoError(t, err)
	require.Equal(t, ent(3), l.Primary)
	require.Equal(t, []EntityID{ent(4), ent(5), ent(6)}, l.Fallbacks)
	for _, c := range []struct {
		at   time.Duration
		want EntityID
	}{
		{0, ent(3)}, {99 * time.Millisecond, ent(3)},
		{100 * time.Millisecond, ent(4)}, {250 * time.Millisecond, ent(5)},
		{300 * time.Millisecond, ent(6)}, {399 * time.Millisecond, ent(6)},
		{400 * time.Millisecond, ""}, {-time.Millisecond, ""}, {time.Second, ""},
	} {
		got, ok := l.LeaderAt(p, c.at)
		require.Equal(t, c.want, got, "at %s", c.at)
		require.Equal(t, c.want != "", ok)
	}
	r, ok := l.Rank(ent(5))
	require.True(t, ok)
	require.Equal(t, 2, r)
	_, ok = l.Rank(ent(1))
	require.False(t, ok)

	// With few available entities the cooling ones follow, least recently
	// primary first.
	src = staticTallies{p, scored(90, 80, 70)}
	l, err = Leaders(p, mustTally(t, src, 20-Slot(p.Lag())), [32]byte{}, 20, []EntityID{ent(1), ent(0), ""})
	require.NoError(t, err)
	require.Equal(t, ent(2), l.Primary)
	require.Equal(t, []EntityID{ent(1), ent(0)}, l.Fallbacks)
}

// A missed slot lowers the entity's live score for the rest of the epoch;
// the schedule sees it Lag slots later.
func TestScheduleMissPenalty(t *testing.T) {
	p := testParams() // epoch 50, penalty 0.5, lag 4
	p.CooldownSlots = 1
	ta := newTestTally(t, p)
	a, b, c := newActor(t, "a"), newActor(t, "b"), newActor(t, "c")
	for s := Slot(0); s < 200; s++ {
		addAll(t, ta, uptimeProof(t, a, nil, s), uptimeProof(t, b, nil, s), uptimeProof(t, c, nil, s))
	}
	// Credits 30, 25, 20.
	addAll(t, ta, validationProof(t, a, nil, 5, 6), validationProof(t, b, nil, 5, 5), validationProof(t, c, nil, 5, 4))
	ea, eb, ec := NodeEntity(a.id), NodeEntity(b.id), NodeEntity(c.id)
	ch := openChain(p, 200)
	s := schedule(t, p, ta, ch, 60, 10)
	for i, l := range s {
		require.Equal(t, []EntityID{ea, eb}[i%2], l.Primary, "slot %d", l.Slot)
	}
	// a misses slot 60: its score halves (30 → 15, below c's 20) in the
	// tallies at slots 60..99, i.e. for the schedule of slots 64..103.
	require.NoError(t, ta.AddMiss(Miss{Slot: 60, Entity: ea}))
	s2 := schedule(t, p, ta, ch, 60, 44)
	require.Equal(t, s[:4], s2[:4], "slots before 60+Lag are unchanged")
	for i, l := range s2[4:] {
		require.Equal(t, []EntityID{ec, eb}[i%2], l.Primary, "slot %d: a ranks last", l.Slot)
	}
	// The next epoch's tallies (slots ≥ 100 + Lag) start clean.
	s3 := schedule(t, p, ta, ch, 104, 1)
	require.Equal(t, ea, s3[0].Primary)
}

// The schedule of slot t depends only on blocks at slots ≤ t − Lookahead:
// later blocks do not change it, and it is unknown until that slot ends.
func TestScheduleLookahead(t *testing.T) {
	p := testParams() // lookahead 2
	src := staticTallies{p, scored(5, 5, 5, 5, 5, 5)}
	c := NewChain(p, [32]byte{})
	for s := Slot(0); s <= 30; s++ {
		require.NoError(t, c.Append(BlockRef{Slot: s, Hash: blockHash(s)}))
	}
	before := schedule(t, p, src, c, 20, 13) // slots 20..32 need blocks ≤ 30
	_, err := Schedule(p, src, c, make([]EntityID, p.CooldownSlots), 20, 14)
	requireSentinel(t, err, ErrUnknownSeed)
	require.NoError(t, c.Append(BlockRef{Slot: 31, Hash: [32]byte{0xff}}))
	after := schedule(t, p, src, c, 20, 13)
	require.Equal(t, before, after)
	// Without a block in slot 31, slot 33's seed falls back to block 30.
	c.Complete = 32
	seed, ok := c.Seed(33)
	require.True(t, ok)
	require.Equal(t, [32]byte{0xff}, seed)
	seed, ok = c.Seed(32)
	require.True(t, ok)
	require.Equal(t, blockHash(30), seed)
	g, ok := NewChain(p, [32]byte{7}).Seed(1)
	require.True(t, ok)
	require.Equal(t, [32]byte{7}, g)
	require.Error(t, c.Append(BlockRef{Slot: 31}))
}

func TestLeadersArguments(t *testing.T) {
	p := testParams()
	src := staticTallies{p, scored(5)}
	good := mustTally(t, src, 10-Slot(p.Lag()))
	_, err := Leaders(p, good, [32]byte{}, 10, nil)
	requireSentinel(t, err, ErrInvalidArgument)
	_, err = Leaders(p, good, [32]byte{}, 11, make([]EntityID, 3))
	requireSentinel(t, err, ErrWrongTally)
	_, err = Leaders(p, nil, [32]byte{}, 10, make([]EntityID, 3))
	requireSentinel(t, err, ErrWrongTally)
	other := p
	other.MissPenalty = 1
	_, err = Leaders(other, good, [32]byte{}, 10, make([]EntityID, 3))
	requireSentinel(t, err, ErrWrongTally)
	_, err = Leaders(p, good, [32]byte{}, 1, make([]EntityID, 1))
	requireSentinel(t, err, ErrWrongTally)
	_, err = Schedule(p, src, openChain(p, 10), nil, 5, 1)
	requireSentinel(t, err, ErrInvalidArgument)
	_, err = Schedule(p, src, openChain(p, 10), make([]EntityID, 3), 5, -1)
	requireSentinel(t, err, ErrInvalidArgument)
}

func TestScheduleEncoding(t *testing.T) {
	p := testParams()
	s := schedule(t, p, staticTallies{p, scored(9, 8, 7, 6, 5, 4)}, openChain(p, 100), 0, 30)
	b := EncodeSchedule(s)
	d, err := DecodeSchedule(b)
	require.NoError(t, err)
	require.Equal(t, s, d)
	require.Equal(t, b, EncodeSchedule(d))
	dup := slices.Clone(s)
	dup[10].Fallbacks = []EntityID{dup[10].Primary}
	_, err = DecodeSchedule(EncodeSchedule(dup))
	requireSentinel(t, err, ErrMalformed)
	rev := slices.Clone(s)
	rev[0], rev[1] = rev[1], rev[0]
	_, err = DecodeSchedule(EncodeSchedule(rev))
	requireSentinel(t, err, ErrMalformed)
}
