package testnet

import (
	"context"
	"sync"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/node"
)

func startNetwork(t *testing.T, n int) *Network {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nw, err := Start(ctx, Options{Nodes: n})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, nw.Close()) })
	require.NoError(t, nw.WaitPublished(ctx))
	return nw
}

func peerIDs(nw *Network) []string {
	ids := make([]string, len(nw.Nodes))
	for i, n := range nw.Nodes {
		ids[i] = n.Network().Host.ID().String()
	}
	return ids
}

// Twenty real nodes on loopback: every node finds every node's capacity
// record through the DHT, and pings every other node given only its ID.
func TestTwentyNodesFindAndDialEachOther(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 nodes")
	}
	const n = 20
	nw := startNetwork(t, n)
	ids := peerIDs(nw)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	apis := make([]node.API, n)
	for i, nd := range nw.Nodes {
		apis[i] = nd.Service()
	}
	for _, c := range Check(ctx, apis, ids, n) {
		require.NoError(t, c.Err, "node %d", c.Index)
		require.Equal(t, n, c.Found, "node %d", c.Index)
		require.Equal(t, "dht", c.PingVia, "node %d resolves its neighbour through the DHT", c.Index)
	}

	var wg sync.WaitGroup
	errs := make(chan error, n*n)
	for i, nd := range nw.Nodes {
		wg.Go(func() {
			res, err := nd.Service().FindNodes(ctx, node.FindNodesParams{})
			if err != nil {
				errs <- err
				return
			}
			got := map[string]bool{}
			for _, r := range res.Nodes {
				got[r.Peer.String()] = true
			}
			for j, id := range ids {
				if !got[id] {
					t.Errorf("node %d did not find node %d's record", i, j)
				}
				if i == j {
					continue
				}
				if _, err := nd.Service().Ping(ctx, node.PingParams{PeerID: id, Count: 1}); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// A node restarted from the same home keeps its peer ID, publishes a newer
// record, and is found again by the others.
func TestRestartKeepsIdentityAndIsFoundAgain(t *testing.T) {
	nw := startNetwork(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const i = 2
	id := nw.Nodes[i].Network().Host.ID()
	before, err := nw.Nodes[0].Service().GetNode(ctx, node.GetNodeParams{PeerID: id.String()})
	require.NoError(t, err)

	require.NoError(t, nw.Restart(ctx, i))
	require.Equal(t, id, nw.Nodes[i].Network().Host.ID())
	select {
	case <-nw.Nodes[i].Capacity().Published():
	case <-ctx.Done():
		t.Fatal("restarted node did not republish")
	}
	require.Eventually(t, func() bool {
		rec, err := nw.Nodes[0].Service().GetNode(ctx, node.GetNodeParams{PeerID: id.String()})
		return err == nil && rec.Seq > before.Seq
	}, 30*time.Second, 100*time.Millisecond)
	p, err := nw.Nodes[0].Service().Ping(ctx, node.PingParams{PeerID: id.String(), Fresh: true})
	require.NoError(t, err)
	require.Equal(t, "dht", p.ResolvedVia)
}

// The GossipSub router is wired: a message published by one node reaches
// every other node of the network.
func TestGossipSubReachesEveryNode(t *testing.T) {
	nw := startNetwork(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topicName = "/lucid/test/1"
	var subs []*pubsub.Subscription
	var topics []*pubsub.Topic
	for _, n := range nw.Nodes {
		topic, err := n.Network().PubSub.Join(topicName)
		require.NoError(t, err)
		sub, err := topic.Subscribe()
		require.NoError(t, err)
		topics, subs = append(topics, topic), append(subs, sub)
	}
	require.NoError(t, topics[0].Publish(ctx, []byte("hello"), pubsub.WithReadiness(pubsub.MinTopicSize(len(nw.Nodes)-1))))
	for i, sub := range subs[1:] {
		msg, err := sub.Next(ctx)
		require.NoError(t, err, "node %d", i+1)
		require.Equal(t, "hello", string(msg.Data))
		require.Equal(t, nw.Nodes[0].Network().Host.ID(), msg.GetFrom())
	}
}
