package consensus

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lucidnet/lucid/media"
)

// propActors are shared by the property tests: deriving keys is the slow
// part and the properties do not depend on which keys they are.
var propActors = func() []actor {
	var out []actor
	for i := range 8 {
		priv, id, err := keyFromName(fmt.Sprintf("prop-%d", i))
		if err != nil {
			panic(err)
		}
		out = append(out, actor{name: fmt.Sprint(i), priv: priv, id: id})
	}
	return out
}()

// drawProof draws an unsigned, structurally valid proof over a small
// space (6 nodes, 2 of them may use a pool, nodes 6 and 7 as clients,
// slots 0..29), so that collisions, duplicates and equivocations happen.
func drawProof(t *rapid.T) *Proof {
	ni := rapid.IntRange(0, 5).Draw(t, "node")
	n := propActors[ni]
	var pool []byte
	if ni < 2 && rapid.Bool().Draw(t, "pooled") {
		pool = []byte("P")
	}
	slot := Slot(rapid.IntRange(0, 29).Draw(t, "slot"))
	p := &Proof{Version: ProofVersion, Node: n.id, Pool: pool, Slot: slot}
	switch rapid.IntRange(0, 3).Draw(t, "type") {
	case 0:
		p.Type = TypeUptime
	case 1:
		p.Type = TypeValidation
		p.Validation = &ValidationBody{Block: blockHash(slot), Height: uint64(slot), Sessions: uint64(rapid.IntRange(0, 9).Draw(t, "sessions"))}
	case 2:
		p.Type = TypeStorage
		l := rapid.IntRange(0, 5).Draw(t, "leaf")
		p.Storage = &StorageBody{Session: sid(l), Leaf: blockHash(Slot(900 + l)), Size: uint64(1+l) * 999_999,
			Inclusion: media.Proof{Count: 1}, Slice: []byte{1}}
	case 3:
		p.Type = TypeRelay
		var rs []MeteringReceipt
		for _, s := range rapid.SliceOfNDistinct(rapid.IntRange(0, 7), 1, 3, func(i int) int { return i }).Draw(t, "sessions") {
			client := propActors[rapid.IntRange(4, 7).Draw(t, "client")] // 4, 5 are also nodes
			start := Slot(rapid.IntRange(0, int(slot)).Draw(t, "start"))
			rs = append(rs, MeteringReceipt{Session: sid(s), Host: n.id, Client: client.id, Slot: slot, Start: start,
				Bytes: rapid.Uint64Range(0, 40_000_000).Draw(t, "bytes"), Sig: make([]byte, 64)})
		}
		sortReceipts(rs)
		p.Relay = &RelayBody{Receipts: rs}
	}
	return p
}

func propParams() Params {
	p := testParams()
	p.WindowSlots = 12
	p.EpochSlots = 10
	p.ClientRelayCap = 7
	p.NodeRelayCapPerSlot = 2
	p.ReplicaTarget = 2
	return p
}

// The tally is a function of the set of proofs and misses: any order, any
// duplicates, give the same bytes.
func TestPropTallyPermutationAndDuplication(t *testing.T) {
	p := propParams()
	rapid.Check(t, func(t *rapid.T) {
		proofs := rapid.SliceOfN(rapid.Custom(drawProof), 1, 60).Draw(t, "proofs")
		var misses []Miss
		for range rapid.IntRange(0, 4).Draw(t, "misses") {
			misses = append(misses, Miss{Slot: Slot(rapid.IntRange(0, 29).Draw(t, "miss slot")), Entity: NodeEntity(propActors[rapid.IntRange(0, 5).Draw(t, "miss node")].id)})
		}
		a, err := NewTally(p)
		require.NoError(t, err)
		for _, pr := range proofs {
			require.NoError(t, a.Add(pr))
		}
		for _, m := range misses {
			require.NoError(t, a.AddMiss(m))
		}
		perm := rapid.Permutation(append(slices.Clone(proofs), rapid.SliceOfN(rapid.SampledFrom(proofs), 0, 10).Draw(t, "dups")...)).Draw(t, "perm")
		b, err := NewTally(p)
		require.NoError(t, err)
		for _, m := range rapid.Permutation(append(slices.Clone(misses), misses...)).Draw(t, "miss perm") {
			require.NoError(t, b.AddMiss(m))
		}
		for _, pr := range perm {
			require.NoError(t, b.Add(pr))
		}
		for _, at := range []Slot{0, 5, 11, 17, 29, 35} {
			ra, err := a.Compute(at)
			require.NoError(t, err)
			rb, err := b.Compute(at)
			require.NoError(t, err)
			require.Equal(t, ra.Encode(), rb.Encode(), "slot %d", at)
			checkTallyInvariants(t, p, ra)
			d, err := DecodeTally(ra.Encode())
			require.NoError(t, err)
			require.Equal(t, ra, d)
		}
	})
}

