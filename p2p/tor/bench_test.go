package tor

// Benchmarks of the onion transport on the private Tor network of package
// tornet (run by `make bench-tor`). Following the repository's rule, every
// benchmark reports its figure against a baseline measured in the same run,
// and none asserts on timings:
//
//   - BenchmarkTorSetup: a new node's tor bootstrap, onion publication and
//     the first libp2p dial to it, against a first raw SOCKS connect to a
//     plain onion service on the same tor.
//   - BenchmarkTorThroughput: 1 MiB one way over a libp2p stream through
//     tor, against the same over a raw SOCKS stream through the same two tors
//     (tor's own ceiling) and over libp2p's TCP transport on loopback.
//   - BenchmarkTorRTT: one-byte round trips over the libp2p stream against
//     the raw SOCKS stream.
//
// The figures are noisy: the whole network (5 relays plus the client tors)
// shares the machine's cores, and tor's flow control, not CPU, limits onion
// throughput (see doc.go and the notes on the private network).

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	binetor "github.com/cretz/bine/tor"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/net/proxy"

	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/testnet/tornet"
	"github.com/lucidnet/lucid/testnet/tornet/tortest"
)

const (
	// benchStep bounds every step of a benchmark (tor start, publication,
	// dial, one transfer, one batch of round trips).
	benchStep = 2 * time.Minute
	// benchProto is served by both ends of every path measured here: the
	// libp2p hosts as a stream protocol, the plain onion service on its raw
	// connections. See serveBench.
	benchProto = "/lucid/tortest/bench/1"
	benchMiB   = 1 << 20
	// benchPings is the number of round trips per BenchmarkTorRTT op.
	benchPings = 50
	// benchOnionPort is the virtual port of the plain onion service.
	benchOnionPort = 80
)

// Commands of the bench protocol, one byte each.
const (
	cmdPing = 'p' // answered with one byte
	cmdSink = 's' // followed by benchMiB bytes, answered with one byte once all are read
)

// serveBench answers the bench protocol on rw until it ends.
func serveBench(rw io.ReadWriter) {
	buf := make([]byte, 32<<10)
	cmd := make([]byte, 1)
	for {
		if _, err := io.ReadFull(rw, cmd); err != nil {
			return
		}
		switch cmd[0] {
		case cmdPing:
		case cmdSink:
			// A plain loop rather than io.CopyN(io.Discard, ...), so that all
			// paths read the same way.
			for left := benchMiB; left > 0; {
				n, err := rw.Read(buf[:min(left, len(buf))])
				left -= n
				if err != nil {
					return
				}
			}
		default:
			return
		}
		if _, err := rw.Write(cmd); err != nil {
			return
		}
	}
}

// benchConn is what the client side of every path offers: a libp2p stream
// or a net.Conn.
type benchConn interface {
	io.ReadWriter
	SetDeadline(time.Time) error
}

// ping makes one round trip of one byte each way.
func ping(c benchConn) (time.Duration, error) {
	_ = c.SetDeadline(time.Now().Add(benchStep))
	b := []byte{cmdPing}
	start := time.Now()
	if _, err := c.Write(b); err != nil {
		return 0, fmt.Errorf("ping: %w", err)
	}
	if _, err := io.ReadFull(c, b); err != nil {
		return 0, fmt.Errorf("pong: %w", err)
	}
	return time.Since(start), nil
}

// sendMiB sends benchMiB bytes one way and waits for the receiver's
// one-byte acknowledgement that it has read them all, so the time includes
// the drain of every buffer on the path (plus one one-way latency).
func sendMiB(c benchConn, payload []byte) (time.Duration, error) {
	_ = c.SetDeadline(time.Now().Add(benchStep))
	ack := make([]byte, 1)
	start := time.Now()
	if _, err := c.Write(payload); err != nil {
		return 0, fmt.Errorf("send 1 MiB: %w", err)
	}
	if _, err := io.ReadFull(c, ack); err != nil {
		return 0, fmt.Errorf("read ack: %w", err)
	}
	return time.Since(start), nil
}

// sinkPayload is a cmdSink command with its 1 MiB of random bytes (random so
// that nothing on the path could compress it).
func sinkPayload(b *testing.B) []byte {
	p := make([]byte, 1+benchMiB)
	if _, err := rand.Read(p); err != nil {
		b.Fatal(err)
	}
	p[0] = cmdSink
	return p
}

