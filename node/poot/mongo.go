package poot

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/internal/mongox"
)

// ProofDB copies accepted proofs into MongoDB's task_proofs collection
// (the original design's: shard key {slot: 1, nodeId: 1}), where tallies
// can be aggregated. Badger stays the node's record; writes here are
// queued and retried, never waited for.
type ProofDB struct {
	client *mongo.Client
	coll   *mongo.Collection
	log    *slog.Logger

	mu    sync.Mutex
	queue []any
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

type proofDoc struct {
	ID     string    `bson:"_id"` // the proof's ID, hex
	Slot   int64     `bson:"slot"`
	NodeID string    `bson:"nodeId"`
	Type   string    `bson:"type"`
	Entity string    `bson:"entity"`
	Raw    []byte    `bson:"raw"` // the signed proof
	TS     time.Time `bson:"ts"`  // when this node accepted it
}

// OpenProofDB connects and creates the collection's indexes.
func OpenProofDB(ctx context.Context, uri string, log *slog.Logger) (*ProofDB, error) {
	client, db, err := mongox.Connect(ctx, uri, "")
	if err != nil {
		return nil, fmt.Errorf("poot: %w", err)
	}
	coll := db.Collection("task_proofs")
	_, err = coll.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "slot", Value: 1}, {Key: "nodeId", Value: 1}, {Key: "type", Value: 1}}, Options: options.Index().SetUnique(true).SetName("slot_nodeId_type")},
		{Keys: bson.D{{Key: "entity", Value: 1}}, Options: options.Index().SetName("entity")},
	})
	if err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("poot: task_proofs indexes: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &ProofDB{client: client, coll: coll, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d, nil
}

// maxProofQueue bounds the backlog while the database is away; older
// copies are dropped (Badger keeps them).
const maxProofQueue = 100_000

func (d *ProofDB) add(p *consensus.Proof, raw []byte, at time.Time) {
	id := p.ID()
	doc := proofDoc{ID: hex.EncodeToString(id[:]), Slot: int64(p.Slot), NodeID: p.Node.String(), Type: p.Type.String(),
		Entity: p.Entity().String(), Raw: raw, TS: at.UTC().Truncate(time.Millisecond)}
	d.mu.Lock()
	d.queue = append(d.queue, doc)
	if over := len(d.queue) - maxProofQueue; over > 0 {
		d.queue = d.queue[over:]
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *ProofDB) run() {
	defer close(d.done)
	retry := time.Duration(0)
	for {
		d.mu.Lock()
		batch := d.queue
		d.queue = nil
		d.mu.Unlock()
		if len(batch) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_, err := d.coll.InsertMany(ctx, batch, options.InsertMany().SetOrdered(false))
			cancel()
			if err != nil && !mongox.OnlyDuplicates(err) {
				d.mu.Lock()
				d.queue = append(batch, d.queue...)
				d.mu.Unlock()
				retry = min(max(2*retry, 100*time.Millisecond), 30*time.Second)
				d.log.Warn("task_proofs write failed; will retry", "proofs", len(batch), "retry_in", retry, "err", err)
				select {
				case <-time.After(retry):
				case <-d.stop:
					return
				}
				continue
			}
			retry = 0
			continue
		}
		select {
		case <-d.wake:
		case <-d.stop:
			return
		}
	}
}

// Close writes what is queued (giving up when ctx ends) and disconnects.
func (d *ProofDB) Close(ctx context.Context) error {
	for {
		d.mu.Lock()
		empty := len(d.queue) == 0
		d.mu.Unlock()
		if empty || ctx.Err() != nil {
			break
		}
		select {
		case d.wake <- struct{}{}:
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(d.stop)
	<-d.done
	return d.client.Disconnect(ctx)
}

// Counts is the number of proofs per node and type from slot from on, as
// the database aggregates them: one $group with one $sum, as FerretDB
// computes correctly.
func (d *ProofDB) Counts(ctx context.Context, from consensus.Slot) (map[string]map[string]int64, error) {
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "slot", Value: bson.D{{Key: "$gte", Value: int64(from)}}}}}},
		{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: bson.D{{Key: "n", Value: "$nodeId"}, {Key: "t", Value: "$type"}}},
			{Key: "c", Value: bson.D{{Key: "$sum", Value: 1}}},
		}}},
	}
	cur, err := d.coll.Aggregate(ctx, pipeline)
	if err != nil {
		return nil, fmt.Errorf("poot: task_proofs counts: %w", err)
	}
	out := map[string]map[string]int64{}
	err = mongox.Each(ctx, cur, func(r struct {
		ID struct {
			Node string `bson:"n"`
			Type string `bson:"t"`
		} `bson:"_id"`
		Count int64 `bson:"c"`
	}) error {
		if out[r.ID.Node] == nil {
			out[r.ID.Node] = map[string]int64{}
		}
		out[r.ID.Node][r.ID.Type] += r.Count
		return nil
	})
	return out, err
}
