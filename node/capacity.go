package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/p2p/capacity"
)

const (
	// maxRecordAddrs is the capacity schema's bound on addresses.
	maxRecordAddrs = 16
	// readvertiseEvery renews provider records well inside their 48 h validity.
	readvertiseEvery = 12 * time.Hour
	publishTimeout   = time.Minute
	minRetryBackoff  = 250 * time.Millisecond
	maxRetryBackoff  = 30 * time.Second
)

// CapacityPublisher keeps this node's capacity record in the DHT: it
// republishes when the offer changes, at half the record's lifetime, and
// retries with backoff while the network is unreachable.
type CapacityPublisher struct {
	net      *p2p.Network
	store    datastore.Datastore
	key      crypto.PrivKey
	cfg      Config
	dataDir  string
	log      *slog.Logger
	now      func() time.Time
	lifetime time.Duration

	wake chan struct{}

	mu           sync.Mutex
	slotsFree    uint32
	last         *capacity.Record
	lastErr      error
	published    chan struct{} // closed after the first successful publication
	announced    bool          // published is closed
	advertised   []string
	advertisedAt time.Time
	// placedAmong is the routing table size at the last full publication.
	// Records and provider records live on the peers closest to their
	// keys; a node that published into a small network must publish again
	// once the network has grown, or its records sit where no lookup in
	// the bigger network goes.
	placedAmong int

	metrics *metrics
}

func newCapacityPublisher(nw *p2p.Network, store datastore.Datastore, key crypto.PrivKey, cfg Config, dataDir string, log *slog.Logger, now func() time.Time, m *metrics) *CapacityPublisher {
	return &CapacityPublisher{
		net:       nw,
		store:     store,
		key:       key,
		cfg:       cfg,
		dataDir:   dataDir,
		log:       log,
		now:       now,
		lifetime:  time.Duration(cfg.Capacity.RecordLifetime),
		wake:      make(chan struct{}, 1),
		slotsFree: cfg.Capacity.SessionSlots,
		published: make(chan struct{}),
		metrics:   m,
	}
}

// SetFreeSlots changes the advertised free session slots and republishes.
// The sessions subsystem calls it as sessions start and end.
func (p *CapacityPublisher) SetFreeSlots(free uint32) {
	free = min(free, p.cfg.Capacity.SessionSlots)
	p.mu.Lock()
	changed := p.slotsFree != free
	p.slotsFree = free
	p.mu.Unlock()
	if changed {
		p.kick()
	}
}

// Last is the record most recently published, or nil.
func (p *CapacityPublisher) Last() *capacity.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Published is closed once the first record has reached the DHT.
func (p *CapacityPublisher) Published() <-chan struct{} { return p.published }

func (p *CapacityPublisher) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *CapacityPublisher) run(ctx context.Context) {
	sub, err := p.net.Host.EventBus().Subscribe([]any{new(event.EvtLocalAddressesUpdated), new(event.EvtPeerIdentificationCompleted)})
	if err != nil {
		p.log.Error("capacity publisher: event subscription", "err", err)
		return
	}
	defer sub.Close()
	// The event bus blocks the host's connection handling while a
	// subscriber lags, so events are drained here, apart from the
	// publication, which can take as long as a DHT walk.
	go func() {
		for ev := range sub.Out() {
			// A newly identified peer (one the DHT can now use) matters
			// while we have not reached the DHT, or once the network has
			// grown enough that the peers closest to our keys have likely
			// changed; an address change always does, since the record
			// lists addresses.
			if _, isPeer := ev.(event.EvtPeerIdentificationCompleted); isPeer && p.lastError() == nil && !p.outgrown() {
				continue
			}
			p.kick()
		}
	}()

	timer := time.NewTimer(0)
	defer timer.Stop()
	backoff := minRetryBackoff
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-timer.C:
		}
		err := p.publish(ctx)
		next := p.lifetime / 2
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Debug("capacity publish failed; retrying", "err", err, "in", backoff.String())
			next, backoff = backoff, min(2*backoff, maxRetryBackoff)
		} else {
			backoff = minRetryBackoff
		}
		timer.Reset(next)
	}
}

// outgrown reports whether the routing table has doubled since the last
// publication (while it is below a full bucket's worth, any growth counts),
// which is when the closest peers to our keys may have changed.
func (p *CapacityPublisher) outgrown() bool {
	size := p.net.DHT.RoutingTable().Size()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.announced {
		return false
	}
	if p.placedAmong < p.net.DHT.BucketSize() {
		return size > p.placedAmong
	}
	return size >= 2*p.placedAmong
}

func (p *CapacityPublisher) lastError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil && p.lastErr == nil {
		return errors.New("not published yet")
	}
	return p.lastErr
}

