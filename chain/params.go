package chain

import (
	"fmt"
	"time"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// ProofBudget is the room a block has for PoOT proofs and its header on
// top of max_block_bytes (which counts transactions only), and
// MaxBlockProofs the number of proofs it may carry.
const (
	ProofBudget    = 512 << 10
	MaxBlockProofs = 4096
	headerBudget   = 4 << 10
)

// ConsensusParams reads the PoOT parameters in effect from a state: the
// registry values, with genesis as the start of slot 0. Parameters the
// registry does not hold (proof size limits) keep their defaults.
func ConsensusParams(s *vm.State, genesis time.Time) (consensus.Params, error) {
	p := consensus.DefaultParams()
	p.Genesis = genesis
	u := func(name string) uint64 {
		v, ok := s.Param(name)
		if !ok {
			panic("chain: registry parameter missing from state: " + name)
		}
		return v
	}
	p.SlotLength = time.Duration(u(vm.ParamSlotLengthMs)) * time.Millisecond
	p.SlotTimeout = time.Duration(u(vm.ParamSlotTimeoutMs)) * time.Millisecond
	p.EpochSlots = u(vm.ParamEpochSlots)
	p.MaxFallbacks = u(vm.ParamMaxFallbacks)
	p.CooldownSlots = u("cooldown_slots")
	p.WindowSlots = u("window_slots")
	p.DMin = u("d_min")
	p.RelayBytesPerCredit = u("relay_bytes_per_credit")
	p.StorageCreditsPerGB = u("storage_credits_per_gb")
	p.StorageCreditsPerChunk = u("storage_credits_per_chunk")
	p.ValidationCreditsPerSession = u("validation_credits_per_session")
	p.MaxSessionsPerBlock = u("max_sessions_per_block")
	p.Lookahead = u("lookahead")
	p.AcceptWindow = u("accept_window")
	p.MissPenalty = u("miss_penalty")
	p.ReplicaTarget = u("replica_target")
	p.ClientRelayCap = u("client_relay_cap")
	p.NodeRelayCapPerSlot = u("node_relay_cap_per_slot")
	if err := p.Validate(); err != nil {
		return consensus.Params{}, fmt.Errorf("chain: parameters in state: %w", err)
	}
	return p, nil
}

// blockParams are the limits VerifyBlock applies under state s, with the
// genesis bootstrap node proposing slots nobody is eligible for and pool
// members proposing at their pool's rank.
func (e *Engine) blockParams(p consensus.Params, s *vm.State) consensus.BlockParams {
	bp := consensus.DefaultBlockParams(p)
	maxBytes, _ := s.Param(vm.ParamMaxBlockBytes)
	maxTxs, _ := s.Param(vm.ParamMaxBlockTxs)
	bp.MaxBlockBytes = int(maxBytes) + ProofBudget + headerBudget
	bp.MaxBlockTxs = int(maxTxs)
	bp.Bootstrap = e.gen.Bootstrap
	bp.PoolOf = e.poolOf
	return bp
}

// DefaultDevConfirmations is the finality depth of DevParams.
const DefaultDevConfirmations = 6

// DevParams are the overrides of a development network (Genesis.Dev):
// one-second slots with 100 ms leader turns, a 20-slot tally window and
// 10-slot epochs, so that nodes become eligible, rotate and earn within
// a minute.
func DevParams() map[string]uint64 {
	return map[string]uint64{
		vm.ParamSlotLengthMs:      1000,
		vm.ParamSlotTimeoutMs:     100,
		vm.ParamEpochSlots:        10,
		"window_slots":            20,
		"cooldown_slots":          2,
		"lookahead":               1,
		"accept_window":           2,
		vm.ParamGovVotingBlocks:   10,
		vm.ParamGovTimelockBlocks: 6,
	}
}
