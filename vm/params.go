package vm

import (
	"sort"

	"github.com/lucidnet/lucid/consensus"
)

// ParamSpec is one entry of the parameter registry: its default (the
// genesis value unless overridden), its inclusive bounds, and whether
// governance may change it.
type ParamSpec struct {
	Name      string
	Default   uint64
	Min, Max  uint64
	Immutable bool
	Doc       string
}

// Parameter names the VM itself reads.
const (
	ParamEpochSlots        = "epoch_slots"
	ParamMaxBlockBytes     = "max_block_bytes"
	ParamMaxBlockTxs       = "max_block_txs"
	ParamMaxBlockGas       = "max_block_gas"
	ParamGovVotingBlocks   = "gov_voting_blocks"
	ParamGovTimelockBlocks = "gov_timelock_blocks"
	ParamGovQuorumPPM      = "gov_quorum_ppm"
	ParamSlotLengthMs      = "slot_length_ms"
	ParamSlotTimeoutMs     = "slot_timeout_ms"
	ParamMaxFallbacks      = "max_fallbacks"
)

func registry() []ParamSpec {
	d := consensus.DefaultParams()
	return []ParamSpec{
		// PoOT (package consensus); bounds from the ParamRegistry where the
		// spec gives them, else consensus.Params.Validate's.
		{ParamSlotLengthMs, uint64(d.SlotLength.Milliseconds()), 120_000, 120_000, true, "slot length; spec: immutable 120 s"},
		{ParamEpochSlots, d.EpochSlots, 720, 720, true, "epoch length in slots (24 h); accounting is keyed by it"},
		{ParamSlotTimeoutMs, uint64(d.SlotTimeout.Milliseconds()), 1_000, 10_000, false, "ParamRegistry slotTimeoutMs"},
		{"cooldown_slots", d.CooldownSlots, 8, 64, false, "ParamRegistry cooldownSlots"},
		{"window_slots", d.WindowSlots, 3 * 720, 14 * 720, false, "leaderWindowDays [3, 14] in 120 s slots"},
		{"d_min", d.DMin, 100_000, 500_000, false, "minimum uptime score, millionths (10–50 %)"},
		{"relay_bytes_per_credit", d.RelayBytesPerCredit, 1_000_000, 20_000_000, false, "BASE_MB_PER_SESSION (1–20 MB)"},
		{"storage_credits_per_gb", d.StorageCreditsPerGB, 0, 1000, false, ""},
		{"storage_credits_per_chunk", d.StorageCreditsPerChunk, 0, 1000, false, ""},
		{"validation_credits_per_session", d.ValidationCreditsPerSession, 0, 1000, false, ""},
		{"max_sessions_per_block", d.MaxSessionsPerBlock, 1, 1000, false, ""},
		{ParamMaxFallbacks, d.MaxFallbacks, 0, 16, false, "(max_fallbacks+1)·slot_timeout_ms ≤ slot_length_ms"},
		{"lookahead", d.Lookahead, 1, 64, false, ""},
		{"accept_window", d.AcceptWindow, 1, 64, false, ""},
		{"miss_penalty", d.MissPenalty, 0, 1_000_000, false, "millionths"},
		{"replica_target", d.ReplicaTarget, 1, 64, false, ""},
		{"client_relay_cap", d.ClientRelayCap, 1, 1 << 32, false, ""},
		{"node_relay_cap_per_slot", d.NodeRelayCapPerSlot, 1, 1 << 20, false, ""},
		// Chain.
		{"confirmation_blocks", 6, 1, 64, false, "consensus-config.yaml confirmation_blocks"},
		{ParamMaxBlockBytes, 1 << 20, 64 << 10, 8 << 20, false, "sum of transaction encodings per block"},
		{ParamMaxBlockTxs, 1000, 10, 10_000, false, "transactions per block"},
		{ParamMaxBlockGas, 8_000_000, 1_000_000, 100_000_000, false, "gas per block (gas_limit_per_block)"},
		// Governance.
		{ParamGovVotingBlocks, 5040, 10, 100_800, false, "blocks a proposal is open for votes"},
		{ParamGovTimelockBlocks, 720, 6, 100_800, false, "blocks between the close of a passed vote and its effect"},
		{ParamGovQuorumPPM, 400_000, 100_000, 1_000_000, false, "votes needed, millionths of the electorate at proposal time"},
		// Settlement (ParamRegistry.sol); amounts in micro-USDT.
		{"max_payout_usdt_micro", 1_000_000_000, 1_000_000, 10_000_000_000, false, "MAX_PAYOUT_AMOUNT 1000 USDT (1–10,000)"},
		{"daily_payout_limit_usdt_micro", 10_000_000_000, 1_000_000_000, 100_000_000_000, false, "DAILY_PAYOUT_LIMIT (1,000–100,000 USDT)"},
		{"min_kyc_level", 2, 1, 5, false, "MIN_KYC_LEVEL"},
		{"max_session_duration_s", 3600, 300, 86_400, false, "MAX_SESSION_DURATION"},
		{"max_chunk_size", 1 << 20, 64 << 10, 10 << 20, false, "MAX_CHUNK_SIZE"},
	}
}

var (
	paramList  = sortedRegistry()
	paramIndex = indexRegistry(paramList)
)

func sortedRegistry() []ParamSpec {
	r := registry()
	sort.Slice(r, func(i, j int) bool { return r[i].Name < r[j].Name })
	return r
}

func indexRegistry(r []ParamSpec) map[string]ParamSpec {
	m := make(map[string]ParamSpec, len(r))
	for _, p := range r {
		m[p.Name] = p
	}
	return m
}

// Params returns the parameter registry sorted by name.
func Params() []ParamSpec { return append([]ParamSpec(nil), paramList...) }

// LookupParam returns the registry entry for name.
func LookupParam(name string) (ParamSpec, bool) {
	p, ok := paramIndex[name]
	return p, ok
}

// checkParam checks one value against its own bounds.
func checkParam(name string, v uint64) error {
	p, ok := paramIndex[name]
	if !ok {
		return errf(ErrUnknownParam, "%q", name)
	}
	if v < p.Min || v > p.Max {
		return errf(ErrParamOutOfBounds, "%s = %d, want [%d, %d]", name, v, p.Min, p.Max)
	}
	return nil
}

// checkCross checks the constraints between parameters on a full set
// (get returns the value in effect).
func checkCross(get func(string) uint64) error {
	if (get(ParamMaxFallbacks)+1)*get(ParamSlotTimeoutMs) > get(ParamSlotLengthMs) {
		return errf(ErrParamOutOfBounds, "(max_fallbacks + 1) × slot_timeout_ms = %d exceeds slot_length_ms %d",
			(get(ParamMaxFallbacks)+1)*get(ParamSlotTimeoutMs), get(ParamSlotLengthMs))
	}
	return nil
}
