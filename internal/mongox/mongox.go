// Package mongox holds the MongoDB idioms Lucid's stores share, written
// for what runs on both MongoDB 7 and FerretDB v1 (docs/testing.md).
package mongox

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// DefaultDatabase is used when the URI names no database.
const DefaultDatabase = "lucid"

// Connect opens a client for uri and checks the server answers. database
// "" means the URI's database, or DefaultDatabase.
func Connect(ctx context.Context, uri, database string) (*mongo.Client, *mongo.Database, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, nil, fmt.Errorf("mongo uri: %w", err)
	}
	if database == "" {
		database = cs.Database
	}
	if database == "" {
		database = DefaultDatabase
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetAppName("lucid"))
	if err != nil {
		return nil, nil, fmt.Errorf("mongo connect: %w", err)
	}
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, nil, fmt.Errorf("mongo server does not answer: %w", err)
	}
	return client, client.Database(database), nil
}

// OnlyDuplicates reports whether an unordered insert failed only on
// duplicate keys: for records that never change, "already there".
func OnlyDuplicates(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}

// Each decodes every document of a cursor into a T and hands it to fn.
func Each[T any](ctx context.Context, cur *mongo.Cursor, fn func(T) error) error {
	defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
	for cur.Next(ctx) {
		var v T
		if err := cur.Decode(&v); err != nil {
			return fmt.Errorf("mongo document: %w", err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("mongo cursor: %w", err)
	}
	return nil
}
