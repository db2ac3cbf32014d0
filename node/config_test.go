package node

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/p2p"
)

func TestRenderedConfigParsesToItself(t *testing.T) {
	for _, profile := range p2p.Profiles {
		cfg := DefaultConfig(profile)
		cfg.Node.Region = `eu "west"`
		cfg.P2P.Bootstrap = []string{"/ip4/127.0.0.1/tcp/4710/p2p/12D3KooWKtwob2ti77tK7rut98yt5iMfyHZAdrs88byeZqj7BLUw"}
		b, err := cfg.Render()
		require.NoError(t, err)
		got, err := ParseConfig(b)
		require.NoError(t, err, string(b))
		require.Equal(t, cfg, got)
	}
}

func TestParseConfigRejects(t *testing.T) {
	tests := []struct {
		name, toml, wantErr string
	}{
		{"unknown key", "[node]\nprofil = \"pi\"\n", "profil"},
		{"unknown section", "[nodes]\nprofile = \"pi\"\n", "nodes"},
		{"bad profile", "[node]\nprofile = \"desktop\"\n", "unknown profile"},
		{"public api", "[api]\nlisten = \"0.0.0.0:4711\"\n", "not a loopback"},
		{"lan api", "[api]\nlisten = \"192.168.1.5:4711\"\n", "not a loopback"},
		{"unknown transport", "[p2p]\ntransports = [\"tcp\", \"udp\"]\n", "unknown transport"},
		{"repeated transport", "[p2p]\ntransports = [\"tcp\", \"tcp\"]\n", "listed twice"},
		{"no transports", "[p2p]\ntransports = []\n", "no transports"},
		{"bad listen", "[p2p]\nlisten = [\"tcp://0.0.0.0:1\"]\n", "p2p.listen"},
		{"bootstrap without peer id", "[p2p]\nbootstrap = [\"/ip4/127.0.0.1/tcp/1\"]\n", "p2p.bootstrap"},
		{"bad level", "[log]\nlevel = \"loud\"\n", "log.level"},
		{"bad format", "[log]\nformat = \"xml\"\n", "log.format"},
		{"unknown service", "[capacity]\nservices = [\"telnet\"]\n", "unknown service"},
		{"repeated service", "[capacity]\nservices = [\"rdp\", \"rdp\"]\n", "listed twice"},
		{"too many slots", "[capacity]\nsession_slots = 5000\n", "over 1024"},
		{"lifetime too long", "[capacity]\nrecord_lifetime = \"3h\"\n", "record_lifetime"},
		{"lifetime unparsable", "[capacity]\nrecord_lifetime = \"soon\"\n", "soon"},
		{"not toml", "[node\n", "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.toml))
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestParseConfigKeepsDefaultsForMissingKeys(t *testing.T) {
	cfg, err := ParseConfig([]byte("[capacity]\nsession_slots = 2\n"))
	require.NoError(t, err)
	want := DefaultConfig(p2p.ProfilePi)
	want.Capacity.SessionSlots = 2
	require.Equal(t, want, cfg)
}

func FuzzParseConfig(f *testing.F) {
	b, err := DefaultConfig(p2p.ProfilePi).Render()
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte("[p2p]\nbootstrap = [\"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWKtwob2ti77tK7rut98yt5iMfyHZAdrs88byeZqj7BLUw\"]\n"))
	f.Add([]byte("[capacity]\nrecord_lifetime = \"1h\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		// Whatever parses must render to a config that parses back the same.
		out, err := cfg.Render()
		require.NoError(t, err)
		again, err := ParseConfig(out)
		if err != nil && strings.ContainsAny(string(data), "\x00\x7f") {
			return
		}
		require.NoError(t, err, string(out))
		require.Equal(t, cfg, again)
	})
}
