package tor

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/testnet/tornet"
	"github.com/lucidnet/lucid/testnet/tornet/tortest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// The shared private network would otherwise outlive the test binary
	// until tor notices its owner is gone.
	tortest.StopShared()
	os.Exit(code)
}

const echoProto = "/lucid/tortest/echo/1"

// startClientTor starts an owned tor on the shared private network.
func startClientTor(t *testing.T, net *tornet.Network, dataDir string) *Tor {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	tt, err := Start(ctx, Config{
		DataDir:   dataDir,
		Torrc:     net.ClientTorrc(),
		ExtraArgs: net.ClientArgs(),
		Logger:    testLogger(),
	})
	if err != nil {
		t.Fatalf("start tor: %v", err)
	}
	t.Cleanup(func() {
		if err := tt.Close(); err != nil {
			t.Errorf("close tor: %v", err)
		}
	})
	pct, summary := tt.Progress()
	t.Logf("tor in %s bootstrapped in %v (%d%% %q)", filepath.Join(filepath.Base(filepath.Dir(dataDir)), filepath.Base(dataDir)), time.Since(start).Round(time.Millisecond), pct, summary)
	if pct != 100 {
		t.Fatalf("Progress after Start = %d%%", pct)
	}
	return tt
}

// newHost builds a host whose only transport is tt's; listen nil means
// dial only.
func newHost(t testing.TB, tt *Tor, id crypto.PrivKey, onionKey ed25519.PrivateKey, listen ma.Multiaddr) host.Host {
	t.Helper()
	opts := []libp2p.Option{
		libp2p.Identity(id),
		libp2p.NoTransports,
		tt.Option(onionKey),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, p2p.OnionMuxer()),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	}
	if listen == nil {
		opts = append(opts, libp2p.NoListenAddrs)
	} else {
		opts = append(opts, libp2p.ListenAddrs(listen))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatalf("libp2p host: %v", err)
	}
	return h
}

func genIdentity(t testing.TB) crypto.PrivKey {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// echo copies a stream back to its sender.
func echo(s network.Stream) {
	defer s.Close()
	_, _ = io.Copy(s, s)
}

// connectAndEcho connects from to addr and sends size random bytes through
// an echo stream, checking they come back intact.
func connectAndEcho(t *testing.T, from host.Host, to peer.ID, addr ma.Multiaddr, size int) (dial, transfer time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The default dial timeout (15 s) is short for onion dials on a loaded
	// machine; the context bounds it instead.
	ctx = network.WithDialPeerTimeout(ctx, 80*time.Second)
	start := time.Now()
	if err := from.Connect(ctx, peer.AddrInfo{ID: to, Addrs: []ma.Multiaddr{addr}}); err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	dial = time.Since(start)
	conns := from.Network().ConnsToPeer(to)
	if len(conns) == 0 || !conns[0].RemoteMultiaddr().Equal(addr) {
		t.Fatalf("connection to %s reports remote %v", addr, conns)
	}

	payload := make([]byte, size)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	s, err := from.NewStream(ctx, to, echoProto)
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := s.Write(payload)
		if err == nil {
			err = s.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(s)
	if err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	transfer = time.Since(start)
	if !bytes.Equal(got, payload) {
		t.Fatalf("echo of %d bytes came back as %d bytes, different", len(payload), len(got))
	}
	return dial, transfer
}

func TestOnionHosts(t *testing.T) {
	net := tortest.Shared(t)
	base := t.TempDir()

	// A's onion key lives in its "node home", like a real node's.
	keyPath := filepath.Join(base, "a-home", "onion.key")
	onionKey, err := LoadOrCreateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	addrA := OnionAddr(onionKey, 4001)
	idA := genIdentity(t)

	torA := startClientTor(t, net, filepath.Join(base, "a-home", "tor"))
	torB := startClientTor(t, net, filepath.Join(base, "b-home", "tor"))

	start := time.Now()
	hA := newHost(t, torA, idA, onionKey, addrA)
	listenTook := time.Since(start)
	hA.SetStreamHandler(echoProto, echo)
	found := false
	for _, a := range hA.Addrs() {
		found = found || a.Equal(addrA)
	}
	if !found {
		t.Fatalf("host A addresses %v do not include %s", hA.Addrs(), addrA)
	}

	hB := newHost(t, torB, genIdentity(t), nil, nil)
	defer hB.Close()

	const size = 1 << 20
	dial, transfer := connectAndEcho(t, hB, hA.ID(), addrA, size)
	t.Logf("TIMING listen (host A start incl. descriptor upload) %v, first dial %v, 1 MiB echo (1 MiB each way) %v",
		listenTook.Round(time.Millisecond), dial.Round(time.Millisecond), transfer.Round(time.Millisecond))

	// Restart A completely: host, transport and tor process, same data dir
	// and key file. The onion address must not change.
	if err := hA.Close(); err != nil {
		t.Fatalf("close host A: %v", err)
	}
	if err := torA.Close(); err != nil {
		t.Fatalf("close tor A: %v", err)
	}
	_ = hB.Network().ClosePeer(hA.ID())
	onionKey2, err := LoadOrCreateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if addr2 := OnionAddr(onionKey2, 4001); !addr2.Equal(addrA) {
		t.Fatalf("address changed across restart: %s -> %s", addrA, addr2)
	}
	torA2 := startClientTor(t, net, filepath.Join(base, "a-home", "tor"))
	start = time.Now()
	hA2 := newHost(t, torA2, idA, onionKey2, addrA)
	defer hA2.Close()
	listenTook = time.Since(start)
	hA2.SetStreamHandler(echoProto, echo)
	dial, transfer = connectAndEcho(t, hB, hA2.ID(), addrA, 64<<10)
	t.Logf("TIMING after restart: listen %v, dial %v, 64 KiB echo %v",
		listenTook.Round(time.Millisecond), dial.Round(time.Millisecond), transfer.Round(time.Millisecond))
}

func TestAttachExistingTor(t *testing.T) {
	net := tortest.Shared(t)
	base := t.TempDir()
	owner := startClientTor(t, net, filepath.Join(base, "owner"))
	torB := startClientTor(t, net, filepath.Join(base, "b"))

	// Attach the way a node configured with ControlAddr would, to the port
	// the owned tor wrote out (cookie authentication).
	b, err := os.ReadFile(filepath.Join(base, "owner", "control-port"))
	if err != nil {
		t.Fatal(err)
	}
	ctrl := strings.TrimPrefix(strings.TrimSpace(string(b)), "PORT=")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	att, err := Start(ctx, Config{ControlAddr: ctrl, Logger: testLogger()})
	if err != nil {
		t.Fatalf("attach to %s: %v", ctrl, err)
	}
	if pct, _ := att.Progress(); pct != 100 {
		t.Fatalf("attached Progress = %d%%", pct)
	}
	_, onionKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	addr := OnionAddr(onionKey, 80)
	hA := newHost(t, att, genIdentity(t), onionKey, addr)
	hA.SetStreamHandler(echoProto, echo)
	hB := newHost(t, torB, genIdentity(t), nil, nil)
	defer hB.Close()
	connectAndEcho(t, hB, hA.ID(), addr, 16<<10)

	// Detaching must leave the tor running for its owner.
	if err := hA.Close(); err != nil {
		t.Errorf("close host: %v", err)
	}
	if err := att.Close(); err != nil {
		t.Errorf("detach: %v", err)
	}
	if pct, summary := owner.Progress(); pct != 100 {
		t.Fatalf("owned tor after a controller detached: %d%% %s", pct, summary)
	}
}
