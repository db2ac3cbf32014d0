package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	nodechain "github.com/lucidnet/lucid/node/chain"
	"github.com/lucidnet/lucid/node/rpc"
	"github.com/lucidnet/lucid/sessions"
	"github.com/lucidnet/lucid/vm"
)

// ChainBlockParams names one block: by height on the chosen chain, or by
// hash (64 hex characters). Exactly one of the two.
type ChainBlockParams struct {
	Height *uint64 `json:"height,omitempty"`
	Hash   string  `json:"hash,omitempty"`
}

// ChainTxParams names one transaction by its hash (64 hex characters).
type ChainTxParams struct {
	Hash string `json:"hash"`
}

// ChainProofParams names a session: its usual ID text
// (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) or 32 hex characters.
type ChainProofParams struct {
	Session string `json:"session"`
}

// ChainProposeParams proposes setting a registry parameter. With Wait the
// call returns once the transaction is in a block of the chosen chain.
type ChainProposeParams struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
	Wait  bool   `json:"wait,omitempty"`
}

// ChainVoteParams casts this node's vote on a proposal.
type ChainVoteParams struct {
	Proposal uint64 `json:"proposal"`
	Yes      bool   `json:"yes"`
	Wait     bool   `json:"wait,omitempty"`
}

// ChainSubmitParams carries a transaction a wallet signed itself: the hex
// of its vm.Tx encoding.
type ChainSubmitParams struct {
	Tx string `json:"tx"`
}

// maxChainWait bounds how long a call with Wait holds its HTTP request:
// the CLI's client gives up after DefaultClientTimeout anyway.
const maxChainWait = 60 * time.Second

// errNoChain answers chain calls on a node that follows no chain (no
// genesis file) and on a lookup client.
var errNoChain = rpc.Errorf(rpc.CodeMethodNotSupported,
	"this node runs no chain (no genesis.json in its home and no [chain] genesis configured)")

func (s *Service) ChainHead(context.Context) (nodechain.HeadInfo, error) {
	if s.chain == nil {
		return nodechain.HeadInfo{}, errNoChain
	}
	return s.chain.Head(), nil
}

func (s *Service) ChainBlock(ctx context.Context, p ChainBlockParams) (nodechain.BlockInfo, error) {
	if s.chain == nil {
		return nodechain.BlockInfo{}, errNoChain
	}
	switch {
	case p.Height != nil && p.Hash != "":
		return nodechain.BlockInfo{}, rpc.InvalidParams("give height or hash, not both")
	case p.Height != nil:
		b, err := s.chain.BlockByHeight(ctx, *p.Height)
		return b, chainErr("block", err)
	case p.Hash != "":
		h, err := parseHash("hash", p.Hash)
		if err != nil {
			return nodechain.BlockInfo{}, err
		}
		b, err := s.chain.BlockByHash(ctx, h)
		return b, chainErr("block", err)
	}
	return nodechain.BlockInfo{}, rpc.InvalidParams("height or hash is required")
}

func (s *Service) ChainTx(ctx context.Context, p ChainTxParams) (nodechain.TxInfo, error) {
	if s.chain == nil {
		return nodechain.TxInfo{}, errNoChain
	}
	h, err := parseHash("hash", p.Hash)
	if err != nil {
		return nodechain.TxInfo{}, err
	}
	t, err := s.chain.Tx(ctx, h)
	return t, chainErr("transaction", err)
}

func (s *Service) ChainProof(ctx context.Context, p ChainProofParams) (nodechain.SessionProofInfo, error) {
	if s.chain == nil {
		return nodechain.SessionProofInfo{}, errNoChain
	}
	id, err := ParseChainSession(p.Session)
	if err != nil {
		return nodechain.SessionProofInfo{}, rpc.InvalidParams("session %q: %v", p.Session, err)
	}
	info, err := s.chain.SessionProof(ctx, id)
	return info, chainErr("session proof", err)
}

func (s *Service) ChainParams(context.Context) (nodechain.ParamsInfo, error) {
	if s.chain == nil {
		return nodechain.ParamsInfo{}, errNoChain
	}
	return s.chain.Params(), nil
}

func (s *Service) ChainProposeParam(ctx context.Context, p ChainProposeParams) (nodechain.TxInfo, error) {
	if s.chain == nil {
		return nodechain.TxInfo{}, errNoChain
	}
	// The VM would refuse these in the receipt, after a block's wait and
	// with the nonce spent: say so now, in words.
	spec, ok := vm.LookupParam(p.Name)
	if !ok {
		return nodechain.TxInfo{}, rpc.InvalidParams("unknown parameter %q (see lucid_chainParams)", p.Name)
	}
	if spec.Immutable {
		return nodechain.TxInfo{}, rpc.InvalidParams("parameter %s is fixed at genesis and cannot be changed by governance", p.Name)
	}
	if p.Value < spec.Min || p.Value > spec.Max {
		return nodechain.TxInfo{}, rpc.InvalidParams("%s = %d is out of bounds [%d, %d]", p.Name, p.Value, spec.Min, spec.Max)
	}
	if err := s.checkCross(p.Name, p.Value); err != nil {
		return nodechain.TxInfo{}, err
	}
	return s.submitAndWait(ctx, &vm.ProposeParam{Name: p.Name, Value: p.Value}, p.Wait)
}

