package node

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-datastore"
	badger4 "github.com/ipfs/go-ds-badger4"

	"github.com/lucidnet/lucid/p2p"
)

// openStore opens the node's Badger datastore. Writes are not synced one by
// one: most of them are DHT records, soft state that owners republish, and
// fsyncing each of them stalls a busy DHT server behind the disk. State the
// node acknowledges (sequence numbers now; sessions, proofs and payouts
// later) goes through putDurable, which syncs before returning, so kill -9
// loses nothing acknowledged.
func openStore(dir string, profile p2p.Profile) (datastore.Batching, error) {
	opts := badger4.DefaultOptions
	opts.GcInterval = 15 * time.Minute
	opts.Options = opts.Options.WithSyncWrites(false)
	if profile == p2p.ProfilePi {
		// Badger's defaults reserve about 1.5 GiB of memory and 1 GiB value
		// log files; a Pi node's records are small and few.
		opts.Options = opts.Options.
			WithMemTableSize(8 << 20).
			WithNumMemtables(2).
			WithNumLevelZeroTables(2).
			WithNumLevelZeroTablesStall(4).
			WithBaseTableSize(2 << 20).
			WithBlockCacheSize(8 << 20).
			WithIndexCacheSize(4 << 20).
			WithValueLogFileSize(64 << 20).
			WithNumCompactors(2).
			WithNumGoroutines(2)
	}
	ds, err := badger4.NewDatastore(dir, &opts)
	if err != nil {
		return nil, fmt.Errorf("open datastore %s: %w", dir, err)
	}
	return ds, nil
}

// putDurable writes a value and returns only once it is on disk.
func putDurable(ctx context.Context, store datastore.Datastore, key datastore.Key, value []byte) error {
	if err := store.Put(ctx, key, value); err != nil {
		return err
	}
	return store.Sync(ctx, key)
}

// Datastore key namespaces. The DHT owns /dht; the node's own state lives
// under /node.
const (
	dhtNamespace      = "/dht"
	sessionsNamespace = "/sessions"
	capSeqKey         = "/node/capacity/seq"
)
