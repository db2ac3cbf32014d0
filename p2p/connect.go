package p2p

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Connect connects h to a peer whose addresses the caller knows (a
// bootstrap peer, a test's neighbour), retrying until ctx ends: a dial
// that failed once (a busy machine, a listener not accepting yet) puts the
// peer in libp2p's dial backoff, which a later attempt ignores here.
func Connect(ctx context.Context, h host.Host, info peer.AddrInfo) error {
	wait := 50 * time.Millisecond
	for {
		err := h.Connect(network.WithForceDirectDial(ctx, "known peer"), info)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("connect to %s: %w (last attempt: %w)", info.ID, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
