package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/node/rpc"
)

// HomeEnv overrides the default home directory.
const HomeEnv = "LUCID_HOME"

// Home is a node's directory: identity, config, API token and data.
type Home struct{ Dir string }

// DefaultHome is $LUCID_HOME, or ~/.lucid.
func DefaultHome() (Home, error) {
	if d := os.Getenv(HomeEnv); d != "" {
		return Home{Dir: d}, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return Home{}, fmt.Errorf("no home directory (set %s): %w", HomeEnv, err)
	}
	return Home{Dir: filepath.Join(u, ".lucid")}, nil
}

func (h Home) IdentityPath() string { return filepath.Join(h.Dir, "identity.key") }
func (h Home) ConfigPath() string   { return filepath.Join(h.Dir, "config.toml") }
func (h Home) TokenPath() string    { return filepath.Join(h.Dir, "api.token") }
func (h Home) DataDir() string      { return filepath.Join(h.Dir, "data") }

// TorDir is the data directory of the tor the node starts.
func (h Home) TorDir() string { return filepath.Join(h.Dir, "tor") }

// OnionKeyPath holds the onion service key: the node's onion address.
func (h Home) OnionKeyPath() string { return filepath.Join(h.Dir, "onion.key") }

// GenesisPath is where the chain genesis file is looked for by default.
func (h Home) GenesisPath() string { return filepath.Join(h.Dir, "genesis.json") }

// RecordingsDir holds the recordings of hosted sessions.
func (h Home) RecordingsDir() string { return filepath.Join(h.DataDir(), "recordings") }

// APIAddrPath holds the address the running node's API listens on. It exists
// only while the node runs, so the CLI can find a node started with port 0.
func (h Home) APIAddrPath() string { return filepath.Join(h.Dir, "api.addr") }

// InitResult reports what Init created and what it found already there.
type InitResult struct {
	Peer          peer.ID
	CreatedKey    bool
	CreatedConfig bool
}

// Init creates the home: an Ed25519 identity (0600), a commented config and
// the data directory. An existing identity is never replaced, and neither
// is an existing config, so Init is safe to run twice.
func Init(h Home, cfg Config) (InitResult, error) {
	if err := cfg.Validate(); err != nil {
		return InitResult{}, err
	}
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return InitResult{}, fmt.Errorf("create home: %w", err)
	}
	var res InitResult
	key, err := h.LoadIdentity()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		key, err = createIdentity(h.IdentityPath())
		if err != nil {
			return res, err
		}
		res.CreatedKey = true
	case err != nil:
		return res, err
	}
	if res.Peer, err = peer.IDFromPrivateKey(key); err != nil {
		return res, err
	}
	rendered, err := cfg.Render()
	if err != nil {
		return res, err
	}
	switch err := writeNew(h.ConfigPath(), rendered, 0o644); {
	case err == nil:
		res.CreatedConfig = true
	case !errors.Is(err, fs.ErrExist):
		return res, fmt.Errorf("write config: %w", err)
	}
	if err := os.MkdirAll(h.DataDir(), 0o700); err != nil {
		return res, fmt.Errorf("create data dir: %w", err)
	}
	if _, err := rpc.LoadOrCreateToken(h.TokenPath()); err != nil {
		return res, err
	}
	return res, nil
}

func createIdentity(path string) (crypto.PrivKey, error) {
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return nil, fmt.Errorf("generate identity: %w", err)
	}
	b, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := writeNew(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write identity: %w", err)
	}
	return key, nil
}

// LoadIdentity reads the node's private key. It refuses a key file that
// others can read: the key is the node's identity and its earnings.
func (h Home) LoadIdentity() (crypto.PrivKey, error) {
	path := h.IdentityPath()
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity %s is readable by others (mode %v); run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", path, err)
	}
	return key, nil
}

// LoadConfig reads the home's config.toml.
func (h Home) LoadConfig() (Config, error) {
	cfg, err := LoadConfig(h.ConfigPath())
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, fmt.Errorf("%s has no config.toml; run `lucid init --home %s` first: %w", h.Dir, h.Dir, err)
	}
	return cfg, err
}

// RunningAPI returns the API address of a node running in this home, or an
// fs.ErrNotExist error when none is.
func (h Home) RunningAPI() (string, error) {
	b, err := os.ReadFile(h.APIAddrPath())
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// writeNew writes a file that must not exist yet, durably: the data goes to
// a temporary file that is synced and then linked into place, so a crash
// leaves either no file or the whole file, and an existing file is never
// replaced.
func writeNew(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// link(2) fails with EEXIST instead of replacing, unlike rename(2).
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
