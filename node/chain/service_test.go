package chain

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/consensus"
)

// waitSlot sleeps until slot has begun.
func waitSlot(t testing.TB, p consensus.Params, slot consensus.Slot) {
	t.Helper()
	time.Sleep(time.Until(p.SlotStart(slot)))
}

func params(t testing.TB, g *chain.Genesis) consensus.Params {
	st, err := g.State()
	require.NoError(t, err)
	p, err := chain.ConsensusParams(st, g.Time)
	require.NoError(t, err)
	return p
}

// sameHead waits until every node has the same head, and returns it.
func sameHead(t *testing.T, nodes []*testNode, within time.Duration) HeadInfo {
	t.Helper()
	var h HeadInfo
	defer func() {
		if t.Failed() {
			for i, nd := range nodes {
				o := nd.chain.Head()
				t.Logf("node %d: head %d %s…, final %d %s…", i, o.Height, o.Hash[:12], o.FinalHeight, o.FinalHash[:12])
			}
		}
	}()
	require.Eventually(t, func() bool {
		h = nodes[0].chain.Head()
		for _, nd := range nodes[1:] {
			o := nd.chain.Head()
			if o.Hash != h.Hash || o.StateRoot != h.StateRoot {
				return false
			}
		}
		return true
	}, within, 5*time.Millisecond)
	return h
}