// benchTor starts an owned tor on the private network and reports how long
// its bootstrap took. The caller closes it (b.Cleanup also does, as a safety
// net: Close is idempotent).
func benchTor(b *testing.B, n *tornet.Network, dataDir string) (*Tor, time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchStep)
	defer cancel()
	start := time.Now()
	tt, err := Start(ctx, Config{
		DataDir:          dataDir,
		Torrc:            n.ClientTorrc(),
		ExtraArgs:        n.ClientArgs(),
		BootstrapTimeout: benchStep,
		ListenTimeout:    benchStep,
		Logger:           benchLogger(),
	})
	took := time.Since(start)
	if err != nil {
		b.Fatalf("start tor: %v", err)
	}
	b.Cleanup(func() {
		if err := tt.Close(); err != nil {
			b.Errorf("close tor: %v", err)
		}
	})
	return tt, took
}

// benchLogger keeps tor's start-up warnings (root, TestingTorNetwork,
// SafeLogging) out of the benchmark output unless -v; errors from Start
// carry the tail of tor's output anyway.
func benchLogger() *slog.Logger {
	level := slog.LevelError
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// benchHost is newHost, closed when the benchmark ends. With listen set
// it returns once the onion descriptor is uploaded (libp2p.New listens
// before returning).
func benchHost(b *testing.B, tt *Tor, id crypto.PrivKey, onionKey ed25519.PrivateKey, listen ma.Multiaddr) host.Host {
	b.Helper()
	h := newHost(b, tt, id, onionKey, listen)
	b.Cleanup(func() { _ = h.Close() })
	return h
}

// tcpHost builds a libp2p host on the TCP transport with the same security
// and muxer as the onion hosts, listening on loopback.
func tcpHost(b *testing.B) host.Host {
	b.Helper()
	h, err := libp2p.New(
		libp2p.Identity(genIdentity(b)),
		libp2p.NoTransports,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, p2p.OnionMuxer()),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		b.Fatalf("libp2p TCP host: %v", err)
	}
	b.Cleanup(func() { _ = h.Close() })
	return h
}

// serveBenchStream is the libp2p stream handler of benchProto.
func serveBenchStream(s network.Stream) {
	defer s.Close()
	serveBench(s)
}

// connect dials to from from, bounded by benchStep, and reports how long the
// dial took (libp2p's Connect returns after the security and muxer
// handshakes and identify).
func connect(from host.Host, to peer.ID, addrs []ma.Multiaddr) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), benchStep)
	defer cancel()
	// The default per-dial timeout (15 s) is short for an onion dial on a
	// loaded machine; ctx bounds it instead.
	ctx = network.WithDialPeerTimeout(ctx, benchStep)
	start := time.Now()
	err := from.Connect(ctx, peer.AddrInfo{ID: to, Addrs: addrs})
	return time.Since(start), err
}

// openBenchStream connects from to (to, addrs), opens a benchProto stream
// and makes one round trip on it, so that the lazy protocol negotiation is
// done before anything is measured.
func openBenchStream(b *testing.B, from host.Host, to peer.ID, addrs []ma.Multiaddr) network.Stream {
	b.Helper()
	if _, err := connect(from, to, addrs); err != nil {
		b.Fatalf("connect to %s %v: %v", to, addrs, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), benchStep)
	defer cancel()
	s, err := from.NewStream(ctx, to, benchProto)
	if err != nil {
		b.Fatalf("open stream to %s: %v", to, err)
	}
	b.Cleanup(func() { _ = s.Reset() })
	if _, err := ping(s); err != nil {
		b.Fatalf("first round trip on the stream to %s: %v", to, err)
	}
	return s
}

