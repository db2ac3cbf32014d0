package tor

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/transport"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// testLogger writes to stderr, not t.Log: tor output can arrive from
// goroutines after a subtest ended, and t.Log then panics.
func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func TestStartTorMissing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Start(ctx, Config{TorPath: filepath.Join(t.TempDir(), "no-such-tor"), DataDir: t.TempDir()})
	if !errors.Is(err, ErrTorMissing) {
		t.Fatalf("Start with a missing binary: %v, want ErrTorMissing", err)
	}
	if !strings.Contains(err.Error(), "install the `tor` package") {
		t.Errorf("error does not say what to install: %v", err)
	}

	// Same through $PATH.
	t.Setenv("PATH", t.TempDir())
	_, err = Start(ctx, Config{DataDir: t.TempDir()})
	if !errors.Is(err, ErrTorMissing) {
		t.Fatalf("Start with tor not on PATH: %v, want ErrTorMissing", err)
	}
}

func TestStartBootstrapTimeout(t *testing.T) {
	if _, err := exec.LookPath("tor"); err != nil {
		t.Skip("tor not installed")
	}
	// A test network whose only authority is a closed loopback port: tor
	// starts but can never bootstrap, and nothing leaves the machine.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	torrc := "TestingTorNetwork 1\n" +
		"DirAuthority dead orport=1 no-v2 v3ident=0000000000000000000000000000000000000000 " + dead +
		" 0000000000000000000000000000000000000000\n" +
		"GeoIPFile \"\"\nGeoIPv6File \"\"\n"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	_, err = Start(ctx, Config{DataDir: t.TempDir(), Torrc: torrc, BootstrapTimeout: 3 * time.Second, Logger: testLogger()})
	if !errors.Is(err, ErrBootstrap) {
		t.Fatalf("Start against a dead network: %v, want ErrBootstrap", err)
	}
	var be *BootstrapError
	if !errors.As(err, &be) || be.Progress >= 100 || be.Summary == "" {
		t.Fatalf("bootstrap error lacks progress: %#v", be)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("bootstrap error does not wrap the deadline: %v", err)
	}
	t.Logf("got %v after %v", err, time.Since(start).Round(time.Millisecond))
}

func TestParseBootstrapPhase(t *testing.T) {
	for _, tc := range []struct {
		in      string
		pct     int
		summary string
	}{
		{`NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"`, 100, "Done"},
		{`NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"`, 0, "Starting"},
		{`WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" WARNING="Connection refused" REASON=CONNECTREFUSED COUNT=3 RECOMMENDATION=ignore`,
			5, "Connecting to a relay (warning: Connection refused)"},
		{`NOTICE BOOTSTRAP PROGRESS=75 TAG=enough_dirinfo SUMMARY="Loaded enough directory info to build \"circuits\""`,
			75, `Loaded enough directory info to build \"circuits\"`},
	} {
		pct, s, err := parseBootstrapPhase(tc.in)
		if err != nil || pct != tc.pct || s != tc.summary {
			t.Errorf("parseBootstrapPhase(%q) = %d, %q, %v; want %d, %q", tc.in, pct, s, err, tc.pct, tc.summary)
		}
	}
	if _, _, err := parseBootstrapPhase("garbage"); err == nil {
		t.Error("garbage accepted")
	}
}

// recordingUpgrader fails every upgrade but records what it was given.
type recordingUpgrader struct {
	transport.Upgrader
	raddr ma.Multiaddr
}

func (u *recordingUpgrader) Upgrade(_ context.Context, _ transport.Transport, c manet.Conn, _ network.Direction, _ peer.ID, scope network.ConnManagementScope) (transport.CapableConn, error) {
	u.raddr = c.RemoteMultiaddr()
	c.Close()
	scope.Done()
	return nil, errors.New("test upgrader: no upgrade")
}

