package poot

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/internal/reason"
)

type metrics struct {
	sent     *prometheus.CounterVec // by type
	accepted *prometheus.CounterVec // by type
	rejected *prometheus.CounterVec // by reason
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sent:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_poot_proofs_sent_total", Help: "Work proofs this node published, by type."}, []string{"type"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_poot_proofs_accepted_total", Help: "Work proofs from the network accepted, by type."}, []string{"type"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_poot_proofs_rejected_total", Help: "Work proofs refused or ignored, by reason."}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.sent, m.accepted, m.rejected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

var reasons = reason.Table{
	{consensus.ErrMalformed, "malformed"}, {consensus.ErrUnsupportedVersion, "unsupported_version"},
	{consensus.ErrUnknownType, "unknown_type"}, {consensus.ErrOversize, "oversize"},
	{consensus.ErrBadSignature, "bad_signature"}, {consensus.ErrUnsupportedKey, "unsupported_key"},
	{consensus.ErrSlotOutOfWindow, "wrong_slot"}, {consensus.ErrNotPoolMember, "not_pool_member"},
	{consensus.ErrMissingCounterSignature, "missing_countersignature"}, {consensus.ErrBadCounterSignature, "bad_countersignature"},
	{consensus.ErrReceiptHost, "receipt_host"}, {consensus.ErrReceiptSlot, "receipt_slot"},
	{consensus.ErrSelfDealing, "self_dealing"}, {consensus.ErrUnknownSeed, "unknown_seed"},
	{consensus.ErrNoClaims, "no_claims"}, {consensus.ErrUnknownRoot, "unknown_root"},
	{consensus.ErrChallengeMismatch, "challenge_mismatch"}, {consensus.ErrBadInclusion, "bad_inclusion"},
	{consensus.ErrBadSlice, "bad_slice"}, {consensus.ErrChunkMismatch, "chunk_mismatch"},
	{consensus.ErrUnknownBlock, "unknown_block"}, {consensus.ErrBlockMismatch, "block_mismatch"},
	{consensus.ErrDuplicate, "duplicate"}, {consensus.ErrEquivocation, "equivocation"},
	{consensus.ErrReplay, "replay"}, {consensus.ErrDedupFull, "dedup_full"},
}

// Reason is the metric label of a refusal.
func Reason(err error) string { return reasons.Of(err) }
