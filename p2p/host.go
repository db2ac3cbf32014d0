package p2p

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	yamuxlib "github.com/libp2p/go-yamux/v5"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// Transport is one way of carrying libp2p connections. The host is built from
// a list of them so that an onion transport can join TCP and QUIC without the
// host code knowing about Tor.
type Transport struct {
	Name   string
	Option libp2p.Option
}

// TCP carries connections over TCP, secured with Noise and multiplexed with yamux.
func TCP() Transport { return Transport{Name: "tcp", Option: libp2p.Transport(tcp.NewTCPTransport)} }

// QUIC carries connections over QUIC v1 (TLS 1.3 and stream multiplexing are built in).
func QUIC() Transport {
	return Transport{Name: "quic", Option: libp2p.Transport(libp2pquic.NewTransport)}
}

// BuiltinTransports are the transports every build has; others (Tor) are
// passed to ResolveTransports by the packages that implement them.
func BuiltinTransports() []Transport { return []Transport{TCP(), QUIC()} }

// ResolveTransports picks the transports named in a config, in order, from
// the built-ins and extra. Unknown or repeated names are errors: a typo in a
// Tor-only config must not silently fall back to clearnet transports.
func ResolveTransports(names []string, extra ...Transport) ([]Transport, error) {
	if len(names) == 0 {
		return nil, errors.New("no transports configured")
	}
	avail := append(BuiltinTransports(), extra...)
	out := make([]Transport, 0, len(names))
	for i, name := range names {
		if slices.Contains(names[:i], name) {
			return nil, fmt.Errorf("transport %q listed twice", name)
		}
		j := slices.IndexFunc(avail, func(t Transport) bool { return t.Name == name })
		if j < 0 && name == TorTransport {
			return nil, fmt.Errorf("transport %q needs a running tor: the node starts it (package p2p/tor)", name)
		}
		if j < 0 {
			return nil, fmt.Errorf("unknown transport %q (available: %s)", name, transportNames(avail))
		}
		out = append(out, avail[j])
	}
	return out, nil
}

func transportNames(ts []Transport) string {
	var s string
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		s += t.Name
	}
	return s
}

// HostConfig describes the libp2p host of a node or of a short-lived client.
type HostConfig struct {
	Identity crypto.PrivKey
	// Listen is empty for a client that only dials out.
	Listen []ma.Multiaddr
	// Announce, when set, replaces the addresses the host advertises.
	Announce   []ma.Multiaddr
	Transports []Transport
	Profile    Profile
	UserAgent  string
	// Registerer receives libp2p's metrics; nil disables them.
	Registerer prometheus.Registerer
	// ProtocolPeerLimits caps the concurrent inbound streams one peer may
	// hold per protocol, so no peer can take all of a resource.
	ProtocolPeerLimits map[protocol.ID]int
	// OnionOnly makes a Tor-only host: it dials, accepts and advertises
	// onion addresses only, and resolves no DNS name. It fails closed: a
	// clearnet address is refused, never used.
	OnionOnly bool
	// Advertise, if set, filters the addresses the host advertises after
	// Announce (a node hides its onion address until it is reachable).
	Advertise func([]ma.Multiaddr) []ma.Multiaddr
	// DialTimeout bounds one dial (0: 15 s; onion dials need more).
	DialTimeout time.Duration
}

// NewHost builds a libp2p host with Noise and yamux over the configured
// transports and with resource and connection limits from the profile.
func NewHost(cfg HostConfig) (host.Host, error) {
	if cfg.Identity == nil {
		return nil, errors.New("host identity is required")
	}
	if len(cfg.Transports) == 0 {
		return nil, errors.New("host needs at least one transport")
	}
	limits, err := cfg.Profile.limits(cfg.ProtocolPeerLimits)
	if err != nil {
		return nil, err
	}
	rm, err := newResourceManager(limits, cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(limits.connLow, limits.connHigh, connmgr.WithGracePeriod(limits.connGrace))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Identity),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, muxerFor(cfg.Transports)),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.UserAgent(cfg.UserAgent),
		libp2p.Ping(true),
		// A private network has no use for the public relay, AutoNAT or
		// hole-punching services; they would only open ways in from outside.
		libp2p.DisableRelay(),
	}
	dialTimeout := cfg.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = 15 * time.Second
	}
	opts = append(opts, libp2p.WithDialTimeout(dialTimeout))
	for _, t := range cfg.Transports {
		opts = append(opts, t.Option)
	}
	if len(cfg.Listen) == 0 {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrs(cfg.Listen...))
	}
	if cfg.OnionOnly {
		for _, l := range cfg.Listen {
			if !IsOnion(l) {
				return nil, fmt.Errorf("%w: listen address %s", ErrClearnet, l)
			}
		}
		for _, t := range cfg.Transports {
			if t.Name != TorTransport {
				return nil, fmt.Errorf("%w: transport %q in a Tor-only host", ErrClearnet, t.Name)
			}
		}
		opts = append(opts, libp2p.ConnectionGater(onionGater{}), libp2p.MultiaddrResolver(noDNS{}))
	}
	announce := slices.Clone(cfg.Announce)
	onionOnly, advertise := cfg.OnionOnly, cfg.Advertise
	opts = append(opts, libp2p.AddrsFactory(func(as []ma.Multiaddr) []ma.Multiaddr {
		if len(announce) > 0 {
			as = slices.Clone(announce)
		}
		if onionOnly {
			as = OnlyOnion(as)
		}
		if advertise != nil {
			as = advertise(as)
		}
		return as
	}))
	if cfg.Registerer != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.Registerer))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		_ = rm.Close()
		return nil, fmt.Errorf("libp2p host: %w", err)
	}
	return h, nil
}

// OnionStreamWindow is a stream's initial receive window on a host that
// uses Tor. Onion circuits have round trips of tens to hundreds of
// milliseconds, and yamux's 256 KiB start holds a stream to 256 KiB per
// round trip until its window grows: measured on a private Tor network,
// 1 MiB transfers ran at 0.5–0.7 of a raw Tor stream's throughput with
// the default and at 0.95–1.2 with 2 MiB.
const OnionStreamWindow = 2 << 20

// OnionMuxer is yamux with OnionStreamWindow.
func OnionMuxer() *yamux.Transport {
	c := *(*yamuxlib.Config)(yamux.DefaultTransport)
	c.InitialStreamWindowSize = OnionStreamWindow
	t := yamux.Transport(c)
	return &t
}

// muxerFor picks the muxer for a host's transports.
func muxerFor(ts []Transport) *yamux.Transport {
	for _, t := range ts {
		if t.Name == TorTransport {
			return OnionMuxer()
		}
	}
	return yamux.DefaultTransport
}
