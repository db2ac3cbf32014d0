package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/node/poot"
	"github.com/lucidnet/lucid/node/rpc"
)

// startPoot starts work-proof gossip, the tally and this node's beacons.
// With recording.mongo_uri set, accepted proofs are also copied into
// MongoDB's task_proofs.
func (n *Node) startPoot(key crypto.PrivKey, genesis *chain.Genesis, reg prometheus.Registerer) error {
	params, err := n.pootParams(genesis)
	if err != nil {
		return fmt.Errorf("poot: %w", err)
	}
	var db *poot.ProofDB
	if uri := n.cfg.Recording.MongoURI; uri != "" {
		ctx, cancel := context.WithTimeout(context.Background(), mongoConnectTimeout)
		var err error
		db, err = poot.OpenProofDB(ctx, uri, n.log)
		cancel()
		if err != nil {
			return fmt.Errorf("recording.mongo_uri: %w", err)
		}
	}
	svc, err := poot.New(poot.Config{
		Network: n.net, Key: key, Store: n.store, Params: params, Pool: []byte(n.cfg.Poot.Pool),
		Log: n.log, Registry: reg, Now: n.now, Beacons: n.cfg.Poot.Beacons, DB: db, Proofs: n.proofsToChain(), Chain: n.chainContext(),
	})
	if err != nil {
		if db != nil {
			_ = db.Close(context.Background())
		}
		return fmt.Errorf("poot: %w", err)
	}
	n.poot, n.pootDB = svc, db
	return nil
}

// closePoot stops proof gossip and lets the MongoDB copy catch up.
func (n *Node) closePoot(ctx context.Context) error {
	if n.poot == nil {
		return nil
	}
	err := n.poot.Close()
	if n.pootDB != nil {
		err = errors.Join(err, n.pootDB.Close(ctx))
	}
	return err
}

// PootScheduleParams asks for the leaders of the next Slots slots.
type PootScheduleParams struct {
	Slots int `json:"slots,omitempty"` // default 10, at most 1000
}

var errNoPoot = rpc.Errorf(rpc.CodeMethodNotSupported, "work proofs are kept by nodes, not by lookup clients")

func (s *Service) PootStatus(ctx context.Context) (poot.Status, error) {
	if s.poot == nil {
		return poot.Status{}, errNoPoot
	}
	st, err := s.poot.Status(ctx)
	if err != nil || s.chain == nil {
		return st, err
	}
	// With a chain, credits and rank are the chain's: the tally its
	// schedule reads, over the proofs its blocks include.
	cs, err := s.chain.Standing(s.poot.Entity())
	if err != nil {
		return st, err
	}
	e := cs.Entry
	st.TallySlot, st.Entities, st.Eligibles, st.Rank = cs.TallySlot, cs.Entities, cs.Eligibles, cs.Rank
	st.Credits = poot.CreditsOf(e)
	st.UptimeScore, st.LiveScore, st.Eligible = e.Uptime, e.LiveScore, e.Eligible
	return st, nil
}

func (s *Service) PootSchedule(_ context.Context, p PootScheduleParams) ([]poot.ScheduledSlot, error) {
	if s.poot == nil {
		return nil, errNoPoot
	}
	if p.Slots == 0 {
		p.Slots = 10
	}
	if p.Slots < 1 || p.Slots > 1000 {
		return nil, rpc.InvalidParams("slots %d: want 1..1000", p.Slots)
	}
	if s.chain != nil {
		return s.chain.Schedule(p.Slots, s.poot.Entity())
	}
	return s.poot.Schedule(p.Slots)
}
