package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/media/catalog"
	"github.com/lucidnet/lucid/node"
	nodechain "github.com/lucidnet/lucid/node/chain"
	"github.com/lucidnet/lucid/sessions"
	"github.com/lucidnet/lucid/testnet"
)

// startConnect runs `lucid connect --json` and returns once it has printed
// its session.
func startConnect(t *testing.T, home, bootstrap, hostID, service string) (*exec.Cmd, sessions.Info, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(lucidBin, "--home", home, "--bootstrap", bootstrap, "connect", hostID, "--service", service, "--json")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var info sessions.Info
	require.NoError(t, json.NewDecoder(stdout).Decode(&info), "connect printed no session; stderr: %s", stderr.String())
	return cmd, info, stderr
}

// A desktop user reaches a host's real OpenSSH server by the host's peer ID
// alone: `lucid connect` finds the host through the DHT, opens a signed
// session and listens locally; the real ssh client runs a command and
// copies 20 MiB through the tunnel; both sides list the session; Ctrl-C
// ends it on both sides.
func TestConnectSSHByPeerID(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sshd and a network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sshd, err := testnet.StartSSHD(ctx, t.TempDir())
	require.NoError(t, err)
	defer sshd.Stop()

	// The host also catalogs recordings in MongoDB when the tests have
	// one, so its statistics below come from the database's aggregation.
	mongoURI := testMongoURI(t)
	// The nodes run a development chain, on which the host anchors the
	// sealed recording.
	nw, err := testnet.Start(ctx, testnet.Options{Nodes: 3, Chain: true, Configure: func(i int, cfg *node.Config) {
		cfg.Sessions.Targets.SSH = sshd.Addr
		if i == 2 {
			cfg.Recording.MongoURI = mongoURI
		}
	}})
	require.NoError(t, err)
	defer nw.Close()
	require.NoError(t, nw.WaitPublished(ctx))
	hostNode := nw.Nodes[2]
	hostID := hostNode.Network().Host.ID().String()

	clientHome := filepath.Join(t.TempDir(), "client")
	connect, info, stderr := startConnect(t, clientHome, nw.Bootstrap()[0], hostID, "ssh")
	require.Equal(t, sessions.StateActive, info.State)
	require.NotNil(t, info.Receipt)
	require.NoError(t, info.Receipt.Verify())
	_, portText, err := net.SplitHostPort(info.LocalAddr)
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)

	out, err := exec.CommandContext(ctx, "ssh", append(sshd.SSHArgs(port), "echo", "hello", "through", "lucid")...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "hello through lucid\n", string(out))

	src := filepath.Join(t.TempDir(), "src.bin")
	dst := filepath.Join(t.TempDir(), "dst.bin")
	data := make([]byte, 20<<20)
	_, _ = rand.Read(data)
	require.NoError(t, os.WriteFile(src, data, 0o600))
	copyCmd := exec.CommandContext(ctx, "ssh", append(sshd.SSHArgs(port), "cat > "+dst)...)
	copyCmd.Stdin = bytes.NewReader(data)
	out, err = copyCmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, sha256.Sum256(data), sha256.Sum256(got), "20 MiB arrived intact")

	// The host sees the session and its bytes; the client process serves
	// its own list to `lucid sessions`.
	hosted, err := hostNode.Service().Sessions(ctx, node.SessionsParams{Role: "host", State: "active"})
	require.NoError(t, err)
	require.Len(t, hosted, 1)
	require.Equal(t, info.ID, hosted[0].ID)
	require.Greater(t, hosted[0].BytesIn, uint64(20<<20))
	var listed []sessions.Info
	require.NoError(t, json.Unmarshal(lucid(t, "--home", clientHome, "sessions", "ls", "--json"), &listed))
	require.Len(t, listed, 1)
	require.Equal(t, info.ID, listed[0].ID)
	require.Equal(t, sessions.RoleClient, listed[0].Role)

	// The host operator disconnects the user; `lucid connect` notices and
	// exits on its own.
	killed := lucid(t, "--home", hostNode.Home().Dir, "sessions", "kill", info.ID.String())
	require.Contains(t, string(killed), "ended")
	err = connect.Wait()
	require.NoError(t, err, stderr.String())
	require.Contains(t, stderr.String(), sessions.EndKilled.String())

	// The host recorded the session. Its owner, the client, opens the
	// recording with its own node identity: every chunk verifies against
	// the Merkle root, and the streams have every byte the host carried.
	store, err := media.OpenFileStore(hostNode.Home().RecordingsDir())
	require.NoError(t, err)
	var m media.Manifest
	require.Eventually(t, func() bool { m, err = store.Manifest(info.ID); return err == nil }, 20*time.Second, 50*time.Millisecond)
	ended, err := hostNode.Service().Session(ctx, node.SessionParams{SessionID: info.ID.String()})
	require.NoError(t, err)
	clientKey, err := node.Home{Dir: clientHome}.LoadIdentity()
	require.NoError(t, err)
	owner, err := media.IdentityForKey(clientKey)
	require.NoError(t, err)
	wrapped, ok := m.KeyFor([32]byte(owner.PublicKey().Bytes()))
	require.True(t, ok, "the recording key is wrapped to the client")
	key, err := media.UnwrapKey(wrapped, owner)
	require.NoError(t, err)
	report := media.VerifyWithKey(m, key, func(i uint64) ([]byte, error) { return store.Chunk(info.ID, i) })
	require.True(t, report.OK(), "%+v", report)
	var up, down countingWriter
	rs := media.NewReassembler(&up, &down, false)
	for i := range m.ChunkCount {
		sealed, err := store.Chunk(info.ID, i)
		require.NoError(t, err)
		plain, err := media.OpenChunk(key, info.ID, i, sealed)
		require.NoError(t, err)
		require.NoError(t, rs.AddChunk(plain))
	}
	require.Equal(t, ended.BytesIn, up.n, "client-to-host bytes recorded")
	require.Equal(t, ended.BytesOut, down.n, "host-to-client bytes recorded")

	// The operator's statistics count the session's chunks and bytes.
	var sealed, plain uint64
	for _, c := range m.Chunks {
		sealed += c.SealedSize
		plain += c.PlaintextSize
	}
	wantCatalog := node.CatalogEmbedded
	if mongoURI != "" {
		wantCatalog = node.CatalogMongo
	}
	clientID, err := peer.IDFromPrivateKey(clientKey)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var st node.RecordingStats
		if json.Unmarshal(lucid(t, "--home", hostNode.Home().Dir, "recordings", "stats", "--by", "peer", "--json"), &st) != nil {
			return false
		}
		want := catalog.Row{Key: clientID.String(), Sessions: 1, Chunks: m.ChunkCount, SealedBytes: sealed, PlaintextBytes: plain}
		return st.Catalog == wantCatalog && len(st.Rows) == 1 && st.Rows[0] == want
	}, 20*time.Second, 100*time.Millisecond, "stats by peer from the %s catalog", wantCatalog)

	// Every node's replica of the session metadata learns the session: a
	// node that took no part sees host, state, counters and the manifest
	// hash, but not who the client was; the host can open that.
	bystander := nw.Nodes[0].Home().Dir
	var seen node.MetaSession
	require.Eventually(t, func() bool {
		var list []node.MetaSession
		if json.Unmarshal(lucid(t, "--home", bystander, "meta", "sessions", "--state", "ended", "--json"), &list) != nil {
			return false
		}
		for _, s := range list {
			if s.ID == info.ID.String() && s.ManifestHash == fmt.Sprintf("%x", m.Hash()) && s.Chunks == m.ChunkCount && s.BytesIn == ended.BytesIn {
				seen = s
				return true
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond, "the bystander's replica shows the ended session")
	require.Equal(t, hostID, seen.Host)
	require.True(t, seen.Sealed)
	require.Empty(t, seen.Client, "a bystander cannot read who the client was")
	var fromHost []node.MetaSession
	require.NoError(t, json.Unmarshal(lucid(t, "--home", hostNode.Home().Dir, "meta", "sessions", "--host", hostID, "--json"), &fromHost))
	require.Len(t, fromHost, 1)
	require.Equal(t, clientID.String(), fromHost[0].Client, "the host opens the sealed fields")
	require.Contains(t, string(lucid(t, "--home", bystander, "meta", "status")), "digest:")

	// The same through the CLI, as the owner: list, verify, export; and a
	// flipped bit is found and named.
	recDir := hostNode.Home().RecordingsDir()
	var rows []recordingRow
	require.NoError(t, json.Unmarshal(lucid(t, "--home", clientHome, "recordings", "ls", "--dir", recDir, "--json"), &rows))
	require.Len(t, rows, 1)
	require.Equal(t, "sealed", rows[0].Status)
	require.Contains(t, string(lucid(t, "--home", clientHome, "recordings", "verify", info.ID.String(), "--dir", recDir)), "ok:")
	require.Contains(t, lucidFails(t, "--home", clientHome, "recordings", "verify", info.ID.String(), "--dir", recDir, "--require-anchor"),
		"anchor required", "no node runs in the client's home to ask the chain")

	// The host registered the sealed recording on the chain: the proof
	// names the manifest the recording has, and verify checks the anchor
	// against the chain through the host's node.
	hostHome := hostNode.Home().Dir
	var proof nodechain.SessionProofInfo
	require.Eventually(t, func() bool {
		out, err := exec.Command(lucidBin, "--home", hostHome, "chain", "proof", info.ID.String(), "--json").Output()
		return err == nil && json.Unmarshal(out, &proof) == nil
	}, 20*time.Second, 250*time.Millisecond, "the session is anchored")
	require.Equal(t, fmt.Sprintf("%x", m.Hash()), proof.Manifest)
	require.Equal(t, fmt.Sprintf("%x", m.Root), proof.Root)
	require.Equal(t, m.ChunkCount, proof.Chunks)
	require.Equal(t, hostID, proof.Registrant)
	require.Equal(t, "ok", proof.Verification)
	require.NotEmpty(t, proof.Tx)
	require.Contains(t, string(lucid(t, "--home", hostHome, "chain", "proof", info.ID.String())), "verified:")
	anchored := string(lucid(t, "--home", hostHome, "recordings", "verify", info.ID.String(), "--no-key", "--require-anchor"))
	require.Contains(t, anchored, "ok:")
	require.Regexp(t, `anchored at block \d+ \((final|not final yet)\), manifest matches`, anchored)

	// The host claimed the recording's storage with the registration and
	// now answers each slot's storage challenge from its chunk files: its
	// PoOT credits show storage.
	require.Eventually(t, func() bool {
		out, err := exec.Command(lucidBin, "--home", hostHome, "poot", "status", "--json").Output()
		var st struct {
			SentWindow map[string]int `json:"sent_in_window"`
		}
		return err == nil && json.Unmarshal(out, &st) == nil && st.SentWindow["storage"] > 0
	}, 20*time.Second, 250*time.Millisecond, "the host publishes storage proofs")
	exported := filepath.Join(t.TempDir(), "export")
	lucid(t, "--home", clientHome, "recordings", "export", info.ID.String(), "--dir", recDir, "-o", exported)
	for name, want := range map[string]uint64{"client-to-host.bin": ended.BytesIn, "host-to-client.bin": ended.BytesOut} {
		fi, err := os.Stat(filepath.Join(exported, name))
		require.NoError(t, err)
		require.EqualValues(t, want, fi.Size(), name)
	}
	victim := filepath.Join(recDir, info.ID.String(), fmt.Sprintf("chunk-%016x.lck", m.ChunkCount/2))
	b, err := os.ReadFile(victim)
	require.NoError(t, err)
	b[len(b)/2] ^= 1
	require.NoError(t, os.WriteFile(victim, b, 0o600))
	bad := exec.Command(lucidBin, "--home", clientHome, "recordings", "verify", info.ID.String(), "--dir", recDir)
	out, err = bad.CombinedOutput()
	require.Error(t, err, "a flipped bit fails verification")
	require.Contains(t, string(out), fmt.Sprintf("chunk %d", m.ChunkCount/2), "%s", out)
}

type countingWriter struct{ n uint64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += uint64(len(p)); return len(p), nil }

// Ctrl-C in `lucid connect` ends the session on both sides.
func TestConnectInterruptEndsSession(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nw, err := testnet.Start(ctx, testnet.Options{Nodes: 2})
	require.NoError(t, err)
	defer nw.Close()
	require.NoError(t, nw.WaitPublished(ctx))
	hostNode := nw.Nodes[1]

	connect, info, stderr := startConnect(t, filepath.Join(t.TempDir(), "c"), nw.Bootstrap()[0], hostNode.Network().Host.ID().String(), "rdp")

	require.NoError(t, connect.Process.Signal(os.Interrupt))
	err = connect.Wait()
	require.NoError(t, err, stderr.String())
	require.Contains(t, stderr.String(), sessions.EndClientClosed.String())
	require.Eventually(t, func() bool {
		s, err := hostNode.Service().Session(ctx, node.SessionParams{SessionID: info.ID.String()})
		return err == nil && s.State == sessions.StateEnded && strings.Contains(s.Reason, sessions.EndClientClosed.String())
	}, 20*time.Second, 50*time.Millisecond)
}

// A refusal reaches the user in words, with a failing exit status.
func TestConnectRefusalIsPrintedInWords(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nw, err := testnet.Start(ctx, testnet.Options{Nodes: 2, Configure: func(_ int, cfg *node.Config) {
		cfg.Capacity.Services = []string{sessions.ServiceRDP}
	}})
	require.NoError(t, err)
	defer nw.Close()
	require.NoError(t, nw.WaitPublished(ctx))

	cmd := exec.CommandContext(ctx, lucidBin, "--home", filepath.Join(t.TempDir(), "c"), "--bootstrap", nw.Bootstrap()[0],
		"connect", nw.Nodes[1].Network().Host.ID().String(), "--service", "vnc")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), sessions.ReasonServiceNotOffered.String())
}

// testMongoURI is a fresh database on the MongoDB server the tests were
// given in MONGO_URI, or "" (with a note) when there is none.
func testMongoURI(t *testing.T) string {
	t.Helper()
	uri := os.Getenv("MONGO_URI")
	if uri == "" {
		t.Log("MONGO_URI unset: the MongoDB catalog is not exercised here")
		return ""
	}
	u, err := url.Parse(uri)
	require.NoError(t, err)
	db := fmt.Sprintf("lucide2e_%d", time.Now().UnixNano())
	u.Path = "/" + db
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if m, err := catalog.OpenMongo(ctx, uri, db); err == nil {
			_ = m.Drop(ctx)
			_ = m.Close(ctx)
		}
	})
	return u.String()
}
