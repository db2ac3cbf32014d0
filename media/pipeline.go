package media

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/lucidnet/lucid/sessions"
)

// Recipient is an extra holder of every recording's key: an auditor the
// owner names, or the operator's recovery key.
type Recipient struct {
	Label string // LabelAuditor or LabelRecovery
	Key   *ecdh.PublicKey
}

// PipelineConfig sets up a Pipeline.
type PipelineConfig struct {
	Store             *FileStore
	Recipients        []Recipient
	MaxChunkPlaintext int           // 0: DefaultChunkPlaintext
	MaxChunkAge       time.Duration // 0: DefaultChunkAge
	RecorderVersion   string
	// Indexer, if set, is told of each recording as it is made, e.g. to
	// keep a catalog for statistics.
	Indexer Indexer
	// Workers seal chunks in parallel; 0 means one per CPU.
	Workers int
	Log     *slog.Logger
	Now     func() time.Time
	Rand    io.Reader
}

// Indexer learns of recordings as the pipeline makes them. The files and
// the journal are the record; an index is derived from them and can be
// rebuilt from the store, so the pipeline does not wait for it: calls come
// from the pipeline's goroutines, in order per session, and must not
// block.
type Indexer interface {
	// RecordingStarted gets the manifest as it stands when recording
	// begins: no chunks, no end.
	RecordingStarted(begin Manifest)
	// ChunkDurable gets each chunk once it is on disk and journalled.
	ChunkDurable(begin *Manifest, c ChunkInfo)
	// RecordingSealed gets the final manifest once it is on disk, also for
	// a recording that crash recovery finished.
	RecordingSealed(m Manifest)
}

// Pipeline records every hosted session: it is the sessions.Recorder and
// sessions.Observer of a node. Bytes are framed and cut into chunks on the
// caller's goroutine (one copy, into the chunk); chunks are compressed and
// encrypted by a pool of workers; a chunk becomes durable (file, then its
// journal record) in index order, so what survives a crash is always a
// run 0, 1, 2, … of sealed chunks. When a session ends its manifest is
// written.
type Pipeline struct {
	cfg  PipelineConfig
	log  *slog.Logger
	jobs chan sealJob

	mu   sync.RWMutex
	recs map[sessions.ID]*sessionRecording

	stop    context.CancelFunc
	workers sync.WaitGroup
	final   sync.WaitGroup
}

type sealJob struct {
	rec   *sessionRecording
	chunk Chunk
}

var _ sessions.Recorder = (*Pipeline)(nil)
var _ sessions.Observer = (*Pipeline)(nil)

