package node

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/p2p"
)

// loopbackConfig is a node on 127.0.0.1 with the given TCP port (0: any).
func loopbackConfig(port int, bootstrap ...string) Config {
	cfg := DefaultConfig(p2p.ProfilePi)
	cfg.P2P.Transports = []string{"tcp"}
	cfg.P2P.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}
	cfg.P2P.Bootstrap = bootstrap
	cfg.API.Listen = "127.0.0.1:0"
	return cfg
}

func initHome(t *testing.T, cfg Config) (Home, peer.ID) {
	t.Helper()
	home := Home{Dir: filepath.Join(t.TempDir(), "home")}
	res, err := Init(home, cfg)
	require.NoError(t, err)
	return home, res.Peer
}

func startNode(t *testing.T, home Home, cfg Config) *Node {
	t.Helper()
	n, err := Start(context.Background(), home, cfg, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	return n
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A node whose bootstrap peer is down keeps trying, and joins once the peer
// comes up: on a Pi the network may come up after the daemon.
func TestNodeJoinsWhenBootstrapPeerComesUpLater(t *testing.T) {
	port := freePort(t)
	bootCfg := loopbackConfig(port)
	bootHome, bootID := initHome(t, bootCfg)
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, bootID)

	cfg := loopbackConfig(0, addr)
	home, _ := initHome(t, cfg)
	n := startNode(t, home, cfg)
	time.Sleep(1500 * time.Millisecond) // at least one failed attempt
	require.Zero(t, n.Network().DHT.RoutingTable().Size())

	startNode(t, bootHome, bootCfg)
	require.Eventually(t, func() bool { return n.Network().DHT.RoutingTable().Size() > 0 }, 30*time.Second, 50*time.Millisecond)
	select {
	case <-n.Capacity().Published():
	case <-time.After(30 * time.Second):
		t.Fatal("capacity record not published after joining")
	}
}

// Stopping a node flushes the datastore: the sequence number it used is
// there after a restart, and the next record's is higher.
func TestRestartContinuesCapacitySequence(t *testing.T) {
	cfg := loopbackConfig(0)
	home, _ := initHome(t, cfg)
	n, err := Start(context.Background(), home, cfg, Options{})
	require.NoError(t, err)
	ctx := context.Background()
	first, err := n.Capacity().nextSeq(ctx)
	require.NoError(t, err)
	require.NoError(t, n.Close(ctx))

	// A clock far in the past shows the stored value, not the time, wins.
	past := func() time.Time { return time.Unix(1, 0) }
	n2, err := Start(ctx, home, cfg, Options{Now: past})
	require.NoError(t, err)
	defer n2.Close(ctx)
	second, err := n2.Capacity().nextSeq(ctx)
	require.NoError(t, err)
	require.Greater(t, second, first)
}

func TestTwoNodesCannotShareAHome(t *testing.T) {
	cfg := loopbackConfig(0)
	home, _ := initHome(t, cfg)
	startNode(t, home, cfg)
	_, err := Start(context.Background(), home, cfg, Options{})
	require.Error(t, err, "the datastore lock keeps a second daemon out")
}
