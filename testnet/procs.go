package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/testnet/tornet"
)

// UpConfig describes a network of separate node processes.
type UpConfig struct {
	// Binary is the lucid executable to run for each node.
	Binary string
	Nodes  int
	// Dir holds the homes; empty means a new temporary directory, removed
	// by Stop.
	Dir        string
	Transports []string
	// StartTimeout bounds how long a node may take to serve its API.
	StartTimeout time.Duration
	// Chain runs a data chain (see Options.Chain).
	Chain bool
	// Tor starts a private Tor network on loopback (package tornet) and
	// makes every node onion-only on it; TorNet uses a running one
	// instead (left running by Stop).
	Tor    bool
	TorNet *tornet.Network
	// Log receives progress lines (the Tor network's start-up); nil:
	// discard.
	Log io.Writer
}

// ProcNode is one running node process.
type ProcNode struct {
	Index   int
	Home    node.Home
	PeerID  string
	APIAddr string
	PID     int
	LogPath string

	cmd    *exec.Cmd
	exited chan struct{}
}

// Cluster is a running multi-process network.
type Cluster struct {
	Nodes     []*ProcNode
	Bootstrap []string
	Dir       string
	Genesis   *chain.Genesis  // with UpConfig.Chain
	Tor       *tornet.Network // with UpConfig.Tor

	tempDir bool
	ownTor  bool
	mu      sync.Mutex
}

// Up initialises the homes and starts the node processes: node 0 first, and
// the others bootstrapped from it once its API answers.
func Up(ctx context.Context, cfg UpConfig) (c *Cluster, err error) {
	if cfg.Nodes < 1 {
		return nil, errors.New("testnet needs at least one node")
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	c = &Cluster{Dir: cfg.Dir}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", "lucid-testnet-"); err != nil {
			return nil, err
		}
		c.tempDir = true
	}
	defer func() {
		if err != nil {
			_ = c.Stop(10 * time.Second)
		}
	}()
	if cfg.TorNet != nil {
		c.Tor = cfg.TorNet
	} else if cfg.Tor {
		if c.Tor, err = tornet.Start(ctx, tornet.Config{Dir: filepath.Join(c.Dir, "tornet"), Log: cfg.Log}); err != nil {
			return nil, fmt.Errorf("private Tor network: %w", err)
		}
		c.ownTor = true
	}
	if c.Tor != nil {
		if cfg.StartTimeout < 2*time.Minute {
			cfg.StartTimeout = 2 * time.Minute // tor bootstrap and onion publication
		}
	}
	for i := range cfg.Nodes {
		ncfg := NodeConfig(cfg.Transports, c.Bootstrap)
		if c.Tor != nil {
			ncfg = TorNodeConfig(ncfg, c.Tor)
		}
		ncfg.Log.Format = "json"
		home := node.Home{Dir: filepath.Join(c.Dir, fmt.Sprintf("node%d", i))}
		res, err := node.Init(home, ncfg)
		if err != nil {
			return nil, fmt.Errorf("init node %d: %w", i, err)
		}
		if cfg.Chain {
			if i == 0 {
				c.Genesis = chain.DevGenesis("lucid-testnet", res.Peer, time.Now())
			}
			if err := c.Genesis.Save(home.GenesisPath()); err != nil {
				return nil, err
			}
		}
		pn, err := c.start(ctx, cfg, i, home)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			c.Bootstrap, err = c.bootstrapFrom(ctx, pn)
			if err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, cfg UpConfig, i int, home node.Home) (*ProcNode, error) {
	pn := &ProcNode{Index: i, Home: home, LogPath: filepath.Join(home.Dir, "node.log"), exited: make(chan struct{})}
	logf, err := os.OpenFile(pn.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	// The bootstrap list is in each home's config; a stale api.addr from an
	// earlier run must not be mistaken for this one.
	_ = os.Remove(home.APIAddrPath())
	pn.cmd = exec.Command(cfg.Binary, "node", "run", "--home", home.Dir)
	pn.cmd.Stdout, pn.cmd.Stderr = logf, logf
	pn.cmd.SysProcAttr = childProcAttr()
	if err := pn.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node %d: %w", i, err)
	}
	pn.PID = pn.cmd.Process.Pid
	go func() { _ = pn.cmd.Wait(); close(pn.exited) }()
	c.mu.Lock()
	c.Nodes = append(c.Nodes, pn)
	c.mu.Unlock()

	wait, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	for {
		addr, err := home.RunningAPI()
		if err == nil {
			client, derr := node.DialHome(home)
			if derr == nil {
				if info, ierr := client.NodeInfo(wait); ierr == nil {
					pn.APIAddr, pn.PeerID = addr, info.PeerID
					return pn, nil
				}
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		select {
		case <-pn.exited:
			return nil, fmt.Errorf("node %d exited during start-up; see %s:\n%s", i, pn.LogPath, tail(pn.LogPath, 10))
		case <-wait.Done():
			return nil, fmt.Errorf("node %d did not serve its API within %s; see %s", i, cfg.StartTimeout, pn.LogPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// bootstrapFrom asks a started node for its addresses.
func (c *Cluster) bootstrapFrom(ctx context.Context, pn *ProcNode) ([]string, error) {
	client, err := node.DialHome(pn.Home)
	if err != nil {
		return nil, err
	}
	info, err := client.NodeInfo(ctx)
	if err != nil {
		return nil, err
	}
	addrs := info.Addrs
	if info.Tor != nil && info.Tor.Onion != "" {
		// Known at once; advertised only once reachable.
		addrs = []string{info.Tor.Onion}
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a+"/p2p/"+info.PeerID)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("node %d reports no listen addresses", pn.Index)
	}
	return out, nil
}

// Stop sends SIGTERM to every node, waits up to grace for them to exit and
// kills the rest, so that no process outlives the cluster.
func (c *Cluster) Stop(grace time.Duration) error {
	c.mu.Lock()
	nodes := slices.Clone(c.Nodes)
	c.mu.Unlock()
	for _, pn := range nodes {
		_ = pn.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(grace)
	var errs []error
	for _, pn := range nodes {
		select {
		case <-pn.exited:
		case <-deadline:
			_ = pn.cmd.Process.Kill()
			<-pn.exited
			errs = append(errs, fmt.Errorf("node %d (pid %d) did not stop within %s and was killed", pn.Index, pn.PID, grace))
		}
	}
	if c.ownTor {
		errs = append(errs, c.Tor.Stop())
	}
	if c.tempDir {
		errs = append(errs, os.RemoveAll(c.Dir))
	}
	return errors.Join(errs...)
}

// Exited reports the first node that exited on its own, if any.
func (c *Cluster) Exited() <-chan *ProcNode {
	out := make(chan *ProcNode, 1)
	c.mu.Lock()
	nodes := slices.Clone(c.Nodes)
	c.mu.Unlock()
	for _, pn := range nodes {
		go func() {
			<-pn.exited
			select {
			case out <- pn:
			default:
			}
		}()
	}
	return out
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(ls[max(0, len(ls)-lines):], "\n")
}
