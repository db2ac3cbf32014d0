package chain

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/internal/reason"
	"github.com/lucidnet/lucid/vm"
)

type metrics struct {
	head, final, mempool              prometheus.Gauge
	blocks, proposed, fetched, served prometheus.Counter
	syncs, equivocations, fetchBad    prometheus.Counter
	rejected, txRejected              *prometheus.CounterVec
	arrival                           prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{
		head:          g("lucid_chain_head_height", "Height of the head of the chosen chain."),
		final:         g("lucid_chain_final_height", "Height of the latest final block."),
		mempool:       g("lucid_chain_mempool_txs", "Transactions waiting for a block."),
		blocks:        c("lucid_chain_blocks_accepted_total", "Valid blocks added (gossip, fetch and own)."),
		proposed:      c("lucid_chain_blocks_proposed_total", "Blocks this node proposed."),
		fetched:       c("lucid_chain_blocks_fetched_total", "Blocks added from the fetch protocol."),
		served:        c("lucid_chain_fetch_frames_served_total", "Blocks and heads served to fetching peers."),
		syncs:         c("lucid_chain_syncs_total", "Head comparisons that fetched blocks."),
		equivocations: c("lucid_chain_equivocations_total", "Second blocks of one proposer for one slot seen."),
		fetchBad:      c("lucid_chain_fetch_bad_requests_total", "Malformed fetch requests."),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_chain_blocks_rejected_total",
			Help: "Gossiped blocks refused or ignored, by reason."}, []string{"reason"}),
		txRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_chain_txs_rejected_total",
			Help: "Gossiped transactions refused, by reason."}, []string{"reason"}),
		arrival: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lucid_chain_block_arrival_seconds",
			Help: "How far into its slot a gossiped block arrived.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
	}
	for _, col := range []prometheus.Collector{m.head, m.final, m.mempool, m.blocks, m.proposed, m.fetched, m.served,
		m.syncs, m.equivocations, m.fetchBad, m.rejected, m.txRejected, m.arrival} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return m, nil
}

var reasons = reason.Table{
	{chain.ErrStateRoot, "state_root"}, {chain.ErrBadProof, "bad_proof"}, {chain.ErrHistory, "history"}, {chain.ErrBadTally, "bad_tally"},
	{consensus.ErrMalformed, "malformed"}, {consensus.ErrUnsupportedVersion, "unsupported_version"},
	{consensus.ErrBlockTooLarge, "oversize"}, {consensus.ErrBlockTooManyTxs, "too_many_txs"},
	{consensus.ErrBlockHeight, "height"}, {consensus.ErrBlockSlot, "slot"}, {consensus.ErrBlockPrev, "prev"},
	{consensus.ErrNotProposer, "not_proposer"}, {consensus.ErrProposerEarly, "early"},
	{consensus.ErrBlockSignature, "bad_signature"}, {consensus.ErrUnsupportedKey, "unsupported_key"},
	{consensus.ErrTxRoot, "tx_root"}, {consensus.ErrProofRoot, "proof_root"},
	{consensus.ErrRevertsFinal, "reverts_final"}, {consensus.ErrUnknownParent, "unknown_parent"},
	{vm.ErrMalformed, "tx_malformed"}, {vm.ErrUnsupportedVersion, "tx_version"}, {vm.ErrBadSignature, "tx_signature"},
	{vm.ErrBadNonce, "tx_nonce"}, {vm.ErrBlockLimit, "block_limit"}, {vm.ErrInvalidBlock, "invalid_block"},
}

// Reason is the metric label of a refusal.
func Reason(err error) string { return reasons.Of(err) }
