package node_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/node/rpc"
	"github.com/lucidnet/lucid/testnet"
)

// startNetwork runs n nodes that have all published their records.
func startNetwork(ctx context.Context, t *testing.T, n int) *testnet.Network {
	t.Helper()
	nw, err := testnet.Start(ctx, testnet.Options{Nodes: n})
	require.NoError(t, err)
	t.Cleanup(func() { _ = nw.Close() })
	require.NoError(t, nw.WaitPublished(ctx))
	return nw
}

// The JSON-RPC client and the in-process service answer alike: every API
// method, through both, on a running network.
func TestClientAndServiceAgree(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nw := startNetwork(ctx, t, 3)

	n := nw.Nodes[0]
	client, err := node.DialHome(n.Home())
	require.NoError(t, err)
	other := nw.Nodes[2].Network().Host.ID().String()
	_, pub, err := crypto.GenerateEd25519Key(nil)
	require.NoError(t, err)
	stranger, err := peer.IDFromPublicKey(pub)
	require.NoError(t, err)

	for name, api := range map[string]node.API{"service": n.Service(), "client": client} {
		t.Run(name, func(t *testing.T) {
			info, err := api.NodeInfo(ctx)
			require.NoError(t, err)
			require.Equal(t, n.Network().Host.ID().String(), info.PeerID)
			require.Equal(t, "server", info.Mode)
			require.NotNil(t, info.Capacity)

			peers, err := api.Peers(ctx)
			require.NoError(t, err)
			require.NotEmpty(t, peers)

			found, err := api.FindNodes(ctx, node.FindNodesParams{Service: "rdp", MinFreeSlots: 1})
			require.NoError(t, err)
			require.Len(t, found.Nodes, 3)
			none, err := api.FindNodes(ctx, node.FindNodesParams{MinFreeSlots: 1000})
			require.NoError(t, err)
			require.Empty(t, none.Nodes)

			rec, err := api.GetNode(ctx, node.GetNodeParams{PeerID: other})
			require.NoError(t, err)
			require.Equal(t, other, rec.Peer.String())
			require.True(t, rec.Offers("vnc"))

			ping, err := api.Ping(ctx, node.PingParams{PeerID: other, Count: 2, IntervalMs: 10})
			require.NoError(t, err)
			require.Len(t, ping.RTTMs, 2)

			for _, tc := range []struct {
				name string
				call func() error
				code int
			}{
				{"bad peer id", func() error { _, err := api.GetNode(ctx, node.GetNodeParams{PeerID: "nope"}); return err }, rpc.CodeInvalidParams},
				{"missing peer id", func() error { _, err := api.Ping(ctx, node.PingParams{}); return err }, rpc.CodeInvalidParams},
				{"unknown service", func() error { _, err := api.FindNodes(ctx, node.FindNodesParams{Service: "telnet"}); return err }, rpc.CodeInvalidParams},
				{"no record", func() error { _, err := api.GetNode(ctx, node.GetNodeParams{PeerID: stranger.String()}); return err }, rpc.CodeResourceNotFound},
				{"too many pings", func() error { _, err := api.Ping(ctx, node.PingParams{PeerID: other, Count: 1000}); return err }, rpc.CodeInvalidParams},
			} {
				err := tc.call()
				var rerr *rpc.Error
				require.True(t, errors.As(err, &rerr), "%s: %v", tc.name, err)
				require.Equal(t, tc.code, rerr.Code, tc.name)
			}
		})
	}
}

// A change of free slots is republished at once and seen by other nodes.
func TestFreeSlotsChangeIsRepublished(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nw := startNetwork(ctx, t, 3)

	host := nw.Nodes[1]
	id := host.Network().Host.ID().String()
	before := host.Capacity().Last()
	host.Capacity().SetFreeSlots(1)
	require.Eventually(t, func() bool {
		rec, err := nw.Nodes[2].Service().GetNode(ctx, node.GetNodeParams{PeerID: id})
		return err == nil && rec.SlotsFree == 1 && rec.Seq > before.Seq
	}, 30*time.Second, 50*time.Millisecond)
	found, err := nw.Nodes[0].Service().FindNodes(ctx, node.FindNodesParams{MinFreeSlots: 2})
	require.NoError(t, err)
	for _, r := range found.Nodes {
		require.NotEqual(t, id, r.Peer.String(), "a host with 1 free slot is filtered out")
	}
}
