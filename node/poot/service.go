// Package poot is the node's shell around package consensus: it gossips
// signed work proofs on /lucid/poot/1 behind a validator, keeps them in
// the node's store, tallies credits, publishes this node's uptime beacon
// every slot, and computes the leader schedule. See docs/poot.md.
package poot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/sessions"
)

// Topic carries work proofs.
const Topic = "/lucid/poot/1"

// Config sets up a Service.
type Config struct {
	Network  *p2p.Network
	Key      crypto.PrivKey
	Store    datastore.Batching
	Params   consensus.Params
	Genesis  [32]byte // the chain's genesis seed
	Pool     []byte   // optional pool this node publishes under
	Log      *slog.Logger
	Registry prometheus.Registerer
	Now      func() time.Time
	// Beacons publishes this node's uptime beacon every slot.
	Beacons bool
	// PeerRate bounds the proofs one forwarding peer may send per second
	// (burst: 10 s worth); beyond it they are ignored. 0: 50.
	PeerRate float64
	// DB, if set, also receives every accepted proof (MongoDB
	// task_proofs). The Service does not close it.
	DB *ProofDB
	// Accepted, if set, is called with every proof from the network the
	// validator accepted (measurements, tests). It must not block.
	Accepted func(p *consensus.Proof)
	// Chain, if set, is the data chain's view that storage and validation
	// proofs are checked against (seeds, storage claims, executed
	// blocks); without it they are refused.
	Chain func() consensus.VerifyContext
	// Proofs, if set, receives every proof admitted (this node's own and
	// the network's) with its encoding: the chain includes them in
	// blocks. It must not block.
	Proofs func(p *consensus.Proof, raw []byte)
}

