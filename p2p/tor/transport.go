package tor

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	binetor "github.com/cretz/bine/tor"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/transport"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/net/proxy"
)

// TransportName is the name under which the node configuration lists this
// transport (p2p.Transport.Name).
const TransportName = "tor"

// socksPassword is constant: tor isolates streams by the whole
// username/password pair, and the username (the peer ID) already differs
// per peer.
const socksPassword = "lucid"

// Transport is a libp2p transport that dials /onion3 addresses through
// tor's SOCKS port and listens by publishing a v3 onion service. Connections
// are raw TCP streams through tor; the upgrader adds Noise and yamux.
type Transport struct {
	tor      *Tor
	key      ed25519.PrivateKey // nil: dial only
	upgrader transport.Upgrader
	rcmgr    network.ResourceManager
}

var (
	_ transport.Transport = (*Transport)(nil)
	_ manet.Listener      = (*onionListener)(nil)
)

// Transport returns a constructor for libp2p.Transport: libp2p's dependency
// injection supplies the host's upgrader (Noise + yamux from the host
// config) and resource manager. key is the onion service key used by
// Listen; nil gives a dial-only transport.
func (t *Tor) Transport(key ed25519.PrivateKey) func(upgrader transport.Upgrader, rcmgr network.ResourceManager) (*Transport, error) {
	return func(upgrader transport.Upgrader, rcmgr network.ResourceManager) (*Transport, error) {
		return NewTransport(t, key, upgrader, rcmgr)
	}
}

// Option is libp2p.Transport(t.Transport(key)), for hosts built from a list
// of libp2p options (p2p.Transport{Name: TransportName, Option: ...}).
func (t *Tor) Option(key ed25519.PrivateKey) libp2p.Option {
	return libp2p.Transport(t.Transport(key))
}

// NewTransport builds the transport directly (tests, or hosts not built
// through libp2p.New).
func NewTransport(t *Tor, key ed25519.PrivateKey, upgrader transport.Upgrader, rcmgr network.ResourceManager) (*Transport, error) {
	if t == nil {
		return nil, errors.New("tor transport: nil *Tor")
	}
	if upgrader == nil {
		return nil, errors.New("tor transport: nil upgrader")
	}
	if key != nil && len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("tor transport: onion key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if rcmgr == nil {
		rcmgr = &network.NullResourceManager{}
	}
	return &Transport{tor: t, key: key, upgrader: upgrader, rcmgr: rcmgr}, nil
}

// CanDial accepts exactly one well-formed /onion3 component; everything else
// (IP, DNS, /onion v2) is left to other transports or refused, so nothing
// leaves this transport outside tor.
func (tr *Transport) CanDial(addr ma.Multiaddr) bool {
	_, _, err := ParseOnion(addr)
	return err == nil
}

// Protocols is the one multiaddr protocol this transport handles.
func (tr *Transport) Protocols() []int { return []int{ma.P_ONION3} }

// Proxy is true: connections are relayed by tor, not made directly.
func (tr *Transport) Proxy() bool { return true }

func (tr *Transport) String() string { return "tor" }

// Dial connects to an onion service through tor's SOCKS port and upgrades
// the stream to a secure, multiplexed libp2p connection. The SOCKS username
// is the remote peer ID, so tor (IsolateSOCKSAuth, on by default) gives
// every peer its own circuits and one peer cannot correlate us with another
// through shared circuits.
func (tr *Transport) Dial(ctx context.Context, raddr ma.Multiaddr, p peer.ID) (transport.CapableConn, error) {
	id, port, err := ParseOnion(raddr)
	if err != nil {
		return nil, err
	}
	scope, err := tr.rcmgr.OpenConnection(network.DirOutbound, true, raddr)
	if err != nil {
		return nil, fmt.Errorf("resource manager refused dial to %s: %w", raddr, err)
	}
	nc, err := tr.dialRaw(ctx, id, port, raddr, p, scope)
	if err != nil {
		scope.Done()
		return nil, err
	}
	local, err := manet.FromNetAddr(nc.LocalAddr())
	if err != nil {
		nc.Close()
		scope.Done()
		return nil, fmt.Errorf("dial %s: %w", raddr, err)
	}
	mc := &onionConn{Conn: nc, laddr: local, raddr: raddr}
	dir := network.DirOutbound
	if ok, isClient, _ := network.GetSimultaneousConnect(ctx); ok && !isClient {
		dir = network.DirInbound
	}
	// Upgrade releases scope itself on failure.
	cc, err := tr.upgrader.Upgrade(ctx, tr, mc, dir, p, scope)
	if err != nil {
		return nil, fmt.Errorf("upgrade onion connection to %s: %w", raddr, err)
	}
	return cc, nil
}

