// Package chain is the node's shell around the data chain's core
// (package chain): it gossips blocks on /lucid/blocks/1 and transactions
// on /lucid/txs/1 behind validators, serves and fetches blocks over
// /lucid/blocks/fetch/1, proposes blocks in the slots this node leads,
// keeps blocks, the final index and state snapshots in the node's store,
// and answers the queries behind `lucid chain`. See docs/chain.md.
package chain

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ipfs/go-datastore"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/vm"
)

// Topics.
const (
	BlockTopic = "/lucid/blocks/1"
	TxTopic    = "/lucid/txs/1"
)

// maxBlockMessage bounds a gossiped block before decoding; the engine
// then applies the limits in effect.
const maxBlockMessage = p2p.MaxGossipMessage

// Config sets up a Service.
type Config struct {
	Network  *p2p.Network
	Key      crypto.PrivKey
	Store    datastore.Batching
	Genesis  *chain.Genesis
	Log      *slog.Logger
	Registry prometheus.Registerer
	Now      func() time.Time
	// Produce: propose blocks in the slots this node leads.
	Produce bool
	// SyncInterval is how often the node compares heads with a peer
	// (0: one slot, at least one second).
	SyncInterval time.Duration
	// Reachable, if set, tells whether blocks and fetches from a peer
	// get through: tests partition real hosts with it.
	Reachable func(peer.ID) bool
	// OnValidated, if set, is told of every block this node executed and
	// accepted (gossiped, fetched or its own), to publish validation
	// proofs. It is called without the service's lock and must not block.
	OnValidated func(hash [32]byte, info consensus.BlockInfo)
	// SnapshotEvery: write a state snapshot every this many final blocks
	// (0: DefaultSnapshotEvery).
	SnapshotEvery int
	// SnapshotSync lets a node with an empty store start from a peer's
	// snapshot instead of replaying the chain from genesis, once
	// SnapshotQuorum peers (0: 2) agree on the snapshot's block (see
	// docs/chain.md).
	SnapshotSync   bool
	SnapshotQuorum int
}

// Service runs the chain of one node.
type Service struct {
	cfg  Config
	self peer.ID
	log  *slog.Logger
	met  *metrics
	st   store

	mu        sync.Mutex
	eng       *chain.Engine
	pool      *mempool
	proofs    proofPool
	proofSeq  uint64
	sinceSnap uint64
	changed   chan struct{} // closed and replaced when the head moves
	fetching  map[[32]byte]bool
	reported  int // evidence already turned into transactions
	frozen    bool
	// fromSnapshot is the height of the snapshot this node started from
	// (0: it replayed from genesis).
	fromSnapshot uint64

	blockTopic, txTopic *pubsub.Topic
	blockSub, txSub     *pubsub.Subscription
	cancel              context.CancelFunc
	wg                  sync.WaitGroup
}

// New restores the chain from the store (or starts it at genesis), joins
// the topics, serves the fetch protocol and starts the producer and sync
// loops.
func New(cfg Config) (*Service, error) {
	if cfg.Network == nil || cfg.Key == nil || cfg.Store == nil || cfg.Genesis == nil {
		return nil, errors.New("chain: service needs a network, a key, a store and a genesis")
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
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = DefaultSnapshotEvery
	}
	if cfg.SnapshotQuorum <= 0 {
		cfg.SnapshotQuorum = 2
	}
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, self: self, log: cfg.Log.With("component", "chain"), st: store{cfg.Store},
		pool: newMempool(), changed: make(chan struct{}), fetching: map[[32]byte]bool{}}
	if s.met, err = newMetrics(cfg.Registry); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		if s.cancel == nil {
			cancel()
		}
	}()
	if err := s.restore(ctx); err != nil {
		return nil, err
	}
	ps := cfg.Network.PubSub
	if err := s.join(ps); err != nil {
		return nil, err
	}
	cfg.Network.Host.SetStreamHandler(FetchProtocol, s.serveFetch)
	s.cancel = cancel
	if cfg.Produce {
		s.wg.Go(func() { s.produceLoop(ctx) })
	}
	s.wg.Go(func() { s.syncLoop(ctx) })
	s.wg.Go(func() { s.drain(ctx, s.blockSub) })
	s.wg.Go(func() { s.drain(ctx, s.txSub) })
	return s, nil
}