// publish seals a fresh record and stores it in the DHT, then advertises
// the node under each service key when the services changed or the
// provider records are due for renewal. Published() closes after the first
// time both succeeded: only then can clients find the node.
func (p *CapacityPublisher) publish(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	rec, err := p.putRecord(ctx)
	if err == nil {
		err = p.advertise(ctx, rec.Services)
	}
	p.mu.Lock()
	p.lastErr = err
	if rec != nil {
		p.last = rec
	}
	if err == nil {
		p.placedAmong = p.net.DHT.RoutingTable().Size()
	}
	if err == nil && !p.announced {
		p.announced = true
		close(p.published)
	}
	p.mu.Unlock()
	if err != nil {
		p.metrics.capacityPublishes.WithLabelValues("error").Inc()
		return err
	}
	p.metrics.capacityPublishes.WithLabelValues("ok").Inc()
	p.metrics.capacitySeq.Set(float64(rec.Seq))
	p.metrics.capacityExpiry.Set(float64(rec.Expires.Unix()))
	p.log.Debug("capacity record published", "seq", rec.Seq, "slots_free", rec.SlotsFree, "expires", rec.Expires)
	return nil
}

// putRecord builds, seals and stores a record; it returns the record only
// once the DHT has it.
func (p *CapacityPublisher) putRecord(ctx context.Context) (*capacity.Record, error) {
	rec, err := p.build(ctx)
	if err != nil {
		return nil, err
	}
	sealed, err := rec.Seal(p.key)
	if err != nil {
		return nil, err
	}
	if err := p.net.PublishCapacity(ctx, sealed); err != nil {
		return nil, err
	}
	return rec, nil
}

func (p *CapacityPublisher) advertise(ctx context.Context, services []string) error {
	outgrown := p.outgrown()
	p.mu.Lock()
	due := !slices.Equal(p.advertised, services) || p.now().Sub(p.advertisedAt) > readvertiseEvery || outgrown
	p.mu.Unlock()
	if !due {
		return nil
	}
	if err := p.net.Advertise(ctx, services); err != nil {
		return fmt.Errorf("advertise: %w", err)
	}
	p.mu.Lock()
	p.advertised, p.advertisedAt = services, p.now()
	p.mu.Unlock()
	return nil
}

func (p *CapacityPublisher) build(ctx context.Context) (*capacity.Record, error) {
	seq, err := p.nextSeq(ctx)
	if err != nil {
		return nil, err
	}
	now := p.now().Truncate(time.Second)
	services := slices.Clone(p.cfg.Capacity.Services)
	slices.Sort(services)
	p.mu.Lock()
	free := p.slotsFree
	p.mu.Unlock()
	return &capacity.Record{
		Peer:          p.net.Host.ID(),
		Addrs:         recordAddrs(p.net.Host.Addrs()),
		Software:      Software(),
		Arch:          Arch(),
		CPUCores:      uint32(runtime.NumCPU()),
		MemoryBytes:   totalMemory(),
		DiskFreeBytes: freeDisk(p.dataDir),
		SlotsTotal:    p.cfg.Capacity.SessionSlots,
		SlotsFree:     free,
		BandwidthBps:  p.cfg.Capacity.BandwidthMbps * 1_000_000,
		Services:      services,
		Region:        p.cfg.Node.Region,
		Seq:           seq,
		IssuedAt:      now,
		Expires:       now.Add(p.lifetime),
	}, nil
}

// nextSeq returns a sequence number above every one used before (see
// capacity.NextSeq) and stores it before it is used, so a crash between
// storing and publishing can skip a number but never reuse one.
func (p *CapacityPublisher) nextSeq(ctx context.Context) (uint64, error) {
	key := datastore.NewKey(capSeqKey)
	var last uint64
	switch b, err := p.store.Get(ctx, key); {
	case errors.Is(err, datastore.ErrNotFound):
	case err != nil:
		return 0, fmt.Errorf("read capacity sequence: %w", err)
	case len(b) == 8:
		last = binary.BigEndian.Uint64(b)
	default:
		return 0, fmt.Errorf("capacity sequence in datastore is %d bytes, want 8", len(b))
	}
	seq := capacity.NextSeq(last, p.now())
	if err := putDurable(ctx, p.store, key, binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		return 0, fmt.Errorf("store capacity sequence: %w", err)
	}
	return seq, nil
}

// recordAddrs keeps the addresses a record can carry, loopback last so that
// a LAN or public address is tried first by clients on other machines.
func recordAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	out := slices.Clone(addrs)
	slices.SortStableFunc(out, func(a, b ma.Multiaddr) int {
		return boolInt(isLoopback(a)) - boolInt(isLoopback(b))
	})
	if len(out) > maxRecordAddrs {
		out = out[:maxRecordAddrs]
	}
	return out
}

func isLoopback(a ma.Multiaddr) bool {
	ip, err := manet.ToIP(a)
	return err == nil && ip.IsLoopback()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