// NewPipeline starts the sealing workers and the age ticker.
func NewPipeline(cfg PipelineConfig) (*Pipeline, error) {
	if cfg.Store == nil {
		return nil, errors.New("media: pipeline needs a store")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxChunkAge == 0 {
		cfg.MaxChunkAge = DefaultChunkAge
	}
	if cfg.RecorderVersion == "" {
		cfg.RecorderVersion = "lucid"
	}
	if _, err := NewChunker(cfg.MaxChunkPlaintext, cfg.MaxChunkAge); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	p := &Pipeline{
		cfg: cfg, log: cfg.Log, stop: stop,
		// A bounded queue: when sealing falls behind, Record blocks and the
		// tunnel slows, rather than memory growing without bound.
		jobs: make(chan sealJob, 2*cfg.Workers),
		recs: map[sessions.ID]*sessionRecording{},
	}
	for range cfg.Workers {
		p.workers.Go(p.work)
	}
	p.final.Go(func() { p.tick(ctx) })
	return p, nil
}

// sessionRecording is one session being recorded.
type sessionRecording struct {
	id    sessions.ID
	key   []byte
	begin Manifest

	mu      sync.Mutex // guards chunker
	chunker *Chunker

	pending sync.WaitGroup // seal jobs in flight

	wmu    sync.Mutex // guards what follows: in-order durability
	next   uint64
	ready  map[uint64]sealedChunk
	chunks []ChunkInfo
	err    error // first failure; the recording stops at the chunk before
}

type sealedChunk struct {
	sealed []byte
	info   ChunkInfo
}

// SessionEvent starts a recording when a hosted session starts and
// finishes it when the session ends. It does not block: finishing, which
// waits for the last chunks, runs on its own goroutine.
func (p *Pipeline) SessionEvent(ev sessions.Event) {
	if ev.Info.Role != sessions.RoleHost {
		return
	}
	switch ev.Kind {
	case sessions.EventStarted:
		if err := p.begin(ev.Info); err != nil {
			p.log.Error("cannot record session", "session", ev.Info.ID, "err", err)
		}
	case sessions.EventEnded:
		p.mu.Lock()
		rec := p.recs[ev.Info.ID]
		delete(p.recs, ev.Info.ID)
		p.mu.Unlock()
		if rec != nil {
			p.final.Go(func() { p.finish(rec, ev.Info.EndedAt) })
		}
	}
}

func (p *Pipeline) begin(info sessions.Info) error {
	if info.Receipt == nil {
		return errors.New("session has no host receipt")
	}
	key, err := NewSessionKey(p.cfg.Rand)
	if err != nil {
		return err
	}
	owner, err := RecipientForPeer(info.Peer)
	if err != nil {
		return err
	}
	recipients := append([]Recipient{{Label: LabelOwner, Key: owner}}, p.cfg.Recipients...)
	var keys []WrappedKey
	for _, r := range recipients {
		w, err := WrapKey(key, r.Key, p.cfg.Rand)
		if err != nil {
			return fmt.Errorf("wrap key for %s: %w", r.Label, err)
		}
		w.Label = r.Label
		keys = append(keys, w)
	}
	chunker, err := NewChunker(p.cfg.MaxChunkPlaintext, p.cfg.MaxChunkAge)
	if err != nil {
		return err
	}
	begin := Manifest{
		Session: info.ID, Host: info.Receipt.Host, Client: info.Peer, Service: info.Service,
		MaxChunkPlaintext: chunker.MaxPlaintext(), MaxChunkAge: chunker.MaxAge(),
		Root: EmptyRoot, Consent: info.Consent, HostReceipt: *info.Receipt, PolicyHash: info.PolicyHash,
		Recorder: p.cfg.RecorderVersion, Started: info.StartedAt, Keys: keys,
	}
	record, err := AppendJournalBegin(nil, begin)
	if err != nil {
		return err
	}
	if err := p.cfg.Store.AppendJournal(info.ID, record); err != nil {
		return err
	}
	rec := &sessionRecording{id: info.ID, key: key, begin: begin, chunker: chunker, ready: map[uint64]sealedChunk{}}
	p.mu.Lock()
	p.recs[info.ID] = rec
	p.mu.Unlock()
	if p.cfg.Indexer != nil {
		p.cfg.Indexer.RecordingStarted(begin)
	}
	p.log.Info("recording session", "session", info.ID, "recipients", len(keys))
	return nil
}

// Record frames the bytes into the session's open chunk; full chunks go
// to the sealing workers.
func (p *Pipeline) Record(id sessions.ID, dir sessions.Direction, at time.Time, b []byte) {
	p.mu.RLock()
	rec := p.recs[id]
	p.mu.RUnlock()
	if rec == nil {
		return
	}
	rec.mu.Lock()
	chunks, err := rec.chunker.Add(Frame{Dir: dir, At: at, Data: b})
	rec.mu.Unlock()
	if err != nil {
		p.log.Warn("recording: frame refused", "session", id, "err", err)
		return
	}
	p.submit(rec, chunks)
}

func (p *Pipeline) submit(rec *sessionRecording, chunks []Chunk) {
	for _, c := range chunks {
		rec.pending.Add(1)
		p.jobs <- sealJob{rec: rec, chunk: c}
	}
}

// tick seals chunks that have been open longer than the maximum age, so a
// quiet session's last words still reach the disk.
func (p *Pipeline) tick(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.RLock()
		recs := make([]*sessionRecording, 0, len(p.recs))
		for _, r := range p.recs {
			recs = append(recs, r)
		}
		p.mu.RUnlock()
		now := p.cfg.Now()
		for _, rec := range recs {
			rec.mu.Lock()
			chunks := rec.chunker.Tick(now)
			rec.mu.Unlock()
			p.submit(rec, chunks)
		}
	}
}

func (p *Pipeline) work() {
	for job := range p.jobs {
		job.rec.seal(p, job.chunk)
		job.rec.pending.Done()
	}
}

