package crdt

import (
	"time"
)

// writesHostFields reports whether r writes any host-owned field.
func (r *rec) writesHostFields() bool {
	return r.origin.known() || r.phase != 0 || !r.started.ts.IsZero() || !r.ended.ts.IsZero() ||
		len(r.relays) > 0 || len(r.participants) > 0 || !r.private.ts.IsZero() ||
		!r.manifest.ts.IsZero() || !r.anchor.ts.IsZero()
}

// Authorize applies the rules a gossip validator checks before Merge. The
// shell verifies the envelope's signature and passes the signing peer;
// now is the local physical time. The rules, checked in this order, each
// with its own error:
//
//  1. The delta's author is the signer (ErrWrongSigner).
//  2. The delta is not empty (ErrEmptyDelta), its encoding is at most
//     MaxDeltaSize bytes (ErrTooLarge) and it writes at most
//     MaxDeltaRecords sessions (ErrTooManyEntries).
//  3. Per session: every register timestamp and set dot is the author's
//     own (ErrForeignStamp) and every counter entry is the author's own
//     (ErrForeignCounter); no timestamp, creation, start or end time lies
//     more than Params.MaxSkew after now (ErrFromFuture).
//  4. The host is known, from the map or from a Create in the delta
//     (ErrUnknownSession). A Create must name its author as host
//     (ErrNotHost) and agree with the origin the map knows
//     (ErrHostConflict): the host of a session never changes.
//  5. The session was created at or after now - Params.Horizon
//     (ErrExpired).
//  6. Host-owned fields are written by the host only (ErrNotHost);
//     counter entries by the host or a relay the map knows was added
//     (ErrNotRelay).
//  7. After the merge the session would hold at most MaxRelays relays
//     and MaxParticipants participants, counting removed ones
//     (ErrTooManyEntries).
//
// Rules 1-3 and 5 depend only on the delta and now. Rules 4, 6 and 7 read
// the map, but monotonically except 7: a delta accepted at some state is
// accepted at every later state (hosts never change, relays once added
// stay authorized, compaction keeps both), and a delta rejected with
// ErrUnknownSession or ErrNotRelay becomes acceptable once the Create or
// AddRelay it depends on has been merged — anti-entropy delivers those
// first. Rule 7 can only reject deltas of a host that overran its own
// session's limits, so an honest host never sees it.
func (m *Map) Authorize(d Delta, signer ReplicaID, now time.Time) error {
	if d.author != signer {
		return errf(ErrWrongSigner, "author %s, signer %s", d.author, signer)
	}
	if len(d.ids) == 0 {
		return errf(ErrEmptyDelta, "delta by %s writes nothing", d.author)
	}
	if len(d.enc) > MaxDeltaSize {
		return errf(ErrTooLarge, "delta of %d bytes, limit %d", len(d.enc), MaxDeltaSize)
	}
	if len(d.ids) > MaxDeltaRecords {
		return errf(ErrTooManyEntries, "%d records, limit %d", len(d.ids), MaxDeltaRecords)
	}
	nowMs := now.UnixMilli()
	future := nowMs + m.params.MaxSkew.Milliseconds()
	horizon := nowMs - m.params.Horizon.Milliseconds()
	for i, id := range d.ids {
		r := &d.recs[i]
		if err := r.stamps(func(t Timestamp, what string) error {
			if t.Replica != d.author {
				return errf(ErrForeignStamp, "session %s: %s stamped by %s, author %s", id, what, t.Replica, d.author)
			}
			if t.Wall > future {
				return errf(ErrFromFuture, "session %s: %s stamped %s, now %s", id, what, t.Time().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, c := range r.counters {
			if c.replica != d.author {
				return errf(ErrForeignCounter, "session %s: counter entry of %s in a delta by %s", id, c.replica, d.author)
			}
		}
		for _, t := range []struct {
			ms   int64
			what string
		}{{r.origin.created, "creation time"}, {r.started.at, "start time"}, {r.ended.at, "end time"}} {
			if t.ms > future {
				return errf(ErrFromFuture, "session %s: %s %s, now %s", id, t.what, unixMilli(t.ms).Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
			}
		}

		var cur *rec
		if e := m.recs[id]; e != nil {
			cur = &e.r
		}
		var known originReg
		if cur != nil {
			known = cur.origin
		}
		if r.origin.known() {
			if r.origin.host != d.author {
				return errf(ErrNotHost, "session %s: create names host %s, author %s", id, r.origin.host, d.author)
			}
			if known.known() && (known.host != r.origin.host || known.service != r.origin.service || known.created != r.origin.created) {
				return errf(ErrHostConflict, "session %s: created by %s for %q at %d, delta claims %s for %q at %d",
					id, known.host, known.service, known.created, r.origin.host, r.origin.service, r.origin.created)
			}
			if !known.known() {
				known = r.origin
			}
		}
		if !known.known() {
			return errf(ErrUnknownSession, "session %s: host not known", id)
		}
		if known.created < horizon {
			return errf(ErrExpired, "session %s created %s, horizon %s", id,
				unixMilli(known.created).Format(time.RFC3339), unixMilli(max(horizon, 1)).Format(time.RFC3339))
		}
		isHost := d.author == known.host
		if r.writesHostFields() && !isHost {
			return errf(ErrNotHost, "session %s: host-owned field written by %s, host %s", id, d.author, known.host)
		}
		if len(r.counters) > 0 && !isHost && (cur == nil || !cur.relays.known(string(d.author))) {
			return errf(ErrNotRelay, "session %s: %s counts but is neither host nor relay", id, d.author)
		}
		if cur != nil {
			if n := len(joinSet(cur.relays, r.relays)); n > MaxRelays {
				return errf(ErrTooManyEntries, "session %s would hold %d relays, limit %d", id, n, MaxRelays)
			}
			if n := len(joinSet(cur.participants, r.participants)); !cur.compacted && n > MaxParticipants {
				return errf(ErrTooManyEntries, "session %s would hold %d participants, limit %d", id, n, MaxParticipants)
			}
		} else if len(r.relays) > MaxRelays || len(r.participants) > MaxParticipants {
			return errf(ErrTooManyEntries, "session %s: %d relays, %d participants", id, len(r.relays), len(r.participants))
		}
	}
	return nil
}
