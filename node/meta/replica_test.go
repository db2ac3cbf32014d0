package meta

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/sessions"
)

func TestGossipSpreadsUpdates(t *testing.T) {
	nodes := startNodes(t, 4, nil)
	now := time.Now()
	ids := make([]sessions.ID, 0, 8)
	for i := range 8 {
		id := newSession(t)
		ids = append(ids, id)
		nodes[i%len(nodes)].host(t, id, now)
	}
	converged(t, nodes, len(ids), 20*time.Second)
	// The host ends one; everyone sees the phase move and the counters.
	h := nodes[1]
	require.NoError(t, h.r.Update(context.Background(), ids[1], crdt.AddCounters(100, 200, 3), crdt.SetPhase(sessions.StateEnded, now.Add(time.Second))))
	converged(t, nodes, len(ids), 20*time.Second)
	for _, nd := range nodes {
		rec, ok := nd.r.Get(ids[1])
		require.True(t, ok)
		require.Equal(t, sessions.StateEnded, rec.Phase)
		require.Equal(t, crdt.Counts{BytesIn: 100, BytesOut: 200, Chunks: 3}, rec.Totals)
	}
}
