package crdt

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/lucidnet/lucid/sessions"
)

// The property tests run random operation histories on four replicas (two
// hosts, two relays) over a handful of sessions, with random delivery
// (gated by Authorize, as the shell does), clock skew and time passing,
// and then check the CRDT laws and the package's promises.

var (
	propHosts    = []ReplicaID{hostA, hostB}
	propRelays   = []ReplicaID{relayR, relayS}
	propReplicas = []ReplicaID{hostA, hostB, relayR, relayS}
	propPool     = [][]byte{[]byte("sealed-1"), []byte("sealed-2"), []byte("sealed-3"), []byte("s4")}
)

const (
	propSessions = 6
	// propRetention is short so that compaction happens within histories.
	propRetention = 20 * time.Minute
)

type world struct {
	nodes  map[ReplicaID]*node
	skew   map[ReplicaID]time.Duration
	log    []Delta
	owner  map[int]ReplicaID
	now    time.Time
	phases map[ReplicaID]map[sessions.ID]sessions.State
}

func newWorld(t *rapid.T) *world {
	w := &world{
		nodes:  map[ReplicaID]*node{},
		skew:   map[ReplicaID]time.Duration{},
		owner:  map[int]ReplicaID{},
		now:    t0,
		phases: map[ReplicaID]map[sessions.ID]sessions.State{},
	}
	for _, r := range propReplicas {
		w.nodes[r] = newNode(r)
		w.nodes[r].m = NewMap(Params{Retention: propRetention})
		// Skews stay within ±2 minutes, so any two differ by less than
		// DefaultMaxSkew.
		w.skew[r] = time.Duration(rapid.IntRange(-120, 120).Draw(t, "skew")) * time.Second
		w.phases[r] = map[sessions.ID]sessions.State{}
	}
	return w
}

func (w *world) localNow(r ReplicaID) time.Time { return w.now.Add(w.skew[r]) }

func drawChange(t *rapid.T, now time.Time) Change {
	switch rapid.IntRange(0, 9).Draw(t, "kind") {
	case 0:
		p := rapid.SampledFrom([]sessions.State{sessions.StateActive, sessions.StateEnded, sessions.StateFailed}).Draw(t, "phase")
		return SetPhase(p, now)
	case 1:
		return AddCounters(rapid.Uint64Range(0, 1000).Draw(t, "in"), rapid.Uint64Range(0, 1000).Draw(t, "out"), rapid.Uint64Range(0, 3).Draw(t, "chunks"))
	case 2, 9:
		return AddRelay(rapid.SampledFrom(propRelays).Draw(t, "relay"))
	case 3:
		return RemoveRelay(rapid.SampledFrom(propRelays).Draw(t, "relay"))
	case 4:
		return AddParticipant(rapid.SampledFrom(propPool).Draw(t, "participant"))
	case 5:
		return RemoveParticipant(rapid.SampledFrom(propPool).Draw(t, "participant"))
	case 6:
		return SetPrivate(rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "private"))
	case 7:
		var h [32]byte
		h[0] = rapid.Byte().Draw(t, "manifest")
		return SetManifest(h)
	case 8:
		return SetAnchor(Anchor{
			Status: AnchorStatus(rapid.IntRange(0, 3).Draw(t, "status")),
			Ref:    rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(t, "ref"),
		})
	}
	panic("unreachable")
}

// pending reports whether err only means "not yet": a prerequisite delta
// has not arrived.
func pending(err error) bool {
	return errors.Is(err, ErrUnknownSession) || errors.Is(err, ErrNotRelay)
}

func (w *world) local(t *rapid.T, among []ReplicaID) {
	r := rapid.SampledFrom(among).Draw(t, "replica")
	k := rapid.IntRange(0, propSessions-1).Draw(t, "session")
	if !slices.Contains(propHosts, r) && rapid.IntRange(0, 3).Draw(t, "relay-picks-own") > 0 {
		// Mostly count on sessions the relay knows it relays for.
		var mine []int
		for i := range propSessions {
			if rec, ok := w.nodes[r].m.Get(sid(i)); ok && slices.Contains(rec.Relays, r) {
				mine = append(mine, i)
			}
		}
		if len(mine) > 0 {
			k = rapid.SampledFrom(mine).Draw(t, "own-session")
		}
	}
	n, id, now := w.nodes[r], sid(k), w.localNow(r)
	var changes []Change
	isHost := slices.Contains(propHosts, r)
	switch {
	case isHost && w.owner[k] == "":
		changes = append(changes, Create(r, "ssh", now))
		w.owner[k] = r
	case isHost:
		for range rapid.IntRange(1, 3).Draw(t, "changes") {
			changes = append(changes, drawChange(t, now))
		}
	default:
		changes = append(changes, AddCounters(rapid.Uint64Range(0, 1000).Draw(t, "in"), rapid.Uint64Range(0, 1000).Draw(t, "out"), 0))
	}
	d, err := n.m.Update(r, n.clock, now, id, changes...)
	switch {
	case err == nil:
		if !d.IsEmpty() {
			require.True(t, n.m.Covers(d), "own update not applied")
			w.log = append(w.log, d)
		}
	case isHost && w.owner[k] != r:
		// Another host's session: the local check refuses to write it.
		require.True(t, errors.Is(err, ErrNotHost) || errors.Is(err, ErrUnknownSession) || errors.Is(err, ErrInvalidTransition) || errors.Is(err, ErrNotRelay), "%v", err)
	case isHost:
		require.ErrorIs(t, err, ErrInvalidTransition)
	default:
		require.True(t, pending(err), "%v", err)
	}
}

