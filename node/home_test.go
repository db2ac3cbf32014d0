package node

import (
	"os"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/p2p"
)

func TestInitCreatesPrivateIdentityAndNeverReplacesIt(t *testing.T) {
	home := Home{Dir: t.TempDir() + "/home"}
	first, err := Init(home, DefaultConfig(p2p.ProfilePi))
	require.NoError(t, err)
	require.True(t, first.CreatedKey)
	require.True(t, first.CreatedConfig)

	for _, path := range []string{home.IdentityPath(), home.TokenPath()} {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), path)
	}
	key, err := home.LoadIdentity()
	require.NoError(t, err)
	id, err := peer.IDFromPrivateKey(key)
	require.NoError(t, err)
	require.Equal(t, first.Peer, id)

	// A second init, even after the config was removed, keeps the key.
	require.NoError(t, os.Remove(home.ConfigPath()))
	second, err := Init(home, DefaultConfig(p2p.ProfileServer))
	require.NoError(t, err)
	require.False(t, second.CreatedKey)
	require.True(t, second.CreatedConfig)
	require.Equal(t, first.Peer, second.Peer)

	third, err := Init(home, DefaultConfig(p2p.ProfilePi))
	require.NoError(t, err)
	require.False(t, third.CreatedConfig, "an existing config is kept")
	cfg, err := home.LoadConfig()
	require.NoError(t, err)
	require.Equal(t, string(p2p.ProfileServer), cfg.Node.Profile)
}

func TestLoadIdentityRefusesReadableKey(t *testing.T) {
	home := Home{Dir: t.TempDir()}
	_, err := Init(home, DefaultConfig(p2p.ProfilePi))
	require.NoError(t, err)
	require.NoError(t, os.Chmod(home.IdentityPath(), 0o644))
	_, err = home.LoadIdentity()
	require.ErrorContains(t, err, "chmod 600")
}

func TestLoadIdentityRejectsCorruptKey(t *testing.T) {
	home := Home{Dir: t.TempDir()}
	require.NoError(t, os.WriteFile(home.IdentityPath(), []byte("not a key"), 0o600))
	_, err := home.LoadIdentity()
	require.Error(t, err)
}

func TestLoadConfigWithoutInitSaysWhatToDo(t *testing.T) {
	_, err := Home{Dir: t.TempDir()}.LoadConfig()
	require.ErrorContains(t, err, "lucid init")
}

func TestDefaultHomeHonoursEnv(t *testing.T) {
	t.Setenv(HomeEnv, "/srv/lucid")
	h, err := DefaultHome()
	require.NoError(t, err)
	require.Equal(t, "/srv/lucid", h.Dir)
}
