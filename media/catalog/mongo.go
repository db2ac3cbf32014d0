package catalog

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/lucidnet/lucid/internal/mongox"
	"github.com/lucidnet/lucid/sessions"
)

// DefaultMongoDatabase is used when the URI names no database.
const DefaultMongoDatabase = mongox.DefaultDatabase

// Mongo is the catalog in MongoDB: collections sessions and chunks, with
// a unique index on chunks {session_id: 1, idx: 1} (the original design's
// shard key).
//
// Everything here runs unchanged on MongoDB 7 and on FerretDB v1, whose
// aggregation computes only the first accumulator of a $group correctly
// and has no expression operators: each pipeline is $group with a single
// $sum, and Go combines the partial sums. No transactions: chunk inserts
// are idempotent through their deterministic _id and the unique index.
type Mongo struct {
	client   *mongo.Client
	db       *mongo.Database
	sessions *mongo.Collection
	chunks   *mongo.Collection
}

var _ Catalog = (*Mongo)(nil)

// OpenMongo connects, checks the server answers, and creates the indexes.
// database "" means the URI's database, or DefaultMongoDatabase.
func OpenMongo(ctx context.Context, uri, database string) (*Mongo, error) {
	client, db, err := mongox.Connect(ctx, uri, database)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	m := &Mongo{client: client, db: db}
	m.sessions, m.chunks = m.db.Collection("sessions"), m.db.Collection("chunks")
	if err := m.setup(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	return m, nil
}

func (m *Mongo) setup(ctx context.Context) error {
	_, err := m.chunks.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "session_id", Value: 1}, {Key: "idx", Value: 1}}, Options: options.Index().SetUnique(true).SetName("session_id_idx")},
		{Keys: bson.D{{Key: "owner_peer", Value: 1}}, Options: options.Index().SetName("owner_peer")},
		{Keys: bson.D{{Key: "day", Value: 1}}, Options: options.Index().SetName("day")},
	})
	if err != nil {
		return fmt.Errorf("catalog: mongo chunks indexes: %w", err)
	}
	_, err = m.sessions.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{Keys: bson.D{{Key: "owner_peer", Value: 1}}, Options: options.Index().SetName("owner_peer")},
		{Keys: bson.D{{Key: "started_at", Value: 1}}, Options: options.Index().SetName("started_at")},
		{Keys: bson.D{{Key: "status", Value: 1}}, Options: options.Index().SetName("status")},
	})
	if err != nil {
		return fmt.Errorf("catalog: mongo sessions indexes: %w", err)
	}
	return nil
}

// Database is the database the catalog lives in.
func (m *Mongo) Database() string { return m.db.Name() }

// Drop deletes the catalog's database: for tests and benchmarks.
func (m *Mongo) Drop(ctx context.Context) error { return m.db.Drop(ctx) }

// Close disconnects.
func (m *Mongo) Close(ctx context.Context) error { return m.client.Disconnect(ctx) }

func (m *Mongo) PutSession(ctx context.Context, s Session) error {
	d := s.doc()
	_, err := m.sessions.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("catalog: mongo put session %s: %w", s.ID, err)
	}
	return nil
}

// PutChunks inserts unordered and ignores duplicate-key errors only: a
// chunk's record never changes, so one already present is the same one.
func (m *Mongo) PutChunks(ctx context.Context, chunks []Chunk) error {
	if len(chunks) == 0 {
		return nil
	}
	docs := make([]any, len(chunks))
	for i, c := range chunks {
		docs[i] = c.doc()
	}
	_, err := m.chunks.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil || mongox.OnlyDuplicates(err) {
		return nil
	}
	return fmt.Errorf("catalog: mongo put %d chunks: %w", len(chunks), err)
}

func (m *Mongo) Session(ctx context.Context, id sessions.ID) (Session, error) {
	var d sessionDoc
	err := m.sessions.FindOne(ctx, bson.D{{Key: "_id", Value: id.String()}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Session{}, fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("catalog: mongo session %s: %w", id, err)
	}
	return d.value()
}

func (m *Mongo) Sessions(ctx context.Context) ([]Session, error) {
	cur, err := m.sessions.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "started_at", Value: -1}}))
	if err != nil {
		return nil, fmt.Errorf("catalog: mongo sessions: %w", err)
	}
	var out []Session
	err = mongox.Each(ctx, cur, func(d sessionDoc) error {
		s, err := d.value()
		out = append(out, s)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Ties on started_at come back in whatever order the server likes.
	sortSessions(out)
	return out, nil
}

func (m *Mongo) Chunks(ctx context.Context, id sessions.ID) ([]Chunk, error) {
	cur, err := m.chunks.Find(ctx, bson.D{{Key: "session_id", Value: id.String()}},
		options.Find().SetSort(bson.D{{Key: "idx", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("catalog: mongo chunks of %s: %w", id, err)
	}
	var out []Chunk
	err = mongox.Each(ctx, cur, func(d chunkDoc) error {
		c, err := d.value()
		out = append(out, c)
		return err
	})
	return out, err
}

// statsField is the chunk field each grouping keys on.
var statsField = map[By]string{ByDay: "$day", BySession: "$session_id", ByPeer: "$owner_peer"}

// Stats runs three pipelines, one per figure, because a $group with more
// than one accumulator gives zeros on FerretDB. Each groups by (key,
// session) so sessions per key can be counted in Go: FerretDB has no
// $addToSet.
func (m *Mongo) Stats(ctx context.Context, by By) (Stats, error) {
	by, err := by.check()
	if err != nil {
		return Stats{}, err
	}
	id := bson.D{{Key: "s", Value: "$session_id"}}
	if f, ok := statsField[by]; ok {
		id = append(id, bson.E{Key: "k", Value: f})
	}
	type partial struct {
		ID struct {
			Session string `bson:"s"`
			Key     string `bson:"k"`
		} `bson:"_id"`
		Sum int64 `bson:"v"`
	}
	t := newTally()
	for _, figure := range []struct {
		sum any
		add func(v uint64) (chunks, sealed, plaintext uint64)
	}{
		{1, func(v uint64) (uint64, uint64, uint64) { return v, 0, 0 }},
		{"$size_bytes", func(v uint64) (uint64, uint64, uint64) { return 0, v, 0 }},
		{"$plaintext_bytes", func(v uint64) (uint64, uint64, uint64) { return 0, 0, v }},
	} {
		pipeline := mongo.Pipeline{{{Key: "$group", Value: bson.D{
			{Key: "_id", Value: id},
			{Key: "v", Value: bson.D{{Key: "$sum", Value: figure.sum}}},
		}}}}
		cur, err := m.chunks.Aggregate(ctx, pipeline)
		if err != nil {
			return Stats{}, fmt.Errorf("catalog: mongo stats by %s: %w", by, err)
		}
		err = mongox.Each(ctx, cur, func(p partial) error {
			if p.ID.Session == "" {
				return errors.New("catalog: stats group without a session")
			}
			v, err := count("stats sum", p.Sum)
			if err != nil {
				return err
			}
			key := p.ID.Key
			switch by {
			case ByTotal:
				key = TotalKey
			case BySession:
				key = p.ID.Session
			}
			chunks, sealed, plaintext := figure.add(v)
			t.add(key, p.ID.Session, chunks, sealed, plaintext)
			return nil
		})
		if err != nil {
			return Stats{}, err
		}
	}
	return t.stats(by), nil
}