// plainOnion is an onion service without libp2p: tor forwards its virtual
// port to a loopback listener whose connections serve the bench protocol.
type plainOnion struct {
	id  string
	svc *binetor.OnionService
	ln  net.Listener
	tor *Tor

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// publishPlainOnion publishes a plain onion service with a fresh key on tt,
// the same way Transport.Listen publishes a libp2p one, and reports how
// long the publication took.
func publishPlainOnion(b *testing.B, tt *Tor) (*plainOnion, time.Duration) {
	b.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(tt.ctx, benchStep)
	defer cancel()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	tt.listenMu.Lock()
	svc, err := tt.bine.Listen(ctx, &binetor.ListenConf{
		Key:           key,
		RemotePorts:   []int{benchOnionPort},
		LocalListener: ln,
	})
	tt.listenMu.Unlock()
	took := time.Since(start)
	if err != nil {
		ln.Close()
		b.Fatalf("publish plain onion service: %v", err)
	}
	p := &plainOnion{id: svc.ID, svc: svc, ln: ln, tor: tt}
	p.wg.Add(1)
	go p.accept()
	b.Cleanup(p.Close)
	return p, took
}

func (p *plainOnion) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			serveBench(c)
		}()
	}
}

// Close removes the service and ends its connections; safe to call twice.
func (p *plainOnion) Close() {
	p.mu.Lock()
	svc := p.svc
	p.svc = nil
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	if svc == nil {
		return
	}
	p.tor.mu.Lock()
	torClosed := p.tor.closed
	p.tor.mu.Unlock()
	if !torClosed {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = p.tor.call(ctx, svc.Close)
		cancel()
	}
	_ = p.ln.Close()
	for _, c := range conns {
		_ = c.Close()
	}
	p.wg.Wait()
}

// rawDial opens a plain TCP stream to onion id:port through tt's SOCKS port,
// exactly as Transport.Dial does before its libp2p upgrade (same SOCKS
// client, same password; user picks the circuit isolation).
func rawDial(ctx context.Context, tt *Tor, id string, port int, user string) (net.Conn, error) {
	d, err := proxy.SOCKS5(tt.socksNet, tt.socksAddr, &proxy.Auth{User: user, Password: socksPassword}, &net.Dialer{})
	if err != nil {
		return nil, err
	}
	cd, ok := d.(proxy.ContextDialer)
	if !ok {
		return nil, fmt.Errorf("SOCKS dialer %T has no DialContext", d)
	}
	return cd.DialContext(ctx, "tcp", net.JoinHostPort(id+".onion", strconv.Itoa(port)))
}

// timedRawDial is rawDial bounded by benchStep, with its duration.
func timedRawDial(tt *Tor, id, user string) (net.Conn, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), benchStep)
	defer cancel()
	start := time.Now()
	c, err := rawDial(ctx, tt, id, benchOnionPort, user)
	return c, time.Since(start), err
}

