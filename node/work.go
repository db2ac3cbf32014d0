package node

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/node/poot"
	"github.com/lucidnet/lucid/node/rpc"
)

// startPoot starts work-proof gossip, the tally and this node's beacons.
func (n *Node) startPoot(key crypto.PrivKey, reg prometheus.Registerer) error {
	svc, err := poot.New(poot.Config{
		Network: n.net, Key: key, Store: n.store, Params: n.cfg.Poot.params(), Pool: []byte(n.cfg.Poot.Pool),
		Log: n.log, Registry: reg, Now: n.now, Beacons: n.cfg.Poot.Beacons,
	})
	if err != nil {
		return fmt.Errorf("poot: %w", err)
	}
	n.poot = svc
	return nil
}

// PootScheduleParams asks for the leaders of the next Slots slots.
type PootScheduleParams struct {
	Slots int `json:"slots,omitempty"` // default 10, at most 1000
}

var errNoPoot = rpc.Errorf(rpc.CodeMethodNotSupported, "work proofs are kept by nodes, not by lookup clients")

func (s *Service) PootStatus(context.Context) (poot.Status, error) {
	if s.poot == nil {
		return poot.Status{}, errNoPoot
	}
	return s.poot.Status()
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
	return s.poot.Schedule(p.Slots)
}
