package p2p

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-datastore"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"

	"github.com/lucidnet/lucid/p2p/capacity"
)

// DHTPrefix keeps Lucid's Kademlia DHT apart from the public IPFS DHT: peers
// speak /lucid/kad/1.0.0 only, so they neither join nor answer Amino.
const DHTPrefix protocol.ID = "/lucid"

// DHTMode chooses whether the node serves DHT queries.
type DHTMode int

const (
	// DHTServer answers queries and stores records: every node of the network.
	DHTServer DHTMode = iota
	// DHTClient only queries: short-lived CLI clients that must not be put in
	// other peers' routing tables.
	DHTClient
)

// NetworkConfig wires the DHT and GossipSub onto an existing host.
type NetworkConfig struct {
	Mode      DHTMode
	Bootstrap []peer.AddrInfo
	// Datastore holds DHT records and provider records. It should be
	// persistent for servers so records survive a restart.
	Datastore datastore.Batching
	// Now is the validator's clock; nil means time.Now.
	Now func() time.Time
}

// Network is a host joined to the Lucid DHT and GossipSub mesh.
type Network struct {
	Host   host.Host
	DHT    *dht.IpfsDHT
	PubSub *pubsub.PubSub

	bootstrap []peer.AddrInfo
	cancel    context.CancelFunc
	scores    *scores
}

// JoinNetwork starts the DHT and GossipSub on h. It does not wait for the
// bootstrap peers; call Bootstrap for that.
func JoinNetwork(h host.Host, cfg NetworkConfig) (*Network, error) {
	if cfg.Datastore == nil {
		return nil, errors.New("network needs a datastore")
	}
	mode := dht.ModeServer
	if cfg.Mode == DHTClient {
		mode = dht.ModeClient
	}
	kad, err := dht.New(h,
		dht.ProtocolPrefix(DHTPrefix),
		dht.Mode(mode),
		dht.Datastore(cfg.Datastore),
		dht.Validator(record.NamespacedValidator{capacity.Namespace: capacity.Validator{Now: cfg.Now}}),
		dht.MaxRecordAge(capacity.MaxLifetime),
		dht.BootstrapPeers(cfg.Bootstrap...),
	)
	if err != nil {
		return nil, fmt.Errorf("kademlia dht: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc := &scores{}
	ps, err := pubsub.NewGossipSub(ctx, h, gossipOptions(sc)...)
	if err != nil {
		cancel()
		_ = kad.Close()
		return nil, fmt.Errorf("gossipsub: %w", err)
	}
	return &Network{Host: h, DHT: kad, PubSub: ps, bootstrap: cfg.Bootstrap, cancel: cancel, scores: sc}, nil
}

// Bootstrap connects to the bootstrap peers and fills the routing table. It
// succeeds when at least one bootstrap peer answered, or at once when there
// are none (the first node of a network).
func (n *Network) Bootstrap(ctx context.Context) error {
	if len(n.bootstrap) == 0 {
		return nil
	}
	var errs []error
	connected := 0
	for _, ai := range n.bootstrap {
		if ai.ID == n.Host.ID() {
			continue
		}
		// The caller retries on its own schedule; the swarm's backoff from
		// the previous failure would otherwise refuse the attempt unseen.
		if sw, ok := n.Host.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(ai.ID)
		}
		if err := n.Host.Connect(ctx, ai); err != nil {
			errs = append(errs, fmt.Errorf("bootstrap %s: %w", ai.ID, err))
			continue
		}
		connected++
	}
	if connected == 0 && len(errs) > 0 {
		return errors.Join(errs...)
	}
	// A connected peer enters the routing table only once identify has
	// shown that it speaks the DHT protocol; wait for that before asking
	// the table to refresh, which shortens the time to the first useful
	// query from minutes to a round trip.
	for n.DHT.RoutingTable().Size() == 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bootstrap peers connected but none joined the routing table: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case err := <-n.DHT.RefreshRoutingTable():
		// A failed refresh still leaves the bootstrap peers in the table;
		// the DHT retries on its own schedule.
		_ = err
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Close stops GossipSub, the DHT and the host, in that order.
func (n *Network) Close() error {
	n.cancel()
	return errors.Join(n.DHT.Close(), n.Host.Close())
}

func gossipOptions(sc *scores) []pubsub.Option {
	return []pubsub.Option{
		pubsub.WithPeerScore(peerScoreParams(), &scoreThresholds),
		pubsub.WithPeerScoreInspect(pubsub.ExtendedPeerScoreInspectFn(sc.inspect), scoreInspectInterval),
		// Messages must carry the author's signature and sequence number: the
		// topics Lucid runs (proofs, blocks, metadata) attribute every message.
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		// Without flood publishing a message published before the first
		// heartbeat grafts a mesh is silently dropped (notes/deps.md).
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerExchange(true),
		// One validation worker: messages are validated in arrival order,
		// so topics whose validators merge state (session metadata) see
		// an author's messages in the order it published them. Lucid's
		// messages are small and validation is a signature check, so one
		// worker keeps up.
		pubsub.WithValidateWorkers(1),
		// Blocks are the largest messages: max_block_bytes (at most 8 MiB
		// by governance) plus their proofs. Every topic's validator bounds
		// its own messages far below this.
		pubsub.WithMaxMessageSize(MaxGossipMessage),
	}
}

// MaxGossipMessage bounds any GossipSub message.
const MaxGossipMessage = 10 << 20
