package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/sessions"
	"github.com/lucidnet/lucid/testnet"
	"github.com/lucidnet/lucid/testnet/tornet/tortest"
)

// TestTorOnlyNetwork runs four onion-only nodes on a private Tor network on
// loopback: they bootstrap the DHT over onion addresses, find every
// capacity record and ping each other by peer ID; their records and
// advertised addresses hold onion addresses only; their sockets touch
// nothing but loopback (no clearnet, no UDP); a desktop client with its
// own tor reaches the host's real OpenSSH server by peer ID and copies
// 5 MiB through the session intact.
func TestTorOnlyNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a private Tor network")
	}
	tn := tortest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sshd, err := testnet.StartSSHD(ctx, t.TempDir())
	require.NoError(t, err)
	defer sshd.Stop()

	start := time.Now()
	nw, err := testnet.Start(ctx, testnet.Options{Nodes: 4, Tor: tn, Configure: func(_ int, cfg *node.Config) {
		cfg.Sessions.Targets.SSH = sshd.Addr
	}})
	require.NoError(t, err)
	defer nw.Close()
	started := time.Since(start)
	require.NoError(t, nw.WaitPublished(ctx))
	t.Logf("4 onion-only nodes: started in %v, all reachable and published after %v", started.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	apis := make([]node.API, len(nw.Nodes))
	ids := make([]string, len(nw.Nodes))
	for i, n := range nw.Nodes {
		apis[i], ids[i] = n.Service(), n.Network().Host.ID().String()
	}
	for _, c := range testnet.Check(ctx, apis, ids, len(nw.Nodes)) {
		require.NoError(t, c.Err, "node %d", c.Index)
		t.Logf("node %d found %d records in %v, pinged %s… in %.0f ms", c.Index, c.Found, c.FindTime.Round(time.Millisecond), c.PingPeer[:12], c.PingRTTMs)
	}

	// Only onion addresses, in what the nodes advertise and in the DHT.
	found, err := nw.Nodes[1].Service().FindNodes(ctx, node.FindNodesParams{})
	require.NoError(t, err)
	require.Len(t, found.Nodes, len(nw.Nodes))
	for _, rec := range found.Nodes {
		require.NotEmpty(t, rec.Addrs)
		for _, a := range rec.Addrs {
			require.True(t, strings.HasPrefix(a.String(), "/onion3/"), "record of %s advertises %s", rec.Peer, a)
		}
	}
	for i, n := range nw.Nodes {
		for _, a := range n.Network().Host.Addrs() {
			require.True(t, p2p.IsOnion(a), "node %d advertises %s", i, a)
		}
		info, err := n.Service().NodeInfo(ctx)
		require.NoError(t, err)
		require.NotNil(t, info.Tor)
		require.Equal(t, "tor-only", info.Tor.Mode)
		require.Equal(t, 100, info.Tor.Bootstrap)
		require.True(t, info.Tor.Reachable)
	}
	requireLoopbackOnly(t)

	// A restart keeps the onion address: its key is in the home.
	before := nw.Nodes[2].Onion().String()
	require.NoError(t, nw.Restart(ctx, 2))
	require.Equal(t, before, nw.Nodes[2].Onion().String())
	select {
	case <-nw.Nodes[2].OnionReady():
	case <-ctx.Done():
		t.Fatal("restarted node's onion service never became reachable")
	}

	// A desktop user with its own tor reaches the host by peer ID.
	host := nw.Nodes[3]
	clientHome := filepath.Join(t.TempDir(), "client")
	ccfg := testnet.TorNodeConfig(testnet.NodeConfig(nil, nil), tn)
	_, err = node.Init(node.Home{Dir: clientHome}, ccfg)
	require.NoError(t, err)
	dialStart := time.Now()
	_, info, _ := startConnect(t, clientHome, nw.Bootstrap()[0], host.Network().Host.ID().String(), "ssh")
	require.Equal(t, sessions.StateActive, info.State)
	t.Logf("client session over Tor open after %v", time.Since(dialStart).Round(time.Millisecond))
	_, portText, err := net.SplitHostPort(info.LocalAddr)
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)
	out, err := exec.CommandContext(ctx, "ssh", append(sshd.SSHArgs(port), "echo", "hello", "over", "tor")...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "hello over tor\n", string(out))

	data := make([]byte, 5<<20)
	_, _ = rand.Read(data)
	dst := filepath.Join(t.TempDir(), "dst.bin")
	copyStart := time.Now()
	cp := exec.CommandContext(ctx, "ssh", append(sshd.SSHArgs(port), "cat > "+dst)...)
	cp.Stdin = bytes.NewReader(data)
	out, err = cp.CombinedOutput()
	require.NoError(t, err, "%s", out)
	took := time.Since(copyStart)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, sha256.Sum256(data), sha256.Sum256(got), "5 MiB arrived intact")
	t.Logf("5 MiB through the session over Tor in %v (%.2f MiB/s)", took.Round(time.Millisecond), 5/took.Seconds())
}

// requireLoopbackOnly checks every TCP socket of this process (the test
// and its in-process nodes; tors are child processes) against the
// fail-closed promise: nothing bound to or connected to an address other
// than 127.0.0.1, and no UDP socket at all (QUIC is off in Tor-only mode).
func requireLoopbackOnly(t *testing.T) {
	t.Helper()
	mine := socketInodes(t, "self")
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6", "/proc/self/net/udp", "/proc/self/net/udp6"} {
		for _, s := range procSockets(t, f) {
			if !mine[s.inode] {
				continue
			}
			if strings.Contains(f, "udp") {
				t.Fatalf("a UDP socket is open (%s → %s)", s.local, s.remote)
			}
			for _, a := range []string{s.local, s.remote} {
				if !loopbackOrUnset(a) {
					t.Fatalf("socket %s → %s leaves loopback", s.local, s.remote)
				}
			}
		}
	}
}