func (s *Service) join(ps *pubsub.PubSub) (err error) {
	if err := ps.RegisterTopicValidator(BlockTopic, s.validateBlock, pubsub.WithValidatorInline(true)); err != nil {
		return err
	}
	if err := ps.RegisterTopicValidator(TxTopic, s.validateTx, pubsub.WithValidatorInline(true)); err != nil {
		_ = ps.UnregisterTopicValidator(BlockTopic)
		return err
	}
	defer func() {
		if err != nil {
			s.leave()
		}
	}()
	for _, t := range []struct {
		name  string
		topic **pubsub.Topic
		sub   **pubsub.Subscription
	}{{BlockTopic, &s.blockTopic, &s.blockSub}, {TxTopic, &s.txTopic, &s.txSub}} {
		if *t.topic, err = ps.Join(t.name); err != nil {
			return err
		}
		if err = (*t.topic).SetScoreParams(p2p.TopicScoreParams()); err != nil {
			return err
		}
		if *t.sub, err = (*t.topic).Subscribe(); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) leave() error {
	ps := s.cfg.Network.PubSub
	var errs []error
	for _, sub := range []*pubsub.Subscription{s.blockSub, s.txSub} {
		if sub != nil {
			sub.Cancel()
		}
	}
	for _, t := range []*pubsub.Topic{s.blockTopic, s.txTopic} {
		if t != nil {
			errs = append(errs, t.Close())
		}
	}
	errs = append(errs, ps.UnregisterTopicValidator(BlockTopic), ps.UnregisterTopicValidator(TxTopic))
	return errors.Join(errs...)
}

// Close stops the loops, writes a snapshot of the final state and leaves
// the topics.
func (s *Service) Close() error {
	s.cancel()
	s.cfg.Network.Host.RemoveStreamHandler(FetchProtocol)
	err := s.leave()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s.sinceSnap > 0 {
		err = errors.Join(err, s.st.putSnapshot(ctx, s.eng.Final().Hash(), s.eng.FinalState()))
	}
	return err
}

func (s *Service) drain(ctx context.Context, sub *pubsub.Subscription) {
	for {
		if _, err := sub.Next(ctx); err != nil {
			return
		}
	}
}

// restore rebuilds the engine: from the snapshot (or genesis), replaying
// the final blocks after it, then the pending ones.
func (s *Service) restore(ctx context.Context) error {
	g := s.cfg.Genesis
	root, state, err := s.st.snapshot(ctx)
	switch {
	case isNotFound(err):
		if s.eng, err = chain.New(g); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		params, err := chain.ConsensusParams(state, g.Time)
		if err != nil {
			return err
		}
		var history []chain.StoredBlock
		lo := int64(root.Header.Slot) - int64(chain.HistorySlots(params))
		for h := root.Header.Height; h > 0; h-- {
			sb, err := s.st.final(ctx, h-1)
			if isNotFound(err) {
				break // genesis is not stored, nor what a snapshot sync skipped
			}
			if err != nil {
				return fmt.Errorf("chain: history below the snapshot: %w", err)
			}
			history = append(history, sb)
			if int64(sb.Block.Header.Slot) < lo {
				break
			}
		}
		for i, j := 0, len(history)-1; i < j; i, j = i+1, j-1 {
			history[i], history[j] = history[j], history[i]
		}
		rootSB, err := s.st.final(ctx, root.Header.Height)
		if err != nil {
			return fmt.Errorf("chain: snapshot block not in the final index: %w", err)
		}
		if s.eng, err = chain.Restore(g, rootSB, state, history); err != nil {
			return err
		}
	}
	// Final blocks after the snapshot, then pending ones, in height order.
	n := 0
	for h := s.eng.Final().Height + 1; ; h++ {
		sb, err := s.st.final(ctx, h)
		if isNotFound(err) {
			break
		}
		if err != nil {
			return err
		}
		if _, err := s.eng.Add(sb.Block, consensus.ArrivalAny); err != nil {
			return fmt.Errorf("chain: replaying final block %d: %w", h, err)
		}
		n++
	}
	keys, err := s.st.keys(ctx, pendingPrefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		raw, err := hex.DecodeString(k[len(k)-64:])
		if err != nil || len(raw) != 32 {
			continue
		}
		b, err := s.st.block(ctx, [32]byte(raw))
		if err == nil {
			_, err = s.eng.Add(b, consensus.ArrivalAny)
		}
		if err != nil {
			s.log.Debug("stored block not restored", "key", k, "err", err)
			continue
		}
		n++
	}
	head := s.eng.Head()
	s.log.Info("chain restored", "head", head.Height, "final", s.eng.Final().Height, "replayed", n)
	return nil
}

// accept records a block the engine took: stores it, files what became
// final, refreshes the pools and wakes waiters. Called with the lock held.
func (s *Service) accept(ctx context.Context, b *consensus.Block, res chain.Result) error {
	if err := s.st.putBlock(ctx, b); err != nil {
		return fmt.Errorf("chain: store block: %w", err)
	}
	if len(res.Finalized) > 0 {
		if err := s.st.finalize(ctx, res.Finalized); err != nil {
			return fmt.Errorf("chain: store final blocks: %w", err)
		}
		s.sinceSnap += uint64(len(res.Finalized))
		if s.sinceSnap >= uint64(s.cfg.SnapshotEvery) {
			last := res.Finalized[len(res.Finalized)-1]
			if err := s.st.putSnapshot(ctx, last.Block.Hash(), last.State); err != nil {
				return fmt.Errorf("chain: snapshot: %w", err)
			}
			if err := s.st.prunePending(ctx, last.Block.Header.Height); err != nil {
				s.log.Warn("pending blocks not pruned", "err", err)
			}
			s.sinceSnap = 0
		}
		s.met.final.Set(float64(s.eng.Final().Height))
	}
	s.met.blocks.Inc()
	if s.cfg.OnValidated != nil {
		if info, ok := s.eng.BlockInfo(res.Hash); ok {
			h, f := res.Hash, s.cfg.OnValidated
			s.wg.Go(func() { f(h, info) })
		}
	}
	if res.HeadChanged {
		head := s.eng.HeadState()
		s.pool.prune(head)
		p := s.eng.HeadParams()
		s.proofs.prune(consensus.Slot(max(int64(res.Head.Slot)-int64(p.AcceptWindow)-1, 0)))
		s.met.head.Set(float64(res.Head.Height))
		close(s.changed)
		s.changed = make(chan struct{})
	}
	if res.Equivocation != nil {
		s.met.equivocations.Inc()
		s.log.Warn("equivocation", "proposer", res.Equivocation.A.Proposer, "slot", res.Equivocation.A.Slot)
	}
	return nil
}

// validateBlock is the gossip validator of blocks: fully verified and
// executed before it is forwarded.
func (s *Service) validateBlock(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == s.self {
		return pubsub.ValidationAccept
	}
	if !s.reachable(msg.ReceivedFrom) {
		return pubsub.ValidationIgnore
	}
	if len(msg.Data) > maxBlockMessage {
		s.met.rejected.WithLabelValues("oversize").Inc()
		return pubsub.ValidationReject
	}
	b, err := consensus.DecodeBlock(msg.Data, consensus.BlockParams{MaxBlockBytes: maxBlockMessage, MaxBlockTxs: 1 << 16})
	if err != nil {
		s.met.rejected.WithLabelValues(Reason(err)).Inc()
		return pubsub.ValidationReject
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.eng.HeadParams()
	now := s.cfg.Now()
	arrival := now.Sub(p.SlotStart(b.Header.Slot))
	if arrival < -maxDrift(p) {
		s.met.rejected.WithLabelValues("future").Inc()
		return pubsub.ValidationIgnore
	}
	res, err := s.eng.Add(b, arrival)
	switch {
	case err == nil && res.Known:
		return pubsub.ValidationIgnore
	case err == nil:
		if err := s.accept(ctx, b, res); err != nil {
			s.log.Error("block not stored", "err", err)
			return pubsub.ValidationIgnore
		}
		s.met.arrival.Observe(arrival.Seconds())
		return pubsub.ValidationAccept
	case errors.Is(err, consensus.ErrUnknownParent):
		s.met.rejected.WithLabelValues("unknown_parent").Inc()
		s.fetchAncestors(msg.ReceivedFrom, b)
		return pubsub.ValidationIgnore
	}
	s.met.rejected.WithLabelValues(Reason(err)).Inc()
	if timing(err) {
		return pubsub.ValidationIgnore
	}
	s.log.Info("rejected a block", "from", from, "height", b.Header.Height, "slot", b.Header.Slot, "err", err)
	return pubsub.ValidationReject
}

// maxDrift is how early (by the local clock) a block may arrive for its
// slot: clocks differ a little.
func maxDrift(p consensus.Params) time.Duration { return min(time.Second, p.SlotLength/4) }

// timing reports refusals an honest peer may cause by a clock a little
// off or a late forward: ignored, not penalised.
func timing(err error) bool {
	return errors.Is(err, consensus.ErrProposerEarly) || errors.Is(err, consensus.ErrRevertsFinal) ||
		errors.Is(err, chain.ErrHistory)
}

// fetchAncestors fetches the missing ancestors of an orphan block from
// the peer that forwarded it, then adds them and the block. Called with
// the lock held; the fetch runs in the background.
func (s *Service) fetchAncestors(from peer.ID, b *consensus.Block) {
	h := b.Hash()
	if s.fetching[h] || len(s.fetching) > 16 {
		return
	}
	s.fetching[h] = true
	s.wg.Go(func() {
		defer func() {
			s.mu.Lock()
			delete(s.fetching, h)
			s.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 2*fetchTimeout)
		defer cancel()
		chainOf := []*consensus.Block{b}
		prev := b.Header.Prev
		for range maxFetchBlocks {
			s.mu.Lock()
			_, _, known := s.eng.Block(prev)
			s.mu.Unlock()
			if known {
				break
			}
			fs, err := s.fetch(ctx, from, fetchRequest{Kind: fetchHash, Hash: prev[:]})
			if err != nil || len(fs) != 1 {
				s.syncWith(ctx, from)
				return
			}
			pb, err := consensus.DecodeBlock(fs[0], consensus.BlockParams{MaxBlockBytes: maxBlockMessage, MaxBlockTxs: 1 << 16})
			if err != nil || pb.Hash() != prev {
				return
			}
			chainOf = append(chainOf, pb)
			prev = pb.Header.Prev
		}
		for i := len(chainOf) - 1; i >= 0; i-- {
			if err := s.addFetched(ctx, chainOf[i]); err != nil {
				s.log.Debug("fetched block refused", "err", err)
				s.syncWith(ctx, from)
				return
			}
		}
	})
}

// addFetched adds a block received by the fetch protocol (no turn check:
// it is late by definition).
func (s *Service) addFetched(ctx context.Context, b *consensus.Block) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	res, err := s.eng.Add(b, consensus.ArrivalAny)
	if err != nil || res.Known {
		return err
	}
	s.met.fetched.Inc()
	return s.accept(ctx, b, res)
}

// syncLoop compares heads with a random peer every SyncInterval and
// fetches what it lacks.
func (s *Service) syncLoop(ctx context.Context) {
	every := s.cfg.SyncInterval
	if every <= 0 {
		s.mu.Lock()
		every = max(s.eng.HeadParams().SlotLength, time.Second)
		s.mu.Unlock()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	// A fresh node with SnapshotSync tries snapshots for a few rounds
	// (peers may still be connecting) before it replays from genesis.
	snapshotTries := 0
	for {
		waiting := false
		if s.cfg.SnapshotSync && snapshotTries < 5 && s.fresh() {
			snapshotTries++
			err := s.snapshotSync(ctx)
			if err != nil {
				s.log.Debug("no snapshot sync yet", "try", snapshotTries, "err", err)
			}
			waiting = err != nil && snapshotTries < 5
		}
		if p, ok := s.randomPeer(); ok && !waiting {
			s.syncWith(ctx, p)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) reachable(p peer.ID) bool { return s.cfg.Reachable == nil || s.cfg.Reachable(p) }

func (s *Service) randomPeer() (peer.ID, bool) {
	h := s.cfg.Network.Host
	var ps []peer.ID
	for _, p := range h.Network().Peers() {
		if !s.reachable(p) {
			continue
		}
		if protos, err := h.Peerstore().SupportsProtocols(p, FetchProtocol); err == nil && len(protos) > 0 {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return "", false
	}
	return ps[rand.IntN(len(ps))], true
}

// syncWith fetches p's canonical blocks above this node's final height
// when p's head is unknown here: ahead, or on another branch (which may
// win the fork choice even when shorter).
func (s *Service) syncWith(ctx context.Context, p peer.ID) {
	head, _, err := s.peerHead(ctx, p)
	if err != nil {
		return
	}
	s.mu.Lock()
	_, _, known := s.eng.Block(head.Hash())
	from := s.eng.Final().Height + 1
	s.mu.Unlock()
	if known {
		return
	}
	for from <= head.Height && ctx.Err() == nil {
		n := min(head.Height-from+1, maxFetchBlocks)
		fs, err := s.fetch(ctx, p, fetchRequest{Kind: fetchRange, From: from, Count: n})
		if err != nil || len(fs) == 0 {
			return
		}
		for _, f := range fs {
			b, err := consensus.DecodeBlock(f, consensus.BlockParams{MaxBlockBytes: maxBlockMessage, MaxBlockTxs: 1 << 16})
			if err != nil {
				return
			}
			if err := s.addFetched(ctx, b); err != nil {
				s.log.Debug("synced block refused", "peer", p, "height", b.Header.Height, "err", err)
				return
			}
		}
		from += uint64(len(fs))
	}
	s.met.syncs.Inc()
}

// produceLoop proposes a block in every slot this node leads: the primary
// at the slot's start, the fallback of rank k after k slot timeouts if no
// block for the slot has arrived by then.
func (s *Service) produceLoop(ctx context.Context) {
	s.mu.Lock()
	p := s.eng.HeadParams()
	s.mu.Unlock()
	slot := p.SlotAt(s.cfg.Now())
	for {
		slot++
		if !sleepUntil(ctx, p.SlotStart(slot)) {
			return
		}
		s.mu.Lock()
		p = s.eng.HeadParams()
		head := s.eng.Head()
		rank, ok, err := s.eng.Rank(head.Hash(), slot, s.self)
		s.mu.Unlock()
		if err != nil || !ok {
			continue
		}
		if rank > 0 && !sleepUntil(ctx, p.SlotStart(slot).Add(time.Duration(rank)*p.SlotTimeout)) {
			return
		}
		if err := s.propose(ctx, slot); err != nil && ctx.Err() == nil {
			s.log.Warn("block not proposed", "slot", slot, "rank", rank, "err", err)
		}
	}
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Until(t)):
		return true
	}
}

// propose builds, stores and publishes this node's block for slot on the
// current head, unless the head already has a block at that slot.
func (s *Service) propose(ctx context.Context, slot consensus.Slot) error {
	s.mu.Lock()
	head := s.eng.Head()
	if head.Slot >= slot || s.frozen {
		s.mu.Unlock()
		return nil
	}
	s.submitEvidence(ctx)
	b, err := s.eng.Build(head.Hash(), slot, s.cfg.Key, chain.Candidates{
		Txs: s.pool.candidates(s.eng.HeadState()), Proofs: s.proofs.candidates()})
	if err == nil {
		var res chain.Result
		if res, err = s.eng.Add(b, consensus.ArrivalAny); err == nil {
			err = s.accept(ctx, b, res)
		}
	}
	s.mu.Unlock()
	if err != nil {
		if errors.Is(err, chain.ErrNotLeader) {
			return nil // the head moved to a branch this node does not lead
		}
		return err
	}
	s.met.proposed.Inc()
	s.log.Debug("proposed", "height", b.Header.Height, "slot", slot, "txs", len(b.Body.Txs), "proofs", len(b.Body.Proofs))
	return s.blockTopic.Publish(ctx, b.Encode())
}

// submitEvidence turns equivocations found since the last call into
// transactions in the pool (the proposer includes them). Called with the
// lock held.
func (s *Service) submitEvidence(ctx context.Context) {
	ev := s.eng.Evidence()
	for _, e := range ev[s.reported:] {
		if _, err := s.submitLocked(ctx, &vm.Equivocation{A: e.A, B: e.B}); err != nil {
			s.log.Warn("equivocation evidence not submitted", "err", err)
		}
	}
	s.reported = len(ev)
}

// validateTx is the gossip validator of transactions.
func (s *Service) validateTx(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == s.self {
		return pubsub.ValidationAccept
	}
	if len(msg.Data) > maxTxBytes {
		s.met.txRejected.WithLabelValues("oversize").Inc()
		return pubsub.ValidationReject
	}
	tx, err := vm.DecodeTx(msg.Data)
	if err == nil {
		err = tx.VerifySignature()
	}
	if err != nil {
		s.met.txRejected.WithLabelValues(Reason(err)).Inc()
		return pubsub.ValidationReject
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pool.add(msg.Data, tx, s.eng.HeadState()) {
		return pubsub.ValidationIgnore
	}
	s.met.mempool.Set(float64(s.pool.len()))
	return pubsub.ValidationAccept
}

// AddProof offers a proof gossip accepted for the blocks this node
// proposes.
func (s *Service) AddProof(raw []byte, p *consensus.Proof) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proofSeq++
	s.proofs.add(raw, p, s.proofSeq)
}

// Submit signs body with the node's key at its next nonce, adds it to
// the pool and gossips it. It returns the transaction's hash.
func (s *Service) Submit(ctx context.Context, body vm.Body) ([32]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.submitLocked(ctx, body)
}

func (s *Service) submitLocked(ctx context.Context, body vm.Body) ([32]byte, error) {
	tx := &vm.Tx{Sender: s.self, Nonce: s.pool.nextNonce(s.self, s.eng.HeadState()), Body: body}
	if err := tx.Sign(s.cfg.Key); err != nil {
		return [32]byte{}, err
	}
	return tx.Hash(), s.addLocal(ctx, tx.Encode(), tx)
}

// SubmitRaw takes a transaction a wallet signed: it is checked, pooled and
// gossiped.
func (s *Service) SubmitRaw(ctx context.Context, raw []byte) ([32]byte, error) {
	if len(raw) > maxTxBytes {
		return [32]byte{}, fmt.Errorf("chain: transaction of %d bytes, limit %d", len(raw), maxTxBytes)
	}
	tx, err := vm.DecodeTx(raw)
	if err == nil {
		err = tx.VerifySignature()
	}
	if err != nil {
		return [32]byte{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return tx.Hash(), s.addLocal(ctx, raw, tx)
}

func (s *Service) addLocal(ctx context.Context, raw []byte, tx *vm.Tx) error {
	head := s.eng.HeadState()
	if tx.Nonce < head.Nonce(tx.Sender) {
		return fmt.Errorf("%w: nonce %d, next is %d", vm.ErrBadNonce, tx.Nonce, head.Nonce(tx.Sender))
	}
	if !s.pool.add(raw, tx, head) {
		if _, ok := s.pool.get(tx.Hash()); !ok {
			return errors.New("chain: transaction pool full or nonce already pending")
		}
	}
	s.met.mempool.Set(float64(s.pool.len()))
	return s.txTopic.Publish(ctx, raw)
}

// stopProducing makes the node stop proposing (tests: a leader going
// offline, or freezing the chain to compare heads).
func (s *Service) stopProducing() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frozen = true
}

// Register submits a session's registration signed by this node, unless
// the head state already holds one (vm.ErrSessionExists).
func (s *Service) Register(ctx context.Context, body *vm.RegisterSession) ([32]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.eng.HeadState().Session(body.Session); ok {
		return [32]byte{}, fmt.Errorf("%w: %x", vm.ErrSessionExists, body.Session[:])
	}
	if h, ok := s.pool.registration(body.Session); ok {
		return h, nil // already submitted (a second seal of one recording)
	}
	return s.submitLocked(ctx, body)
}

// BlockInfo describes a block this node executed (validation proofs).
func (s *Service) BlockInfo(hash [32]byte) (consensus.BlockInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng.BlockInfo(hash)
}

// GossipContext is what PoOT checks proofs from gossip against: the
// head's branch. Each function takes the service's lock (the engine's
// tree changes under it).
func (s *Service) GossipContext() consensus.VerifyContext {
	return consensus.VerifyContext{
		Seeds: lockedSeeds{s},
		Claims: func(node peer.ID, _ consensus.Slot) (*consensus.ClaimSet, bool) {
			return chain.ClaimSet(s.headState(), node)
		},
		Block:      s.BlockInfo,
		PoolMember: func(pool []byte, node peer.ID) bool { return chain.InPool(s.headState(), pool, node) },
	}
}

// KeepPool makes the chain record this node in pool (empty: in none):
// once the node has caught up with the network (its head is within a few
// slots of now), it submits a set-pool transaction whenever the head
// state says otherwise and none is pending, and waits for it.
func (s *Service) KeepPool(ctx context.Context, pool []byte) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		p := s.eng.HeadParams()
		behind := p.SlotAt(s.cfg.Now()) > s.eng.Head().Slot+consensus.Slot(2*p.Lookahead+2)
		have, _ := s.eng.HeadState().PoolOf(s.self)
		s.mu.Unlock()
		if behind || string(have) == string(pool) {
			continue
		}
		h, err := s.Submit(ctx, &vm.SetPool{Pool: pool})
		if err != nil {
			s.log.Warn("pool membership not submitted", "err", err)
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 20*p.SlotLength)
		tx, err := s.WaitTx(wctx, h, false)
		cancel()
		if err == nil && tx.Code != 0 {
			s.log.Warn("pool membership refused", "err", tx.Error)
		}
	}
}

// headState is the state after the head (immutable: it may be read
// after the lock is released).
func (s *Service) headState() *vm.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng.HeadState()
}

type lockedSeeds struct{ s *Service }

func (l lockedSeeds) Seed(t consensus.Slot) ([32]byte, bool) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return l.s.eng.HeadSeed(t)
}

// StorageInputs are this node's storage challenge inputs for slot (see
// chain.Engine.StorageInputs).
func (s *Service) StorageInputs(slot consensus.Slot) ([32]byte, *consensus.ClaimSet, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng.StorageInputs(s.self, slot)
}
