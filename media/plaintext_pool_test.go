package media

import (
	"bytes"
	"crypto/ecdh"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

func TestPlainBufPool(t *testing.T) {
	const size = 64 << 10
	p := newPlainBufPool(size, 2)
	require.Equal(t, size/8, p.small)
	require.Equal(t, plainPoolMin, newPlainBufPool(DefaultChunkPlaintext, 2).small)

	// A little is made afresh and not kept.
	b := p.get(p.small)
	require.Zero(t, len(b))
	require.Equal(t, p.small, cap(b))
	p.put(b)
	require.Zero(t, len(p.free))
	require.Zero(t, p.fresh.Load())

	// More comes at the full size, and is reused, dirty and emptied.
	b = p.get(p.small + 1)
	require.Zero(t, len(b))
	require.Equal(t, size, cap(b))
	b = append(b, "secret"...)
	p.put(b)
	again := p.get(size)
	require.Zero(t, len(again))
	require.Same(t, &b[0], &again[:1][0])
	require.Equal(t, int64(1), p.fresh.Load())

	// It keeps no more than it was told.
	var bufs [][]byte
	for range 5 {
		bufs = append(bufs, p.get(size))
	}
	for _, b := range bufs {
		p.put(b)
	}
	require.Len(t, p.free, 2)
	p.put(make([]byte, 10, size-1)) // not one of its own
	require.Len(t, p.free, 2)

	// An idle pool is emptied, a used one is not.
	for range plainPoolIdleTicks - 1 {
		p.trim()
	}
	require.Len(t, p.free, 2)
	p.put(p.get(size))
	for range plainPoolIdleTicks - 1 {
		p.trim()
	}
	require.Len(t, p.free, 2, "taken during the last ticks")
	p.trim()
	require.Len(t, p.free, 2)
	for range plainPoolIdleTicks {
		p.trim()
	}
	require.Zero(t, len(p.free))
}

// TestPipelineReusesPlaintextBuffers: chunk buffers go back to the pool
// once sealed and come out again, dirty, for later chunks and later
// sessions, which still record exactly what was sent; no more are made
// than can be in use at once.
func TestPipelineReusesPlaintextBuffers(t *testing.T) {
	st, err := OpenFileStore(filepath.Join(t.TempDir(), "rec"))
	require.NoError(t, err)
	const workers = 2
	p, err := NewPipeline(PipelineConfig{Store: st, MaxChunkPlaintext: 64 << 10, Workers: workers})
	require.NoError(t, err)
	type sent struct {
		info  sessions.Info
		c2h   []byte
		owner *ecdh.PrivateKey
	}
	var all []sent
	for i := range 3 {
		info, clientKey := hostedSession(t)
		c2h := randomBytes(pcg(uint64(60+i)), 1<<20)
		if i == 1 {
			c2h = realLooking(pcg(61), 1<<20)
		}
		p.SessionEvent(sessions.Event{Kind: sessions.EventStarted, Info: info})
		feed(p, info.ID, c2h, nil)
		info.State, info.EndedAt = sessions.StateEnded, time.Now()
		p.SessionEvent(sessions.Event{Kind: sessions.EventEnded, Info: info})
		owner, err := IdentityForKey(clientKey)
		require.NoError(t, err)
		all = append(all, sent{info: info, c2h: c2h, owner: owner})
		// Wait for the manifest so that the sessions run one after the other.
		require.Eventually(t, func() bool { _, err := st.Manifest(info.ID); return err == nil }, 30*time.Second, 5*time.Millisecond)
	}
	require.NoError(t, p.Close())
	// In use at once: the open chunk, one completed and waiting for a
	// slot, and those in flight.
	t.Logf("%d full-size plaintext buffers made", p.plainBufs.fresh.Load())
	require.LessOrEqual(t, p.plainBufs.fresh.Load(), int64(workers+2+2))

	for _, s := range all {
		m, err := st.Manifest(s.info.ID)
		require.NoError(t, err)
		require.Empty(t, m.Gaps)
		require.Greater(t, m.ChunkCount, uint64(15))
		w, ok := m.KeyFor([32]byte(s.owner.PublicKey().Bytes()))
		require.True(t, ok)
		key, err := UnwrapKey(w, s.owner)
		require.NoError(t, err)
		var up, down bytes.Buffer
		rs := NewReassembler(&up, &down, false)
		for i := range m.ChunkCount {
			sealed, err := st.Chunk(s.info.ID, i)
			require.NoError(t, err)
			plain, err := OpenChunk(key, s.info.ID, i, sealed)
			require.NoError(t, err)
			require.NoError(t, rs.AddChunk(plain))
		}
		require.Equal(t, s.c2h, up.Bytes())
		require.Zero(t, down.Len())
	}
}
