package node

// The node's chain wiring: genesis, PoOT parameters, the chain service and
// its hooks into PoOT.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/consensus"
	nodechain "github.com/lucidnet/lucid/node/chain"
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
