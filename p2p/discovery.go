package p2p

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	mh "github.com/multiformats/go-multihash"

	"github.com/lucidnet/lucid/p2p/capacity"
)

// AllNodesKey is the provider key every node announces, so that a client can
// list the network without knowing any service name.
const AllNodesKey = "node"

// ServiceKey is the DHT provider key for hosts of one service ("rdp", "vnc",
// "ssh") or, for AllNodesKey, for every node.
func ServiceKey(service string) cid.Cid {
	h, err := mh.Sum([]byte("/lucid/provide/"+service), mh.SHA2_256, -1)
	if err != nil {
		// SHA2-256 is always registered; failing here is a broken build.
		panic(fmt.Sprintf("multihash sha2-256: %v", err))
	}
	return cid.NewCidV1(cid.Raw, h)
}

// PublishCapacity stores a sealed capacity record in the DHT.
func (n *Network) PublishCapacity(ctx context.Context, sealed []byte) error {
	if err := n.DHT.PutValue(ctx, capacity.Key(n.Host.ID()), sealed); err != nil {
		return fmt.Errorf("put capacity record: %w", err)
	}
	return nil
}

// Advertise announces this node as a provider of every node's key and of
// each service it offers.
func (n *Network) Advertise(ctx context.Context, services []string) error {
	keys := append([]string{AllNodesKey}, services...)
	var errs []error
	for _, k := range keys {
		if err := n.DHT.Provide(ctx, ServiceKey(k), true); err != nil {
			errs = append(errs, fmt.Errorf("provide %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// ErrNoRecord means the DHT holds no valid capacity record for a peer.
var ErrNoRecord = errors.New("no capacity record found")

// recordQuorum is how many copies of a record a lookup collects before it
// answers with the best: enough to outvote a stale holder, few enough that
// dead peers in the routing table do not hold the answer up.
const recordQuorum = 3

// GetCapacity fetches and verifies one peer's capacity record. The DHT has
// already run the validator on every copy it saw and kept the best one;
// opening it again binds the answer to the peer that was asked for.
func (n *Network) GetCapacity(ctx context.Context, id peer.ID) (*capacity.Record, error) {
	val, err := n.DHT.GetValue(ctx, capacity.Key(id), dht.Quorum(recordQuorum))
	if errors.Is(err, routing.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", id, ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("get capacity record of %s: %w", id, err)
	}
	rec, err := capacity.Open(val)
	if err != nil {
		return nil, fmt.Errorf("capacity record of %s: %w", id, err)
	}
	if rec.Peer != id {
		return nil, fmt.Errorf("capacity record of %s names %s: %w", id, rec.Peer, capacity.ErrKeyMismatch)
	}
	return rec, nil
}

// FindQuery selects hosts by what their capacity records offer.
type FindQuery struct {
	Service      string // empty: any node
	MinFreeSlots uint32
	Limit        int // 0: no limit
}

// FindResult is what a lookup found: the records that matched, and the
// providers whose records could not be fetched or did not verify.
type FindResult struct {
	Records []*capacity.Record
	Failed  map[peer.ID]error
}

// lookupWorkers bounds concurrent record fetches; each is a DHT walk.
const lookupWorkers = 8

// FindCapacity finds providers of the query's service key and fetches each
// one's capacity record. The records are sorted by peer ID so that two runs
// over the same network print the same table.
func (n *Network) FindCapacity(ctx context.Context, q FindQuery) (FindResult, error) {
	key := AllNodesKey
	if q.Service != "" {
		key = q.Service
	}
	providers := n.DHT.FindProvidersAsync(ctx, ServiceKey(key), 0)

	var (
		mu  sync.Mutex
		res = FindResult{Failed: map[peer.ID]error{}}
		wg  sync.WaitGroup
		sem = make(chan struct{}, lookupWorkers)
	)
	for ai := range providers {
		if len(ai.Addrs) > 0 {
			n.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstoreTTL)
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			rec, err := n.GetCapacity(ctx, ai.ID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed[ai.ID] = err
				return
			}
			if q.matches(rec) {
				res.Records = append(res.Records, rec)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil && len(res.Records) == 0 {
		return res, err
	}
	slices.SortFunc(res.Records, func(a, b *capacity.Record) int {
		return strings.Compare(string(a.Peer), string(b.Peer))
	})
	if q.Limit > 0 && len(res.Records) > q.Limit {
		res.Records = res.Records[:q.Limit]
	}
	return res, nil
}

func (q FindQuery) matches(r *capacity.Record) bool {
	if q.Service != "" && !r.Offers(q.Service) {
		return false
	}
	return r.SlotsFree >= q.MinFreeSlots
}
