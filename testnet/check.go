package testnet

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/lucidnet/lucid/node"
)

// NodeCheck is what one node saw of the network: how many capacity records
// it found through the DHT, and a ping to its neighbour by peer ID alone.
type NodeCheck struct {
	Index     int
	Found     int
	FindTime  time.Duration
	PingPeer  string
	PingVia   string
	PingRTTMs float64
	Err       error
}

// Check asks every node, concurrently, to find all capacity records (polling
// until it sees want of them) and to ping the next node by peer ID, with a
// fresh DHT lookup and dial.
func Check(ctx context.Context, apis []node.API, peerIDs []string, want int) []NodeCheck {
	out := make([]NodeCheck, len(apis))
	var wg sync.WaitGroup
	for i, api := range apis {
		neighbour := ""
		if len(peerIDs) > 1 {
			neighbour = peerIDs[(i+1)%len(peerIDs)]
		}
		wg.Go(func() { out[i] = checkOne(ctx, i, api, neighbour, want) })
	}
	wg.Wait()
	return out
}

func checkOne(ctx context.Context, i int, api node.API, neighbour string, want int) NodeCheck {
	c := NodeCheck{Index: i, PingPeer: neighbour}
	start := time.Now()
	for {
		res, err := api.FindNodes(ctx, node.FindNodesParams{})
		if err == nil {
			c.Found = len(res.Nodes)
		}
		if c.Found >= want {
			break
		}
		select {
		case <-ctx.Done():
			c.Err = fmt.Errorf("found %d of %d capacity records: %w", c.Found, want, ctx.Err())
			return c
		case <-time.After(250 * time.Millisecond):
		}
	}
	c.FindTime = time.Since(start)
	if neighbour == "" {
		return c
	}
	p, err := api.Ping(ctx, node.PingParams{PeerID: neighbour, Count: 1, Fresh: true})
	if err != nil {
		c.Err = fmt.Errorf("ping %s: %w", neighbour, err)
		return c
	}
	c.PingVia, c.PingRTTMs = p.ResolvedVia, p.AvgMs
	return c
}
