package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	ptor "github.com/lucidnet/lucid/p2p/tor"
)

// TestTorOnlyFailsClosed: a Tor-only node whose tor cannot run refuses to
// start with an error that says what to do, and a Tor-only config that
// names a clearnet address is refused before anything starts.
func TestTorOnlyFailsClosed(t *testing.T) {
	home := Home{Dir: t.TempDir()}
	cfg, err := DefaultConfig("pi").WithTransport("tor")
	require.NoError(t, err)
	cfg.API.Listen = "127.0.0.1:0"
	cfg.Tor.Binary = filepath.Join(t.TempDir(), "no-tor-here")
	_, err = Init(home, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = Start(ctx, home, cfg, Options{})
	require.ErrorIs(t, err, ptor.ErrTorMissing)
	require.ErrorContains(t, err, "does not fall back to clearnet")
	require.ErrorContains(t, err, "apt-get install tor")

	for _, bad := range []struct{ field, value string }{
		{"listen", "/ip4/0.0.0.0/tcp/4710"},
		{"bootstrap", "/ip4/203.0.113.7/tcp/4710/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"},
		{"bootstrap", "/dns4/example.org/tcp/4710/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"},
	} {
		c := cfg
		switch bad.field {
		case "listen":
			c.P2P.Listen = []string{bad.value}
		case "bootstrap":
			c.P2P.Bootstrap = []string{bad.value}
		}
		require.ErrorContains(t, c.Validate(), "not an onion address", bad.value)
	}
	mixed, err := DefaultConfig("pi").WithTransport("mixed")
	require.NoError(t, err)
	mixed.P2P.Bootstrap = []string{"/ip4/203.0.113.7/tcp/4710/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"}
	require.NoError(t, mixed.Validate(), "mixed mode may use clearnet")
}
