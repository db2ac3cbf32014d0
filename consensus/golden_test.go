package consensus

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/lucidnet/lucid/internal/golden"
	"github.com/stretchr/testify/require"
)

// The golden vector pins the formats and the rules byte for byte: the
// default parameters, one proof of each type and a receipt, and the tally
// and schedule of a small handcrafted network (no random numbers, so the
// vector does not depend on the Go release). A change to an encoding, a
// hash domain, a credit rule, the ranking or the cooldown shows up here.
// Run with -update (or LUCID_UPDATE_GOLDEN=1) to rewrite the file after
// an intended change and review the diff: nodes on the old rules would
// disagree with the new ones, so it needs a new version or a fork slot.

type goldenFile struct {
	Description    string            `json:"description"`
	DefaultParams  string            `json:"default_params"`
	DefaultHash    string            `json:"default_params_hash"`
	Params         string            `json:"params"`
	Proofs         map[string]string `json:"proofs"`
	Receipt        string            `json:"receipt"`
	Tally          string            `json:"tally"`
	TallyHash      string            `json:"tally_hash"`
	Schedule       string            `json:"schedule"`
	ScheduleHash   string            `json:"schedule_hash"`
	ScheduleLegend []string          `json:"schedule_legend"`
}

// goldenNetwork: five nodes (n0, n1 in pool "golden-pool"), two clients,
// one recording stored by n2 and n3, slots 0..39 with a block in every
// slot but 13 and 27; n2, primary of slot 30, misses it.
func goldenNetwork(tb testing.TB) (Params, *Tally, *Chain, []actor) {
	tb.Helper()
	p := testParams()
	p.WindowSlots = 20
	p.EpochSlots = 25
	p.CooldownSlots = 2
	p.MaxFallbacks = 2
	var nodes []actor
	for i := range 5 {
		nodes = append(nodes, newActor(tb, fmt.Sprintf("golden-node-%d", i)))
	}
	clients := []actor{newActor(tb, "golden-client-0"), newActor(tb, "golden-client-1")}
	pool := func(i int) []byte {
		if i < 2 {
			return []byte("golden-pool")
		}
		return nil
	}
	f := newFakeChain(p)
	for s := Slot(0); s < 40; s++ {
		if s != 13 && s != 27 {
			f.addBlock(tb, s, uint64(s%4))
		}
	}
	f.chain.Complete = 40
	rec := newRecording(sid(500), 4, 3000, 1500)
	set, err := NewClaimSet([]StorageClaim{rec.claim()})
	require.NoError(tb, err)
	f.claims[nodes[2].id], f.claims[nodes[3].id] = set, set
	ta := newTestTally(tb, p)
	for s := Slot(0); s < 40; s++ {
		for i, n := range nodes {
			if (int(s)+i)%3 != 0 || i == 4 {
				addAll(tb, ta, uptimeProof(tb, n, pool(i), s))
			}
			if info, ok := f.blocks[blockHash(s)]; ok && i <= int(s)%5 {
				addAll(tb, ta, validationProof(tb, n, pool(i), s, info.Sessions))
			}
			if (i == 2 || i == 3) && s%4 == Slot(i) {
				pr := proveFor(tb, p, n, nil, f, s, rec)
				require.NoError(tb, VerifyProof(pr, p, s, f.ctx()))
				addAll(tb, ta, pr)
			}
		}
		if s%5 == 1 {
			c := clients[int(s/5)%2]
			host := nodes[int(s/5)%3]
			addAll(tb, ta, relayProof(tb, host, pool(int(s/5)%3), s,
				signedReceipt(tb, c, host.id, sid(int(s)), s, s-1, uint64(s)*1_700_000),
				signedReceipt(tb, c, host.id, sid(1000), s, 0, uint64(s)*3_100_000)))
		}
	}
	require.NoError(tb, ta.AddMiss(Miss{Slot: 30, Entity: NodeEntity(nodes[2].id)}))
	return p, ta, f.chain, nodes
}

func TestGolden(t *testing.T) {
	p, ta, chain, nodes := goldenNetwork(t)
	tally, err := ta.Compute(35)
	require.NoError(t, err)
	sched, err := Schedule(p, ta, chain, nil, 0, 40)
	require.NoError(t, err)
	_, f, proofs := sampleProofs(t)
	_ = f
	got := goldenFile{
		Description: "consensus v1: DefaultParams; testParams with window 20, epoch 25, cooldown 2, 2 fallbacks; " +
			"one proof of each type (sampleProofs); the tally at slot 35 and the schedule of slots 0..39 of goldenNetwork",
		DefaultParams: hex.EncodeToString(DefaultParams().Encode()),
		Params:        hex.EncodeToString(p.Encode()),
		Proofs:        map[string]string{},
		Tally:         hex.EncodeToString(tally.Encode()),
		Schedule:      hex.EncodeToString(EncodeSchedule(sched)),
	}
	dh := DefaultParams().Hash()
	got.DefaultHash = hex.EncodeToString(dh[:])
	th := tally.Hash()
	got.TallyHash = hex.EncodeToString(th[:])
	sh := ScheduleHash(sched)
	got.ScheduleHash = hex.EncodeToString(sh[:])
	for _, pr := range proofs {
		got.Proofs[pr.Type.String()] = hex.EncodeToString(mustEncode(t, pr))
	}
	rb, err := proofs[0].Relay.Receipts[0].Encode()
	require.NoError(t, err)
	got.Receipt = hex.EncodeToString(rb)
	names := map[EntityID]string{PoolEntity([]byte("golden-pool")): "pool"}
	for i, n := range nodes {
		names[NodeEntity(n.id)] = fmt.Sprintf("n%d", i)
	}
	for _, l := range sched {
		line := fmt.Sprintf("%d: %s", l.Slot, names[l.Primary])
		if l.Primary == "" {
			line = fmt.Sprintf("%d: none", l.Slot)
		}
		for _, fb := range l.Fallbacks {
			line += " " + names[fb]
		}
		got.ScheduleLegend = append(got.ScheduleLegend, line)
	}

	path := filepath.Join("testdata", "golden.json")
	var want goldenFile
	golden.JSON(t, path, got, &want)
	require.Equal(t, want, got)

	// The checked-in bytes decode and re-encode to themselves.
	raw, _ := hex.DecodeString(want.Tally)
	dt, err := DecodeTally(raw)
	require.NoError(t, err)
	require.Equal(t, raw, dt.Encode())
	raw, _ = hex.DecodeString(want.Schedule)
	ds, err := DecodeSchedule(raw)
	require.NoError(t, err)
	require.Equal(t, raw, EncodeSchedule(ds))
	raw, _ = hex.DecodeString(want.Params)
	dp, err := DecodeParams(raw)
	require.NoError(t, err)
	require.Equal(t, raw, dp.Encode())
	for _, h := range want.Proofs {
		raw, _ = hex.DecodeString(h)
		d, err := DecodeProof(raw)
		require.NoError(t, err)
		require.Equal(t, raw, mustEncode(t, d))
	}
}
