package node

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/media"
	nodechain "github.com/lucidnet/lucid/node/chain"
	"github.com/lucidnet/lucid/vm"
)

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
