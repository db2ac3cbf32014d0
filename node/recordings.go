package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/media/catalog"
	"github.com/lucidnet/lucid/p2p"
)

// recorder is the node's recording pipeline with its store and catalogs.
type recorder struct {
	pipeline *media.Pipeline
	store    *media.FileStore
	catalogs map[string]catalog.Catalog // "embedded", and "mongo" when configured
	mongo    *catalog.Mongo
	syncer   *catalog.Syncer

	cancel     context.CancelFunc // stops reconciling
	reconciles sync.WaitGroup
}

// Catalog names, as logged and reported by the stats API.
const (
	CatalogEmbedded = "embedded"
	CatalogMongo    = "mongo"
)

// mongoConnectTimeout bounds the first contact with a configured MongoDB;
// a node whose database does not answer does not start, so a typo in
// mongo_uri is seen at once rather than as missing statistics.
const mongoConnectTimeout = 15 * time.Second

// startRecording opens the recording store and catalogs, writes the
// manifests of recordings a crash interrupted, starts the pipeline, and
// reconciles the catalogs with the store in the background.
func (n *Node) startRecording() (*recorder, error) {
	st, err := media.OpenFileStore(n.home.RecordingsDir())
	if err != nil {
		return nil, err
	}
	recipients, err := n.cfg.Recording.recipients()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{store: st, catalogs: map[string]catalog.Catalog{CatalogEmbedded: catalog.NewBadger(n.store)}, cancel: cancel}
	if uri := n.cfg.Recording.MongoURI; uri != "" {
		cctx, cancel := context.WithTimeout(ctx, mongoConnectTimeout)
		r.mongo, err = catalog.OpenMongo(cctx, uri, "")
		cancel()
		if err != nil {
			cancel()
			return nil, fmt.Errorf("recording.mongo_uri: %w", err)
		}
		r.catalogs[CatalogMongo] = r.mongo
		n.log.Info("recording catalog in MongoDB", "database", r.mongo.Database())
	}
	r.syncer = catalog.NewSyncer(n.log, r.catalogs)
	index := indexers{r.syncer}
	if n.metaFeed != nil {
		index = append(index, n.metaFeed)
	}
	if n.anchors != nil {
		index = append(index, n.anchors) // after the feed: the manifest hash, then the anchor
	}
	r.pipeline, err = media.NewPipeline(media.PipelineConfig{
		Store: st, Recipients: recipients, Indexer: index,
		MaxChunkPlaintext: n.cfg.Recording.ChunkMiB << 20, MaxChunkAge: time.Duration(n.cfg.Recording.MaxChunkAge),
		RecorderVersion: Software(), Log: n.log, Now: n.now,
	})
	if err != nil {
		_ = r.close(ctx)
		return nil, err
	}
	if recovered, err := r.pipeline.Recover(); err != nil || recovered > 0 {
		n.log.Warn("recovered interrupted recordings", "count", recovered, "err", err)
	}
	for name, c := range r.catalogs {
		r.reconciles.Go(func() {
			start := time.Now()
			written, err := catalog.Reconcile(ctx, st, c)
			if err != nil && ctx.Err() == nil {
				n.log.Warn("recording catalog not reconciled", "catalog", name, "err", err)
			}
			if written > 0 {
				n.log.Info("recording catalog reconciled", "catalog", name, "sessions", written, "took", time.Since(start))
			}
		})
	}
	return r, nil
}

// stats reads the statistics from MongoDB when configured, so that they
// are the database's aggregation; otherwise from the embedded catalog.
func (r *recorder) stats(ctx context.Context, by catalog.By) (catalog.Stats, string, error) {
	name := CatalogEmbedded
	if r.mongo != nil {
		name = CatalogMongo
	}
	st, err := r.catalogs[name].Stats(ctx, by)
	return st, name, err
}

// close stops the pipeline (sessions must have ended), lets the catalogs
// catch up, and disconnects from MongoDB.
func (r *recorder) close(ctx context.Context) error {
	r.cancel()
	r.reconciles.Wait()
	var errs []error
	if r.pipeline != nil {
		errs = append(errs, r.pipeline.Close())
	}
	errs = append(errs, r.syncer.Close(ctx))
	if r.mongo != nil {
		errs = append(errs, r.mongo.Close(ctx))
	}
	return errors.Join(errs...)
}

// OfflineRecordingStats computes the recording statistics of a home whose
// node is stopped: it opens the node's store (a running node holds it
// locked), brings the catalog up to date with the sealed recordings on
// disk, and aggregates. With mongo_uri configured, MongoDB answers.
func OfflineRecordingStats(ctx context.Context, home Home, cfg Config, by catalog.By) (RecordingStats, error) {
	if _, err := os.Stat(home.RecordingsDir()); err != nil {
		return RecordingStats{}, fmt.Errorf("no recordings in %s: %w", home.Dir, err)
	}
	st, err := media.OpenFileStore(home.RecordingsDir())
	if err != nil {
		return RecordingStats{}, err
	}
	ds, err := openStore(home.DataDir(), p2p.Profile(cfg.Node.Profile))
	if err != nil {
		return RecordingStats{}, err
	}
	defer ds.Close()
	var c catalog.Catalog = catalog.NewBadger(ds)
	name := CatalogEmbedded
	if uri := cfg.Recording.MongoURI; uri != "" {
		m, err := catalog.OpenMongo(ctx, uri, "")
		if err != nil {
			return RecordingStats{}, fmt.Errorf("recording.mongo_uri: %w", err)
		}
		defer func() { _ = m.Close(context.WithoutCancel(ctx)) }()
		c, name = m, CatalogMongo
	}
	if _, err := catalog.Reconcile(ctx, st, c); err != nil {
		return RecordingStats{}, err
	}
	stats, err := c.Stats(ctx, by)
	if err != nil {
		return RecordingStats{}, err
	}
	return RecordingStats{Catalog: name, Stats: stats}, nil
}
