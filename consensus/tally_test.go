package consensus

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func newTestTally(tb testing.TB, p Params) *Tally {
	tb.Helper()
	t, err := NewTally(p)
	require.NoError(tb, err)
	return t
}

func addAll(tb testing.TB, t *Tally, ps ...*Proof) {
	tb.Helper()
	for _, p := range ps {
		require.NoError(tb, t.Add(p))
	}
}

func entryOf(tb testing.TB, r *TallyResult, e EntityID) TallyEntry {
	tb.Helper()
	x, ok := r.Entry(e)
	require.True(tb, ok, "no entry for %s", e)
	return x
}

func compute(tb testing.TB, t *Tally, at Slot) *TallyResult {
	tb.Helper()
	r, err := t.Compute(at)
	require.NoError(tb, err)
	return r
}

const MB = 1_000_000

func TestTallyUptime(t *testing.T) {
	p := testParams() // window 100
	a, b := newActor(t, "a"), newActor(t, "b")
	ta := newTestTally(t, p)
	for s := Slot(0); s < 200; s += 4 {
		addAll(t, ta, uptimeProof(t, a, nil, s))
	}
	// Two nodes of one pool: the union of their slots counts.
	for s := Slot(100); s < 200; s += 2 {
		addAll(t, ta, uptimeProof(t, a, []byte("P"), s), uptimeProof(t, b, []byte("P"), s+1))
	}
	r := compute(t, ta, 199)
	require.Equal(t, Slot(100), r.WindowStart)
	ea := entryOf(t, r, NodeEntity(a.id))
	require.Equal(t, uint64(25), ea.UptimeSlots)
	require.Equal(t, uint64(250_000), ea.Uptime)
	ep := entryOf(t, r, PoolEntity([]byte("P")))
	require.Equal(t, uint64(100), ep.UptimeSlots)
	require.Equal(t, uint64(Micro), ep.Uptime)
	require.False(t, ep.Eligible, "no credits, not eligible")

	// Near genesis the window is the slots that exist: 10 beacons in
	// slots 0..9 is full uptime at slot 9.
	r = compute(t, ta, 9)
	require.Equal(t, Slot(0), r.WindowStart)
	require.Equal(t, uint64(3), entryOf(t, r, NodeEntity(a.id)).UptimeSlots) // 0, 4, 8
	require.Equal(t, uint64(300_000), entryOf(t, r, NodeEntity(a.id)).Uptime)
}

func TestTallyRelayCredits(t *testing.T) {
	p := testParams()
	host, c1, c2 := newActor(t, "host"), newActor(t, "c1"), newActor(t, "c2")
	ta := newTestTally(t, p)
	// Session 1 (client c1): cumulative receipts 3, 7, 12 MB in slots
	// 10..12; the largest counts once: 12 MB.
	for i, n := range []uint64{3, 7, 12} {
		s := Slot(10 + i)
		addAll(t, ta, relayProof(t, host, nil, s, signedReceipt(t, c1, host.id, sid(1), s, 10, n*MB)))
	}
	r := compute(t, ta, 50)
	e := entryOf(t, r, NodeEntity(host.id))
	require.Equal(t, uint64(3*Micro), e.Relay, "ceil(12 MB / 5 MB) = 3")
	require.Equal(t, uint64(12*MB), e.RelayBytes)
	require.Equal(t, uint64(1), e.RelaySessions)

	// Four tiny sessions of client c2 in one slot: the session term wins:
	// max(4, ceil(4 KB / 5 MB)) = 4 for c2, plus 3 for c1.
	var rs []MeteringReceipt
	for i := range 4 {
		rs = append(rs, signedReceipt(t, c2, host.id, sid(100+i), 20, 20, 1000))
	}
	addAll(t, ta, relayProof(t, host, nil, 20, rs...))
	e = entryOf(t, compute(t, ta, 50), NodeEntity(host.id))
	require.Equal(t, uint64(7*Micro), e.Relay)

	// Replaying, duplicating or equivocating changes nothing: the same
	// receipts again, and a second proof for slot 12 with an older receipt.
	addAll(t, ta, relayProof(t, host, nil, 12, signedReceipt(t, c1, host.id, sid(1), 12, 10, 12*MB)))
	addAll(t, ta, relayProof(t, host, nil, 12, signedReceipt(t, c1, host.id, sid(1), 12, 10, 5*MB)))
	addAll(t, ta, relayProof(t, host, nil, 20, rs...))
	require.Equal(t, e, entryOf(t, compute(t, ta, 50), NodeEntity(host.id)))
}

