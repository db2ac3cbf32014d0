// Package testnet runs local Lucid networks of real nodes on loopback: in
// one process for Go tests (Start), or as separate `lucid node run`
// processes for people (Up, behind `lucid testnet up`).
package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/testnet/tornet"
)

// Options shape an in-process network.
type Options struct {
	Nodes int
	// Dir holds the node homes (node0, node1, ...). Empty: a temporary
	// directory removed by Close.
	Dir string
	// Transports defaults to tcp and quic.
	Transports []string
	Logger     *slog.Logger
	// Configure, if set, adjusts each node's config before it starts.
	Configure func(i int, cfg *node.Config)
	// Chain runs a data chain: a development genesis (one-second slots)
	// with node 0 as its bootstrap node, in every home.
	Chain bool
	// Tor makes every node onion-only on this private Tor network: each
	// starts its own tor with the network's client settings.
	Tor *tornet.Network
}

// Network is a running in-process network. Node 0 is every other node's
// bootstrap peer.
type Network struct {
	Nodes []*node.Node
	Homes []node.Home
	// Genesis is the chain's genesis (Options.Chain).
	Genesis *chain.Genesis

	opts    Options
	dir     string
	tempDir bool
	configs []node.Config
}

// NodeConfig is the config of a testnet node: loopback only, free ports,
// pi profile, quiet logs.
func NodeConfig(transports []string, bootstrap []string) node.Config {
	cfg := node.DefaultConfig(p2p.ProfilePi)
	if len(transports) > 0 {
		cfg.P2P.Transports = transports
	}
	cfg.P2P.Listen = nil
	for _, t := range cfg.P2P.Transports {
		switch t {
		case "tcp":
			cfg.P2P.Listen = append(cfg.P2P.Listen, "/ip4/127.0.0.1/tcp/0")
		case "quic":
			cfg.P2P.Listen = append(cfg.P2P.Listen, "/ip4/127.0.0.1/udp/0/quic-v1")
		}
	}
	cfg.P2P.Bootstrap = bootstrap
	cfg.API.Listen = "127.0.0.1:0"
	return cfg
}

// Start initialises and starts opts.Nodes nodes. It returns once every node
// runs; use WaitPublished to wait for the capacity records.
func Start(ctx context.Context, opts Options) (nw *Network, err error) {
	if opts.Nodes < 1 {
		return nil, errors.New("testnet needs at least one node")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	nw = &Network{opts: opts, dir: opts.Dir}
	if nw.dir == "" {
		if nw.dir, err = os.MkdirTemp("", "lucid-testnet-"); err != nil {
			return nil, err
		}
		nw.tempDir = true
	}
	// A failed start stops what did start; the deferred call must not see
	// the nil Network the error return sets.
	started := nw
	defer func() {
		if err != nil {
			_ = started.Close()
		}
	}()
	var bootstrap []string
	for i := range opts.Nodes {
		cfg := NodeConfig(opts.Transports, bootstrap)
		if opts.Tor != nil {
			cfg = TorNodeConfig(cfg, opts.Tor)
		}
		if opts.Configure != nil {
			opts.Configure(i, &cfg)
		}
		home := node.Home{Dir: filepath.Join(nw.dir, fmt.Sprintf("node%d", i))}
		res, err := node.Init(home, cfg)
		if err != nil {
			return nil, fmt.Errorf("init node %d: %w", i, err)
		}
		if opts.Chain {
			if i == 0 {
				nw.Genesis = chain.DevGenesis("lucid-testnet", res.Peer, time.Now())
			}
			if err := nw.Genesis.Save(home.GenesisPath()); err != nil {
				return nil, err
			}
		}
		n, err := node.Start(ctx, home, cfg, node.Options{Logger: opts.Logger.With("node", i)})
		if err != nil {
			return nil, fmt.Errorf("start node %d: %w", i, err)
		}
		nw.Nodes, nw.Homes, nw.configs = append(nw.Nodes, n), append(nw.Homes, home), append(nw.configs, cfg)
		if i == 0 {
			if bootstrap, err = BootstrapAddrs(n.Network().Host.ID(), nodeAddrs(n)); err != nil {
				return nil, err
			}
		}
	}
	return nw, nil
}

// nodeAddrs are the addresses others reach a node at: its onion address
// when it has one (advertised only once reachable, but known at once).
func nodeAddrs(n *node.Node) []ma.Multiaddr {
	if o := n.Onion(); o != nil {
		return []ma.Multiaddr{o}
	}
	return n.Network().Host.Addrs()
}

// TorNodeConfig makes a testnet node onion-only on a private Tor network:
// it starts its own tor with the network's client settings.
func TorNodeConfig(cfg node.Config, tn *tornet.Network) node.Config {
	cfg.P2P.Transports = []string{p2p.TorTransport}
	cfg.P2P.Listen = nil
	cfg.Tor.Torrc = tn.ClientTorrc()
	cfg.Tor.BootstrapTimeout = node.Duration(time.Minute)
	return cfg
}

// BootstrapAddrs turns a peer's listen addresses into /p2p/ multiaddrs that
// others can bootstrap from.
func BootstrapAddrs(id peer.ID, addrs []ma.Multiaddr) ([]string, error) {
	infos, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: id, Addrs: addrs})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(infos))
	for i, a := range infos {
		out[i] = a.String()
	}
	return out, nil
}

// Bootstrap is the address list of node 0.
func (nw *Network) Bootstrap() []string {
	addrs, _ := BootstrapAddrs(nw.Nodes[0].Network().Host.ID(), nodeAddrs(nw.Nodes[0]))
	return addrs
}

// WaitPublished waits until every node has put its capacity record in the DHT.
func (nw *Network) WaitPublished(ctx context.Context) error {
	for i, n := range nw.Nodes {
		select {
		case <-n.Capacity().Published():
		case <-ctx.Done():
			return fmt.Errorf("node %d did not publish its capacity record: %w", i, ctx.Err())
		}
	}
	return nil
}

// Restart stops node i and starts it again from the same home, as an
// operator's restart would.
func (nw *Network) Restart(ctx context.Context, i int) error {
	if err := nw.Nodes[i].Close(ctx); err != nil {
		return fmt.Errorf("stop node %d: %w", i, err)
	}
	cfg := nw.configs[i]
	if i == 0 {
		// Node 0 comes back on new ports; let it find the network through
		// node 1 the way any other node would.
		cfg.P2P.Bootstrap = nw.bootstrapOf(1)
	}
	n, err := node.Start(ctx, nw.Homes[i], cfg, node.Options{Logger: nw.opts.Logger.With("node", i)})
	if err != nil {
		return fmt.Errorf("restart node %d: %w", i, err)
	}
	nw.Nodes[i] = n
	return nil
}

func (nw *Network) bootstrapOf(i int) []string {
	if i >= len(nw.Nodes) {
		return nil
	}
	addrs, _ := BootstrapAddrs(nw.Nodes[i].Network().Host.ID(), nodeAddrs(nw.Nodes[i]))
	return addrs
}

// Close stops every node, in parallel, and removes a temporary directory.
func (nw *Network) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, len(nw.Nodes))
	for _, n := range nw.Nodes {
		go func() { errs <- n.Close(ctx) }()
	}
	var all []error
	for range nw.Nodes {
		all = append(all, <-errs)
	}
	if nw.tempDir {
		all = append(all, os.RemoveAll(nw.dir))
	}
	return errors.Join(all...)
}
