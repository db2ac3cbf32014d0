package node

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/lucidnet/lucid/p2p"
)

// Light is a short-lived client of the network for CLI commands run where
// no node is running: it joins the DHT in client mode with a throwaway
// identity and keeps nothing on disk.
type Light struct {
	net *p2p.Network
	*Service
}

// StartLight joins the network through the config's bootstrap peers and
// waits until at least one answered.
func StartLight(ctx context.Context, cfg Config, opts Options) (*Light, error) {
	if len(cfg.P2P.Bootstrap) == 0 {
		return nil, fmt.Errorf("no bootstrap peers: pass --bootstrap or set p2p.bootstrap in config.toml")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// An ephemeral key keeps the client apart from the home's node identity,
	// which may be in use by a node that is starting up.
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, err
	}
	nw, err := joinNetwork(key, cfg, p2p.DHTClient, dssync.MutexWrap(datastore.NewMapDatastore()), nil, opts)
	if err != nil {
		return nil, err
	}
	if err := nw.Bootstrap(ctx); err != nil {
		_ = nw.Close()
		return nil, fmt.Errorf("join network: %w", err)
	}
	return &Light{net: nw, Service: &Service{
		net: nw, started: opts.Now(), now: opts.Now, profile: p2p.Profile(cfg.Node.Profile),
		transports: cfg.P2P.Transports, client: true,
	}}, nil
}

// Close leaves the network.
func (l *Light) Close() error { return l.net.Close() }