func TestTallyRelayLongSession(t *testing.T) {
	p := testParams() // window 100
	host, c := newActor(t, "host"), newActor(t, "c")
	ta := newTestTally(t, p)
	// A session that started at slot 0 and carries 1 MB per slot.
	for s := Slot(0); s < 300; s += 10 {
		addAll(t, ta, relayProof(t, host, nil, s, signedReceipt(t, c, host.id, sid(1), s, 0, uint64(s+1)*MB)))
	}
	// Window [200, 299]: receipts at 200..290 carry 201..291 MB; the session
	// started before the window, so only its growth inside counts: 90 MB.
	e := entryOf(t, compute(t, ta, 299), NodeEntity(host.id))
	require.Equal(t, uint64(90*MB), e.RelayBytes)
	require.Equal(t, uint64(18*Micro), e.Relay)
	// Window [0, 99]: it started inside, so everything counts: 91 MB.
	e = entryOf(t, compute(t, ta, 99), NodeEntity(host.id))
	require.Equal(t, uint64(91*MB), e.RelayBytes)
	require.Equal(t, uint64(19*Micro), e.Relay)
}

func TestTallyRelayCaps(t *testing.T) {
	p := testParams()
	p.ClientRelayCap = 1000
	p.NodeRelayCapPerSlot = 50 // 5,000 per 100-slot window
	host, c := newActor(t, "host"), newActor(t, "c")
	ta := newTestTally(t, p)
	// One client claims 1 TB: capped at 1,000 credits.
	addAll(t, ta, relayProof(t, host, nil, 10, signedReceipt(t, c, host.id, sid(1), 10, 10, 1_000_000*MB)))
	e := entryOf(t, compute(t, ta, 99), NodeEntity(host.id))
	require.Equal(t, uint64(1000*Micro), e.Relay)
	// Ten more such clients: the node cap (50 × 100 slots) binds.
	for i := range 10 {
		cl := newActor(t, "client-"+string(rune('a'+i)))
		addAll(t, ta, relayProof(t, host, nil, Slot(11+i), signedReceipt(t, cl, host.id, sid(10+i), Slot(11+i), 11, 1_000_000*MB)))
	}
	e = entryOf(t, compute(t, ta, 99), NodeEntity(host.id))
	require.Equal(t, uint64(5000*Micro), e.Relay)
	// Early in the chain the cap scales with the slots that exist.
	e = entryOf(t, compute(t, ta, 11), NodeEntity(host.id))
	require.Equal(t, uint64(600*Micro), e.Relay, "cap 50 × 12 slots")
}

func TestTallyRelayClientIsNode(t *testing.T) {
	p := testParams()
	a, b, c := newActor(t, "a"), newActor(t, "b"), newActor(t, "c")
	ta := newTestTally(t, p)
	// a and b relay for each other with their node keys; c is a plain
	// client.
	addAll(t, ta,
		relayProof(t, a, nil, 10, signedReceipt(t, b, a.id, sid(1), 10, 10, 500*MB)),
		relayProof(t, b, nil, 10, signedReceipt(t, a, b.id, sid(2), 10, 10, 500*MB)),
		relayProof(t, a, nil, 11, signedReceipt(t, c, a.id, sid(3), 11, 11, 5*MB)),
	)
	r := compute(t, ta, 50)
	require.Equal(t, uint64(1*Micro), entryOf(t, r, NodeEntity(a.id)).Relay, "only c's session counts")
	require.Equal(t, uint64(0), entryOf(t, r, NodeEntity(b.id)).Relay)
	// A key that publishes any proof in the window is a node, not a
	// client: c's beacon voids the sessions it "received".
	addAll(t, ta, uptimeProof(t, c, nil, 40))
	require.Equal(t, uint64(0), entryOf(t, compute(t, ta, 50), NodeEntity(a.id)).Relay)
	// Once c's beacon leaves the window, it is a client again.
	require.Equal(t, uint64(Micro), entryOf(t, compute(t, ta, 39), NodeEntity(a.id)).Relay)
}

