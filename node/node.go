package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/namespace"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lucidnet/lucid/media"
	nodechain "github.com/lucidnet/lucid/node/chain"
	"github.com/lucidnet/lucid/node/meta"
	"github.com/lucidnet/lucid/node/poot"
	"github.com/lucidnet/lucid/node/rpc"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/sessions"
)

// Version is the software version advertised in capacity records; release
// builds set it with -ldflags "-X github.com/lucidnet/lucid/node.Version=...".
var Version = "0.1.0-dev"

// Software is the name/version string peers see.
func Software() string { return "lucid/" + Version }

// Arch is GOOS/GOARCH of this build.
func Arch() string { return runtime.GOOS + "/" + runtime.GOARCH }

// Options are the parts of a node that are not in config.toml: they come
// from the process (logger, clock) or from tests.
type Options struct {
	Logger *slog.Logger
	// Now is the clock used for capacity records and their validation.
	Now func() time.Time
	// ExtraTransports are offered to p2p.ResolveTransports (Tor, later).
	ExtraTransports []p2p.Transport
	// Role is RoleNode (default) or RoleClient.
	Role Role
	// Recorder and Observer receive session bytes and events (the media
	// pipeline, later); nil means none.
	Recorder sessions.Recorder
	Observer sessions.Observer
	// DialTarget replaces the TCP dial to a hosted service (tests).
	DialTarget func(ctx context.Context, addr string) (net.Conn, error)
}

// Role is what a process does in the network.
type Role int

const (
	// RoleNode is a full node: it listens, serves the DHT, publishes its
	// capacity and hosts sessions.
	RoleNode Role = iota
	// RoleClient is a desktop user's process (`lucid connect` with no node
	// running): it only dials out, as a DHT client, and opens sessions.
	// It still serves the local API so `lucid sessions` works beside it.
	RoleClient
)

// Node is a running Lucid daemon: libp2p host, DHT, GossipSub, datastore,
// capacity publisher and the local API.
type Node struct {
	home    Home
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	started time.Time

	store datastore.Batching
	net   *p2p.Network
	reg   *prometheus.Registry
	svc   *Service
	pub   *CapacityPublisher
	sess  *sessions.Manager
	rec   *recorder

	meta     *meta.Replica
	tor      *torRuntime
	chain    *nodechain.Service
	anchors  *anchorer
	poot     *poot.Service
	pootDB   *poot.ProofDB
	metaFeed *metaFeed

	httpSrv *http.Server
	apiAddr net.Addr

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start brings a node up from its home and config. It returns once the host
// listens and the API serves; joining the network and publishing the
// capacity record continue in the background.
func Start(ctx context.Context, home Home, cfg Config, opts Options) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	key, err := home.LoadIdentity()
	if err != nil {
		return nil, fmt.Errorf("load identity (run `lucid init` first?): %w", err)
	}
	token, err := rpc.LoadOrCreateToken(home.TokenPath())
	if err != nil {
		return nil, err
	}
	profile := p2p.Profile(cfg.Node.Profile)

	n := &Node{home: home, cfg: cfg, log: opts.Logger, now: opts.Now, started: opts.Now()}
	started := false
	defer func() {
		if !started {
			_ = n.Close(context.Background())
		}
	}()

	if n.store, err = openStore(home.DataDir(), profile); err != nil {
		return nil, err
	}

	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mode := p2p.DHTServer
	if opts.Role == RoleClient {
		mode = p2p.DHTClient
	}
	var extras hostExtras
	if cfg.UsesTor() {
		keyPath := home.OnionKeyPath()
		if opts.Role == RoleClient {
			keyPath = "" // a client only dials out
		}
		if n.tor, err = startTor(ctx, cfg, home.TorDir(), keyPath, n.log); err != nil {
			return nil, err
		}
		n.tor.registerMetrics(n.reg)
		extras = n.tor.hostExtras(cfg)
		opts.ExtraTransports = append(opts.ExtraTransports, n.tor.transport())
	}
	if n.net, err = joinNetwork(key, cfg, mode, n.store, n.reg, opts, extras); err != nil {
		return nil, err
	}

	loopCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	m := newMetrics(n.reg, n.net)
	n.svc = &Service{net: n.net, started: n.started, now: opts.Now, profile: profile, transports: cfg.P2P.Transports, client: opts.Role == RoleClient, tor: n.tor}
	if opts.Role == RoleNode {
		n.pub = newCapacityPublisher(n.net, n.store, key, cfg, home.DataDir(), n.log, opts.Now, m)
		n.svc.capacity = n.pub.Last
	}
	if opts.Role == RoleNode {
		if err := n.startMeta(key, n.reg); err != nil {
			return nil, err
		}
		n.svc.meta, n.svc.identity = n.meta, metaIdentity(key)
		n.metaFeed.live = func(ctx context.Context) ([]sessions.Info, error) { return n.sess.List(ctx) }
		opts.Observer = observers{n.metaFeed, opts.Observer}
		genesis, err := n.loadGenesis()
		if err != nil {
			return nil, err
		}
		if genesis != nil {
			if err := n.startChain(key, genesis, n.reg); err != nil {
				return nil, err
			}
			n.svc.chain = n.chain
		}
		if err := n.startPoot(key, genesis, n.reg); err != nil {
			return nil, err
		}
		n.svc.poot = n.poot
	}
	if opts.Role == RoleNode && n.cfg.Recording.Enabled && opts.Recorder == nil {
		if n.rec, err = n.startRecording(); err != nil {
			return nil, err
		}
		opts.Recorder = n.rec.pipeline
		opts.Observer = observers{n.rec.pipeline, opts.Observer}
		n.svc.recordings = n.rec
	}
	if n.sess, err = n.startSessions(key, opts, m); err != nil {
		return nil, err
	}
	n.svc.sessions = n.sess

	if err := n.serveAPI(token); err != nil {
		return nil, err
	}

	// A client joins in the foreground, where its command can report a
	// failure; a node keeps trying in the background.
	if opts.Role == RoleNode {
		n.wg.Go(func() { n.joinLoop(loopCtx) })
	}
	if n.tor != nil && n.tor.addr != nil {
		n.wg.Go(func() { n.tor.checkLoop(loopCtx) })
	}
	if n.chain != nil && n.cfg.Poot.Pool != "" {
		n.wg.Go(func() { n.chain.KeepPool(loopCtx, []byte(n.cfg.Poot.Pool)) })
	}
	if n.chain != nil && n.poot != nil && n.rec != nil {
		n.wg.Go(func() { n.proveStorageLoop(loopCtx, key, n.poot.Params()) })
	}
	if n.pub != nil {
		n.wg.Go(func() {
			// An onion-only node has no address to publish until its
			// onion service is reachable.
			if n.tor != nil && n.tor.addr != nil && n.cfg.TorOnly() {
				select {
				case <-loopCtx.Done():
					return
				case <-n.tor.ready():
				}
			}
			n.pub.run(loopCtx)
		})
	}
	n.log.Info("node started", "peer", n.net.Host.ID(), "addrs", n.net.Host.Addrs(), "api", n.apiAddr.String(), "profile", profile)
	started = true
	return n, nil
}

