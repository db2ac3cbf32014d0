package crdt

import "time"

// Compact bounds the map's growth. It is the only operation besides Merge
// that changes records, and it is decided from each record's own fields
// and now alone, so every replica reaches the same result once its clock
// passes the same thresholds:
//
//   - A session whose phase is ended or failed and whose EndedAt is at or
//     before now - retention becomes a tombstone: it keeps its ID, origin
//     (host, service, creation time), phase, times, counters, relays,
//     manifest hash and anchor, and drops for good its sealed fields
//     (participants and private blob). This is a step up in the lattice,
//     not a deletion: the dropped fields join to a top element that
//     absorbs every later write, so a late delta for the session merges
//     its clear fields (a late counter still counts) and cannot bring the
//     sealed ones back.
//   - A session created before now - Params.Horizon is dropped entirely.
//     Authorize rejects every delta for such a session (ErrExpired), so
//     nothing can recreate it; this is what lets tombstones go.
//
// retention <= 0 means Params.Retention; all nodes should use the same
// value (see Params). Compact returns how many records it compacted and
// how many it dropped.
func (m *Map) Compact(now time.Time, retention time.Duration) (compacted, dropped int) {
	if retention <= 0 {
		retention = m.params.Retention
	}
	nowMs := now.UnixMilli()
	cutoff := nowMs - retention.Milliseconds()
	horizon := nowMs - m.params.Horizon.Milliseconds()
	for id, e := range m.recs {
		if e.r.origin.known() && e.r.origin.created < horizon {
			delete(m.recs, id)
			m.treeRemove(id)
			dropped++
			continue
		}
		if !e.r.compacted && e.r.phase.Terminal() && !e.r.ended.ts.IsZero() && e.r.ended.at <= cutoff {
			e.r, e.ok = e.r.compact(), false
			m.treeTouch(id)
			compacted++
		}
	}
	return compacted, dropped
}