func TestTallyStorageCredits(t *testing.T) {
	p := testParams() // 2 per chunk, 10 per GB, replicas 3
	ta := newTestTally(t, p)
	leaf := func(i byte) [32]byte { return [32]byte{i} }
	storage := func(a actor, s Slot, l [32]byte, size uint64) *Proof {
		return &Proof{Version: ProofVersion, Type: TypeStorage, Node: a.id, Slot: s,
			Storage: &StorageBody{Session: sid(1), Leaf: l, Size: size}}
	}
	a := newActor(t, "a")
	// Two distinct chunks (5 MB and 1 GB), the first proven twice.
	addAll(t, ta, storage(a, 10, leaf(1), 5*MB), storage(a, 11, leaf(1), 5*MB), storage(a, 12, leaf(2), 1000*MB))
	e := entryOf(t, compute(t, ta, 50), NodeEntity(a.id))
	require.Equal(t, uint64(2), e.Chunks)
	// 2 + 10 × 0.005 = 2.05 and 2 + 10 × 1 = 12 credits.
	require.Equal(t, uint64(2_050_000+12_000_000), e.Storage)

	// Five entities prove the same chunk: three full credits are shared.
	tb := newTestTally(t, p)
	var holders []actor
	for i := range 5 {
		h := newActor(t, "holder-"+string(rune('0'+i)))
		holders = append(holders, h)
		addAll(t, tb, storage(h, Slot(10+i), leaf(7), 5*MB))
	}
	r := compute(t, tb, 50)
	var total uint64
	for _, h := range holders {
		x := entryOf(t, r, NodeEntity(h.id))
		require.Equal(t, uint64(2_050_000*3/5), x.Storage)
		total += x.Storage
	}
	require.Equal(t, uint64(3*2_050_000), total)
}

func TestTallyValidationCredits(t *testing.T) {
	p := testParams()
	a, b := newActor(t, "a"), newActor(t, "b")
	ta := newTestTally(t, p)
	addAll(t, ta,
		validationProof(t, a, []byte("P"), 10, 7),
		validationProof(t, b, []byte("P"), 10, 7), // same block, same pool: once
		validationProof(t, a, []byte("P"), 11, 3),
		validationProof(t, b, nil, 11, 3),
	)
	r := compute(t, ta, 50)
	require.Equal(t, uint64(5*10*Micro), entryOf(t, r, PoolEntity([]byte("P"))).Validation)
	require.Equal(t, uint64(2), entryOf(t, r, PoolEntity([]byte("P"))).Blocks)
	require.Equal(t, uint64(5*3*Micro), entryOf(t, r, NodeEntity(b.id)).Validation)
}

// D_min: an entity is eligible iff it has credits and uptime ≥ DMin. This
// test fails if eligibility ignores uptime, uses > instead of ≥, or
// ignores credits.
func TestTallyDMin(t *testing.T) {
	p := testParams() // window 100, DMin 0.2
	ta := newTestTally(t, p)
	at, below, rich, idle := newActor(t, "at"), newActor(t, "below"), newActor(t, "rich"), newActor(t, "idle")
	for s := Slot(0); s < 20; s++ {
		addAll(t, ta, uptimeProof(t, at, nil, s), uptimeProof(t, idle, nil, s))
	}
	for s := Slot(0); s < 19; s++ {
		addAll(t, ta, uptimeProof(t, below, nil, s))
	}
	for s := Slot(0); s < 5; s++ {
		addAll(t, ta, uptimeProof(t, rich, nil, s))
	}
	addAll(t, ta,
		validationProof(t, at, nil, 50, 1),
		validationProof(t, below, nil, 50, 1),
		validationProof(t, rich, nil, 50, 100), // 100 × more credits, 5 % uptime
	)
	r := compute(t, ta, 99)
	require.True(t, entryOf(t, r, NodeEntity(at.id)).Eligible, "uptime exactly 0.2")
	require.Equal(t, uint64(200_000), entryOf(t, r, NodeEntity(at.id)).Uptime)
	require.False(t, entryOf(t, r, NodeEntity(below.id)).Eligible, "uptime 0.19")
	require.False(t, entryOf(t, r, NodeEntity(rich.id)).Eligible, "uptime 0.05 despite most credits")
	require.Greater(t, entryOf(t, r, NodeEntity(rich.id)).LiveScore, entryOf(t, r, NodeEntity(at.id)).LiveScore)
	require.False(t, entryOf(t, r, NodeEntity(idle.id)).Eligible, "no credits")
	// Live score is credits × uptime.
	e := entryOf(t, r, NodeEntity(at.id))
	require.Equal(t, uint64(5*Micro), e.Credits)
	require.Equal(t, uint64(1_000_000), e.LiveScore)
}