func (w *world) deliver(t *rapid.T) {
	if len(w.log) == 0 {
		return
	}
	r := rapid.SampledFrom(propReplicas).Draw(t, "to")
	d := w.log[rapid.IntRange(0, len(w.log)-1).Draw(t, "delta")]
	n := w.nodes[r]
	if err := n.m.Authorize(d, d.Author(), w.localNow(r)); err != nil {
		require.True(t, pending(err), "honest delta rejected: %v", err)
		return
	}
	n.m.Merge(d)
}

func (w *world) checkPhases(t *rapid.T) {
	for r, n := range w.nodes {
		n.m.Range(func(rec Record) bool {
			prev := w.phases[r][rec.ID]
			require.GreaterOrEqual(t, rec.Phase, prev, "phase went backwards on %s", r)
			w.phases[r][rec.ID] = rec.Phase
			return true
		})
	}
}

// deliverAll merges every delta into m through Authorize, retrying those
// that wait for a prerequisite, until nothing changes; all must be
// accepted in the end.
func deliverAll(t require.TestingT, m *Map, ds []Delta, now time.Time) {
	todo := slices.Clone(ds)
	for len(todo) > 0 {
		var next []Delta
		for _, d := range todo {
			if err := m.Authorize(d, d.Author(), now); err != nil {
				require.True(t, pending(err), "honest delta rejected: %v", err)
				next = append(next, d)
				continue
			}
			m.Merge(d)
		}
		require.Less(t, len(next), len(todo), "no progress: %d deltas stuck", len(next))
		todo = next
	}
}

func (w *world) run(t *rapid.T) {
	steps := rapid.IntRange(1, 150).Draw(t, "steps")
	for range steps {
		switch rapid.IntRange(0, 13).Draw(t, "action") {
		case 0, 1, 2:
			w.local(t, propHosts)
		case 3, 4:
			w.local(t, propReplicas)
		case 5, 6:
			w.local(t, propRelays)
		case 7, 8, 9, 10:
			w.deliver(t)
		case 11:
			// Anti-entropy between two replicas leaves them equal.
			a := w.nodes[rapid.SampledFrom(propReplicas).Draw(t, "sync-a")].m
			b := w.nodes[rapid.SampledFrom(propReplicas).Draw(t, "sync-b")].m
			syncPair(t, a, b, w.now.Add(3*time.Minute))
			// Equal, up to compaction one side may not have done yet.
			far := w.now.Add(24 * time.Hour)
			ac, bc := a.Clone(), b.Clone()
			ac.Compact(far, 0)
			bc.Compact(far, 0)
			require.Equal(t, ac.Digest(), bc.Digest(), "anti-entropy did not converge")
		case 12:
			r := rapid.SampledFrom(propReplicas).Draw(t, "compactor")
			w.nodes[r].m.Compact(w.localNow(r), 0)
		default:
			w.now = w.now.Add(time.Duration(rapid.IntRange(0, 600_000).Draw(t, "tick")) * time.Millisecond)
		}
		w.checkPhases(t)
	}
}

// shuffled returns ds in a random order with random duplicates.
func shuffled(t *rapid.T, ds []Delta, label string) []Delta {
	out := slices.Clone(ds)
	for range rapid.IntRange(0, len(ds)).Draw(t, label+"-dups") {
		out = append(out, ds[rapid.IntRange(0, len(ds)-1).Draw(t, label+"-dup")])
	}
	perm := rapid.Permutation(out).Draw(t, label+"-perm")
	return perm
}

func TestPropConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newWorld(t)
		w.run(t)
		end := w.now.Add(time.Hour)
		// Compaction at endC covers every ended session, whenever each
		// replica compacted before.
		endC := end.Add(24 * time.Hour)

		// Every replica that receives everything, in whatever order it
		// got things so far and whenever it compacted, ends at the same
		// state.
		var digest [32]byte
		for i, r := range propReplicas {
			n := w.nodes[r]
			deliverAll(t, n.m, shuffled(t, w.log, "final"), end)
			n.m.Compact(endC, 0)
			if i == 0 {
				digest = n.m.Digest()
			}
			require.Equal(t, digest, n.m.Digest(), "replica %s diverged", r)
		}
		w.checkPhases(t)
		ref := w.nodes[hostA].m

		// Any order and any duplication of plain merges gives the same.
		for _, label := range []string{"a", "b"} {
			m := NewMap(Params{})
			for _, d := range shuffled(t, w.log, label) {
				m.Merge(d)
			}
			m.Compact(endC, propRetention)
			require.Equal(t, digest, m.Digest())
		}

		// Replicas that merged the same subset, in different orders, agree.
		if len(w.log) > 0 {
			var subset []Delta
			for _, d := range w.log {
				if rapid.Bool().Draw(t, "in-subset") {
					subset = append(subset, d)
				}
			}
			m1, m2 := NewMap(Params{}), NewMap(Params{})
			for _, d := range shuffled(t, subset, "s1") {
				m1.Merge(d)
			}
			for _, d := range shuffled(t, subset, "s2") {
				m2.Merge(d)
			}
			require.Equal(t, m1.Digest(), m2.Digest())
			require.Equal(t, m1.Snapshot(), m2.Snapshot())
		}

		// No acknowledged update is lost.
		for i, d := range w.log {
			require.True(t, ref.Covers(d), "delta %d lost", i)
		}

		// Deltas survive encoding.
		for _, d := range w.log {
			d2, err := DecodeDelta(d.Encode())
			require.NoError(t, err)
			require.Equal(t, d.Encode(), d2.Encode())
			require.True(t, d.Covers(d2) && d2.Covers(d))
		}

		// Snapshots round-trip, byte for byte.
		snap := ref.Snapshot()
		m := NewMap(Params{})
		_, err := m.LoadSnapshot(snap)
		require.NoError(t, err)
		require.Equal(t, digest, m.Digest())
		require.Equal(t, snap, m.Snapshot())

		// The per-author decomposition is exact and passes Authorize in
		// the order given, so it can carry state transfer.
		fresh := NewMap(Params{})
		ads := ref.AuthorDeltas(ref.IDs()...)
		for _, d := range ads {
			require.NoError(t, fresh.Authorize(d, d.Author(), end), "author delta rejected")
			fresh.Merge(d)
			rd, err := DecodeDelta(d.Encode())
			require.NoError(t, err)
			require.LessOrEqual(t, len(rd.Encode()), MaxDeltaSize)
		}
		fresh.Compact(endC, propRetention)
		require.Equal(t, digest, fresh.Digest())

		// An author's contribution to a session, as AuthorDelta extracts
		// it, is exactly the join of that author's deltas for it.
		plain := NewMap(Params{})
		byAuthor := map[string][]Delta{}
		for _, d := range w.log {
			plain.Merge(d)
			require.Len(t, d.IDs(), 1)
			k := fmt.Sprint(d.Author(), d.IDs()[0])
			byAuthor[k] = append(byAuthor[k], d)
		}
		for _, ds := range byAuthor {
			j, err := JoinDeltas(ds...)
			require.NoError(t, err)
			for _, d := range ds {
				require.True(t, j.Covers(d))
			}
			ad, ok := plain.AuthorDelta(ds[0].IDs()[0], ds[0].Author())
			require.True(t, ok)
			require.True(t, ad.Covers(j) && j.Covers(ad), "AuthorDelta is not the join of the author's deltas")
		}
	})
}

// TestPropJoinLaws checks commutativity, associativity and idempotence of
// the state join on random states (maps built from random subsets of a
// random history), through MergeMap and through snapshots.
func TestPropJoinLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newWorld(t)
		w.run(t)
		state := func(label string) *Map {
			m := NewMap(Params{})
			for _, d := range w.log {
				if rapid.Bool().Draw(t, label) {
					m.Merge(d)
				}
			}
			return m
		}
		a, b, c := state("a"), state("b"), state("c")
		join := func(x, y *Map) *Map {
			z := x.Clone()
			z.MergeMap(y)
			return z
		}
		require.Equal(t, join(a, b).Digest(), join(b, a).Digest(), "not commutative")
		require.Equal(t, join(join(a, b), c).Digest(), join(a, join(b, c)).Digest(), "not associative")
		require.Equal(t, a.Digest(), join(a, a).Digest(), "not idempotent")
		ab := join(a, b)
		require.Equal(t, ab.Digest(), join(ab, a).Digest(), "join is not an upper bound")
		// The same through snapshots (state transfer between trusted nodes).
		viaSnap := a.Clone()
		_, err := viaSnap.LoadSnapshot(b.Snapshot())
		require.NoError(t, err)
		require.Equal(t, ab.Digest(), viaSnap.Digest())
	})
}
