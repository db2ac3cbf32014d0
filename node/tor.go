package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/p2p"
	ptor "github.com/lucidnet/lucid/p2p/tor"
)

// Onion reachability checks: until the first success every few seconds
// (a fresh descriptor takes a moment to spread), then now and then so
// that an operator learns when the service stops being reachable.
const (
	onionCheckTimeout   = 90 * time.Second
	onionRetryFirst     = 3 * time.Second
	onionRetryMax       = 30 * time.Second
	onionRecheckEvery   = 10 * time.Minute
	torDialTimeout      = 90 * time.Second
	torMetricsNamespace = "lucid_tor_"
)

// torRuntime is the node's Tor: the tor it started or attached to, its
// onion key and address, and whether the onion service has been seen
// reachable (the node advertises the address only after that).
type torRuntime struct {
	tor  *ptor.Tor
	key  ed25519.PrivateKey // nil for a dial-only client
	addr ma.Multiaddr       // the onion listen address; nil for a client
	log  *slog.Logger
	mode string
	// tempDir is a client's throwaway tor data directory, removed on close.
	tempDir string

	mu        sync.Mutex
	reachable bool
	checked   time.Time
	lastErr   error
	readyCh   chan struct{} // closed on the first success

	progress, reach prometheus.GaugeFunc
}

// torMode names the node's Tor use for status reports.
func torMode(cfg Config) string {
	if cfg.TorOnly() {
		return "tor-only"
	}
	return "mixed"
}

// startTor starts (or attaches to) tor and loads the onion key. A node
// that was told to use Tor and cannot does not start: it never falls
// back to clearnet.
func startTor(ctx context.Context, cfg Config, dataDir, keyPath string, log *slog.Logger) (*torRuntime, error) {
	t, err := ptor.Start(ctx, ptor.Config{
		TorPath: cfg.Tor.Binary, DataDir: dataDir, Torrc: cfg.Tor.Torrc,
		ControlAddr: cfg.Tor.Control, ControlPassword: cfg.Tor.ControlPassword,
		BootstrapTimeout: time.Duration(cfg.Tor.BootstrapTimeout), Logger: log,
	})
	if err != nil {
		hint := "set p2p.transports = [\"tcp\", \"quic\"] to run without Tor"
		if errors.Is(err, ptor.ErrTorMissing) {
			hint = "install tor (apt-get install tor) or attach to a running tor with [tor] control; or " + hint
		}
		return nil, fmt.Errorf("tor: %w (p2p.transports includes \"tor\", and the node does not fall back to clearnet: %s)", err, hint)
	}
	rt := &torRuntime{tor: t, log: log.With("component", "tor"), mode: torMode(cfg), readyCh: make(chan struct{})}
	if keyPath != "" {
		if rt.key, err = ptor.LoadOrCreateKey(keyPath); err != nil {
			_ = t.Close()
			return nil, fmt.Errorf("onion key: %w", err)
		}
		rt.addr = ptor.OnionAddr(rt.key, cfg.Tor.OnionPort)
	}
	return rt, nil
}

// transport is the tor transport for the host.
func (rt *torRuntime) transport() p2p.Transport {
	return p2p.Transport{Name: p2p.TorTransport, Option: rt.tor.Option(rt.key)}
}

// advertise hides the onion address until it has been seen reachable.
func (rt *torRuntime) advertise(as []ma.Multiaddr) []ma.Multiaddr {
	rt.mu.Lock()
	ok := rt.reachable
	rt.mu.Unlock()
	if ok {
		return as
	}
	var out []ma.Multiaddr
	for _, a := range as {
		if !p2p.IsOnion(a) {
			out = append(out, a)
		}
	}
	return out
}