func TestTallyMissPenalty(t *testing.T) {
	p := testParams() // epoch 50, penalty 0.5
	ta := newTestTally(t, p)
	a := newActor(t, "a")
	for s := Slot(0); s < 150; s++ {
		addAll(t, ta, uptimeProof(t, a, nil, s))
	}
	addAll(t, ta, validationProof(t, a, nil, 40, 2)) // 10 credits, window covers slot 40 until slot 139
	e := NodeEntity(a.id)
	require.NoError(t, ta.AddMiss(Miss{Slot: 60, Entity: e}))
	require.NoError(t, ta.AddMiss(Miss{Slot: 70, Entity: e}))
	require.NoError(t, ta.AddMiss(Miss{Slot: 70, Entity: e})) // same miss again
	require.Equal(t, uint64(10*Micro), entryOf(t, compute(t, ta, 59), e).LiveScore)
	require.Equal(t, uint64(5*Micro), entryOf(t, compute(t, ta, 60), e).LiveScore)
	x := entryOf(t, compute(t, ta, 99), e)
	require.Equal(t, uint64(10*Micro/4), x.LiveScore)
	require.Equal(t, uint64(2), x.Misses)
	require.Equal(t, uint64(10*Micro), x.Base)
	require.True(t, x.Eligible, "penalties lower the rank, not eligibility")
	// A new epoch starts clean.
	require.Equal(t, uint64(10*Micro), entryOf(t, compute(t, ta, 100), e).LiveScore)
	requireSentinel(t, ta.AddMiss(Miss{Slot: 1, Entity: "bad"}), ErrInvalidArgument)
}

func TestTallyPrune(t *testing.T) {
	p := testParams()
	ta := newTestTally(t, p)
	a := newActor(t, "a")
	for s := Slot(0); s < 300; s++ {
		addAll(t, ta, uptimeProof(t, a, nil, s))
	}
	before := compute(t, ta, 299)
	ta.Prune(200)
	require.Equal(t, before.Hash(), compute(t, ta, 299).Hash())
	_, err := ta.Compute(298)
	requireSentinel(t, err, ErrPruned)
	requireSentinel(t, ta.Add(uptimeProof(t, a, nil, 199)), ErrPruned)
	require.Equal(t, 100, ta.Stats().Slots)
	require.Equal(t, 100, ta.Stats().Beacons)
}

func TestTallyEncoding(t *testing.T) {
	p := testParams()
	ta := newTestTally(t, p)
	a, b, c := newActor(t, "a"), newActor(t, "b"), newActor(t, "c")
	for s := Slot(0); s < 60; s++ {
		addAll(t, ta, uptimeProof(t, a, nil, s), uptimeProof(t, b, []byte("pool"), s))
	}
	addAll(t, ta, validationProof(t, a, nil, 55, 3),
		relayProof(t, b, []byte("pool"), 56, signedReceipt(t, c, b.id, sid(1), 56, 50, 77*MB)))
	require.NoError(t, ta.AddMiss(Miss{Slot: 57, Entity: NodeEntity(a.id)}))
	r := compute(t, ta, 59)
	b1 := r.Encode()
	d, err := DecodeTally(b1)
	require.NoError(t, err)
	require.Equal(t, r, d)
	require.Equal(t, b1, d.Encode())

	// Inconsistent derived fields are refused.
	bad := *r
	bad.Entries = append([]TallyEntry(nil), r.Entries...)
	bad.Entries[0].Credits++
	_, err = DecodeTally(bad.Encode())
	requireSentinel(t, err, ErrMalformed)
	bad.Entries[0] = r.Entries[0]
	bad.Entries[0], bad.Entries[1] = bad.Entries[1], bad.Entries[0]
	_, err = DecodeTally(bad.Encode())
	requireSentinel(t, err, ErrMalformed)
}