func checkTallyInvariants(t require.TestingT, p Params, r *TallyResult) {
	width := uint64(r.Slot-r.WindowStart) + 1
	require.LessOrEqual(t, width, p.WindowSlots)
	for _, e := range r.Entries {
		require.LessOrEqual(t, e.Uptime, uint64(Micro))
		require.LessOrEqual(t, e.UptimeSlots, width)
		require.LessOrEqual(t, e.LiveScore, e.Base)
		require.LessOrEqual(t, e.Base, e.Credits)
		require.Equal(t, e.Credits > 0 && e.Uptime >= p.DMin, e.Eligible)
		// The node cap bounds relay credits per node.
		require.LessOrEqual(t, e.Relay, 6*p.NodeRelayCapPerSlot*width*Micro)
	}
}

// The schedule's primary is eligible, and outside cooldown whenever some
// eligible entity is; it has the best live score among those; fallbacks
// are distinct eligible entities in order.
func TestPropLeaders(t *testing.T) {
	p := testParams()
	rapid.Check(t, func(t *rapid.T) {
		p.CooldownSlots = uint64(rapid.IntRange(1, 6).Draw(t, "cooldown"))
		p.MaxFallbacks = uint64(rapid.IntRange(0, 5).Draw(t, "fallbacks"))
		n := rapid.IntRange(0, 10).Draw(t, "entities")
		var scores []uint64
		for range n {
			scores = append(scores, rapid.Uint64Range(0, 4).Draw(t, "score")) // many ties, some ineligible
		}
		es := scored(scores...)
		for i := range es {
			es[i].Eligible = es[i].LiveScore > 0 || rapid.Bool().Draw(t, "eligible at 0")
		}
		slot := Slot(rapid.IntRange(int(p.Lag()), 1000).Draw(t, "slot"))
		recent := make([]EntityID, min(uint64(slot), p.CooldownSlots))
		for i := range recent {
			if n > 0 && rapid.Bool().Draw(t, "led") {
				recent[i] = ent(rapid.IntRange(0, n-1).Draw(t, "who"))
			}
		}
		tally := &TallyResult{Params: p.Hash(), Slot: slot - Slot(p.Lag()), Entries: es}
		var seed [32]byte
		seed[0] = byte(rapid.IntRange(0, 255).Draw(t, "seed"))
		l, err := Leaders(p, tally, seed, slot, recent)
		require.NoError(t, err)

		eligible := map[EntityID]TallyEntry{}
		free := false
		var bestFree uint64
		for _, e := range es {
			if e.Eligible {
				eligible[e.Entity] = e
				if !slices.Contains(recent, e.Entity) {
					if !free || e.LiveScore > bestFree {
						bestFree = e.LiveScore
					}
					free = true
				}
			}
		}
		if len(eligible) == 0 {
			require.Equal(t, EntityID(""), l.Primary)
			require.Empty(t, l.Fallbacks)
			return
		}
		require.Contains(t, eligible, l.Primary)
		if free {
			require.NotContains(t, recent, l.Primary, "primary in cooldown while %v was free", bestFree)
			require.Equal(t, bestFree, eligible[l.Primary].LiveScore)
		}
		require.Equal(t, min(len(eligible)-1, int(p.MaxFallbacks)), len(l.Fallbacks))
		seen := map[EntityID]bool{l.Primary: true}
		for _, f := range l.Fallbacks {
			require.Contains(t, eligible, f)
			require.False(t, seen[f])
			seen[f] = true
		}
		// Same inputs, same leaders.
		l2, _ := Leaders(p, tally, seed, slot, recent)
		require.Equal(t, l, l2)
	})
}

// Signed proofs of every type survive encode/decode and verify.
func TestPropProofEncoding(t *testing.T) {
	p := testParams()
	rapid.Check(t, func(t *rapid.T) {
		pr := drawProof(t)
		if pr.Type == TypeRelay {
			for i := range pr.Relay.Receipts {
				r := &pr.Relay.Receipts[i]
				r.Sig = nil
				for _, a := range propActors {
					if a.id == r.Client {
						require.NoError(t, r.Sign(a.priv))
					}
				}
			}
		}
		for _, a := range propActors {
			if a.id == pr.Node {
				require.NoError(t, pr.Sign(a.priv))
			}
		}
		b, err := pr.Encode()
		require.NoError(t, err)
		d, err := DecodeProof(b)
		require.NoError(t, err)
		require.Equal(t, b, mustEncode(t, d))
		if pr.Type == TypeUptime || pr.Type == TypeRelay {
			err := VerifyProof(d, p, d.Slot, VerifyContext{})
			if pr.Type == TypeRelay && slices.ContainsFunc(d.Relay.Receipts, func(r MeteringReceipt) bool { return r.Client == r.Host }) {
				requireSentinel(t, err, ErrSelfDealing)
			} else {
				require.NoError(t, err)
			}
		}
	})
}
