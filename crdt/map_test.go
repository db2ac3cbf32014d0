package crdt

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

func TestUpdateMergeGet(t *testing.T) {
	h, r, other := newNode(hostA), newNode(relayR), newNode(hostB)
	id := sid(1)
	ds := fullSession(t, h, relayR, id, t0)
	for _, d := range ds {
		r.deliver(t, t0.Add(2*time.Hour), d)
	}
	dr := r.update(t, t0.Add(30*time.Minute), id, AddCounters(10, 20, 0))
	h.deliver(t, t0.Add(2*time.Hour), dr)
	for _, d := range append(ds, dr) {
		other.deliver(t, t0.Add(2*time.Hour), d)
	}
	require.Equal(t, h.m.Digest(), r.m.Digest())
	require.Equal(t, h.m.Digest(), other.m.Digest())

	got, ok := other.m.Get(id)
	require.True(t, ok)
	require.Equal(t, hostA, got.Host)
	require.Equal(t, "rdp", got.Service)
	require.Equal(t, t0, got.CreatedAt)
	require.Equal(t, sessions.StateEnded, got.Phase)
	require.Equal(t, t0.Add(time.Second), got.StartedAt)
	require.Equal(t, t0.Add(time.Hour), got.EndedAt)
	require.Equal(t, Counts{BytesIn: 1010, BytesOut: 2020, Chunks: 3}, got.Totals)
	require.Len(t, got.Counters, 2)
	require.Equal(t, []ReplicaID{relayR}, got.Relays)
	require.Equal(t, [][]byte{[]byte("sealed-client-identity")}, got.Participants)
	require.Equal(t, []byte("sealed-private-blob"), got.Private)
	require.Equal(t, sha256.Sum256([]byte("manifest")), got.ManifestHash)
	require.Equal(t, AnchorPending, got.Anchor.Status)
	require.False(t, got.Compacted)
	require.Equal(t, 1, other.m.Len())
}
