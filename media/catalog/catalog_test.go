package catalog

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	badger4 "github.com/ipfs/go-ds-badger4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/sessions"
)

// backends opens every catalog there is to test: the embedded one always,
// MongoDB when MONGO_URI names a server (CI runs FerretDB on PostgreSQL).
// Each test gets empty catalogs of its own.
func backends(t testing.TB) map[string]Catalog {
	t.Helper()
	out := map[string]Catalog{"badger": openBadger(t)}
	if m := openMongo(t); m != nil {
		out["mongo"] = m
	}
	return out
}

func openBadger(t testing.TB) *Badger {
	t.Helper()
	opts := badger4.DefaultOptions
	opts.Options = opts.Options.WithMemTableSize(16 << 20).WithValueLogFileSize(64 << 20).WithLoggingLevel(3)
	ds, err := badger4.NewDatastore(t.TempDir(), &opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ds.Close() })
	return NewBadger(ds)
}

// openMongo returns nil, with a visible note, when MONGO_URI is unset.
func openMongo(t testing.TB) *Mongo {
	t.Helper()
	uri := os.Getenv("MONGO_URI")
	if uri == "" {
		t.Log("MONGO_URI unset: MongoDB backend NOT tested (make test-mongo runs it against FerretDB)")
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db := fmt.Sprintf("lucidtest_%d_%d", time.Now().UnixNano(), rand.Uint32())
	m, err := OpenMongo(ctx, uri, db)
	if err != nil {
		t.Fatalf("MONGO_URI=%s: %v", uri, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.Drop(ctx); err != nil {
			t.Logf("drop %s: %v", db, err)
		}
		_ = m.Close(ctx)
	})
	return m
}

// eachBackend runs fn as a subtest per backend.
func eachBackend(t *testing.T, fn func(t *testing.T, c Catalog)) {
	for name, c := range backends(t) {
		t.Run(name, func(t *testing.T) { fn(t, c) })
	}
	if os.Getenv("MONGO_URI") == "" {
		t.Run("mongo", func(t *testing.T) { t.Skip("MONGO_URI unset: MongoDB backend not tested") })
	}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func testPeer(t testing.TB, r *rand.Rand) peer.ID {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = byte(r.Uint32())
	}
	sk, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func testID(t testing.TB, r *rand.Rand) sessions.ID {
	t.Helper()
	var b [16]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	id, err := sessions.IDFromBytes(b[:])
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// dataset is a deterministic set of sealed recordings: owners shared
// between sessions, sessions that cross midnight, chunk sizes of every
// magnitude.
type dataset struct {
	manifests []media.Manifest
}

func newDataset(t testing.TB, seed uint64, nSessions, maxChunks int) dataset {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	host := testPeer(t, r)
	owners := []peer.ID{testPeer(t, r), testPeer(t, r), testPeer(t, r)}
	base := time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC)
	var d dataset
	for i := range nSessions {
		start := base.Add(time.Duration(r.IntN(48*3600)) * time.Second).Add(time.Duration(r.IntN(1e9)))
		m := media.Manifest{
			Session: testID(t, r), Host: host, Client: owners[i%len(owners)], Service: "ssh",
			Started: start, Recorder: "lucid/test",
		}
		at := start
		for idx := range uint64(1 + r.IntN(maxChunks)) {
			c := media.ChunkInfo{Index: idx, SealedSize: uint64(1 + r.IntN(9<<20)), PlaintextSize: uint64(r.IntN(16 << 20)), First: at}
			at = at.Add(time.Duration(1+r.IntN(3600)) * time.Second)
			c.Last = at
			for j := range c.Leaf {
				c.Leaf[j] = byte(r.Uint32())
			}
			m.Chunks = append(m.Chunks, c)
		}
		m.ChunkCount = uint64(len(m.Chunks))
		m.Root = media.MerkleRoot(m.Leaves())
		m.Ended = at
		if i%5 == 4 {
			m.Gaps = []media.Gap{{AfterIndex: m.ChunkCount - 1, Reason: "node stopped"}}
		}
		d.manifests = append(d.manifests, m)
	}
	return d
}

func (d dataset) chunks() []Chunk {
	var out []Chunk
	for _, m := range d.manifests {
		out = append(out, ChunksOf(m)...)
	}
	return out
}

// expectStats computes what Stats must say straight from the manifests,
// independently of both backends' code paths.
func (d dataset) expectStats(by By) Stats {
	rows := map[string]*Row{}
	seen := map[string]map[sessions.ID]bool{}
	for _, m := range d.manifests {
		for _, c := range m.Chunks {
			var key string
			switch by {
			case ByDay:
				key = c.First.UTC().Format("2006-01-02")
			case BySession:
				key = m.Session.String()
			case ByPeer:
				key = m.Client.String()
			default:
				key = TotalKey
			}
			if rows[key] == nil {
				rows[key] = &Row{Key: key}
				seen[key] = map[sessions.ID]bool{}
			}
			r := rows[key]
			if !seen[key][m.Session] {
				seen[key][m.Session] = true
				r.Sessions++
			}
			r.Chunks++
			r.SealedBytes += c.SealedSize
			r.PlaintextBytes += c.PlaintextSize
		}
	}
	out := Stats{By: by, Rows: []Row{}, Total: Row{Key: TotalKey, Sessions: uint64(len(d.manifests))}}
	for _, r := range rows {
		out.Rows = append(out.Rows, *r)
		out.Total.Chunks += r.Chunks
		out.Total.SealedBytes += r.SealedBytes
		out.Total.PlaintextBytes += r.PlaintextBytes
	}
	slices.SortFunc(out.Rows, func(a, b Row) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func load(t testing.TB, c Catalog, d dataset) {
	t.Helper()
	ctx := testCtx(t)
	if err := c.PutChunks(ctx, d.chunks()); err != nil {
		t.Fatal(err)
	}
	for _, m := range d.manifests {
		if err := c.PutSession(ctx, SealedSession(m)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCatalogConformance(t *testing.T) {
	d := newDataset(t, 7, 24, 12)
	// Every backend's figures, for comparing them with each other too.
	got := map[By]map[string]Stats{}
	eachBackend(t, func(t *testing.T, c Catalog) {
		ctx := testCtx(t)
		load(t, c, d)

		t.Run("sessions round trip", func(t *testing.T) {
			for _, m := range d.manifests {
				s, err := c.Session(ctx, m.Session)
				if err != nil {
					t.Fatal(err)
				}
				if want := SealedSession(m); !reflect.DeepEqual(s, want) {
					t.Fatalf("session %s:\n got %+v\nwant %+v", m.Session, s, want)
				}
			}
			all, err := c.Sessions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != len(d.manifests) {
				t.Fatalf("Sessions: %d, want %d", len(all), len(d.manifests))
			}
			for i := 1; i < len(all); i++ {
				if all[i].Started.After(all[i-1].Started) {
					t.Fatalf("Sessions not newest first at %d: %v after %v", i, all[i].Started, all[i-1].Started)
				}
			}
		})

		t.Run("chunks round trip in index order", func(t *testing.T) {
			for _, m := range d.manifests {
				cs, err := c.Chunks(ctx, m.Session)
				if err != nil {
					t.Fatal(err)
				}
				if want := ChunksOf(m); !reflect.DeepEqual(cs, want) {
					t.Fatalf("chunks of %s:\n got %+v\nwant %+v", m.Session, cs, want)
				}
			}
		})

		t.Run("repeated writes change nothing", func(t *testing.T) {
			before, err := c.Stats(ctx, BySession)
			if err != nil {
				t.Fatal(err)
			}
			// The whole set again, then an overlapping slice of it.
			load(t, c, d)
			all := d.chunks()
			if err := c.PutChunks(ctx, all[len(all)/3:len(all)/2]); err != nil {
				t.Fatal(err)
			}
			after, err := c.Stats(ctx, BySession)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("stats changed by repeated writes:\n%v\n%v", before, after)
			}
		})

		t.Run("unknown session", func(t *testing.T) {
			_, err := c.Session(ctx, testID(t, rand.New(rand.NewPCG(99, 99))))
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			cs, err := c.Chunks(ctx, testID(t, rand.New(rand.NewPCG(99, 99))))
			if err != nil || len(cs) != 0 {
				t.Fatalf("Chunks of unknown session = %v, %v", cs, err)
			}
		})

		t.Run("stats", func(t *testing.T) {
			for _, by := range []By{ByTotal, ByDay, BySession, ByPeer} {
				rows, err := c.Stats(ctx, by)
				if err != nil {
					t.Fatalf("by %s: %v", by, err)
				}
				// Every figure is checked: FerretDB answers a wrong
				// aggregation with zeros, not an error.
				if want := d.expectStats(by); !reflect.DeepEqual(rows, want) {
					t.Fatalf("by %s:\n got %+v\nwant %+v", by, rows, want)
				}
				if got[by] == nil {
					got[by] = map[string]Stats{}
				}
				got[by][t.Name()] = rows
			}
		})

		t.Run("status moves from recording to sealed", func(t *testing.T) {
			m := d.manifests[0]
			if err := c.PutSession(ctx, StartedSession(m)); err != nil {
				t.Fatal(err)
			}
			s, err := c.Session(ctx, m.Session)
			if err != nil || s.Status != StatusRecording || !s.Ended.IsZero() {
				t.Fatalf("started: %+v, %v", s, err)
			}
			if err := c.PutSession(ctx, SealedSession(m)); err != nil {
				t.Fatal(err)
			}
			if s, err = c.Session(ctx, m.Session); err != nil || s != SealedSession(m) {
				t.Fatalf("sealed: %+v, %v", s, err)
			}
		})
	})
	for by, per := range got {
		var first *Stats
		for name, rows := range per {
			if first == nil {
				first = &rows
			} else if !reflect.DeepEqual(rows, *first) {
				t.Errorf("by %s: %s differs from another backend", by, name)
			}
		}
	}
}

func TestStatsEmptyCatalog(t *testing.T) {
	eachBackend(t, func(t *testing.T, c Catalog) {
		for _, by := range []By{ByTotal, ByDay, BySession, ByPeer} {
			rows, err := c.Stats(testCtx(t), by)
			if err != nil || len(rows.Rows) != 0 || rows.Total != (Row{Key: TotalKey}) {
				t.Fatalf("by %s: %v, %v", by, rows, err)
			}
		}
	})
}

func TestParseBy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want By
		ok   bool
	}{{"", ByTotal, true}, {"day", ByDay, true}, {"Session", BySession, true}, {"peer", ByPeer, true}, {"total", ByTotal, true}, {"week", "", false}} {
		got, err := ParseBy(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseBy(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// memRecordings is a FileStore's listing held in memory, for Reconcile.
type memRecordings map[sessions.ID]media.Manifest

func (r memRecordings) Sessions() ([]sessions.ID, error) {
	var ids []sessions.ID
	for id := range r {
		ids = append(ids, id)
	}
	return ids, nil
}

func (r memRecordings) Manifest(id sessions.ID) (media.Manifest, error) {
	m, ok := r[id]
	if !ok {
		return media.Manifest{}, fs.ErrNotExist
	}
	return m, nil
}

func TestReconcile(t *testing.T) {
	d := newDataset(t, 11, 10, 6)
	recs := memRecordings{}
	for _, m := range d.manifests {
		recs[m.Session] = m
	}
	eachBackend(t, func(t *testing.T, c Catalog) {
		ctx := testCtx(t)
		// A catalog that missed some chunks and holds one session as
		// still recording: what a crash leaves.
		m0 := d.manifests[0]
		if err := c.PutChunks(ctx, ChunksOf(m0)[:1]); err != nil {
			t.Fatal(err)
		}
		if err := c.PutSession(ctx, StartedSession(m0)); err != nil {
			t.Fatal(err)
		}
		n, err := Reconcile(ctx, recs, c)
		if err != nil || n != len(d.manifests) {
			t.Fatalf("Reconcile = %d, %v; want %d", n, err, len(d.manifests))
		}
		if n, err = Reconcile(ctx, recs, c); err != nil || n != 0 {
			t.Fatalf("second Reconcile = %d, %v; want 0", n, err)
		}
		for _, by := range []By{ByTotal, ByPeer} {
			rows, err := c.Stats(ctx, by)
			if err != nil {
				t.Fatal(err)
			}
			if want := d.expectStats(by); !reflect.DeepEqual(rows, want) {
				t.Fatalf("after Reconcile, by %s:\n got %+v\nwant %+v", by, rows, want)
			}
		}
	})
}

func TestSyncerWritesInOrderAndDrains(t *testing.T) {
	d := newDataset(t, 13, 6, 20)
	cats := backends(t)
	s := NewSyncer(nil, cats)
	for _, m := range d.manifests {
		s.RecordingStarted(m)
		for _, c := range m.Chunks {
			s.ChunkDurable(&m, c)
		}
		s.RecordingSealed(m)
	}
	ctx := testCtx(t)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for name, c := range cats {
		for _, m := range d.manifests {
			got, err := c.Session(ctx, m.Session)
			if err != nil || got != SealedSession(m) {
				t.Fatalf("%s: session %s = %+v, %v", name, m.Session, got, err)
			}
		}
		rows, err := c.Stats(ctx, BySession)
		if err != nil {
			t.Fatal(err)
		}
		if want := d.expectStats(BySession); !reflect.DeepEqual(rows, want) {
			t.Fatalf("%s: by session:\n got %+v\nwant %+v", name, rows, want)
		}
	}
}

// failing is a catalog whose writes fail until it is told otherwise: the
// MongoDB server being down, as the Syncer sees it.
type failing struct {
	Catalog
	down chan struct{}
}

func (f *failing) PutChunks(ctx context.Context, cs []Chunk) error {
	select {
	case <-f.down:
		return f.Catalog.PutChunks(ctx, cs)
	default:
		return errors.New("server down")
	}
}

func TestSyncerRetriesAFailingCatalog(t *testing.T) {
	d := newDataset(t, 17, 2, 3)
	f := &failing{Catalog: openBadger(t), down: make(chan struct{})}
	s := NewSyncer(nil, map[string]Catalog{"flaky": f})
	for _, m := range d.manifests {
		s.RecordingSealed(m)
	}
	// Writes fail for a while (the syncer backs off), then succeed.
	time.Sleep(300 * time.Millisecond)
	close(f.down)
	ctx := testCtx(t)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := f.Stats(ctx, ByTotal)
	if err != nil {
		t.Fatal(err)
	}
	if want := d.expectStats(ByTotal); !reflect.DeepEqual(rows, want) {
		t.Fatalf("got %+v\nwant %+v", rows, want)
	}
}
