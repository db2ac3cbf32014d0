package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/node/poot"
	"github.com/lucidnet/lucid/testnet/tornet/tortest"
)

// lucidBin is the binary under test, built once by TestMain.
var lucidBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lucid-e2e-")
	if err != nil {
		panic(err)
	}
	lucidBin = filepath.Join(dir, "lucid")
	out, err := exec.Command("go", "build", "-o", lucidBin, ".").CombinedOutput()
	if err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	tortest.StopShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

func lucid(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lucidBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "lucid %s\nstderr: %s", strings.Join(args, " "), stderr.String())
	return out
}

func TestInitAndID(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	first := lucid(t, "init", "--home", home, "--transport", "tcp")
	require.Contains(t, string(first), "(created)")

	var id idReport
	require.NoError(t, json.Unmarshal(lucid(t, "id", "--home", home, "--json"), &id))
	require.True(t, strings.HasPrefix(id.PeerID, "12D3KooW"), id.PeerID)
	require.False(t, id.Running)
	require.Len(t, id.Addrs, 2)

	second := lucid(t, "init", "--home", home, "--transport", "tcp")
	require.Contains(t, string(second), "kept existing")
	require.Contains(t, string(second), id.PeerID)

	fi, err := os.Stat(filepath.Join(home, "identity.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// LUCID_HOME selects the home when --home is absent.
	cmd := exec.Command(lucidBin, "id")
	cmd.Env = append(os.Environ(), node.HomeEnv+"="+home)
	out, err := cmd.Output()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(out), id.PeerID))
}

// A node started by `lucid node run` serves health, metrics and the
// authenticated API, and on SIGTERM stops cleanly, flushing its datastore.
func TestNodeRunServesAPIAndStopsCleanly(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	lucid(t, "init", "--home", home, "--transport", "tcp", "--listen", "/ip4/127.0.0.1/tcp/0", "--api-listen", "127.0.0.1:0")
	var logs bytes.Buffer
	cmd := exec.Command(lucidBin, "node", "run", "--home", home, "--log-format", "json")
	cmd.Stderr = &logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	var api string
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(home, "api.addr"))
		api = strings.TrimSpace(string(b))
		return err == nil
	}, 30*time.Second, 20*time.Millisecond)

	resp, err := http.Get("http://" + api + "/healthz")
	require.NoError(t, err)
	var h node.Health
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
	resp.Body.Close()
	require.Equal(t, "ok", h.Status)

	resp, err = http.Get("http://" + api + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(metrics), "lucid_build_info")
	require.Contains(t, string(metrics), "libp2p_rcmgr")

	resp, err = http.Post("http://"+api+"/", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"lucid_nodeInfo"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the API needs the bearer token")

	var id idReport
	require.NoError(t, json.Unmarshal(lucid(t, "id", "--home", home, "--json"), &id))
	require.True(t, id.Running)
	require.Equal(t, api, id.API)

	// The node's work and schedule views answer: a lone node with only
	// beacons has no credits and leads nothing.
	var st poot.Status
	require.NoError(t, json.Unmarshal(lucid(t, "--home", home, "poot", "status", "--json"), &st))
	require.Equal(t, "node:"+id.PeerID, st.Entity)
	require.False(t, st.Eligible)
	var sched []poot.ScheduledSlot
	require.NoError(t, json.Unmarshal(lucid(t, "--home", home, "poot", "schedule", "--slots", "3", "--json"), &sched))
	require.Len(t, sched, 3)
	require.Contains(t, string(lucid(t, "--home", home, "meta", "status")), "sessions:   0")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err = cmd.Wait()
	require.NoError(t, err, logs.String())
	require.Contains(t, logs.String(), `"msg":"node stopped"`)
	_, err = os.Stat(filepath.Join(home, "api.addr"))
	require.True(t, errors.Is(err, os.ErrNotExist), "api.addr is removed on shutdown")
}

// The README's run command end to end: five node processes, a client with
// a fresh home finds all five records through the DHT and pings one by ID,
// and an interrupt leaves no process behind.
func TestTestnetUpFindAndInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six processes")
	}
	dir := t.TempDir()
	cmd := exec.Command(lucidBin, "testnet", "up", "--nodes", "5", "--dir", filepath.Join(dir, "net"), "--no-check")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	var (
		pids      []int
		peers     []string
		bootstrap string
	)
	lines := bufio.NewScanner(stdout)
	for bootstrap == "" && lines.Scan() {
		f := strings.Fields(lines.Text())
		switch {
		case len(f) == 5 && f[0] != "NODE":
			pid, err := strconv.Atoi(f[3])
			require.NoError(t, err)
			pids, peers = append(pids, pid), append(peers, f[1])
		case len(f) == 2 && f[0] == "bootstrap:":
			bootstrap = f[1]
		}
	}
	require.NotEmpty(t, bootstrap, "testnet up printed no bootstrap address; stderr: %s", stderr.String())
	require.Len(t, pids, 5)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	client := filepath.Join(dir, "client")
	var found node.FindNodesResult
	require.Eventually(t, func() bool {
		out := lucid(t, "--home", client, "--bootstrap", bootstrap, "nodes", "find", "--json")
		found = node.FindNodesResult{}
		return json.Unmarshal(out, &found) == nil && len(found.Nodes) == 5
	}, 60*time.Second, 500*time.Millisecond)
	for _, r := range found.Nodes {
		require.Contains(t, peers, r.Peer.String())
	}

	var ping node.PingResult
	require.NoError(t, json.Unmarshal(lucid(t, "--home", client, "--bootstrap", bootstrap, "peer", "ping", peers[4], "--count", "2", "--interval-ms", "50", "--json"), &ping))
	require.Len(t, ping.RTTMs, 2)

	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err = cmd.Wait()
	require.NoError(t, err, stderr.String())
	for _, pid := range pids {
		require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "node process %d is left behind", pid)
	}
}

// syncBuffer collects a running process's output that the test reads
// before the process ends.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