// checkLoop dials the node's own onion address through Tor until it
// answers, then again every onionRecheckEvery.
func (rt *torRuntime) checkLoop(ctx context.Context) {
	wait := onionRetryFirst
	for {
		cctx, cancel := context.WithTimeout(ctx, onionCheckTimeout)
		start := time.Now()
		err := rt.tor.CheckReachable(cctx, rt.addr)
		cancel()
		if ctx.Err() != nil {
			return
		}
		rt.mu.Lock()
		was := rt.reachable
		rt.reachable, rt.checked, rt.lastErr = err == nil, time.Now(), err
		rt.mu.Unlock()
		switch {
		case err == nil && !was:
			rt.log.Info("onion service reachable; advertising it", "addr", rt.addr, "check_took", time.Since(start).Round(time.Millisecond))
			select {
			case <-rt.readyCh:
			default:
				close(rt.readyCh)
			}
		case err != nil && was:
			rt.log.Warn("onion service no longer reachable", "addr", rt.addr, "err", err)
		case err != nil:
			rt.log.Info("onion service not reachable yet", "addr", rt.addr, "err", err)
		}
		next := onionRecheckEvery
		if err != nil {
			next, wait = wait, min(2*wait, onionRetryMax)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// ready is closed once the onion service was first seen reachable.
func (rt *torRuntime) ready() <-chan struct{} { return rt.readyCh }

// TorStatus is the Tor part of `lucid id` and /healthz.
type TorStatus struct {
	Mode      string    `json:"mode"` // tor-only or mixed
	Bootstrap int       `json:"bootstrap_percent"`
	Summary   string    `json:"bootstrap_summary,omitempty"`
	Onion     string    `json:"onion,omitempty"`
	Reachable bool      `json:"reachable"`
	Checked   time.Time `json:"checked,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

func (rt *torRuntime) status() *TorStatus {
	if rt == nil {
		return nil
	}
	pct, sum := rt.tor.Progress()
	st := &TorStatus{Mode: rt.mode, Bootstrap: pct, Summary: sum}
	if rt.addr != nil {
		st.Onion = rt.addr.String()
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	st.Reachable, st.Checked = rt.reachable, rt.checked
	if rt.lastErr != nil {
		st.LastError = rt.lastErr.Error()
	}
	return st
}

// registerMetrics exports bootstrap progress and reachability.
func (rt *torRuntime) registerMetrics(reg prometheus.Registerer) {
	rt.progress = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: torMetricsNamespace + "bootstrap_percent",
		Help: "Tor bootstrap progress as tor reports it (100 = ready)."}, func() float64 { p, _ := rt.tor.Progress(); return float64(p) })
	rt.reach = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: torMetricsNamespace + "onion_reachable",
		Help: "1 when the last self-dial of this node's onion address through Tor succeeded."}, func() float64 {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		if rt.reachable {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{rt.progress, rt.reach} {
		if err := reg.Register(c); err != nil {
			rt.log.Warn("tor metric not registered", "err", err)
		}
	}
}

func (rt *torRuntime) close() error {
	if rt == nil {
		return nil
	}
	err := rt.tor.Close()
	if rt.tempDir != "" {
		err = errors.Join(err, os.RemoveAll(rt.tempDir))
	}
	return err
}

// hostExtras are what a node's Tor use adds to its host.
type hostExtras struct {
	listen      []ma.Multiaddr
	onionOnly   bool
	advertise   func([]ma.Multiaddr) []ma.Multiaddr
	dialTimeout time.Duration
}

func (rt *torRuntime) hostExtras(cfg Config) hostExtras {
	x := hostExtras{onionOnly: cfg.TorOnly(), advertise: rt.advertise, dialTimeout: torDialTimeout}
	if rt.addr != nil {
		x.listen = []ma.Multiaddr{rt.addr}
	}
	return x
}

// Onion is the node's onion listen address (nil without Tor).
func (n *Node) Onion() ma.Multiaddr {
	if n.tor == nil {
		return nil
	}
	return n.tor.addr
}

// OnionReady is closed once the node's onion service was seen reachable
// (nil without an onion service).
func (n *Node) OnionReady() <-chan struct{} {
	if n.tor == nil || n.tor.addr == nil {
		return nil
	}
	return n.tor.ready()
}
