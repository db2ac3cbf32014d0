package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
)

// errNothingClaimed: the node claims no recording on the chain (yet).
var errNothingClaimed = errors.New("no storage claimed")

// proveStorageLoop publishes this node's storage proof every slot, a
// quarter into the slot (the seed block, at or before slot − lookahead, is
// in by then): the chunk and 1 KiB block the slot's challenge picks among
// the recordings it claimed, read from its recording store.
func (n *Node) proveStorageLoop(ctx context.Context, key crypto.PrivKey, p consensus.Params) {
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return
	}
	for slot := p.SlotAt(n.now()) + 1; ; slot++ {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(p.SlotStart(slot).Add(p.SlotLength / 4))):
		}
		if err := n.proveStorage(ctx, key, self, p, slot); err != nil && !errors.Is(err, errNothingClaimed) && ctx.Err() == nil {
			n.log.Warn("storage proof not published", "slot", slot, "err", err)
		}
	}
}

func (n *Node) proveStorage(ctx context.Context, key crypto.PrivKey, self peer.ID, p consensus.Params, slot consensus.Slot) error {
	seed, set, ok := n.chain.StorageInputs(slot)
	if !ok {
		return errNothingClaimed
	}
	ch, err := consensus.StorageChallenge(seed, slot, self, set)
	if err != nil {
		return err
	}
	m, err := n.rec.store.Manifest(ch.Session)
	if err != nil {
		return fmt.Errorf("challenged recording %s: %w", ch.Session, err)
	}
	sealed, err := n.rec.store.Chunk(ch.Session, ch.Chunk)
	if err != nil {
		return fmt.Errorf("challenged chunk %d of %s: %w", ch.Chunk, ch.Session, err)
	}
	proof, err := consensus.ProveStorage(key, nil, p, seed, slot, set, sealed, m.Leaves())
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return n.poot.Publish(pctx, proof)
}