// fakeSOCKS accepts one SOCKS5 connection with username/password auth and
// reports the credentials and the requested destination. With hang set it
// stops answering after the greeting, to test dial deadlines.
func fakeSOCKS(t *testing.T, hang bool) (addr string, got chan [3]string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got = make(chan [3]string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 512)
		// greeting: VER NMETHODS METHODS...
		if _, err := io.ReadFull(c, buf[:2]); err != nil {
			return
		}
		if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
			return
		}
		if hang {
			time.Sleep(10 * time.Second)
			return
		}
		c.Write([]byte{5, 2}) // username/password
		// RFC 1929: VER ULEN UNAME PLEN PASSWD
		io.ReadFull(c, buf[:2])
		user := make([]byte, buf[1])
		io.ReadFull(c, user)
		io.ReadFull(c, buf[:1])
		pass := make([]byte, buf[0])
		io.ReadFull(c, pass)
		c.Write([]byte{1, 0})
		// request: VER CMD RSV ATYP ...
		io.ReadFull(c, buf[:4])
		dest := "non-domain address type"
		if buf[3] == 3 {
			io.ReadFull(c, buf[:1])
			host := make([]byte, buf[0])
			io.ReadFull(c, host)
			dest = string(host)
		}
		io.ReadFull(c, buf[:2])
		c.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 1})
		got <- [3]string{string(user), string(pass), dest}
	}()
	return l.Addr().String(), got
}

func fakeTor(socks string) *Tor {
	return &Tor{ctx: context.Background(), socksNet: "tcp", socksAddr: socks, log: testLogger()}
}

func TestDialIsolatesByPeerAndSendsName(t *testing.T) {
	socks, got := fakeSOCKS(t, false)
	up := &recordingUpgrader{}
	tr, err := NewTransport(fakeTor(socks), nil, up, nil)
	if err != nil {
		t.Fatal(err)
	}
	raddr := ma.StringCast("/onion3/" + torProjectOnion + ":4001")
	if !tr.CanDial(raddr) || tr.CanDial(ma.StringCast("/ip4/127.0.0.1/tcp/4001")) || tr.CanDial(ma.StringCast("/dns4/localhost/tcp/1")) {
		t.Fatal("CanDial accepts the wrong addresses")
	}
	p := peer.ID("peer-A")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := tr.Dial(ctx, raddr, p); err == nil {
		t.Fatal("dial with a failing upgrader succeeded")
	}
	rec := <-got
	if rec[0] != p.String() {
		t.Errorf("SOCKS username %q, want the peer ID %q (stream isolation)", rec[0], p.String())
	}
	if want := torProjectOnion + ".onion"; rec[2] != want {
		t.Errorf("SOCKS destination %q, want the name %q (no local resolution)", rec[2], want)
	}
	if !up.raddr.Equal(raddr) {
		t.Errorf("upgraded conn's remote address %s, want the onion %s", up.raddr, raddr)
	}
	if _, err := tr.Dial(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/1"), p); !errors.Is(err, ErrBadOnion) {
		t.Errorf("dial of an IP address: %v, want ErrBadOnion", err)
	}
}

func TestDialRespectsContext(t *testing.T) {
	socks, _ := fakeSOCKS(t, true)
	tr, err := NewTransport(fakeTor(socks), nil, &recordingUpgrader{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = tr.Dial(ctx, ma.StringCast("/onion3/"+torProjectOnion+":4001"), "p")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial through a hanging proxy: %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("dial returned after %v, long past its 300 ms deadline", d)
	}
}

func TestListenRejectsForeignOnion(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tr, err := NewTransport(fakeTor("127.0.0.1:1"), key, &recordingUpgrader{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Listen(ma.StringCast("/onion3/" + torProjectOnion + ":4001")); err == nil {
		t.Fatal("listened on somebody else's onion")
	}
	if _, err := tr.Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0")); !errors.Is(err, ErrBadOnion) {
		t.Fatalf("listen on IP: %v, want ErrBadOnion", err)
	}
}