type procSocket struct{ local, remote, inode, state string }

func procSockets(t *testing.T, path string) []procSocket {
	f, err := os.Open(path)
	if err != nil {
		return nil // no IPv6, say
	}
	defer f.Close()
	var out []procSocket
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		out = append(out, procSocket{local: decodeProcAddr(t, fs[1]), remote: decodeProcAddr(t, fs[2]), state: fs[3], inode: fs[9]})
	}
	return out
}

// socketInodes are the socket inodes a process ("self" or a pid) holds
// open.
func socketInodes(t *testing.T, pid string) map[string]bool {
	dir := filepath.Join("/proc", pid, "fd")
	fds, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(dir, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			out[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	return out
}

// decodeProcAddr turns /proc/net's hex "ADDR:PORT" (address in host byte
// order, 4 or 16 bytes) into an IP:port.
func decodeProcAddr(t *testing.T, s string) string {
	h, p, ok := strings.Cut(s, ":")
	require.True(t, ok, s)
	raw, err := hex.DecodeString(h)
	require.NoError(t, err)
	for i := 0; i+4 <= len(raw); i += 4 { // each 32-bit word is little-endian
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(p, 16, 16)
	require.NoError(t, err)
	return net.JoinHostPort(net.IP(raw).String(), fmt.Sprint(port))
}

func loopbackOrUnset(hostport string) bool {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	if ip.IsLoopback() {
		return true
	}
	// The remote side of a listening socket is all zeros; its local side
	// must not be (a wildcard bind would accept clearnet connections).
	return ip.IsUnspecified() && strings.HasSuffix(hostport, ":0")
}

// TestTorNodeProcessSockets runs onion-only nodes as separate processes
// (`lucid node run`, as `lucid testnet up --tor` does) and checks each
// one's sockets from /proc while it runs: it listens on loopback only (its
// API and the port its onion service forwards to), every connection it
// makes goes to its own tor's control or SOCKS port, every connection it
// has accepted came in on those listeners, and it holds no UDP socket.
func TestTorNodeProcessSockets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a private Tor network")
	}
	tn := tortest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := testnet.Up(ctx, testnet.UpConfig{Binary: lucidBin, Nodes: 3, TorNet: tn})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Stop(20*time.Second)) }()
	for _, pn := range c.Nodes {
		client, err := node.DialHome(pn.Home)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			info, err := client.NodeInfo(ctx)
			return err == nil && info.Tor != nil && info.Tor.Reachable && info.RoutingTableSize > 0
		}, 2*time.Minute, 250*time.Millisecond, "node %d never became reachable and joined", pn.Index)
		id := string(lucid(t, "--home", pn.Home.Dir, "id"))
		require.Contains(t, id, "tor (tor-only): bootstrapped 100%")
		require.Contains(t, id, "reachable through Tor, advertised")
	}
	for _, pn := range c.Nodes {
		pid := strconv.Itoa(pn.PID)
		torPorts := map[string]bool{}
		for _, child := range childPIDs(t, pid) {
			for _, s := range listeningSockets(t, child) {
				torPorts[s] = true
			}
		}
		require.NotEmpty(t, torPorts, "node %d runs no tor of its own", pn.Index)
		own := map[string]bool{}
		for _, s := range listeningSockets(t, pid) {
			require.True(t, strings.HasPrefix(s, "127.0.0.1:"), "node %d listens on %s", pn.Index, s)
			own[s] = true
		}
		mine := socketInodes(t, pid)
		for _, f := range []string{"tcp", "tcp6", "udp", "udp6"} {
			for _, s := range procSockets(t, filepath.Join("/proc", pid, "net", f)) {
				if !mine[s.inode] || s.state == "0A" { // listeners checked above
					continue
				}
				require.False(t, strings.HasPrefix(f, "udp"), "node %d has a UDP socket %s", pn.Index, s.local)
				toTor, accepted := torPorts[s.remote], own[s.local]
				require.True(t, toTor || accepted, "node %d: socket %s → %s is neither to its tor (%v) nor accepted on its listeners (%v)",
					pn.Index, s.local, s.remote, torPorts, own)
			}
		}
		t.Logf("node %d (pid %s): listens on %d loopback ports, its tor on %d; every connection goes through them", pn.Index, pid, len(own), len(torPorts))
	}
}

// childPIDs lists a process's children (its tor).
func childPIDs(t *testing.T, pid string) []string {
	tasks, err := os.ReadDir(filepath.Join("/proc", pid, "task"))
	require.NoError(t, err)
	var out []string
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc", pid, "task", task.Name(), "children"))
		if err == nil {
			out = append(out, strings.Fields(string(b))...)
		}
	}
	return out
}

// listeningSockets are the TCP addresses a process listens on.
func listeningSockets(t *testing.T, pid string) []string {
	mine := socketInodes(t, pid)
	var out []string
	for _, f := range []string{"tcp", "tcp6"} {
		for _, s := range procSockets(t, filepath.Join("/proc", pid, "net", f)) {
			if mine[s.inode] && s.state == "0A" {
				out = append(out, s.local)
			}
		}
	}
	return out
}
