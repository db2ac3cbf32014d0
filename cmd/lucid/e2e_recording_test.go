package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	mrand "math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/media/catalog"
	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/sessions"
)

// A recording process killed with SIGKILL at random moments loses no
// chunk it had acknowledged (journalled): recovery writes a manifest that
// lists at least those, with a gap; it verifies; and the decrypted stream
// is exactly the start of what was recorded.
func TestRecordingSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes")
	}
	const runs = 8
	rng := mrand.New(mrand.NewPCG(42, 7))
	for run := range runs {
		seed := uint64(1000 + run)
		dir := filepath.Join(t.TempDir(), "rec")
		st, id, acknowledged := recordThenKill(t, dir, seed, time.Duration(rng.IntN(300))*time.Millisecond)
		require.Equal(t, 1, recoverRecordings(t, st), "run %d", run)
		m, err := st.Manifest(id)
		require.NoError(t, err)
		require.GreaterOrEqual(t, int(m.ChunkCount), acknowledged, "run %d: an acknowledged chunk was lost", run)
		require.Len(t, m.Gaps, 1, "run %d: the interruption is marked", run)

		clientKey, err := syntheticKey(seed)
		require.NoError(t, err)
		owner, err := media.IdentityForKey(clientKey)
		require.NoError(t, err)
		key, err := sessionKey(m, owner)
		require.NoError(t, err)
		report := media.VerifyWithKey(m, key, func(i uint64) ([]byte, error) { return st.Chunk(id, i) })
		require.True(t, report.OK(), "run %d: %+v", run, report)

		var got, none bytes.Buffer
		rs := media.NewReassembler(&got, &none, false)
		for i := range m.ChunkCount {
			sealed, err := st.Chunk(id, i)
			require.NoError(t, err)
			plain, err := media.OpenChunk(key, id, i, sealed)
			require.NoError(t, err)
			require.NoError(t, rs.AddChunk(plain))
		}
		want := make([]byte, got.Len())
		_, _ = syntheticStream(seed).Read(want)
		require.True(t, bytes.Equal(want, got.Bytes()), "run %d: the recovered stream differs from what was recorded", run)
		require.Zero(t, none.Len())
	}
}

// recordThenKill runs `lucid debug record` into dir, lets it make at least
// two chunks durable, waits a little more, and kills it with SIGKILL. It
// returns how many chunks the journal acknowledged before the kill.
func recordThenKill(t *testing.T, dir string, seed uint64, extra time.Duration) (*media.FileStore, sessions.ID, int) {
	t.Helper()
	cmd := exec.Command(lucidBin, "debug", "record", "--dir", dir, "--seed", strconv.FormatUint(seed, 10))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	id, err := sessions.ParseID(line[:len(line)-1])
	require.NoError(t, err)
	st, err := media.OpenFileStore(dir)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		b, err := st.Journal(id)
		if err != nil {
			return false
		}
		j, err := media.ReadJournal(b)
		return err == nil && len(j.Chunks) >= 2
	}, 20*time.Second, 5*time.Millisecond)
	time.Sleep(extra)
	acknowledged := 0
	b, _ := st.Journal(id)
	if j, err := media.ReadJournal(b); err == nil {
		acknowledged = len(j.Chunks)
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	return st, id, acknowledged
}

// recoverRecordings does what a node does at start: seal interrupted
// recordings.
func recoverRecordings(t *testing.T, st *media.FileStore) int {
	t.Helper()
	p, err := media.NewPipeline(media.PipelineConfig{Store: st})
	require.NoError(t, err)
	recovered, err := p.Recover()
	require.NoError(t, err)
	require.NoError(t, p.Close())
	return recovered
}

// With no node running, `recordings stats` reads the home's store: it
// catalogs the sealed recordings on disk and aggregates them.
func TestRecordingStatsWithoutANode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs recorder processes")
	}
	home := filepath.Join(t.TempDir(), "home")
	lucid(t, "init", "--home", home, "--transport", "tcp")
	dir := node.Home{Dir: home}.RecordingsDir()
	var st *media.FileStore
	want := map[string]catalog.Row{}
	for seed := range uint64(2) {
		var id sessions.ID
		st, id, _ = recordThenKill(t, dir, 500+seed, 0)
		require.Equal(t, 1, recoverRecordings(t, st))
		m, err := st.Manifest(id)
		require.NoError(t, err)
		r := catalog.Row{Key: id.String(), Sessions: 1, Chunks: m.ChunkCount}
		for _, c := range m.Chunks {
			r.SealedBytes += c.SealedSize
			r.PlaintextBytes += c.PlaintextSize
		}
		want[r.Key] = r
	}
	var got node.RecordingStats
	require.NoError(t, json.Unmarshal(lucid(t, "--home", home, "recordings", "stats", "--by", "session", "--json"), &got))
	require.Equal(t, node.CatalogEmbedded, got.Catalog)
	require.Len(t, got.Rows, 2)
	for _, r := range got.Rows {
		require.Equal(t, want[r.Key], r)
	}
	require.EqualValues(t, 2, got.Total.Sessions)
	// The table form, and a second run that finds the catalog up to date.
	out := string(lucid(t, "--home", home, "recordings", "stats", "--by", "day"))
	require.Contains(t, out, "DAY (UTC)")
	require.Contains(t, out, "total")
}