// TestNodesProduceOneChain: ten nodes on loopback run the chain for 100
// one-second slots (30 with -short): leadership passes from the
// bootstrap node to the nodes that earn credits, every node ends with
// the same head and state root, and finality follows the head.
func TestNodesProduceOneChain(t *testing.T) {
	slots := consensus.Slot(100)
	if testing.Short() {
		slots = 30
	}
	// Finality twelve blocks deep: with one-second slots, ten nodes and
	// the race detector on a loaded 2-core machine, blocks can arrive
	// seconds late; six blocks of such lag could finalize two branches.
	nodes, g := startNodes(t, 10, func(g *chain.Genesis) { g.Params["confirmation_blocks"] = 12 })
	p := params(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relayWork(ctx, t, nodes, p, func(int) bool { return true })
	waitSlot(t, p, slots+1)
	// Freeze production so that the heads can be compared at rest.
	for _, nd := range nodes {
		nd.chain.stopProducing()
	}
	h := sameHead(t, nodes, 30*time.Second)
	t.Logf("head %d at slot %d, final %d", h.Height, h.Slot, h.FinalHeight)
	require.GreaterOrEqual(t, h.Height, uint64(slots)/2, "most slots have a block")
	require.Equal(t, h.Height-12, h.FinalHeight)

	proposers := map[string]int{}
	misses := 0
	for ht := uint64(1); ht <= h.Height; ht++ {
		b, err := nodes[3].chain.BlockByHeight(ctx, ht)
		require.NoError(t, err)
		require.True(t, b.Canonical)
		proposers[b.Proposer]++
		misses += len(b.Misses)
	}
	t.Logf("proposers %d, misses %d", len(proposers), misses)
	require.Greater(t, len(proposers), 5, "leadership rotates among the earning nodes")
}

// TestLeaderOfflineFallback: the primary of an upcoming slot is stopped;
// its first fallback produces the slot's block after one slot timeout and
// the block records the primary's miss.
func TestLeaderOfflineFallback(t *testing.T) {
	nodes, g := startNodes(t, 5)
	p := params(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var down atomic.Int32
	down.Store(-1)
	relayWork(ctx, t, nodes, p, func(i int) bool { return int32(i) != down.Load() })
	// Wait until leadership has left the bootstrap node.
	var target consensus.Slot
	var primary peer.ID
	require.Eventually(t, func() bool {
		// The schedule of slot t is fixed once slot t − L has a block or
		// ended (L = 1 here): take the slot after the head's, early
		// enough to stop its primary first.
		h := nodes[1].chain.Head()
		next := consensus.Slot(h.Slot + 1)
		if h.Slot != h.CurrentSlot || time.Until(p.SlotStart(next)) < p.SlotLength/2 {
			return false
		}
		var l consensus.SlotLeaders
		var err error
		nodes[1].chain.Engine(func(e *chain.Engine) {
			hd := e.Head()
			l, err = e.Leaders(hd.Hash(), next)
		})
		if err != nil || l.Primary == "" || len(l.Fallbacks) == 0 {
			return false
		}
		id, _ := l.Primary.Node()
		if id == nodes[0].id {
			return false
		}
		target, primary = next, id
		return true
	}, 60*time.Second, 50*time.Millisecond)
	for i, nd := range nodes {
		if nd.id == primary {
			down.Store(int32(i))
			nd.chain.stopProducing()
		}
	}
	up := nodes[(int(down.Load())+1)%len(nodes)]
	// When did the slot's block reach a node that stayed up?
	watcher := up.chain
	waitSlot(t, p, target)
	var at time.Duration
	require.Eventually(t, func() bool {
		if watcher.Head().Slot >= uint64(target) {
			at = time.Since(p.SlotStart(target))
			return true
		}
		return false
	}, 2*p.SlotLength, time.Millisecond)
	t.Logf("slot %d: fallback block after %v (leader timeout %v)", target, at, p.SlotTimeout)
	var found bool
	for ht := uint64(1); ; ht++ {
		b, err := up.chain.BlockByHeight(ctx, ht)
		require.NoError(t, err)
		if b.Slot < uint64(target) {
			continue
		}
		require.Equal(t, uint64(target), b.Slot, "the slot has a block")
		require.NotEqual(t, primary.String(), b.Proposer)
		require.Contains(t, b.Misses, MissInfo{Slot: uint64(target), Entity: primary.String()})
		found = true
		break
	}
	require.True(t, found)
}

// TestPartitionHeal: the network splits in two for a few slots (fewer
// than the confirmation depth) and both sides keep producing; after the
// heal every node holds one chain, and no node's final blocks changed.
func TestPartitionHeal(t *testing.T) {
	// Finality twelve blocks deep: on a loaded machine (race detector,
	// parallel packages) a lagging side can have forked a few blocks
	// before the partition began, and the test is about healing a
	// partition shorter than the finality depth.
	nodes, g := startNodes(t, 6, func(g *chain.Genesis) { g.Params["confirmation_blocks"] = 12 })
	p := params(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relayWork(ctx, t, nodes, p, func(int) bool { return true })
	waitSlot(t, p, 12)
	finals := make([]map[uint64]string, len(nodes)) // height → hash, per node
	record := func() {
		for i, nd := range nodes {
			if finals[i] == nil {
				finals[i] = map[uint64]string{}
			}
			h := nd.chain.Head()
			for ht := uint64(1); ht <= h.FinalHeight; ht++ {
				b, err := nd.chain.BlockByHeight(ctx, ht)
				require.NoError(t, err)
				if old, ok := finals[i][ht]; ok {
					require.Equal(t, old, b.Hash, "node %d: final block %d changed", i, ht)
				}
				finals[i][ht] = b.Hash
			}
		}
	}
	record()
	a, b := nodes[:3], nodes[3:]
	partition(a, b)
	start := p.SlotAt(time.Now())
	waitSlot(t, p, start+4)
	ha, hb := a[0].chain.Head(), b[0].chain.Head()
	t.Logf("during the partition: heads %d (%s…) and %d (%s…)", ha.Height, ha.Hash[:8], hb.Height, hb.Hash[:8])
	require.NotEqual(t, ha.Hash, hb.Hash, "both sides produced their own blocks")
	record()
	heal(nodes)
	waitSlot(t, p, start+7)
	for _, nd := range nodes {
		nd.chain.stopProducing()
	}
	h := sameHead(t, nodes, 15*time.Second)
	t.Logf("after the heal: head %d, final %d", h.Height, h.FinalHeight)
	record()
}

// TestRestartAndLateJoin: a node restarted from its store resumes at its
// head and catches up; a node that joins late syncs from genesis over the
// fetch protocol; both end on the network's head.
func TestRestartAndLateJoin(t *testing.T) {
	nodes, g := startNodes(t, 4)
	p := params(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relayWork(ctx, t, nodes, p, func(int) bool { return true })
	waitSlot(t, p, 10)
	before := nodes[3].chain.Head()
	stopServices(t, nodes[3])
	waitSlot(t, p, 13)
	startServices(t, nodes[3], g)
	resumed := nodes[3].chain.Head()
	require.GreaterOrEqual(t, resumed.Height, before.Height, "the restarted node resumes from its store")
	late := joinNode(t, nodes, g)
	waitSlot(t, p, 18)
	all := append(nodes, late)
	for _, nd := range all {
		nd.chain.stopProducing()
	}
	h := sameHead(t, all, 15*time.Second)
	t.Logf("restarted at %d (was %d), late joiner synced to %d", resumed.Height, before.Height, h.Height)
}

// TestSnapshotSync: a node that joins a running chain starts from a
// snapshot two peers vouch for, fetching only the history the schedule
// needs, and then follows the network's head.
func TestSnapshotSync(t *testing.T) {
	nodes, g := startNodes(t, 4)
	p := params(t, g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	relayWork(ctx, t, nodes, p, func(int) bool { return true })
	// Snapshots every 8 final blocks: one exists once 8 blocks are final.
	require.Eventually(t, func() bool { return nodes[1].chain.Head().FinalHeight >= 10 }, 60*time.Second, 100*time.Millisecond)
	late := joinNode(t, nodes, g, func(c *Config) { c.SnapshotSync = true })
	require.Eventually(t, func() bool { return late.chain.Head().FinalHeight >= 8 }, 20*time.Second, 50*time.Millisecond)
	require.GreaterOrEqual(t, late.chain.Head().SnapshotHeight, uint64(8), "it started from a snapshot")
	waitSlot(t, p, p.SlotAt(time.Now())+3)
	all := append(nodes, late)
	for _, nd := range all {
		nd.chain.stopProducing()
	}
	h := sameHead(t, all, 15*time.Second)
	t.Logf("late joiner follows head %d from a snapshot", h.Height)
}
