package meta

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/p2p"
)

// bareHost is a libp2p host on loopback without a replica: a peer that
// speaks the sync protocol by hand.
func bareHost(t testing.TB) host.Host {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	require.NoError(t, err)
	h, err := p2p.NewHost(p2p.HostConfig{
		Identity: key, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Transports: p2p.BuiltinTransports(), Profile: p2p.ProfileServer,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// TestSyncStopsWithContext: an exchange with a peer that never answers
// ends when its context does, not a minute later at the stream deadline,
// so Close is not held up by a stalled peer.
func TestSyncStopsWithContext(t *testing.T) {
	nodes := startNodes(t, 1, func(_ int, c *Config) { c.SyncInterval = time.Hour })
	mute := bareHost(t)
	mute.SetStreamHandler(SyncProtocol, func(s network.Stream) { _, _ = io.Copy(io.Discard, s) })
	ctx := context.Background()
	require.NoError(t, nodes[0].net.Host.Connect(ctx, mute.Peerstore().PeerInfo(mute.ID())))

	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := nodes[0].r.Sync(sctx, mute.ID())
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("sync with a mute peer did not stop with its context")
	}
}

// TestCloseEndsServedExchanges: Close ends the exchanges the node serves
// (they merge into the map and write to the store the caller closes
// next) instead of leaving them to the stream deadline.
func TestCloseEndsServedExchanges(t *testing.T) {
	nodes := startNodes(t, 1, func(_ int, c *Config) { c.SyncInterval = time.Hour })
	nd := nodes[0]
	stall := bareHost(t)
	ctx := context.Background()
	require.NoError(t, stall.Connect(ctx, nd.info()))
	s, err := stall.NewStream(ctx, nd.id(), SyncProtocol)
	require.NoError(t, err)
	// A sync message without the End of its round, then silence: the
	// server waits for the rest.
	msg := crdt.NewMap(crdt.Params{}).SyncStart().Encode()
	_, err = s.Write(append([]byte{frameSync, byte(len(msg))}, msg...))
	require.NoError(t, err)
	eventually(t, 10*time.Second, "the exchange to be served", func() bool {
		return metric(t, nd.reg, "lucid_meta_received_bytes_total", map[string]string{"channel": "sync"}) > 0
	})

	closed := make(chan error, 1)
	go func() { closed <- nd.r.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	nd.r = nil
	// The served exchange is over: its stream was reset, not left open.
	require.NoError(t, s.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = s.Read(make([]byte, 1))
	require.Error(t, err)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "stream still open after Close: %v", err)
}
