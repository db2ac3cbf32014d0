package p2p

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
)

func newTestHost(t *testing.T, transports ...Transport) host.Host {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	require.NoError(t, err)
	if len(transports) == 0 {
		transports = BuiltinTransports()
	}
	h, err := NewHost(HostConfig{
		Identity:   key,
		Listen:     []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0"), ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1")},
		Transports: transports,
		Profile:    ProfilePi,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func newTestNetwork(t *testing.T, bootstrap ...peer.AddrInfo) *Network {
	t.Helper()
	nw, err := JoinNetwork(newTestHost(t), NetworkConfig{
		Bootstrap: bootstrap,
		Datastore: dssync.MutexWrap(datastore.NewMapDatastore()),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = nw.Close() })
	return nw
}

func TestResolveTransports(t *testing.T) {
	tor := Transport{Name: "tor"}
	tests := []struct {
		names   []string
		want    []string
		wantErr string
	}{
		{names: []string{"tcp", "quic"}, want: []string{"tcp", "quic"}},
		{names: []string{"quic"}, want: []string{"quic"}},
		{names: []string{"tor"}, want: []string{"tor"}},
		{names: nil, wantErr: "no transports"},
		{names: []string{"tcp", "tcp"}, wantErr: "listed twice"},
		{names: []string{"websocket"}, wantErr: "unknown transport"},
	}
	for _, tt := range tests {
		got, err := ResolveTransports(tt.names, tor)
		if tt.wantErr != "" {
			require.ErrorContains(t, err, tt.wantErr, tt.names)
			continue
		}
		require.NoError(t, err)
		var names []string
		for _, tr := range got {
			names = append(names, tr.Name)
		}
		require.Equal(t, tt.want, names)
	}
}

func TestProfiles(t *testing.T) {
	for _, p := range Profiles {
		l, err := p.limits(nil)
		require.NoError(t, err)
		require.Less(t, l.connLow, l.connHigh)
	}
	require.Error(t, Profile("laptop").Valid())
}

// The DHT speaks only /lucid/kad/1.0.0. A peer running the public IPFS DHT
// (Amino) finds nothing to talk to: neither side enters the other's
// routing table.
func TestDHTIsPrivate(t *testing.T) {
	lucid := newTestNetwork(t)
	protos := lucid.Host.Mux().Protocols()
	require.Contains(t, protos, protocol.ID("/lucid/kad/1.0.0"))
	require.False(t, slices.Contains(protos, protocol.ID("/ipfs/kad/1.0.0")), "must not answer the IPFS DHT")

	amino, err := dht.New(newTestHost(t), dht.Mode(dht.ModeServer))
	require.NoError(t, err)
	t.Cleanup(func() { _ = amino.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, amino.Host().Connect(ctx, peer.AddrInfo{ID: lucid.Host.ID(), Addrs: lucid.Host.Addrs()}))
	// Give identify time to exchange protocol lists; tables update on it.
	require.Never(t, func() bool {
		return amino.RoutingTable().Size() > 0 || lucid.DHT.RoutingTable().Size() > 0
	}, time.Second, 50*time.Millisecond)
}

func TestConnectByPeerIDAndPing(t *testing.T) {
	a := newTestNetwork(t)
	boot := peer.AddrInfo{ID: a.Host.ID(), Addrs: a.Host.Addrs()}
	b := newTestNetwork(t, boot)
	c := newTestNetwork(t, boot)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, b.Bootstrap(ctx))
	require.NoError(t, c.Bootstrap(ctx))

	// b knows c only by ID; fresh forces a DHT lookup even if the refresh
	// already connected them.
	res, err := b.Connect(ctx, c.Host.ID(), true)
	require.NoError(t, err)
	require.Equal(t, "dht", res.Via)
	require.NotEmpty(t, res.Addrs)
	require.NotNil(t, res.Remote)

	rtts, err := b.Ping(ctx, c.Host.ID(), 3, 10*time.Millisecond)
	require.NoError(t, err)
	require.Len(t, rtts, 3)

	_, err = b.Connect(ctx, b.Host.ID(), false)
	require.ErrorContains(t, err, "self")
}

func TestServiceKeysDiffer(t *testing.T) {
	keys := map[string]bool{}
	for _, s := range []string{AllNodesKey, "rdp", "vnc", "ssh"} {
		keys[ServiceKey(s).String()] = true
	}
	require.Len(t, keys, 4)
	require.Equal(t, ServiceKey("rdp"), ServiceKey("rdp"))
}