// BenchmarkTorSetup measures what a new node pays to become reachable over
// Tor on the already running private network. One op: start an owned tor
// from an empty data directory and wait for its bootstrap ("bootstrap_s"),
// publish the libp2p onion listener (a host whose ListenAddrs is the onion
// address; libp2p.New returns once the descriptor is uploaded,
// "publish_s"), and the first successful libp2p dial to it by peer ID from a
// second host with its own, already running tor ("first_dial_s": SOCKS
// connect through a rendezvous circuit, Noise, yamux and identify).
//
// Baseline, measured in the same op with the timer stopped: a plain onion
// service (no libp2p) published on the same tor, and the first raw SOCKS
// connect to it from the same second tor ("raw_dial_s"). "first_dial_vs_raw"
// = first_dial_s ÷ raw_dial_s is what libp2p's handshakes add to tor's own
// first-connect cost. The two dials alternate in order across ops; op 0
// (the only op with -benchtime 1x) dials libp2p first, so any cost of being
// first falls on libp2p. "network_consensus_s" is the private network's
// own start (first tor launched until every authority serves a full
// consensus), paid once per test binary and not part of any op.
func BenchmarkTorSetup(b *testing.B) {
	b.StopTimer()
	tnet := tortest.Shared(b)
	base := b.TempDir()
	b.ReportMetric(tnet.Timings().Consensus.Seconds(), "network_consensus_s")

	// The second node: running before the ops start, like the peers a new
	// node joins.
	torB, _ := benchTor(b, tnet, filepath.Join(base, "b"))
	hB := benchHost(b, torB, genIdentity(b), nil, nil)

	var boot, pub, dial, raw time.Duration
	for i := 0; i < b.N; i++ {
		home := filepath.Join(base, fmt.Sprintf("a%d", i))
		onionKey, err := LoadOrCreateKey(filepath.Join(home, "onion.key"))
		if err != nil {
			b.Fatal(err)
		}
		addrA := OnionAddr(onionKey, 4001)
		idA := genIdentity(b)

		b.StartTimer()
		torA, took := benchTor(b, tnet, filepath.Join(home, "tor"))
		boot += took
		start := time.Now()
		hA := benchHost(b, torA, idA, onionKey, addrA)
		pub += time.Since(start)
		b.StopTimer()

		plain, _ := publishPlainOnion(b, torA)
		libp2pDial := func() {
			b.StartTimer()
			took, err := connect(hB, hA.ID(), []ma.Multiaddr{addrA})
			b.StopTimer()
			if err != nil {
				b.Fatalf("op %d: first libp2p dial to %s: %v", i, addrA, err)
			}
			dial += took
		}
		rawFirst := func() {
			c, took, err := timedRawDial(torB, plain.id, "bench-setup-raw-"+strconv.Itoa(i))
			if err != nil {
				b.Fatalf("op %d: first raw SOCKS connect to %s.onion: %v", i, plain.id, err)
			}
			c.Close()
			raw += took
		}
		if i%2 == 0 {
			libp2pDial()
			rawFirst()
		} else {
			rawFirst()
			libp2pDial()
		}

		_ = hB.Network().ClosePeer(hA.ID())
		hB.Peerstore().ClearAddrs(hA.ID())
		if err := hA.Close(); err != nil {
			b.Errorf("close host A: %v", err)
		}
		plain.Close()
		if err := torA.Close(); err != nil {
			b.Errorf("close tor A: %v", err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(boot.Seconds()/n, "bootstrap_s")
	b.ReportMetric(pub.Seconds()/n, "publish_s")
	b.ReportMetric(dial.Seconds()/n, "first_dial_s")
	b.ReportMetric(raw.Seconds()/n, "raw_dial_s")
	b.ReportMetric(float64(dial)/float64(raw), "first_dial_vs_raw")
}

// torPaths are the three client-side ends measured by the throughput and
// RTT benchmarks, all open and past their first round trip:
//   - onion: a libp2p stream from host B to host A over the onion transport
//     (B and A each with their own tor);
//   - raw: a plain TCP stream from B's tor (SOCKS) to a plain onion service
//     published on A's tor: the same two tors, without libp2p;
//   - tcp: a libp2p stream between two hosts on the TCP transport on
//     loopback, with the same Noise and yamux.
type torPaths struct {
	onion network.Stream
	raw   net.Conn
	tcp   network.Stream
}

func newTorPaths(b *testing.B) *torPaths {
	b.Helper()
	tnet := tortest.Shared(b)
	base := b.TempDir()

	torA, _ := benchTor(b, tnet, filepath.Join(base, "a"))
	torB, _ := benchTor(b, tnet, filepath.Join(base, "b"))
	_, onionKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	addrA := OnionAddr(onionKey, 4001)
	hA := benchHost(b, torA, genIdentity(b), onionKey, addrA)
	hA.SetStreamHandler(benchProto, serveBenchStream)
	hB := benchHost(b, torB, genIdentity(b), nil, nil)
	p := &torPaths{onion: openBenchStream(b, hB, hA.ID(), []ma.Multiaddr{addrA})}

	plain, _ := publishPlainOnion(b, torA)
	raw, _, err := timedRawDial(torB, plain.id, "bench-raw")
	if err != nil {
		b.Fatalf("raw SOCKS connect to %s.onion: %v", plain.id, err)
	}
	b.Cleanup(func() { _ = raw.Close() })
	if _, err := ping(raw); err != nil {
		b.Fatalf("first round trip on the raw SOCKS stream: %v", err)
	}
	p.raw = raw

	hC, hD := tcpHost(b), tcpHost(b)
	hC.SetStreamHandler(benchProto, serveBenchStream)
	p.tcp = openBenchStream(b, hD, hC.ID(), hC.Addrs())
	return p
}

func mibps(bytes int, d time.Duration) float64 {
	return float64(bytes) / (1 << 20) / d.Seconds()
}

// BenchmarkTorThroughput sends 1 MiB one way (from the dialing host to the
// listening one, until the receiver acknowledges the last byte) per op over
// a libp2p stream on the onion transport; ns/op and MB/s are that transfer.
// "MiB/s" is its rate; in the same op, with the timer stopped, the same
// 1 MiB goes over the raw SOCKS stream through the same two tors
// ("raw_MiB/s", tor's own ceiling) and over libp2p on TCP loopback
// ("tcp_MiB/s"). "x_raw_socks" = MiB/s ÷ raw_MiB/s is the transport's own
// overhead (Noise, yamux windows; near 1 means tor is the whole limit), and
// "x_tcp" = MiB/s ÷ tcp_MiB/s the cost of going through Tor at all.
func BenchmarkTorThroughput(b *testing.B) {
	b.StopTimer()
	p := newTorPaths(b)
	payload := sinkPayload(b)
	b.SetBytes(benchMiB)

	var onion, raw, tcpT time.Duration
	for i := 0; i < b.N; i++ {
		baselines := func() {
			took, err := sendMiB(p.raw, payload)
			if err != nil {
				b.Fatalf("op %d: raw SOCKS: %v", i, err)
			}
			raw += took
			if took, err = sendMiB(p.tcp, payload); err != nil {
				b.Fatalf("op %d: libp2p TCP: %v", i, err)
			}
			tcpT += took
		}
		// Alternate which tor path goes first, in case going first
		// matters (e.g. the relays' queues after the other transfer).
		if i%2 == 0 {
			baselines()
		}
		b.StartTimer()
		took, err := sendMiB(p.onion, payload)
		b.StopTimer()
		if err != nil {
			b.Fatalf("op %d: libp2p over tor: %v", i, err)
		}
		onion += took
		if i%2 == 1 {
			baselines()
		}
	}
	bytes := b.N * benchMiB
	b.ReportMetric(mibps(bytes, onion), "MiB/s")
	b.ReportMetric(mibps(bytes, raw), "raw_MiB/s")
	b.ReportMetric(mibps(bytes, tcpT), "tcp_MiB/s")
	b.ReportMetric(float64(raw)/float64(onion), "x_raw_socks")
	b.ReportMetric(float64(tcpT)/float64(onion), "x_tcp")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkTorRTT makes 50 one-byte round trips per op over a libp2p stream
// on the onion transport; ns/op is the 50 round trips. "rtt_ms" is the
// median round trip over all ops. In the same op, with the timer stopped,
// 50 round trips go over the raw SOCKS stream through the same two tors,
// alternating with the libp2p ones ("raw_rtt_ms"); "x_raw_socks" = rtt_ms ÷
// raw_rtt_ms (near 1: libp2p adds no round trips of its own to a message
// exchange). A circuit can sit in a slow regime (~96 ms instead of ~16 ms)
// for a whole op, on one path or both, which swings that ratio between
// ~0.2 and ~5 from run to run; "min_rtt_ms" and "raw_min_rtt_ms" (the
// fastest round trip of each path) show when a path spent the whole op in
// that regime.
func BenchmarkTorRTT(b *testing.B) {
	b.StopTimer()
	p := newTorPaths(b)

	var onion, raw []time.Duration
	for i := 0; i < b.N; i++ {
		// Alternate the two paths ping by ping: the private network's
		// round trip switches between regimes (~16 ms and ~96 ms) for
		// seconds at a time, sometimes on both circuits, sometimes on one
		// only; alternating at least keeps the time-dependent part out of
		// the ratio.
		for range benchPings {
			d, err := ping(p.raw)
			if err != nil {
				b.Fatalf("op %d: raw SOCKS: %v", i, err)
			}
			raw = append(raw, d)
			b.StartTimer()
			d, err = ping(p.onion)
			b.StopTimer()
			if err != nil {
				b.Fatalf("op %d: libp2p over tor: %v", i, err)
			}
			onion = append(onion, d)
		}
	}
	mo, mr := median(onion), median(raw)
	b.ReportMetric(float64(mo.Microseconds())/1000, "rtt_ms")
	b.ReportMetric(float64(mr.Microseconds())/1000, "raw_rtt_ms")
	b.ReportMetric(float64(mo)/float64(mr), "x_raw_socks")
	b.ReportMetric(float64(slices.Min(onion).Microseconds())/1000, "min_rtt_ms")
	b.ReportMetric(float64(slices.Min(raw).Microseconds())/1000, "raw_min_rtt_ms")
}
