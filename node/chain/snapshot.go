package chain

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/internal/canon"
	"github.com/lucidnet/lucid/vm"
)

// Snapshot sync.
//
// A node with an empty store (SnapshotSync) asks a peer for its latest
// snapshot: the final block it was taken at and the state after it. It
// trusts that block only when SnapshotQuorum peers, the serving one
// included, hold the same block at that height on their chains; the
// state must then hash to the block's state root. It fetches the block's
// ancestors the leader schedule reads (chain.HistorySlots), checks that
// they link up to it, and starts its engine there: no block before the
// snapshot is executed. The misses those history blocks recorded are not
// covered by any hash; a peer that lied about them would only make this
// node's schedule disagree with the network's, which shows as refused
// blocks, never as a wrong state.

// More fetch kinds.
const (
	fetchSnapshot = 4 // the latest snapshot: its block with misses, then the state
	fetchHistory  = 5 // final blocks with their misses, From and up, Count
)

// maxSnapshotFrame bounds the state frame of a snapshot answer.
const maxSnapshotFrame = 512 << 20

// fresh reports whether this node has nothing but genesis.
func (s *Service) fresh() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng.Head().Height == 0
}

type wireHistory struct {
	Block  []byte     `cbor:"1,keyasint"`
	Misses []wireMiss `cbor:"2,keyasint,omitempty"`
}

// serveSnapshot answers kinds 4 and 5 (frames written by the caller).
func (s *Service) snapshotFrames(ctx context.Context, req fetchRequest) [][]byte {
	switch req.Kind {
	case fetchSnapshot:
		h, state, err := s.st.snapshotRaw(ctx)
		if err != nil {
			return nil
		}
		b, err := s.blockByHash(ctx, h)
		if err != nil {
			return nil
		}
		sb, err := s.st.final(ctx, b.Header.Height)
		if err != nil || sb.Block.Hash() != h {
			return nil
		}
		return [][]byte{encodeHistory(sb), state}
	case fetchHistory:
		var out [][]byte
		size := 0
		for h := req.From; h < req.From+req.Count && size < maxFetchResponse; h++ {
			sb, err := s.st.final(ctx, h)
			if err != nil {
				break
			}
			f := encodeHistory(sb)
			out = append(out, f)
			size += len(f)
		}
		return out
	}
	return nil
}

// encodeHistory is the record of a final block and its misses.
func encodeHistory(sb chain.StoredBlock) []byte {
	w := wireHistory{Block: sb.Block.Encode()}
	for _, m := range sb.Misses {
		w.Misses = append(w.Misses, wireMiss{Slot: uint64(m.Slot), Entity: []byte(m.Entity)})
	}
	return canon.MustMarshal(encMode, &w)
}

func decodeHistory(b []byte) (chain.StoredBlock, error) {
	var w wireHistory
	if err := canon.Decode(encMode, decMode, b, &w); err != nil {
		return chain.StoredBlock{}, fmt.Errorf("chain: history record: %w", err)
	}
	blk, err := consensus.DecodeBlock(w.Block, consensus.BlockParams{MaxBlockBytes: maxBlockMessage, MaxBlockTxs: 1 << 16})
	if err != nil {
		return chain.StoredBlock{}, err
	}
	sb := chain.StoredBlock{Block: blk}
	for _, m := range w.Misses {
		sb.Misses = append(sb.Misses, consensus.Miss{Slot: consensus.Slot(m.Slot), Entity: consensus.EntityID(m.Entity)})
	}
	return sb, nil
}

// fetchSnapshotFrames asks p for its snapshot: two frames, the second
// (the state) up to maxSnapshotFrame bytes.
func (s *Service) fetchSnapshotFrames(ctx context.Context, p peer.ID) ([][]byte, error) {
	return s.exchange(ctx, p, fetchRequest{Kind: fetchSnapshot}, 4*fetchTimeout, 2, maxFrame+maxSnapshotFrame, func(i int) int {
		if i == 1 {
			return maxSnapshotFrame
		}
		return maxFrame
	})
}

