package chain

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// Candidates are what a proposer may put in its block, best first: the
// shell's pending transactions and the proofs gossip accepted. Build
// takes what the rules allow and skips the rest.
type Candidates struct {
	Txs    [][]byte
	Proofs [][]byte
}

// Build makes and signs the block key's node proposes for slot on top of
// parent: the candidate proofs the inclusion rules accept (up to
// MaxBlockProofs and ProofBudget bytes), then the candidate transactions
// that are well formed, signed, their sender's next nonce and within the
// block limits, executed to fill in the state root. It fails with
// ErrNotLeader when the key does not lead the slot.
func (e *Engine) Build(parent [32]byte, slot consensus.Slot, key crypto.PrivKey, c Candidates) (*consensus.Block, error) {
	self, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	pe := e.entries[parent]
	if pe == nil || pe.state == nil {
		return nil, fmt.Errorf("%w: %x", consensus.ErrUnknownParent, parent[:8])
	}
	if _, ok, err := e.Rank(parent, slot, self); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("%w: %s at slot %d", ErrNotLeader, self, slot)
	}
	sc, err := e.schedule(pe, slot)
	if err != nil {
		return nil, err
	}
	proofs := e.pickProofs(pe, slot, c.Proofs)
	txs, next := pickTxs(pe.state, c.Txs)
	if commit, ok := e.dueCommit(pe, slot); ok {
		n, ok := next[self]
		if !ok {
			n = pe.state.Nonce(self)
		}
		tx := &vm.Tx{Sender: self, Nonce: n, Body: commit}
		if err := tx.Sign(key); err != nil {
			return nil, err
		}
		// Last, after this node's pooled transactions, so that their
		// nonces stay in order.
		txs = append(txs, tx.Encode())
	}
	in := vm.BlockInput{Height: pe.header.Height + 1, Slot: uint64(slot), Proposer: self, Eligible: Electorate(sc.tally)}
	var state *vm.State
	for {
		in.Txs = txs
		state, _, err = vm.ApplyBlock(pe.state, in)
		var te *vm.TxError
		if err == nil || !errors.As(err, &te) {
			break
		}
		// pickTxs checks what the VM checks up front; drop a transaction
		// it still refuses rather than miss the slot.
		txs = append(txs[:te.Index:te.Index], txs[te.Index+1:]...)
	}
	if err != nil {
		return nil, err
	}
	h := consensus.BlockHeader{Version: consensus.BlockVersion, Height: in.Height, Slot: slot, Prev: parent,
		Proposer: self, TxRoot: consensus.TxRoot(txs), ProofRoot: consensus.ProofRoot(proofs), StateRoot: state.Root()}
	if err := h.Sign(key); err != nil {
		return nil, err
	}
	return &consensus.Block{Header: h, Body: consensus.Body{Txs: txs, Proofs: proofs}}, nil
}

func (e *Engine) pickProofs(parent *entry, slot consensus.Slot, cands [][]byte) [][]byte {
	var out [][]byte
	seen := map[[32]byte]struct{}{}
	size := 0
	for _, raw := range cands {
		if len(out) == MaxBlockProofs {
			break
		}
		if size+len(raw) > ProofBudget {
			continue
		}
		p, err := consensus.DecodeProof(raw)
		if err != nil || e.checkProof(p, parent, slot, seen) != nil {
			continue
		}
		seen[p.ID()] = struct{}{}
		out = append(out, raw)
		size += len(raw)
	}
	return out
}

// pickTxs takes candidates in order while they fit the block limits in
// effect after s, skipping those the VM would refuse the whole block for.
func pickTxs(s *vm.State, cands [][]byte) ([][]byte, map[peer.ID]uint64) {
	maxTxs, _ := s.Param(vm.ParamMaxBlockTxs)
	maxBytes, _ := s.Param(vm.ParamMaxBlockBytes)
	maxGas, _ := s.Param(vm.ParamMaxBlockGas)
	next := map[peer.ID]uint64{}
	var out [][]byte
	var size, gas uint64
	for _, raw := range cands {
		if uint64(len(out)) == maxTxs-1 { // room for a commit-tally
			break
		}
		tx, err := vm.DecodeTx(raw)
		if err != nil || tx.VerifySignature() != nil {
			continue
		}
		n, ok := next[tx.Sender]
		if !ok {
			n = s.Nonce(tx.Sender)
		}
		g := vm.TxGas(tx, len(raw))
		if tx.Nonce != n || size+uint64(len(raw)) > maxBytes-commitRoom || gas+g > maxGas-commitGasRoom {
			continue
		}
		next[tx.Sender] = n + 1
		out = append(out, raw)
		size += uint64(len(raw))
		gas += g
	}
	return out, next
}

// Room kept in every block for the proposer's commit-tally: the bytes and
// gas of a commit with a few hundred entries (a larger one still fits
// the absolute limits of most blocks; when it does not, the VM refuses
// the block and the builder drops candidates until it fits).
const (
	commitRoom    = 32 << 10
	commitGasRoom = 500_000
)