// Service runs proof gossip, the tally and the schedule of one node.
type Service struct {
	cfg    Config
	self   peer.ID
	entity consensus.EntityID
	log    *slog.Logger
	met    *metrics

	mu       sync.Mutex
	tally    *consensus.Tally
	dedup    *consensus.Dedup
	chain    *consensus.Chain
	limits   map[peer.ID]*bucket
	history  map[consensus.Slot]consensus.SlotLeaders // final leaders computed, for cooldown
	histNext consensus.Slot                           // the first slot not in history
	sent     map[consensus.Slot]map[consensus.ProofType]int
	seen     map[consensus.Slot]map[consensus.ProofType]int // own proofs that came back accepted
	// receipts: the latest metering receipt per session, by slot, for
	// this node's relay proof of that slot.
	receipts map[consensus.Slot]map[sessions.ID]consensus.MeteringReceipt

	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New validates the params, loads stored proofs into the tally, joins the
// topic and starts the beacon loop.
func New(cfg Config) (*Service, error) {
	if cfg.Network == nil || cfg.Key == nil || cfg.Store == nil {
		return nil, errors.New("poot: service needs a network, a key and a store")
	}
	if err := cfg.Params.Validate(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.PeerRate <= 0 {
		cfg.PeerRate = 50
	}
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	tally, err := consensus.NewTally(cfg.Params)
	if err != nil {
		return nil, err
	}
	now := cfg.Params.SlotAt(cfg.Now())
	s := &Service{
		cfg: cfg, self: self, log: cfg.Log.With("component", "poot"),
		tally: tally, dedup: consensus.NewDedup(cfg.Params, now, 1<<20), chain: consensus.NewChain(cfg.Params, cfg.Genesis),
		limits: map[peer.ID]*bucket{}, history: map[consensus.Slot]consensus.SlotLeaders{},
		histNext: consensus.Slot(max(int64(now)-int64(cfg.Params.CooldownSlots), 0)),
		sent:     map[consensus.Slot]map[consensus.ProofType]int{}, seen: map[consensus.Slot]map[consensus.ProofType]int{},
		receipts: map[consensus.Slot]map[sessions.ID]consensus.MeteringReceipt{},
	}
	s.entity = consensus.NodeEntity(self)
	if len(cfg.Pool) > 0 {
		s.entity = consensus.PoolEntity(cfg.Pool)
	}
	if s.met, err = newMetrics(cfg.Registry); err != nil {
		return nil, err
	}
	s.chain.Complete = now
	if err := s.load(context.Background(), now); err != nil {
		return nil, err
	}
	ps := cfg.Network.PubSub
	if err := ps.RegisterTopicValidator(Topic, s.validate, pubsub.WithValidatorInline(true)); err != nil {
		return nil, err
	}
	if s.topic, err = ps.Join(Topic); err == nil {
		if err = s.topic.SetScoreParams(p2p.TopicScoreParams()); err == nil {
			s.sub, err = s.topic.Subscribe()
		}
	}
	if err != nil {
		if s.topic != nil {
			_ = s.topic.Close()
		}
		_ = ps.UnregisterTopicValidator(Topic)
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Go(func() { s.drain(ctx) })
	s.wg.Go(func() { s.slotLoop(ctx) })
	return s, nil
}

// Close stops the loops and leaves the topic.
func (s *Service) Close() error {
	s.cancel()
	s.sub.Cancel()
	s.wg.Wait()
	return errors.Join(s.cfg.Network.PubSub.UnregisterTopicValidator(Topic), s.topic.Close())
}

// Params are the PoOT parameters the service runs with.
func (s *Service) Params() consensus.Params { return s.cfg.Params }

// Entity is what this node is ranked as: its pool, or itself.
func (s *Service) Entity() consensus.EntityID { return s.entity }

// Publish signs nothing itself: it gossips a proof this node signed,
// after taking it into its own tally and store.
func (s *Service) Publish(ctx context.Context, p *consensus.Proof) error {
	b, err := p.Encode()
	if err != nil {
		return err
	}
	if err := s.admit(ctx, p, b); err != nil {
		return err
	}
	s.mu.Lock()
	bump(s.sent, p.Slot, p.Type)
	s.mu.Unlock()
	if err := s.topic.Publish(ctx, b); err != nil {
		return fmt.Errorf("poot: publish: %w", err)
	}
	s.met.sent.WithLabelValues(p.Type.String()).Inc()
	return nil
}

// verifyContext is what proofs are checked against: the data chain's
// seeds, storage claims and executed blocks when the node follows a chain
// (Config.Chain); otherwise storage and validation proofs cannot be
// checked and are refused.
func (s *Service) verifyContext() consensus.VerifyContext {
	ctx := consensus.VerifyContext{
		Seeds:  s.chain,
		Claims: func(peer.ID, consensus.Slot) (*consensus.ClaimSet, bool) { return nil, false },
		Block:  func([32]byte) (consensus.BlockInfo, bool) { return consensus.BlockInfo{}, false },
	}
	// Without a chain, pool membership is not known: only this node's
	// own pool claim is.
	ctx.PoolMember = func(pool []byte, node peer.ID) bool { return node == s.self && slices.Equal(pool, s.cfg.Pool) }
	if s.cfg.Chain != nil {
		c := s.cfg.Chain()
		ctx.Seeds, ctx.Claims, ctx.Block, ctx.PoolMember = c.Seeds, c.Claims, c.Block, c.PoolMember
	}
	return ctx
}

// admit runs every check a proof from the network gets, then tallies and
// stores it. Called with the lock not held.
func (s *Service) admit(ctx context.Context, p *consensus.Proof, raw []byte) error {
	s.mu.Lock()
	now := s.cfg.Params.SlotAt(s.cfg.Now())
	s.advance(now)
	err := consensus.VerifyProof(p, s.cfg.Params, now, s.verifyContext())
	if err == nil {
		err = s.dedup.Seen(p)
	}
	if err == nil {
		err = s.tally.Add(p)
	}
	if err == nil && p.Node == s.self {
		bump(s.seen, p.Slot, p.Type)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if s.cfg.DB != nil {
		s.cfg.DB.add(p, raw, s.cfg.Now())
	}
	if s.cfg.Proofs != nil {
		s.cfg.Proofs(p, raw)
	}
	return s.store(ctx, p, raw)
}

func bump(m map[consensus.Slot]map[consensus.ProofType]int, slot consensus.Slot, t consensus.ProofType) {
	if m[slot] == nil {
		m[slot] = map[consensus.ProofType]int{}
	}
	m[slot][t]++
}

// advance moves the dedup window and the pre-chain seed horizon to now.
func (s *Service) advance(now consensus.Slot) {
	s.dedup.Advance(now)
	// No blocks yet: every ended slot is complete (had no block).
	if now > s.chain.Complete {
		s.chain.Complete = now
	}
}

// validate is the gossip validator: a proof that fails any check is
// rejected (GossipSub lowers the sender's score), a duplicate or one over
// the forwarding peer's rate is ignored.
func (s *Service) validate(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == s.cfg.Network.Host.ID() {
		return pubsub.ValidationAccept
	}
	if uint64(len(msg.Data)) > s.cfg.Params.MaxProofSize {
		s.met.rejected.WithLabelValues("oversize").Inc()
		return pubsub.ValidationReject
	}
	if !s.allow(msg.ReceivedFrom) {
		s.met.rejected.WithLabelValues("rate_limited").Inc()
		return pubsub.ValidationIgnore
	}
	p, err := consensus.DecodeProof(msg.Data)
	if err == nil {
		err = s.admit(ctx, p, msg.Data)
	}
	if err != nil {
		s.met.rejected.WithLabelValues(Reason(err)).Inc()
		if timing(err) {
			return pubsub.ValidationIgnore
		}
		s.log.Debug("rejected a proof", "from", from, "err", err)
		return pubsub.ValidationReject
	}
	s.met.accepted.WithLabelValues(p.Type.String()).Inc()
	if s.cfg.Accepted != nil {
		s.cfg.Accepted(p)
	}
	return pubsub.ValidationAccept
}

// timing reports refusals an honest peer can cause by forwarding a proof
// a moment too late, or twice: they are ignored, not held against it.
func timing(err error) bool {
	return errors.Is(err, consensus.ErrDuplicate) || errors.Is(err, consensus.ErrSlotOutOfWindow) ||
		errors.Is(err, consensus.ErrReplay) || errors.Is(err, consensus.ErrDedupFull) || errors.Is(err, consensus.ErrUnknownSeed) ||
		// A validation proof may outrun its block to this node.
		errors.Is(err, consensus.ErrUnknownBlock)
}

// drain keeps the subscription read; the validator did the work.
func (s *Service) drain(ctx context.Context) {
	for {
		if _, err := s.sub.Next(ctx); err != nil {
			return
		}
	}
}

// slotLoop publishes the uptime beacon at the start of every slot (the
// first one at the next slot boundary, once the node has had time to
// join the mesh), the relay proof of the previous slot half a slot later
// (so receipts clients signed at its very end have arrived), and prunes
// what the window no longer needs.
func (s *Service) slotLoop(ctx context.Context) {
	p := s.cfg.Params
	sleepUntil := func(t time.Time) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(t)):
			return true
		}
	}
	slot := p.SlotAt(s.cfg.Now())
	for {
		slot++
		if !sleepUntil(p.SlotStart(slot)) {
			return
		}
		if s.cfg.Beacons {
			if beacon, err := consensus.NewUptime(s.cfg.Key, s.cfg.Pool, slot); err == nil {
				if err := s.Publish(ctx, beacon); err != nil && !errors.Is(err, consensus.ErrDuplicate) && ctx.Err() == nil {
					s.log.Warn("uptime beacon not published", "slot", slot, "err", err)
				}
			}
		}
		if !sleepUntil(p.SlotStart(slot).Add(p.SlotLength / 2)) {
			return
		}
		s.publishRelay(ctx, slot-1)
		s.prune(slot)
		if slot%pruneStoreEvery == 0 {
			keep := consensus.Slot(max(int64(slot)-int64(p.WindowSlots+p.Lag()+2), 0))
			if n, err := s.deleteBefore(ctx, keep); err != nil && ctx.Err() == nil {
				s.log.Warn("old proofs not deleted", "err", err)
			} else if n > 0 {
				s.log.Debug("old proofs deleted", "proofs", n)
			}
		}
	}
}

// pruneStoreEvery is how often, in slots, proofs older than the window
// are deleted from the store.
const pruneStoreEvery = 30

// AddReceipt keeps a client's metering receipt for this node's relay
// proof of the receipt's slot: the latest per session. It checks what the
// proof's verifiers will check, so a bad receipt is refused here.
func (s *Service) AddReceipt(r consensus.MeteringReceipt) error {
	if r.Host != s.self {
		return fmt.Errorf("poot: %w: receipt names host %s", consensus.ErrReceiptHost, r.Host)
	}
	if r.Client == s.self {
		return consensus.ErrSelfDealing
	}
	if err := r.Verify(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Params.SlotAt(s.cfg.Now())
	if r.Slot+consensus.Slot(s.cfg.Params.AcceptWindow) < now || r.Slot > now+1 {
		return fmt.Errorf("poot: %w: receipt for slot %d at slot %d", consensus.ErrSlotOutOfWindow, r.Slot, now)
	}
	bySession := s.receipts[r.Slot]
	if bySession == nil {
		bySession = map[sessions.ID]consensus.MeteringReceipt{}
		s.receipts[r.Slot] = bySession
	}
	if old, ok := bySession[r.Session]; !ok || r.Bytes >= old.Bytes {
		bySession[r.Session] = r
	}
	return nil
}

// publishRelay publishes this node's relay proof for a slot that just
// ended, with the latest receipt of each session (the largest ones when
// there are more than a proof holds).
func (s *Service) publishRelay(ctx context.Context, slot consensus.Slot) {
	s.mu.Lock()
	bySession := s.receipts[slot]
	delete(s.receipts, slot)
	s.mu.Unlock()
	if len(bySession) == 0 {
		return
	}
	rs := make([]consensus.MeteringReceipt, 0, len(bySession))
	for _, r := range bySession {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b consensus.MeteringReceipt) int {
		switch {
		case a.Bytes > b.Bytes:
			return -1
		case a.Bytes < b.Bytes:
			return 1
		}
		return slices.Compare(a.Session[:], b.Session[:])
	})
	rs = rs[:min(len(rs), int(s.cfg.Params.MaxReceiptsPerProof))]
	p, err := consensus.NewRelay(s.cfg.Key, s.cfg.Pool, slot, rs)
	if err == nil {
		err = s.Publish(ctx, p)
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("relay proof not published", "slot", slot, "receipts", len(rs), "err", err)
	}
}

func (s *Service) prune(now consensus.Slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := consensus.Slot(max(int64(now)-int64(s.cfg.Params.WindowSlots+s.cfg.Params.Lag()+2), 0))
	s.tally.Prune(keep)
	for sl := range s.receipts {
		if sl+consensus.Slot(s.cfg.Params.AcceptWindow) < now {
			delete(s.receipts, sl)
		}
	}
	for sl := range s.sent {
		if sl < keep {
			delete(s.sent, sl)
			delete(s.seen, sl)
		}
	}
	for sl := range s.history {
		if sl+consensus.Slot(s.cfg.Params.CooldownSlots)+consensus.Slot(s.cfg.Params.Lag()) < now {
			delete(s.history, sl)
		}
	}
}

// bucket is a token bucket per forwarding peer.
type bucket struct {
	tokens float64
	at     time.Time
}

func (s *Service) allow(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	burst := 10 * s.cfg.PeerRate
	b := s.limits[p]
	if b == nil {
		b = &bucket{tokens: burst, at: now}
		s.limits[p] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*s.cfg.PeerRate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