func (rec *sessionRecording) seal(p *Pipeline, c Chunk) {
	sealed, err := SealChunk(rec.key, rec.id, c.Index, c.Plaintext)
	info := ChunkInfo{Index: c.Index, SealedSize: uint64(len(sealed)), PlaintextSize: uint64(len(c.Plaintext)),
		Leaf: LeafHash(sealed), First: c.First, Last: c.Last}
	rec.wmu.Lock()
	defer rec.wmu.Unlock()
	if err != nil {
		rec.fail(p, fmt.Errorf("seal chunk %d: %w", c.Index, err))
		return
	}
	rec.ready[c.Index] = sealedChunk{sealed: sealed, info: info}
	// Commit in index order: the chunk file, then its journal record. The
	// journal record is the acknowledgement; a chunk is never listed
	// before the ones below it are durable.
	for rec.err == nil {
		s, ok := rec.ready[rec.next]
		if !ok {
			return
		}
		delete(rec.ready, rec.next)
		if err := p.cfg.Store.PutChunk(rec.id, s.info.Index, s.sealed); err != nil {
			rec.fail(p, fmt.Errorf("write chunk %d: %w", s.info.Index, err))
			return
		}
		if err := p.cfg.Store.AppendJournal(rec.id, AppendJournalChunk(nil, s.info)); err != nil {
			rec.fail(p, fmt.Errorf("journal chunk %d: %w", s.info.Index, err))
			return
		}
		rec.chunks = append(rec.chunks, s.info)
		rec.next++
		if p.cfg.Indexer != nil {
			p.cfg.Indexer.ChunkDurable(&rec.begin, s.info)
		}
	}
}

// fail stops the recording at the last durable chunk; the manifest will
// carry a gap with the reason. The session itself goes on.
func (rec *sessionRecording) fail(p *Pipeline, err error) {
	if rec.err == nil {
		rec.err = err
		p.log.Error("recording failed; later chunks are dropped", "session", rec.id, "err", err)
	}
	clear(rec.ready)
}

// finish seals what is open, waits for the workers, and writes the
// manifest and the journal's end record.
func (p *Pipeline) finish(rec *sessionRecording, ended time.Time) {
	rec.mu.Lock()
	chunks := rec.chunker.Flush()
	rec.mu.Unlock()
	p.submit(rec, chunks)
	rec.pending.Wait()

	rec.wmu.Lock()
	m := rec.begin
	m.Chunks, m.ChunkCount = rec.chunks, uint64(len(rec.chunks))
	m.Root = MerkleRoot(m.Leaves())
	m.Ended = ended
	if rec.err != nil && len(rec.chunks) > 0 {
		m.Gaps = []Gap{{AfterIndex: uint64(len(rec.chunks) - 1), Reason: sessions.SanitizeDetail(rec.err.Error())}}
	}
	rec.wmu.Unlock()
	if err := p.cfg.Store.PutManifest(m); err != nil {
		p.log.Error("cannot write recording manifest", "session", rec.id, "err", err)
		return
	}
	if rec.err == nil {
		if err := p.cfg.Store.AppendJournal(rec.id, AppendJournalEnd(nil, ended)); err != nil {
			p.log.Warn("cannot close recording journal", "session", rec.id, "err", err)
		}
	}
	if p.cfg.Indexer != nil {
		p.cfg.Indexer.RecordingSealed(m)
	}
	p.log.Info("recording sealed", "session", rec.id, "chunks", m.ChunkCount, "manifest", fmt.Sprintf("%x", m.Hash()))
}

// Close waits for recordings being finished and stops the workers. Sessions
// must have ended first (the node closes its session manager before this).
func (p *Pipeline) Close() error {
	p.stop()
	p.final.Wait()
	close(p.jobs)
	p.workers.Wait()
	return nil
}

// Recover writes a manifest for every session in the store that has a
// journal but none: the node stopped while recording it. The manifest
// lists the chunks that were durable and a gap with the reason.
func (p *Pipeline) Recover() (recovered int, err error) {
	ids, err := p.cfg.Store.Sessions()
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, id := range ids {
		if _, err := p.cfg.Store.Manifest(id); err == nil || !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		b, err := p.cfg.Store.Journal(id)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		j, err := ReadJournal(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("session %s: %w", id, err))
			continue
		}
		if j.Torn {
			if err := p.cfg.Store.TruncateJournal(id, int64(j.Valid)); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		m, err := j.Manifest("recording interrupted: the node stopped while the session was live")
		if err != nil {
			errs = append(errs, fmt.Errorf("session %s: %w", id, err))
			continue
		}
		if err := p.cfg.Store.Clean(id); err != nil {
			errs = append(errs, err)
		}
		if err := p.cfg.Store.PutManifest(m); err != nil {
			errs = append(errs, err)
			continue
		}
		recovered++
		if p.cfg.Indexer != nil {
			p.cfg.Indexer.RecordingSealed(m)
		}
		p.log.Warn("recovered interrupted recording", "session", id, "chunks", m.ChunkCount)
	}
	return recovered, errors.Join(errs...)
}
