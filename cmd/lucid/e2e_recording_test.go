package main

import (
	"bufio"
	"bytes"
	mrand "math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/media"
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
		// Kill at a random moment after the first chunks are durable.
		var acknowledged int
		require.Eventually(t, func() bool {
			b, err := st.Journal(id)
			if err != nil {
				return false
			}
			j, err := media.ReadJournal(b)
			return err == nil && len(j.Chunks) >= 2
		}, 20*time.Second, 5*time.Millisecond)
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		b, _ := st.Journal(id)
		if j, err := media.ReadJournal(b); err == nil {
			acknowledged = len(j.Chunks)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()

		p, err := media.NewPipeline(media.PipelineConfig{Store: st})
		require.NoError(t, err)
		recovered, err := p.Recover()
		require.NoError(t, err)
		require.NoError(t, p.Close())
		require.Equal(t, 1, recovered, "run %d", run)
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
