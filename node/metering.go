package node

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/sessions"
)

// Metering for relay credits: as a client, this process signs cumulative
// receipts of the bytes a host delivered; as a host, the node keeps the
// receipts its clients sign and publishes them in its relay proof for
// each slot (docs/poot.md).

// meter signs a client's metering receipt for the current slot.
func (n *Node) meter(key crypto.PrivKey) func(info sessions.Info, received uint64) ([]byte, error) {
	params := n.cfg.Poot.params()
	self, err := peer.IDFromPrivateKey(key)
	return func(info sessions.Info, received uint64) ([]byte, error) {
		if err != nil {
			return nil, err
		}
		slot := params.SlotAt(n.now())
		start := params.SlotAt(info.StartedAt)
		if info.StartedAt.IsZero() || start > slot {
			start = slot
		}
		r := consensus.MeteringReceipt{Session: info.ID, Host: info.Peer, Client: self, Slot: slot, Start: start, Bytes: received}
		if err := r.Sign(key); err != nil {
			return nil, err
		}
		n.log.Debug("metering receipt signed", "session", info.ID, "slot", slot, "bytes", received)
		return r.Encode()
	}
}

// onMetering hands a receipt a client sent for a hosted session to the
// relay proof of its slot.
func (n *Node) onMetering(info sessions.Info, blob []byte, _ uint64) {
	r, err := consensus.DecodeReceipt(blob)
	if err == nil && (r.Session != info.ID || r.Client != info.Peer) {
		err = fmt.Errorf("receipt for session %s by %s, not this session's client", r.Session, r.Client)
	}
	if err == nil {
		err = n.poot.AddReceipt(r)
	}
	if err != nil {
		n.log.Debug("metering receipt not kept", "session", info.ID, "err", err)
		return
	}
	n.log.Debug("metering receipt kept", "session", info.ID, "slot", r.Slot, "bytes", r.Bytes)
}
