package poot

import (
	"context"
	"fmt"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/lucidnet/lucid/consensus"
)

// Proofs live in the node's store under
// /poot/proofs/<slot, 16 hex digits>/<type>/<node>, so a restarted node
// tallies the window again from disk.
const proofPrefix = "/poot/proofs"

func proofKey(p *consensus.Proof) datastore.Key {
	return datastore.NewKey(fmt.Sprintf("%s/%016x/%s/%s", proofPrefix, uint64(p.Slot), p.Type, p.Node))
}

// store keeps an accepted proof. Not synced one by one: a proof lost in
// a crash costs its author one slot's credit at most on this node.
func (s *Service) store(ctx context.Context, p *consensus.Proof, raw []byte) error {
	if err := s.cfg.Store.Put(ctx, proofKey(p), raw); err != nil {
		return fmt.Errorf("poot: store proof: %w", err)
	}
	return nil
}

// deleteBefore removes stored proofs of slots before keep: keys sort by
// slot, so the scan stops at the first one to keep.
func (s *Service) deleteBefore(ctx context.Context, keep consensus.Slot) (int, error) {
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: proofPrefix, KeysOnly: true, Orders: []query.Order{query.OrderByKey{}}})
	if err != nil {
		return 0, err
	}
	defer res.Close()
	limit := fmt.Sprintf("%s/%016x", proofPrefix, uint64(keep))
	var stale []datastore.Key
	for e := range res.Next() {
		if e.Error != nil {
			return 0, e.Error
		}
		if e.Key >= limit {
			break
		}
		stale = append(stale, datastore.NewKey(e.Key))
	}
	for _, k := range stale {
		if err := s.cfg.Store.Delete(ctx, k); err != nil {
			return 0, err
		}
	}
	return len(stale), nil
}

// load tallies the stored proofs of the current window (each is decoded
// again; a damaged one is skipped) and deletes older ones.
func (s *Service) load(ctx context.Context, now consensus.Slot) error {
	p := s.cfg.Params
	oldest := consensus.Slot(max(int64(now)-int64(p.WindowSlots+p.Lag()+2), 0))
	res, err := s.cfg.Store.Query(ctx, query.Query{Prefix: proofPrefix})
	if err != nil {
		return err
	}
	defer res.Close()
	var stale []datastore.Key
	loaded, bad := 0, 0
	for e := range res.Next() {
		if e.Error != nil {
			return e.Error
		}
		pr, err := consensus.DecodeProof(e.Value)
		if err != nil {
			bad++
			continue
		}
		if pr.Slot < oldest {
			stale = append(stale, datastore.NewKey(e.Key))
			continue
		}
		if err := s.tally.Add(pr); err != nil {
			bad++
			continue
		}
		if pr.Slot+consensus.Slot(p.AcceptWindow) >= now {
			_ = s.dedup.Seen(pr)
		}
		loaded++
	}
	for _, k := range stale {
		if err := s.cfg.Store.Delete(ctx, k); err != nil {
			return err
		}
	}
	if loaded+bad+len(stale) > 0 {
		s.log.Info("work proofs loaded", "proofs", loaded, "damaged", bad, "expired", len(stale))
	}
	return nil
}
