package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	tor *torRuntime
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
	var extras hostExtras
	var rt *torRuntime
	if cfg.UsesTor() {
		// A dial-only tor of its own, in a directory that goes with it.
		dir, err := os.MkdirTemp("", "lucid-client-tor-")
		if err != nil {
			return nil, err
		}
		if rt, err = startTor(ctx, cfg, dir, "", slog.Default()); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		rt.tempDir = dir
		extras = rt.hostExtras(cfg)
		opts.ExtraTransports = append(opts.ExtraTransports, rt.transport())
	}
	nw, err := joinNetwork(key, cfg, p2p.DHTClient, dssync.MutexWrap(datastore.NewMapDatastore()), nil, opts, extras)
	if err != nil {
		_ = rt.close()
		return nil, err
	}
	if err := nw.Bootstrap(ctx); err != nil {
		_ = nw.Close()
		_ = rt.close()
		return nil, fmt.Errorf("join network: %w", err)
	}
	return &Light{net: nw, tor: rt, Service: &Service{
		net: nw, started: opts.Now(), now: opts.Now, profile: p2p.Profile(cfg.Node.Profile),
		transports: cfg.P2P.Transports, client: true, tor: rt,
	}}, nil
}

// Close leaves the network (and stops its tor).
func (l *Light) Close() error { return errors.Join(l.net.Close(), l.tor.close()) }
