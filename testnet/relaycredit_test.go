package testnet

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/node"
)

// Work proven end to end: a client relays data through a host; the
// client signs metering receipts, the host publishes them in its relay
// proof for the slot, and every node's tally credits the host for relay
// work.
func TestRelayedBytesEarnRelayCredits(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a network for several slots")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	genesis := time.Now().Truncate(time.Second)
	nw, err := Start(ctx, Options{Nodes: 3, Configure: func(i int, cfg *node.Config) {
		cfg.Sessions.Targets.SSH = echo.Addr().String()
		cfg.Poot.SlotLength = node.Duration(time.Second)
		cfg.Poot.Genesis = genesis
		// Node 0 plays a desktop client: a key that publishes node
		// proofs of its own is not accepted as a paying client.
		cfg.Poot.Beacons = i != 0
	}})
	require.NoError(t, err)
	defer nw.Close()
	require.NoError(t, nw.WaitPublished(ctx))
	client, host := nw.Nodes[0], nw.Nodes[2]

	info, err := client.Service().Connect(ctx, node.ConnectParams{PeerID: host.Network().Host.ID().String(), Service: "ssh"})
	require.NoError(t, err)
	conn, err := net.Dial("tcp", info.LocalAddr)
	require.NoError(t, err)
	payload := make([]byte, 12<<20)
	go func() { _, _ = conn.Write(payload) }()
	_, err = io.ReadFull(conn, make([]byte, len(payload)))
	require.NoError(t, err)
	conn.Close()
	// The client ends the session: its final receipt covers every byte.
	_, err = client.Service().KillSession(ctx, node.SessionParams{SessionID: info.ID.String()})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		st, err := host.Service().PootStatus(ctx)
		return err == nil && st.Credits.Relay >= 3 // ⌈12 MiB / 5 MB⌉
	}, 30*time.Second, 200*time.Millisecond, "the host earns relay credit")
	st, err := client.Service().PootStatus(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Credits.Relay, "the client earns nothing for what it received")
}
