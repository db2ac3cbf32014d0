package media

import (
	"bytes"
	"crypto/ecdh"
	crand "crypto/rand"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/sessions"
)

// hostedSession is the Info a host's session manager reports when a
// session starts: real receipts signed by real keys.
func hostedSession(t testing.TB) (sessions.Info, crypto.PrivKey) {
	t.Helper()
	clientKey, _, err := crypto.GenerateEd25519Key(crand.Reader)
	require.NoError(t, err)
	hostKey, _, err := crypto.GenerateEd25519Key(crand.Reader)
	require.NoError(t, err)
	client, err := peer.IDFromPrivateKey(clientKey)
	require.NoError(t, err)
	id, err := sessions.NewID(crand.Reader)
	require.NoError(t, err)
	now := time.Now().Truncate(time.Millisecond)
	params := sessions.ParamsForService(sessions.ServiceRDP)
	req, err := sessions.NewRequest(clientKey, id, sessions.ServiceRDP, params, now)
	require.NoError(t, err)
	receipt, err := sessions.NewHostReceipt(hostKey, req, sessions.Limits{}, now)
	require.NoError(t, err)
	return sessions.Info{
		ID: id, Role: sessions.RoleHost, Peer: client, Service: sessions.ServiceRDP, State: sessions.StateActive,
		CreatedAt: now, StartedAt: now, PolicyHash: params.Hash(), Params: params,
		Consent: req.Consent, Receipt: receipt,
	}, clientKey
}

func newTestPipeline(t testing.TB, st *FileStore, recipients ...Recipient) *Pipeline {
	t.Helper()
	p, err := NewPipeline(PipelineConfig{Store: st, Recipients: recipients, MaxChunkPlaintext: 64 << 10, RecorderVersion: "lucid/test"})
	require.NoError(t, err)
	return p
}

// feed records data in both directions through the recorder hook, in
// tunnel-sized pieces reusing one buffer as the tunnel does.
func feed(p *Pipeline, id sessions.ID, c2h, h2c []byte) {
	buf := make([]byte, 32<<10)
	at := time.Now()
	for i := 0; i < max(len(c2h), len(h2c)); i += len(buf) {
		for _, d := range []struct {
			dir  sessions.Direction
			data []byte
		}{{sessions.ClientToHost, c2h}, {sessions.HostToClient, h2c}} {
			if i < len(d.data) {
				n := copy(buf, d.data[i:])
				at = at.Add(time.Millisecond)
				p.Record(id, d.dir, at, buf[:n])
			}
		}
	}
}

// A hosted session is recorded end to end: the owner (the client, by its
// node identity) and an auditor can decrypt it; it verifies; export gives
// back both streams exactly.
func TestPipelineRecordsASession(t *testing.T) {
	st, err := OpenFileStore(filepath.Join(t.TempDir(), "rec"))
	require.NoError(t, err)
	auditor := testIdentity(t, "auditor")
	p := newTestPipeline(t, st, Recipient{Label: LabelAuditor, Key: auditor.PublicKey()})
	info, clientKey := hostedSession(t)
	r := pcg(3)
	c2h, h2c := realLooking(r, 700<<10), randomBytes(r, 300<<10)

	p.SessionEvent(sessions.Event{Kind: sessions.EventStarted, Info: info})
	feed(p, info.ID, c2h, h2c)
	ended := info
	ended.State, ended.EndedAt = sessions.StateEnded, time.Now()
	p.SessionEvent(sessions.Event{Kind: sessions.EventEnded, Info: ended})
	require.NoError(t, p.Close())

	m, err := st.Manifest(info.ID)
	require.NoError(t, err)
	require.Greater(t, m.ChunkCount, uint64(10))
	require.Empty(t, m.Gaps)
	require.Equal(t, info.Peer, m.Client)

	owner, err := IdentityForKey(clientKey)
	require.NoError(t, err)
	for name, identity := range map[string]*ecdh.PrivateKey{"owner": owner, "auditor": auditor} {
		w, ok := m.KeyFor([32]byte(identity.PublicKey().Bytes()))
		require.True(t, ok, name)
		key, err := UnwrapKey(w, identity)
		require.NoError(t, err, name)
		chunk := func(i uint64) ([]byte, error) { return st.Chunk(info.ID, i) }
		report := VerifyWithKey(m, key, chunk)
		require.True(t, report.OK(), "%s: %+v", name, report)

		var up, down bytes.Buffer
		rs := NewReassembler(&up, &down, false)
		for i := range m.ChunkCount {
			sealed, err := st.Chunk(info.ID, i)
			require.NoError(t, err)
			plain, err := OpenChunk(key, info.ID, i, sealed)
			require.NoError(t, err)
			require.NoError(t, rs.AddChunk(plain))
		}
		require.Equal(t, c2h, up.Bytes(), name)
		require.Equal(t, h2c, down.Bytes(), name)
	}
}

// A node that stops mid-session leaves a journal; recovery writes the
// manifest from it, with the durable chunks and a gap, and it verifies.
func TestPipelineRecoveryAfterAnInterruptedSession(t *testing.T) {
	st, err := OpenFileStore(filepath.Join(t.TempDir(), "rec"))
	require.NoError(t, err)
	p := newTestPipeline(t, st)
	info, _ := hostedSession(t)
	r := pcg(5)
	p.SessionEvent(sessions.Event{Kind: sessions.EventStarted, Info: info})
	feed(p, info.ID, randomBytes(r, 400<<10), randomBytes(r, 100<<10))
	require.Eventually(t, func() bool {
		b, err := st.Journal(info.ID)
		j, jerr := ReadJournal(b)
		return err == nil && jerr == nil && len(j.Chunks) >= 5
	}, 10*time.Second, 10*time.Millisecond)
	// The session never ends here: as if the node died. A new pipeline on
	// the same store recovers it.
	_, err = st.Manifest(info.ID)
	require.True(t, errors.Is(err, fs.ErrNotExist))
	p2 := newTestPipeline(t, st)
	defer p2.Close()
	n, err := p2.Recover()
	require.NoError(t, err)
	require.Equal(t, 1, n)
	m, err := st.Manifest(info.ID)
	require.NoError(t, err)
	require.GreaterOrEqual(t, m.ChunkCount, uint64(5))
	require.Len(t, m.Gaps, 1)
	report := VerifyRecording(m, func(i uint64) ([]byte, error) { return st.Chunk(info.ID, i) })
	require.True(t, report.OK(), "%+v", report)
	n, err = p2.Recover()
	require.NoError(t, err)
	require.Zero(t, n, "a recovered session is not recovered again")
	require.NoError(t, p.Close())
}

// Client-side sessions are not recorded by the pipeline.
func TestPipelineIgnoresClientSessions(t *testing.T) {
	st, err := OpenFileStore(filepath.Join(t.TempDir(), "rec"))
	require.NoError(t, err)
	p := newTestPipeline(t, st)
	info, _ := hostedSession(t)
	info.Role = sessions.RoleClient
	p.SessionEvent(sessions.Event{Kind: sessions.EventStarted, Info: info})
	feed(p, info.ID, []byte("hello"), nil)
	p.SessionEvent(sessions.Event{Kind: sessions.EventEnded, Info: info})
	require.NoError(t, p.Close())
	ids, err := st.Sessions()
	require.NoError(t, err)
	require.Empty(t, ids)
}
