package catalog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/sessions"
)

// Recordings is what Reconcile reads: a media.FileStore.
type Recordings interface {
	Sessions() ([]sessions.ID, error)
	Manifest(id sessions.ID) (media.Manifest, error)
}

// Reconcile brings c up to date with the sealed recordings in st: every
// session whose manifest the catalog does not hold (by hash) gets its
// chunk records and then its session record, so a sealed session record
// always means its chunks are there. Recordings still being made are left
// to the Syncer. It returns how many sessions it wrote.
func Reconcile(ctx context.Context, st Recordings, c Catalog) (int, error) {
	ids, err := st.Sessions()
	if err != nil {
		return 0, err
	}
	written := 0
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return written, err
		}
		m, err := st.Manifest(id)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("session %s: %w", id, err))
			continue
		}
		s := SealedSession(m)
		have, err := c.Session(ctx, id)
		if err == nil && have == s {
			continue
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		if err := c.PutChunks(ctx, ChunksOf(m)); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := c.PutSession(ctx, s); err != nil {
			errs = append(errs, err)
			continue
		}
		written++
	}
	return written, errors.Join(errs...)
}

// Syncer keeps catalogs up to date as the pipeline records: it is a
// media.Indexer. Each catalog has its own queue and goroutine, so a slow
// or unreachable MongoDB never holds up the embedded catalog or the
// pipeline; a failed write is retried with backoff, in order.
type Syncer struct {
	targets []*target
}

var _ media.Indexer = (*Syncer)(nil)

// MaxQueue bounds each catalog's backlog. A queue this long means the
// catalog has been unreachable for a long time; older writes are dropped
// (and logged), and Reconcile restores sealed sessions at the next start.
const MaxQueue = 1 << 20

type target struct {
	name string
	c    Catalog
	log  *slog.Logger

	mu      sync.Mutex
	queue   []op
	dropped int
	wake    chan struct{}
	closed  chan struct{} // drain the queue, then stop
	abandon chan struct{} // stop now
	done    chan struct{}
}

// op is one write: a session record or a chunk record.
type op struct {
	session *Session
	chunk   *Chunk
}

// NewSyncer starts one writer per named catalog.
func NewSyncer(log *slog.Logger, catalogs map[string]Catalog) *Syncer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Syncer{}
	for name, c := range catalogs {
		t := &target{name: name, c: c, log: log.With("catalog", name),
			wake: make(chan struct{}, 1), closed: make(chan struct{}), abandon: make(chan struct{}), done: make(chan struct{})}
		s.targets = append(s.targets, t)
		go t.run()
	}
	return s
}

func (s *Syncer) RecordingStarted(begin media.Manifest) {
	ss := StartedSession(begin)
	s.push(op{session: &ss})
}

func (s *Syncer) ChunkDurable(begin *media.Manifest, c media.ChunkInfo) {
	ch := ChunkOf(begin, c)
	s.push(op{chunk: &ch})
}

// RecordingSealed also writes every chunk: a recording finished by crash
// recovery had its chunks written before this process started.
func (s *Syncer) RecordingSealed(m media.Manifest) {
	ops := make([]op, 0, len(m.Chunks)+1)
	for _, c := range ChunksOf(m) {
		ops = append(ops, op{chunk: &c})
	}
	ss := SealedSession(m)
	s.push(append(ops, op{session: &ss})...)
}

func (s *Syncer) push(ops ...op) {
	for _, t := range s.targets {
		t.mu.Lock()
		t.queue = append(t.queue, ops...)
		if over := len(t.queue) - MaxQueue; over > 0 {
			t.queue = t.queue[over:]
			t.dropped += over
		}
		t.mu.Unlock()
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// Close writes what is queued, giving up when ctx ends, and stops.
func (s *Syncer) Close(ctx context.Context) error {
	var errs []error
	for _, t := range s.targets {
		close(t.closed)
	}
	for _, t := range s.targets {
		select {
		case <-t.done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("catalog %s: %d writes not done: %w", t.name, t.backlog(), ctx.Err()))
			close(t.abandon)
			<-t.done
		}
	}
	return errors.Join(errs...)
}

func (t *target) backlog() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.queue)
}

// Backoff between retries of a failed write.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 30 * time.Second
	// writeTimeout bounds one batch against a server that hangs.
	writeTimeout = time.Minute
)

func (t *target) run() {
	defer close(t.done)
	retry := time.Duration(0)
	for {
		t.mu.Lock()
		batch, dropped := t.queue, t.dropped
		t.dropped = 0
		t.mu.Unlock()
		if dropped > 0 {
			t.log.Error("catalog fell behind; oldest writes dropped, restart to reconcile", "dropped", dropped)
		}
		if len(batch) == 0 {
			select {
			case <-t.wake:
				continue
			case <-t.closed:
				return
			}
		}
		n, err := t.write(batch)
		t.mu.Lock()
		// The queue may have been trimmed meanwhile; drop only what was written.
		t.queue = t.queue[min(n, len(t.queue)):]
		t.mu.Unlock()
		if err == nil {
			retry = 0
			continue
		}
		retry = min(max(2*retry, minRetry), maxRetry)
		t.log.Warn("catalog write failed; will retry", "backlog", t.backlog(), "retry_in", retry, "err", err)
		select {
		case <-time.After(retry):
		case <-t.abandon:
			t.log.Error("catalog writes abandoned at shutdown; the next start reconciles sealed recordings", "backlog", t.backlog())
			return
		}
	}
}

// write applies ops in order, runs of chunks as one batch, and returns
// how many it applied.
func (t *target) write(ops []op) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	go func() {
		select {
		case <-t.abandon:
			cancel()
		case <-ctx.Done():
		}
	}()
	done := 0
	for done < len(ops) {
		if s := ops[done].session; s != nil {
			if err := t.c.PutSession(ctx, *s); err != nil {
				return done, err
			}
			done++
			continue
		}
		end := done
		var chunks []Chunk
		for end < len(ops) && ops[end].chunk != nil && len(chunks) < 1000 {
			chunks = append(chunks, *ops[end].chunk)
			end++
		}
		if err := t.c.PutChunks(ctx, chunks); err != nil {
			return done, err
		}
		done = end
	}
	return done, nil
}