// checkCross applies the one constraint between parameters the VM checks
// (vm.checkCross) against the values in effect at the head.
func (s *Service) checkCross(name string, value uint64) error {
	if name != vm.ParamMaxFallbacks && name != vm.ParamSlotTimeoutMs {
		return nil
	}
	cur := map[string]uint64{}
	for _, p := range s.chain.Params().Params {
		cur[p.Name] = p.Value
	}
	cur[name] = value
	if (cur[vm.ParamMaxFallbacks]+1)*cur[vm.ParamSlotTimeoutMs] > cur[vm.ParamSlotLengthMs] {
		return rpc.InvalidParams("(max_fallbacks + 1) × slot_timeout_ms = %d would exceed slot_length_ms %d",
			(cur[vm.ParamMaxFallbacks]+1)*cur[vm.ParamSlotTimeoutMs], cur[vm.ParamSlotLengthMs])
	}
	return nil
}

func (s *Service) ChainVote(ctx context.Context, p ChainVoteParams) (nodechain.TxInfo, error) {
	if s.chain == nil {
		return nodechain.TxInfo{}, errNoChain
	}
	// Proposal IDs start at 1. Whether the proposal exists is left to the
	// VM: it may still be in the pool, proposed a moment ago.
	if p.Proposal == 0 {
		return nodechain.TxInfo{}, rpc.InvalidParams("proposal IDs start at 1")
	}
	return s.submitAndWait(ctx, &vm.Vote{Proposal: p.Proposal, Yes: p.Yes}, p.Wait)
}

func (s *Service) ChainSubmitTx(ctx context.Context, p ChainSubmitParams) (nodechain.TxInfo, error) {
	if s.chain == nil {
		return nodechain.TxInfo{}, errNoChain
	}
	raw, err := hex.DecodeString(p.Tx)
	if err != nil || len(raw) == 0 {
		return nodechain.TxInfo{}, rpc.InvalidParams("tx must be the hex of a signed transaction encoding")
	}
	h, err := s.chain.SubmitRaw(ctx, raw)
	if err != nil {
		return nodechain.TxInfo{}, rpc.Errorf(rpc.CodeTransactionRejected, "transaction rejected: %v", err)
	}
	return s.pendingTx(ctx, h)
}

// submitAndWait signs body with the node's key, pools and gossips it, and
// returns it pending, or with wait once a block of the chosen chain holds
// it (its receipt then says whether it took effect).
func (s *Service) submitAndWait(ctx context.Context, body vm.Body, wait bool) (nodechain.TxInfo, error) {
	h, err := s.chain.Submit(ctx, body)
	if err != nil {
		return nodechain.TxInfo{}, rpc.Errorf(rpc.CodeTransactionRejected, "transaction rejected: %v", err)
	}
	if !wait {
		return s.pendingTx(ctx, h)
	}
	wctx, cancel := context.WithTimeout(ctx, maxChainWait)
	defer cancel()
	t, err := s.chain.WaitTx(wctx, h, false)
	if err != nil {
		return t, unavailable(fmt.Sprintf("waiting for transaction %x to be included (it stays in the pool)", h), err)
	}
	return t, nil
}

// pendingTx describes a transaction just submitted. A fast block may have
// taken it already, so the lookup says where it is; only if that fails is
// the bare hash returned.
func (s *Service) pendingTx(ctx context.Context, h [32]byte) (nodechain.TxInfo, error) {
	t, err := s.chain.Tx(ctx, h)
	if err != nil {
		return nodechain.TxInfo{Hash: hex.EncodeToString(h[:]), Status: "pending"}, nil
	}
	return t, nil
}

// chainErr turns the chain's not-found into -32001 and anything else into
// an internal error with its text.
func chainErr(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nodechain.ErrNotFound):
		// "chain: not found: block 1a2b…": the words after the package.
		return rpc.NotFound("%s", strings.TrimPrefix(err.Error(), "chain: "))
	}
	return fmt.Errorf("%s: %w", what, err)
}

func parseHash(field, s string) ([32]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return [32]byte{}, rpc.InvalidParams("%s %q: want 64 hex characters", field, s)
	}
	return [32]byte(b), nil
}

// ParseChainSession reads a session ID as the chain names it: the usual
// session ID text or its 32 hex characters.
func ParseChainSession(s string) (vm.SessionID, error) {
	if len(s) == 32 {
		b, err := hex.DecodeString(s)
		if err != nil {
			return vm.SessionID{}, fmt.Errorf("want a session ID or 32 hex characters: %w", err)
		}
		return vm.SessionID(b), nil
	}
	id, err := sessions.ParseID(s)
	if err != nil {
		return vm.SessionID{}, err
	}
	return vm.SessionID(id), nil
}
