package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
)

// peerstoreTTL keeps addresses learnt from the DHT long enough for the
// session that asked for them, not forever.
var peerstoreTTL = peerstore.TempAddrTTL

// Resolution says how a peer ID became a connection.
type Resolution struct {
	Peer peer.ID
	// Via is "connected" when a connection already existed, or "dht" when the
	// addresses were looked up.
	Via string
	// Addrs are the addresses the DHT returned (empty when Via is "connected").
	Addrs []ma.Multiaddr
	// Remote is the address of the connection in use.
	Remote ma.Multiaddr
}

// Connect reaches a peer by its ID alone: it reuses a live connection or asks
// the DHT for the peer's addresses and dials them. With fresh set it first
// closes any connection, so that the lookup and the dial are done anew.
func (n *Network) Connect(ctx context.Context, id peer.ID, fresh bool) (Resolution, error) {
	if id == n.Host.ID() {
		return Resolution{}, errors.New("cannot dial self")
	}
	if fresh {
		_ = n.Host.Network().ClosePeer(id)
	}
	res := Resolution{Peer: id, Via: "connected"}
	if n.Host.Network().Connectedness(id) != network.Connected {
		ai, err := n.findPeer(ctx, id)
		if err != nil {
			return res, fmt.Errorf("find peer %s: %w", id, err)
		}
		res.Via, res.Addrs = "dht", ai.Addrs
		if err := n.Host.Connect(ctx, ai); err != nil {
			return res, fmt.Errorf("connect %s: %w", id, err)
		}
	}
	if conns := n.Host.Network().ConnsToPeer(id); len(conns) > 0 {
		res.Remote = conns[0].RemoteMultiaddr()
	}
	return res, nil
}

// Ping sends count libp2p pings to a connected peer, interval apart, and
// returns the round-trip times. It stops at the first failure.
func (n *Network) Ping(ctx context.Context, id peer.ID, count int, interval time.Duration) ([]time.Duration, error) {
	if count < 1 {
		return nil, errors.New("ping count must be at least 1")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := ping.Ping(ctx, n.Host, id)
	rtts := make([]time.Duration, 0, count)
	for len(rtts) < count {
		select {
		case r, ok := <-results:
			if !ok {
				return rtts, fmt.Errorf("ping %s: stream closed", id)
			}
			if r.Error != nil {
				return rtts, fmt.Errorf("ping %s: %w", id, r.Error)
			}
			rtts = append(rtts, r.RTT)
		case <-ctx.Done():
			return rtts, ctx.Err()
		}
		if len(rtts) < count && interval > 0 {
			select {
			case <-time.After(interval):
			case <-ctx.Done():
				return rtts, ctx.Err()
			}
		}
	}
	return rtts, nil
}

// findPeer retries a lookup that found nothing a few times: right after a
// peer joins or a connection drops, routing tables briefly disagree.
func (n *Network) findPeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error) {
	const attempts = 4
	backoff := 100 * time.Millisecond
	for i := 1; ; i++ {
		ai, err := n.DHT.FindPeer(ctx, id)
		if err == nil || !errors.Is(err, routing.ErrNotFound) || i == attempts {
			return ai, err
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ai, err
		}
		backoff *= 2
	}
}