// joinNetwork builds the host and joins the DHT and GossipSub. Nodes and
// short-lived clients share it; the mode and datastore differ.
func joinNetwork(key crypto.PrivKey, cfg Config, mode p2p.DHTMode, ds datastore.Batching, reg prometheus.Registerer, opts Options, extras hostExtras) (*p2p.Network, error) {
	transports, err := p2p.ResolveTransports(cfg.P2P.Transports, opts.ExtraTransports...)
	if err != nil {
		return nil, err
	}
	bootstrap, err := ParseBootstrap(cfg.P2P.Bootstrap)
	if err != nil {
		return nil, err
	}
	hc := p2p.HostConfig{
		Identity:   key,
		Transports: transports,
		Profile:    p2p.Profile(cfg.Node.Profile),
		UserAgent:  Software(),
		Registerer: reg,
	}
	hc.ProtocolPeerLimits = sessions.InboundStreamLimits
	if mode == p2p.DHTServer {
		if hc.Listen, err = parseMultiaddrs(cfg.P2P.Listen); err != nil {
			return nil, err
		}
		if hc.Announce, err = parseMultiaddrs(cfg.P2P.Announce); err != nil {
			return nil, err
		}
		hc.Listen = append(hc.Listen, extras.listen...)
	}
	hc.OnionOnly, hc.Advertise = extras.onionOnly, extras.advertise
	if extras.dialTimeout > 0 {
		hc.DialTimeout = extras.dialTimeout
	}
	h, err := p2p.NewHost(hc)
	if err != nil {
		return nil, err
	}
	nw, err := p2p.JoinNetwork(h, p2p.NetworkConfig{
		Mode:      mode,
		Bootstrap: bootstrap,
		Datastore: namespace.Wrap(ds, datastore.NewKey(dhtNamespace)),
		Now:       opts.Now,
	})
	if err != nil {
		_ = h.Close()
		return nil, err
	}
	return nw, nil
}