// dialRaw opens the tor stream to id:port.
func (tr *Transport) dialRaw(ctx context.Context, id string, port int, raddr ma.Multiaddr, p peer.ID, scope network.ConnManagementScope) (net.Conn, error) {
	if err := scope.SetPeer(p); err != nil {
		return nil, fmt.Errorf("resource manager refused peer %s: %w", p, err)
	}
	// Close of the Tor ends dials in progress.
	ctx, cancel := mergeCancel(ctx, tr.tor.ctx)
	defer cancel()
	user := p.String()
	if p == "" {
		// No peer ID: still isolate, per dial.
		user = "anon-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	// The forward dialer only ever reaches tor's local SOCKS listener.
	d, err := proxy.SOCKS5(tr.tor.socksNet, tr.tor.socksAddr, &proxy.Auth{User: user, Password: socksPassword}, &net.Dialer{})
	if err != nil {
		return nil, fmt.Errorf("tor SOCKS dialer: %w", err)
	}
	cd, ok := d.(proxy.ContextDialer)
	if !ok {
		return nil, fmt.Errorf("tor SOCKS dialer %T has no DialContext", d)
	}
	// The host name goes to tor as a name (SOCKS5 ATYP domain); nothing is
	// resolved locally.
	target := net.JoinHostPort(id+".onion", strconv.Itoa(port))
	start := time.Now()
	nc, err := cd.DialContext(ctx, "tcp", target)
	if err != nil {
		// The SOCKS handshake turns the context deadline into a socket
		// deadline and so reports an i/o timeout, possibly a moment before
		// ctx.Err is set; say it was the context so callers can errors.Is it.
		cerr := ctx.Err()
		if dl, ok := ctx.Deadline(); cerr == nil && ok && !time.Now().Before(dl) {
			cerr = context.DeadlineExceeded
		}
		if cerr != nil {
			return nil, fmt.Errorf("dial %s through tor: %w (%v)", raddr, cerr, err)
		}
		return nil, fmt.Errorf("dial %s through tor: %w", raddr, err)
	}
	tr.tor.log.Debug("onion connected", "addr", raddr, "peer", p, "took", time.Since(start))
	return nc, nil
}

// Listen publishes the onion service for laddr (/onion3/<id>:<port>, where
// id must belong to the transport's key) and returns once tor has uploaded
// its descriptor, or after Config.ListenTimeout. tor forwards the virtual
// port to a listener on 127.0.0.1 with an ephemeral port, so no other
// address is exposed; the listener reports the onion address.
func (tr *Transport) Listen(laddr ma.Multiaddr) (transport.Listener, error) {
	id, port, err := ParseOnion(laddr)
	if err != nil {
		return nil, err
	}
	if tr.key == nil {
		return nil, errors.New("tor transport: no onion key configured, cannot listen")
	}
	if own := OnionID(tr.key.Public().(ed25519.PublicKey)); id != own {
		return nil, fmt.Errorf("tor transport: listen address %s is not this node's onion (%s.onion)", laddr, own)
	}
	ctx, cancel := context.WithTimeout(tr.tor.ctx, tr.tor.cfg.ListenTimeout)
	defer cancel()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("local listener for onion service: %w", err)
	}
	start := time.Now()
	tr.tor.listenMu.Lock()
	svc, err := tr.tor.bine.Listen(ctx, &binetor.ListenConf{
		Key:           tr.key,
		RemotePorts:   []int{port},
		LocalListener: ln,
	})
	tr.tor.listenMu.Unlock()
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("publish onion service %s: %w", laddr, err)
	}
	if svc.ID != id {
		// Cannot happen unless bine or tor changed key handling; never serve
		// under an address other than the one asked for.
		svc.Close()
		ln.Close()
		return nil, fmt.Errorf("tor published %s.onion, expected %s.onion", svc.ID, id)
	}
	tr.tor.log.Info("onion service published", "addr", laddr, "took", time.Since(start).Round(time.Millisecond))
	ol := &onionListener{ln: ln, svc: svc, addr: laddr, tor: tr.tor}
	return tr.upgrader.UpgradeGatedMaListener(tr, tr.upgrader.GateMaListener(ol)), nil
}

// onionListener accepts the connections tor forwards to the local port.
type onionListener struct {
	ln   net.Listener
	svc  *binetor.OnionService
	addr ma.Multiaddr
	tor  *Tor

	closeOnce sync.Once
	closeErr  error
}

func (l *onionListener) Accept() (manet.Conn, error) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return nil, err
		}
		// The remote side is tor on loopback: libp2p's per-IP limits treat
		// loopback as unlimited, and no real remote address exists.
		remote, err := manet.FromNetAddr(c.RemoteAddr())
		if err != nil {
			c.Close()
			continue
		}
		return &onionConn{Conn: c, laddr: l.addr, raddr: remote}, nil
	}
}

// Close removes the onion service (DEL_ONION) and the local listener.
func (l *onionListener) Close() error {
	l.closeOnce.Do(func() {
		l.tor.mu.Lock()
		torClosed := l.tor.closed
		l.tor.mu.Unlock()
		var errs []error
		if !torClosed {
			// DEL_ONION has no context; bound it so a wedged tor cannot hang
			// the host's shutdown.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := l.tor.call(ctx, l.svc.Close); err != nil {
				errs = append(errs, fmt.Errorf("remove onion service: %w", err))
			}
			cancel()
		}
		if err := l.ln.Close(); err != nil {
			errs = append(errs, err)
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

func (l *onionListener) Addr() net.Addr          { return l.ln.Addr() }
func (l *onionListener) Multiaddr() ma.Multiaddr { return l.addr }

// onionConn is a TCP stream to or from tor with onion-level multiaddrs: a
// dialed connection reports the onion it reached, not the SOCKS port.
type onionConn struct {
	net.Conn
	laddr, raddr ma.Multiaddr
}

func (c *onionConn) LocalMultiaddr() ma.Multiaddr  { return c.laddr }
func (c *onionConn) RemoteMultiaddr() ma.Multiaddr { return c.raddr }

// mergeCancel returns a context that is done when either a or b is.
func mergeCancel(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() { stop(); cancel() }
}