// snapshotSync starts the engine from a peer's snapshot (see above).
func (s *Service) snapshotSync(ctx context.Context) error {
	peers := s.reachablePeers()
	if len(peers) < s.cfg.SnapshotQuorum {
		return fmt.Errorf("%d peers, a snapshot needs %d to agree", len(peers), s.cfg.SnapshotQuorum)
	}
	for _, p := range peers {
		fs, err := s.fetchSnapshotFrames(ctx, p)
		if err != nil || len(fs) != 2 {
			continue
		}
		if err := s.adoptSnapshot(ctx, p, peers, fs); err != nil {
			s.log.Info("snapshot refused", "peer", p, "err", err)
			continue
		}
		return nil
	}
	return errors.New("no peer served an acceptable snapshot")
}

func (s *Service) adoptSnapshot(ctx context.Context, from peer.ID, peers []peer.ID, fs [][]byte) error {
	rootSB, err := decodeHistory(fs[0])
	if err != nil {
		return err
	}
	root := rootSB.Block
	hash, height := root.Hash(), root.Header.Height
	// Quorum: peers holding this block at this height.
	agree := 1
	for _, p := range peers {
		if p == from || agree >= s.cfg.SnapshotQuorum {
			continue
		}
		got, err := s.fetch(ctx, p, fetchRequest{Kind: fetchRange, From: height, Count: 1})
		if err == nil && len(got) == 1 {
			if b, err := consensus.DecodeBlock(got[0], consensus.BlockParams{MaxBlockBytes: maxBlockMessage, MaxBlockTxs: 1 << 16}); err == nil && b.Hash() == hash {
				agree++
			}
		}
	}
	if agree < s.cfg.SnapshotQuorum {
		return fmt.Errorf("block %d (%x) held by %d peers, want %d", height, hash[:8], agree, s.cfg.SnapshotQuorum)
	}
	state, err := vm.RestoreState(fs[1], root.Header.StateRoot)
	if err != nil {
		return err
	}
	params, err := chain.ConsensusParams(state, s.cfg.Genesis.Time)
	if err != nil {
		return err
	}
	// History: ancestors back to HistorySlots before the root.
	lo := int64(root.Header.Slot) - int64(chain.HistorySlots(params))
	var history []chain.StoredBlock
	want := root.Header.Prev
	for top := height; top > 1 && len(history) < 1<<20; {
		lowest := uint64(max(int64(top)-maxFetchBlocks, 1))
		got, err := s.fetch(ctx, from, fetchRequest{Kind: fetchHistory, From: lowest, Count: top - lowest})
		if err != nil {
			return err
		}
		batch := make([]chain.StoredBlock, 0, len(got))
		for _, f := range got {
			sb, err := decodeHistory(f)
			if err != nil {
				return err
			}
			batch = append(batch, sb)
		}
		done := false
		for i := len(batch) - 1; i >= 0; i-- {
			if batch[i].Block.Hash() != want {
				return fmt.Errorf("history block %d does not link to its successor", batch[i].Block.Header.Height)
			}
			want = batch[i].Block.Header.Prev
			history = append(history, batch[i])
			if int64(batch[i].Block.Header.Slot) < lo {
				done = true
				break
			}
		}
		if done || len(batch) == 0 {
			break
		}
		top = lowest
	}
	slices.Reverse(history)
	eng, err := chain.Restore(s.cfg.Genesis, rootSB, state, history)
	if err != nil {
		return err
	}
	if err := s.st.putFinalHistory(ctx, append(history, rootSB)); err != nil {
		return err
	}
	if err := s.st.putSnapshot(ctx, hash, state); err != nil {
		return err
	}
	s.mu.Lock()
	s.eng, s.fromSnapshot = eng, height
	s.mu.Unlock()
	s.log.Info("started from a snapshot", "height", height, "hash", fmt.Sprintf("%x", hash[:8]), "history", len(history), "peers_agreeing", agree)
	return nil
}

func (s *Service) reachablePeers() []peer.ID {
	h := s.cfg.Network.Host
	var ps []peer.ID
	for _, p := range h.Network().Peers() {
		if !s.reachable(p) || h.Network().Connectedness(p) != network.Connected {
			continue
		}
		if protos, err := h.Peerstore().SupportsProtocols(p, FetchProtocol); err == nil && len(protos) > 0 {
			ps = append(ps, p)
		}
	}
	return ps
}
