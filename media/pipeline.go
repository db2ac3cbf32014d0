package media

import (
	"cmp"
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
	"sync/atomic"
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
// caller's goroutine (one copy, into the chunk's buffer, which comes from
// a pool and goes back to it once the chunk is sealed); chunks are
// compressed, encrypted and hashed by a pool of workers; a chunk becomes
// durable (file, then its journal record) in index order, so what
// survives a crash is always a run 0, 1, 2, … of sealed chunks. When a
// session ends its manifest is written.
//
// The commit (chunk files written and synced, renamed, the directory
// synced, then the journal records appended and synced) runs on a
// committer goroutine per session, started when the next chunk in order
// is sealed and gone when the chunk after is not, so the workers go on
// sealing while it waits for the disk. It commits every chunk that is
// ready in one go, with one directory sync and one journal sync for all
// of them, which keeps the disk up when it is the slowest stage. Chunks
// are written with direct I/O where the file system allows it (see
// FileStore), which spares the CPU a copy into the page cache.
type Pipeline struct {
	cfg  PipelineConfig
	log  *slog.Logger
	jobs chan sealJob
	// slots bounds the chunks between the chunker and the disk: a chunk
	// takes one when it is submitted and gives it back once it is
	// committed or dropped. When sealing or the disk falls behind, Record
	// blocks and the tunnel slows, rather than memory growing without
	// bound.
	slots     chan struct{}
	sealBufs  *sealBufPool
	plainBufs *plainBufPool

	mu   sync.RWMutex
	recs map[sessions.ID]*sessionRecording

	stop    context.CancelFunc
	workers sync.WaitGroup
	commits sync.WaitGroup
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
	// Chunks in flight: one being sealed per worker, one being committed
	// and one waiting. More did not help in the benchmark, and each holds
	// up to a plaintext (until it is sealed) and a sealed chunk.
	inFlight := cfg.Workers + 2
	// The chunker checked the size: 0 is the default.
	maxPlain := cmp.Or(cfg.MaxChunkPlaintext, DefaultChunkPlaintext)
	p := &Pipeline{
		cfg: cfg, log: cfg.Log, stop: stop,
		// A chunk holds a slot while queued, so the queue never blocks.
		jobs:     make(chan sealJob, inFlight),
		slots:    make(chan struct{}, inFlight),
		recs:     map[sessions.ID]*sessionRecording{},
		sealBufs: newSealBufPool(maxPlain),
		// Plaintext buffers in use: those in flight until sealed, and
		// the open chunk of each busy session. Keeping two more than can
		// be in flight lets a couple of busy sessions recycle theirs.
		plainBufs: newPlainBufPool(maxPlain, inFlight+2),
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

	// mu guards chunker. It is held while completed chunks are submitted,
	// so they are queued in index order: the lowest chunk not committed
	// always holds a slot, and later ones cannot starve it of one.
	mu      sync.Mutex
	chunker *Chunker

	pending sync.WaitGroup // chunks submitted and not yet committed or dropped
	failed  atomic.Bool    // err is set: workers drop the session's chunks

	wmu        sync.Mutex // guards what follows: in-order durability
	next       uint64     // the lowest index not yet committed
	ready      map[uint64]sealedResult
	committing bool // a committer goroutine runs for the session
	chunks     []ChunkInfo
	err        error // first failure; the recording stops at the chunk before
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
	chunker.alloc = p.plainBufs.get
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
	rec := &sessionRecording{id: info.ID, key: key, begin: begin, chunker: chunker, ready: map[uint64]sealedResult{}}
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
	defer rec.mu.Unlock()
	chunks, err := rec.chunker.Add(Frame{Dir: dir, At: at, Data: b})
	if err != nil {
		p.log.Warn("recording: frame refused", "session", id, "err", err)
		return
	}
	p.submit(rec, chunks)
}

// submit queues completed chunks for sealing, waiting for a slot for each.
// The caller holds rec.mu.
func (p *Pipeline) submit(rec *sessionRecording, chunks []Chunk) {
	for _, c := range chunks {
		p.slots <- struct{}{}
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
			p.submit(rec, rec.chunker.Tick(now))
			rec.mu.Unlock()
		}
		p.plainBufs.trim()
	}
}

func (p *Pipeline) work() {
	for job := range p.jobs {
		job.rec.deliver(p, job.rec.seal(p, job.chunk))
	}
}

// sealedResult is a sealed chunk waiting for the chunks before it to
// commit, or why sealing it failed.
type sealedResult struct {
	index  uint64
	buf    *[]byte // from p.sealBufs; holds sealed
	sealed []byte
	info   ChunkInfo
	err    error
}

// seal compresses and encrypts a chunk and takes its leaf hash, into a
// pooled buffer. The chunk's plaintext goes back to its pool on every
// path: only the chunker (which let go of it when it completed the chunk)
// and this call ever refer to it; the sealed result, the committer and
// the Indexer get the sealed bytes and ChunkInfo, never the plaintext.
func (rec *sessionRecording) seal(p *Pipeline, c Chunk) sealedResult {
	defer p.plainBufs.put(c.Plaintext)
	r := sealedResult{index: c.Index}
	if rec.failed.Load() {
		return r // deliver drops it
	}
	r.buf = p.sealBufs.get()
	sealed, err := sealChunk(*r.buf, rec.key, rec.id, c.Index, c.Plaintext)
	if err != nil {
		r.err = fmt.Errorf("seal chunk %d: %w", c.Index, err)
		return r
	}
	r.sealed = sealed
	r.info = ChunkInfo{Index: c.Index, SealedSize: uint64(len(sealed)), PlaintextSize: uint64(len(c.Plaintext)),
		Leaf: LeafHash(sealed), First: c.First, Last: c.Last}
	return r
}

// deliver hands a sealed chunk (or its failure) to the session's
// committer, starting one if the chunk next in order is ready and none
// runs.
func (rec *sessionRecording) deliver(p *Pipeline, r sealedResult) {
	rec.wmu.Lock()
	if rec.err != nil {
		rec.wmu.Unlock()
		p.release(rec, r)
		return
	}
	rec.ready[r.index] = r
	_, start := rec.ready[rec.next]
	start = start && !rec.committing
	rec.committing = rec.committing || start
	rec.wmu.Unlock()
	if start {
		p.commits.Go(func() { rec.commit(p) })
	}
}

// release is done with a chunk, committed or dropped: its buffer goes back
// to the pool and its slot to the next chunk.
func (p *Pipeline) release(rec *sessionRecording, r sealedResult) {
	if r.buf != nil {
		p.sealBufs.put(r.buf)
	}
	<-p.slots
	rec.pending.Done()
}

// commit makes the ready chunks durable in index order, as many at a time
// as are ready, and returns when the next one is not ready. Only one
// commit runs per session (rec.committing), so the Indexer hears of the
// chunks in order.
func (rec *sessionRecording) commit(p *Pipeline) {
	var (
		batch   []sealedResult
		writes  []chunkWrite
		records []byte
	)
	for {
		rec.wmu.Lock()
		batch, writes, records = batch[:0], writes[:0], records[:0]
		for {
			r, ok := rec.ready[rec.next+uint64(len(batch))]
			if !ok || r.err != nil {
				break
			}
			delete(rec.ready, r.index)
			batch = append(batch, r)
			writes = append(writes, chunkWrite{index: r.index, sealed: r.sealed, direct: true})
			records = AppendJournalChunk(records, r.info)
		}
		if len(batch) == 0 {
			var dropped []sealedResult
			if r, ok := rec.ready[rec.next]; ok && r.err != nil {
				dropped = rec.fail(p, r.err)
			}
			rec.committing = false
			rec.wmu.Unlock()
			for _, r := range dropped {
				p.release(rec, r)
			}
			return
		}
		rec.wmu.Unlock()

		// The journal records are the acknowledgement: they are written
		// once the chunk files, and so every chunk below, are durable.
		err := p.cfg.Store.commitChunks(rec.id, writes, records)
		var dropped []sealedResult
		rec.wmu.Lock()
		if err != nil {
			dropped = rec.fail(p, fmt.Errorf("commit chunks %d..%d: %w", batch[0].index, batch[len(batch)-1].index, err))
		} else {
			for _, r := range batch {
				rec.chunks = append(rec.chunks, r.info)
			}
			rec.next += uint64(len(batch))
		}
		rec.wmu.Unlock()
		for _, r := range batch {
			if err == nil && p.cfg.Indexer != nil {
				p.cfg.Indexer.ChunkDurable(&rec.begin, r.info)
			}
			p.release(rec, r)
		}
		for _, r := range dropped {
			p.release(rec, r)
		}
	}
}

// fail stops the recording at the last durable chunk; the manifest will
// carry a gap with the reason. The session itself goes on. It returns the
// chunks waiting to be committed, for the caller to release once it has
// let go of rec.wmu, which it holds.
func (rec *sessionRecording) fail(p *Pipeline, err error) []sealedResult {
	if rec.err == nil {
		rec.err = err
		rec.failed.Store(true)
		p.log.Error("recording failed; later chunks are dropped", "session", rec.id, "err", err)
	}
	dropped := make([]sealedResult, 0, len(rec.ready))
	for _, r := range rec.ready {
		dropped = append(dropped, r)
	}
	clear(rec.ready)
	return dropped
}

// finish seals what is open, waits for the workers, and writes the
// manifest and the journal's end record.
func (p *Pipeline) finish(rec *sessionRecording, ended time.Time) {
	rec.mu.Lock()
	p.submit(rec, rec.chunker.Flush())
	rec.mu.Unlock()
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
	// The workers started the last commits; wait for them.
	p.commits.Wait()
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
