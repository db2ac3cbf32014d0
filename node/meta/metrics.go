package meta

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/internal/reason"
)

type metrics struct {
	updates    prometheus.Counter
	received   *prometheus.CounterVec // by channel: gossip, sync
	sent       *prometheus.CounterVec
	rejected   *prometheus.CounterVec // by reason
	duplicates *prometheus.CounterVec
	bytesIn    *prometheus.CounterVec
	bytesOut   *prometheus.CounterVec
	syncs      *prometheus.CounterVec // by result: in_sync, repaired, failed
	compacted  prometheus.Counter
	dropped    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	via := []string{"channel"}
	m := &metrics{
		updates:    prometheus.NewCounter(prometheus.CounterOpts{Name: "lucid_meta_updates_total", Help: "Local session-metadata updates signed and gossiped."}),
		received:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_meta_deltas_received_total", Help: "Signed deltas merged, by channel (gossip, sync)."}, via),
		sent:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_meta_deltas_sent_total", Help: "Signed deltas sent, by channel (gossip, sync)."}, via),
		rejected:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_meta_deltas_rejected_total", Help: "Deltas refused, by reason."}, []string{"reason"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_meta_deltas_duplicate_total", Help: "Valid deltas that changed nothing, by channel."}, via),
		bytesIn:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_meta_received_bytes_total", Help: "Session-metadata bytes received, by channel."}, via),
		bytesOut:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_meta_sent_bytes_total", Help: "Session-metadata bytes sent, by channel."}, via),
		syncs:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lucid_meta_syncs_total", Help: "Anti-entropy rounds, by result (in_sync, repaired, failed)."}, []string{"result"}),
		compacted:  prometheus.NewCounter(prometheus.CounterOpts{Name: "lucid_meta_tombstoned_total", Help: "Ended sessions turned into tombstones by retention."}),
		dropped:    prometheus.NewCounter(prometheus.CounterOpts{Name: "lucid_meta_dropped_total", Help: "Records dropped at the horizon."}),
	}
	for _, c := range []prometheus.Collector{m.updates, m.received, m.sent, m.rejected, m.duplicates, m.bytesIn, m.bytesOut, m.syncs, m.compacted, m.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// reasons names each rejection for the rejected counter.
var reasons = reason.Table{
	{ErrBadEnvelope, "bad_envelope"}, {ErrBadSignature, "bad_signature"},
	{crdt.ErrTooLarge, "too_large"}, {crdt.ErrTooManyEntries, "too_many_entries"},
	{crdt.ErrMalformed, "malformed"}, {crdt.ErrUnsupportedVersion, "unsupported_version"},
	{crdt.ErrWrongSigner, "wrong_signer"}, {crdt.ErrEmptyDelta, "empty"},
	{crdt.ErrNotHost, "not_host"}, {crdt.ErrUnknownSession, "unknown_session"},
	{crdt.ErrHostConflict, "host_conflict"}, {crdt.ErrForeignCounter, "foreign_counter"},
	{crdt.ErrForeignStamp, "foreign_stamp"}, {crdt.ErrNotRelay, "not_relay"},
	{crdt.ErrExpired, "expired"}, {crdt.ErrFromFuture, "from_future"},
}

// Reason is the metric label of a rejection.
func Reason(err error) string { return reasons.Of(err) }

// deferrable rejections may become acceptable once a prerequisite (the
// host's Create, its AddRelay) arrives: gossip ignores them rather than
// penalizing the sender, and anti-entropy brings them in order.
//
// Time-bound refusals (a timestamp ahead of this node's clock, a session
// past the horizon) are ignored too: an honest forwarder whose clock
// differs a little from ours causes them.
func deferrable(err error) bool {
	return errors.Is(err, crdt.ErrUnknownSession) || errors.Is(err, crdt.ErrNotRelay) ||
		errors.Is(err, crdt.ErrFromFuture) || errors.Is(err, crdt.ErrExpired)
}
