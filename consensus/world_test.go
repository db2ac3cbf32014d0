package consensus

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/media"
)

// world is a synthetic network history: every kind of proof from nodes
// and pools over a range of slots, some misses, and a chain with a block
// in most slots. Proofs are structurally valid (they encode) and, when
// signed, carry real signatures; storage proofs are not answers to real
// challenges (the tally does not re-verify).
type world struct {
	p       Params
	nodes   []actor
	pools   map[int][]byte // node index → pool
	clients []actor
	proofs  []*Proof
	misses  []Miss
	chain   *Chain
	slots   int
}

type worldSpec struct {
	nodes, pooled, clients, slots  int
	beacon, validate, relay, store float64 // per node per slot
	leaves                         int     // distinct chunks in the network
	misses                         int
	sign                           bool
	seed                           uint64
}

func buildWorld(tb testing.TB, p Params, ws worldSpec) *world {
	tb.Helper()
	rng := rand.New(rand.NewPCG(ws.seed, 0x10ca1))
	w := &world{p: p, pools: map[int][]byte{}, chain: NewChain(p, [32]byte{}), slots: ws.slots}
	for i := range ws.nodes {
		w.nodes = append(w.nodes, newActor(tb, fmt.Sprintf("node-%d-%d", ws.seed, i)))
		if i < ws.pooled {
			w.pools[i] = fmt.Appendf(nil, "pool-%d", i%3)
		}
	}
	for i := range ws.clients {
		w.clients = append(w.clients, newActor(tb, fmt.Sprintf("client-%d-%d", ws.seed, i)))
	}
	sign := func(a actor, pr *Proof) *Proof {
		pr.Version, pr.Node = ProofVersion, a.id
		if ws.sign {
			require.NoError(tb, pr.Sign(a.priv))
		}
		return pr
	}
	type sess struct {
		host, client int
		start        Slot
		bytes        uint64
	}
	live := map[int]*sess{} // session index → state
	nextSession := 0
	for s := range ws.slots {
		slot := Slot(s)
		if rng.Float64() < 0.9 {
			require.NoError(tb, w.chain.Append(BlockRef{Slot: slot, Hash: blockHash(slot)}))
		}
		w.chain.Complete = slot + 1
		blockSessions := uint64(rng.IntN(8))
		for i, n := range w.nodes {
			pool := w.pools[i]
			if rng.Float64() < ws.beacon {
				w.proofs = append(w.proofs, sign(n, &Proof{Type: TypeUptime, Pool: pool, Slot: slot}))
			}
			if rng.Float64() < ws.validate {
				w.proofs = append(w.proofs, sign(n, &Proof{Type: TypeValidation, Pool: pool, Slot: slot,
					Validation: &ValidationBody{Block: blockHash(slot), Height: uint64(slot), Sessions: blockSessions}}))
			}
			if rng.Float64() < ws.store {
				l := rng.IntN(ws.leaves)
				w.proofs = append(w.proofs, sign(n, &Proof{Type: TypeStorage, Pool: pool, Slot: slot, Storage: &StorageBody{
					Session: sid(l), Root: blockHash(Slot(1e9 + l)), Size: uint64(1+l%7) * 1_300_000,
					Leaf: blockHash(Slot(2e9 + l)), Inclusion: media.Proof{Index: 0, Count: 1}, Slice: []byte{1},
				}}))
			}
			if rng.Float64() < ws.relay && len(w.clients) > 0 {
				// Continue or open sessions; receipts are cumulative.
				var rs []MeteringReceipt
				for k, ss := range live {
					if ss.host == i && rng.IntN(3) > 0 {
						ss.bytes += uint64(rng.IntN(20_000_000))
						rs = append(rs, w.receipt(tb, ws.sign, k, ss.client, n, slot, ss.start, ss.bytes))
					}
				}
				if rng.IntN(2) == 0 {
					ss := &sess{host: i, client: rng.IntN(len(w.clients)), start: slot, bytes: uint64(rng.IntN(9_000_000))}
					live[nextSession] = ss
					rs = append(rs, w.receipt(tb, ws.sign, nextSession, ss.client, n, slot, ss.start, ss.bytes))
					nextSession++
				}
				if len(rs) > 0 {
					sortReceipts(rs)
					w.proofs = append(w.proofs, sign(n, &Proof{Type: TypeRelay, Pool: pool, Slot: slot, Relay: &RelayBody{Receipts: rs}}))
				}
			}
		}
	}
	for range ws.misses {
		i := rng.IntN(len(w.nodes))
		e := NodeEntity(w.nodes[i].id)
		if pl, ok := w.pools[i]; ok {
			e = PoolEntity(pl)
		}
		w.misses = append(w.misses, Miss{Slot: Slot(rng.IntN(ws.slots)), Entity: e})
	}
	return w
}

func (w *world) receipt(tb testing.TB, sign bool, session, client int, host actor, slot, start Slot, n uint64) MeteringReceipt {
	c := w.clients[client]
	r := MeteringReceipt{Session: sid(session), Host: host.id, Client: c.id, Slot: slot, Start: start, Bytes: n}
	if sign {
		require.NoError(tb, r.Sign(c.priv))
	}
	return r
}

// feed adds the world's proofs and misses to a fresh tally in the order
// given by perm (a permutation of the proofs, possibly with repeats).
func (w *world) feed(tb testing.TB, perm []int, missPerm []int) *Tally {
	tb.Helper()
	t := newTestTally(tb, w.p)
	for _, i := range perm {
		require.NoError(tb, t.Add(w.proofs[i]))
	}
	for _, i := range missPerm {
		require.NoError(tb, t.AddMiss(w.misses[i]))
	}
	return t
}