// joinLoop keeps trying the bootstrap peers until one answers: on a Pi the
// network may come up after the daemon, and a node that gave up would sit
// alone until restarted.
func (n *Node) joinLoop(ctx context.Context) {
	backoff := time.Second
	for {
		attempt, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := n.net.Bootstrap(attempt)
		cancel()
		if err == nil {
			n.log.Info("joined network", "routing_table", n.net.DHT.RoutingTable().Size())
			if n.pub != nil {
				n.pub.kick()
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		n.log.Warn("bootstrap failed; retrying", "err", err, "in", backoff.String())
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// startSessions runs the session manager: as host when this is a node that
// offers services, and as client always.
func (n *Node) startSessions(key crypto.PrivKey, opts Options, m *metrics) (*sessions.Manager, error) {
	policy, err := n.cfg.Sessions.hostPolicy(n.cfg.Capacity.Services)
	if err != nil {
		return nil, err
	}
	sc := sessions.Config{
		Host:       n.net.Host,
		Key:        key,
		Store:      namespace.Wrap(n.store, datastore.NewKey(sessionsNamespace)),
		Hosting:    opts.Role == RoleNode && len(n.cfg.Capacity.Services) > 0,
		Policy:     policy,
		Targets:    n.cfg.Sessions.Targets.Map(),
		Slots:      n.cfg.Capacity.SessionSlots,
		Limits:     n.cfg.sessionLimits(),
		Reach:      func(ctx context.Context, id peer.ID) error { _, err := n.net.Connect(ctx, id, false); return err },
		DialTarget: opts.DialTarget,
		Recorder:   opts.Recorder,
		Observer:   opts.Observer,
		Incident:   func(kind string) { m.sessionIncidents.WithLabelValues(kind).Inc() },
		Log:        n.log,
		Now:        opts.Now,
	}
	if n.pub != nil {
		sc.SlotsChanged = n.pub.SetFreeSlots
	}
	// Every process that opens sessions signs receipts for what it
	// receives; a node that proves work keeps its clients' receipts.
	sc.Meter = n.meter(key)
	if n.poot != nil {
		sc.OnMetering = n.onMetering
	}
	return sessions.NewManager(sc)
}

// observers passes session events to each non-nil observer.
type observers []sessions.Observer

func (o observers) SessionEvent(ev sessions.Event) {
	for _, x := range o {
		if x != nil {
			x.SessionEvent(ev)
		}
	}
}

// Recordings is the node's recording pipeline, nil when recording is off.
func (n *Node) Recordings() *media.Pipeline {
	if n.rec == nil {
		return nil
	}
	return n.rec.pipeline
}

// Sessions is the node's session manager.
func (n *Node) Sessions() *sessions.Manager { return n.sess }

// Network is the node's libp2p host, DHT and GossipSub.
func (n *Node) Network() *p2p.Network { return n.net }

// Service is the node's API, as served over JSON-RPC.
func (n *Node) Service() *Service { return n.svc }

// APIAddr is the address the JSON-RPC, metrics and health endpoints listen on.
func (n *Node) APIAddr() net.Addr { return n.apiAddr }

// Home is the node's home directory.
func (n *Node) Home() Home { return n.home }

// Datastore is the node's persistent store. Subsystems take a namespace of it.
func (n *Node) Datastore() datastore.Batching { return n.store }

// Capacity returns the publisher of this node's capacity record.
func (n *Node) Capacity() *CapacityPublisher { return n.pub }

// Close stops the node: the API first (no new work), then the background
// loops, the network, and last the datastore, which flushes to disk. It
// returns when everything has stopped or ctx expires.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() {
		done := make(chan error, 1)
		go func() { done <- n.shutdown(ctx) }()
		select {
		case n.closeErr = <-done:
		case <-ctx.Done():
			n.closeErr = fmt.Errorf("shutdown did not finish: %w", ctx.Err())
		}
	})
	return n.closeErr
}

func (n *Node) shutdown(ctx context.Context) error {
	var errs []error
	if n.httpSrv != nil {
		_ = os.Remove(n.home.APIAddrPath())
		if err := n.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("api: %w", err))
		}
	}
	if n.sess != nil {
		if err := n.sess.Close(); err != nil {
			errs = append(errs, fmt.Errorf("sessions: %w", err))
		}
	}
	// After the sessions: their end events finish the recordings.
	if n.rec != nil {
		if err := n.rec.close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("recording: %w", err))
		}
	}
	// After both: they feed the metadata map.
	if err := n.closeMeta(ctx); err != nil {
		errs = append(errs, fmt.Errorf("session metadata: %w", err))
	}
	if err := n.closePoot(ctx); err != nil {
		errs = append(errs, fmt.Errorf("poot: %w", err))
	}
	// After PoOT, which hands it proofs.
	if err := n.closeChain(); err != nil {
		errs = append(errs, fmt.Errorf("chain: %w", err))
	}
	if n.cancel != nil {
		n.cancel()
	}
	n.wg.Wait()
	if n.net != nil {
		if err := n.net.Close(); err != nil {
			errs = append(errs, fmt.Errorf("network: %w", err))
		}
	}
	// After the host: its listener is the onion service.
	if err := n.tor.close(); err != nil {
		errs = append(errs, fmt.Errorf("tor: %w", err))
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("datastore: %w", err))
		}
	}
	n.log.Info("node stopped")
	return errors.Join(errs...)
}
