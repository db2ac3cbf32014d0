package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/media"
	nodechain "github.com/lucidnet/lucid/node/chain"
	"github.com/lucidnet/lucid/vm"
)

// loadGenesis reads the chain's genesis file: the configured one, or
// genesis.json in the home if it exists (nil: no chain).
func (n *Node) loadGenesis() (*chain.Genesis, error) {
	path := n.cfg.Chain.Genesis
	if path == "" {
		path = n.home.GenesisPath()
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	return chain.LoadGenesis(path)
}

// pootParams are the PoOT parameters: the chain's genesis ones when the
// node follows a chain, else the [poot] section's.
func (n *Node) pootParams(g *chain.Genesis) (consensus.Params, error) {
	if g == nil {
		return n.cfg.Poot.params(), nil
	}
	st, err := g.State()
	if err != nil {
		return consensus.Params{}, err
	}
	return chain.ConsensusParams(st, g.Time)
}

func (n *Node) startChain(key crypto.PrivKey, g *chain.Genesis, reg prometheus.Registerer) error {
	svc, err := nodechain.New(nodechain.Config{Network: n.net, Key: key, Store: n.store, Genesis: g, Log: n.log,
		Registry: reg, Now: n.now, Produce: n.cfg.Chain.Produce, SnapshotSync: n.cfg.Chain.SnapshotSync,
		OnValidated: n.publishValidation(key)})
	if err != nil {
		return fmt.Errorf("chain: %w", err)
	}
	n.chain = svc
	n.anchors = newAnchorer(svc, n.metaFeed, n.log, reg)
	return nil
}

// publishValidation returns the hook that proves this node validated a
// block: a validation proof for each block that registered sessions
// (blocks that register none earn nothing, so they are not proven).
func (n *Node) publishValidation(key crypto.PrivKey) func([32]byte, consensus.BlockInfo) {
	return func(h [32]byte, info consensus.BlockInfo) {
		if info.Sessions == 0 || n.poot == nil {
			return
		}
		// Blocks fetched while catching up are too old to prove.
		if p := n.poot.Params(); uint64(info.Slot)+p.AcceptWindow < uint64(p.SlotAt(n.now())) {
			return
		}
		p, err := consensus.NewValidation(key, []byte(n.cfg.Poot.Pool), info.Slot,
			consensus.ValidationBody{Block: h, Height: info.Height, Sessions: info.Sessions})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = n.poot.Publish(ctx, p)
			cancel()
		}
		if err != nil && !errors.Is(err, consensus.ErrDuplicate) {
			n.log.Debug("validation proof not published", "height", info.Height, "err", err)
		}
	}
}

// chainContext lets PoOT check storage and validation proofs against the
// chain.
func (n *Node) chainContext() func() consensus.VerifyContext {
	if n.chain == nil {
		return nil
	}
	return n.chain.GossipContext
}

// proofsToChain hands every proof PoOT admits to the chain's proposer.
func (n *Node) proofsToChain() func(p *consensus.Proof, raw []byte) {
	if n.chain == nil {
		return nil
	}
	return func(p *consensus.Proof, raw []byte) { n.chain.AddProof(raw, p) }
}

func (n *Node) closeChain() error {
	if n.chain == nil {
		return nil
	}
	n.anchors.close()
	return n.chain.Close()
}

// anchorer registers every sealed recording on the chain and follows the
// registration into the session's replicated metadata: pending with the
// transaction hash once submitted, confirmed with the block hash once
// final, failed if the transaction failed.
type anchorer struct {
	chain  *nodechain.Service
	feed   *metaFeed // nil without replicated metadata
	log    *slog.Logger
	submit prometheus.Histogram
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newAnchorer(c *nodechain.Service, feed *metaFeed, log *slog.Logger, reg prometheus.Registerer) *anchorer {
	ctx, cancel := context.WithCancel(context.Background())
	a := &anchorer{chain: c, feed: feed, log: log.With("component", "anchor"), ctx: ctx, cancel: cancel,
		submit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lucid_anchor_submit_seconds",
			Help:    "From a recording's sealed manifest to its register-session transaction gossiped.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})}
	if err := reg.Register(a.submit); err != nil {
		a.log.Warn("anchor metric not registered", "err", err)
	}
	return a
}

func (a *anchorer) close() {
	a.cancel()
	a.wg.Wait()
}

func (a *anchorer) RecordingStarted(media.Manifest)               {}
func (a *anchorer) ChunkDurable(*media.Manifest, media.ChunkInfo) {}

// RecordingSealed submits the registration at once (the pipeline must
// not wait: the follow-up runs in the background).
func (a *anchorer) RecordingSealed(m media.Manifest) {
	if m.ChunkCount == 0 || a.ctx.Err() != nil {
		return // nothing recorded, nothing to anchor
	}
	sealed := time.Now()
	h, err := a.chain.Register(a.ctx, registration(m))
	if errors.Is(err, vm.ErrSessionExists) {
		return // anchored before a restart
	}
	if err != nil {
		a.log.Warn("recording not anchored", "session", m.Session, "err", err)
		a.setAnchor(m, crdt.AnchorFailed, nil)
		return
	}
	a.submit.Observe(time.Since(sealed).Seconds())
	a.setAnchor(m, crdt.AnchorPending, h[:])
	// This node stores the recording: claim it, so that it proves the
	// storage (next nonce: it executes after the registration).
	if _, err := a.chain.Submit(a.ctx, storageClaim(m)); err != nil {
		a.log.Warn("storage claim not submitted", "session", m.Session, "err", err)
	}
	a.wg.Go(func() { a.follow(m, h) })
}

// registration is the register-session body of a sealed manifest: the
// client owns the recording.
func registration(m media.Manifest) *vm.RegisterSession {
	owner := []byte(m.Client)
	if len(owner) == 0 {
		owner = []byte(m.Host)
	}
	return &vm.RegisterSession{Session: vm.SessionID(m.Session), Manifest: m.Hash(), Root: m.Root, Chunks: m.ChunkCount, Owner: owner}
}

// storageClaim is the claim-storage body of a sealed manifest.
func storageClaim(m media.Manifest) *vm.ClaimStorage {
	sizes := make([]uint64, len(m.Chunks))
	for i, c := range m.Chunks {
		sizes[i] = c.SealedSize
	}
	return &vm.ClaimStorage{Session: vm.SessionID(m.Session), ChunkSizes: sizes}
}

func (a *anchorer) follow(m media.Manifest, h [32]byte) {
	t, err := a.chain.WaitTx(a.ctx, h, true)
	if err != nil {
		return // shutting down: the registration stays pending in the map
	}
	if t.Code != 0 {
		a.log.Warn("recording anchor failed", "session", m.Session, "err", t.Error)
		a.setAnchor(m, crdt.AnchorFailed, h[:])
		return
	}
	ref, err := hex.DecodeString(t.Block)
	if err == nil {
		a.setAnchor(m, crdt.AnchorConfirmed, ref)
	}
}

func (a *anchorer) setAnchor(m media.Manifest, st crdt.AnchorStatus, ref []byte) {
	if a.feed != nil {
		a.feed.push(metaOp{id: m.Session, changes: []crdt.Change{crdt.SetAnchor(crdt.Anchor{Status: st, Ref: ref})}})
	}
}
