// Package crdt is the deterministic core of the replicated session-metadata
// map: a delta-state CRDT (Almeida, Shoker, Baquero 2018) from session IDs
// to session records, with the authorization rules, digests, anti-entropy
// protocol, snapshots and compaction that a replication shell needs.
//
// The package is pure: no clocks (time is an argument), no randomness, no
// network, no goroutines. The shell built on it (GossipSub for deltas, a
// stream for anti-entropy, Badger for persistence, signed envelopes) owns
// all I/O, signing and locking. The original design (spec §3.3) kept "the
// value with the later wall-clock timestamp" next to a vector clock: last
// writer wins on wall clocks, so a node with a fast clock silently won
// every conflict and counters written on two nodes lost increments. Here
// every field is a lattice with a single writer per part: merges commute,
// and no delivery order can lose an increment, an add, or a phase step.
//
// # Data model and merge rules
//
// A record is the product of the field lattices below, so its join is
// commutative, associative and idempotent because each field's is; the
// map is the pointwise product of records (a missing record is the bottom
// element). Values are kept normalized (no zero counter entries, no
// element without dots, unset registers all zero), so equal states have
// equal canonical encodings and equal hashes.
//
//	field              lattice                               join                           written by
//	-----------------  ------------------------------------  -----------------------------  -----------
//	Host, Service,     write-once register (origin)          smaller HLC stamp, then        host (Create)
//	CreatedAt                                                smaller values
//	Phase              total order created 1 < active 2      max                            host
//	                   < ended 3 < failed 4
//	StartedAt,EndedAt  LWW registers                         larger HLC stamp, then value   host (SetPhase)
//	BytesIn, BytesOut, G-Counter of triples: map replica     per replica, per component     each replica its
//	Chunks             → (in, out, chunks); value = sum      max                            own entry
//	Relays             add-wins OR-set of relay peer IDs     per element, per adder: max    host
//	                                                         add dot, max removed dot
//	Participants       add-wins OR-set of sealed byte        as Relays                      host
//	                   strings (≤ 512 B each)
//	Private            LWW register of a sealed blob         larger stamp, then bytes       host
//	                   (≤ 4 KiB)
//	ManifestHash       LWW register of [32]byte              larger stamp, then bytes       host
//	Anchor             LWW register of (status, ref ≤ 128 B) larger stamp, then value       host
//	(compaction)       flag; sealed fields ⊔ ⊤ = ⊤           or                             Compact
//
// Registers are ordered by hybrid-logical-clock timestamps (wall ms,
// logical counter, replica ID), compared in that order, so ties are
// impossible between replicas and, with equal stamps (a replica that
// reused one), the value decides: every replica picks the same winner
// whatever the delivery order. The sets are the optimized OR-Set of
// Bieniusa et al. (2012) in delta form: an element keeps, per replica
// that added it, that replica's latest add dot and the largest of its
// dots a remove observed; it is present while some add dot exceeds its
// removed dot. A remove covers only what it saw, so a concurrent add wins.
// The phase is a lattice, not a register: once a replica has seen "ended"
// no delivery order can bring "active" back.
//
// # Privacy split
//
// The map replicates to every node, so what users are never appears in
// clear:
//
//	in clear (infrastructure)              sealed (opaque bytes here)
//	-------------------------------------  ----------------------------------------
//	session ID, host, service              participants: user identities, sealed
//	phase, created/started/ended times        to the session's participants
//	counters (per replica and totals)      private blob: client peer ID and consent
//	relays (infrastructure peer IDs)          receipt, sealed by the shell
//	manifest hash, anchor status and ref
//
// The core never looks inside sealed bytes; an element's identity is its
// bytes (so the shell must seal deterministically per participant if it
// wants removes to find them). Compaction deletes the sealed fields.
//
// # Clock
//
// Clock is a hybrid logical clock: Now(physical) never goes backwards even
// when physical time does, and the logical counter never overflows (the
// wall part advances by 1 ms instead). Observe refuses remote readings
// more than MaxSkew ahead, so one wrong clock cannot drag others into the
// future. Since only the host writes registers, correctness never depends
// on clocks being synchronized, only on each replica's own clock being
// monotonic (Restore a persisted Last after a restart). For the same
// reason the shell need not Observe remote stamps at all; if it does, only
// after Authorize, and knowing that observed skew adds up along a chain
// of replicas. A replica whose
// clock ran more than MaxSkew fast and was then corrected cannot write
// until real time catches up with its last stamp: its writes would be
// rejected everywhere (ErrFromFuture), and its own Update says so first.
//
// # Operations and deltas
//
// Map.Update applies Changes (Create, SetPhase, AddCounters, AddRelay,
// RemoveRelay, AddParticipant, RemoveParticipant, SetPrivate, SetManifest,
// SetAnchor) as one author and returns a Delta: just the touched fields of
// one session, stamped by the author's clock. The delta passes Authorize
// on the local map before it is merged; the shell signs delta.Encode() and
// gossips it. Map.Merge joins any delta: any order, duplicates, and deltas
// for sessions whose Create was never seen (the record then holds only
// what is known). JoinDeltas folds deltas of one author into one (itself a
// delta of that author), and Delta.Covers tells whether one delta already
// contains another.
//
// Encodings (deltas, sync messages, snapshot records) are canonical CBOR
// with integer keys, versioned, and strictly decoded: unknown or
// duplicate keys, non-canonical forms, out-of-range values, unsorted
// lists and oversize input are errors, and every decoder insists that
// re-encoding reproduces the input. Within a record the replica ID of the
// delta's author (in a record outside a delta: the host) is elided. The
// golden vector in testdata/golden-delta.json pins the format.
//
// # Authorization
//
// Map.Authorize(d, signer, now) is the gossip validator's check, after the
// shell has verified the signature. In short: the author is the signer;
// every stamp, dot and counter entry in the delta is the author's own;
// nothing is stamped more than MaxSkew in the future; the session's host
// is known (from the map, or from a Create in the delta naming the author)
// and a Create never contradicts the known origin; host-owned fields come
// from the host only; counter entries from the host or a relay once added;
// sizes and entry counts stay within the limits; the session is not older
// than the horizon. Each rejection has its own error (ErrWrongSigner,
// ErrForeignStamp, ErrForeignCounter, ErrFromFuture, ErrUnknownSession,
// ErrNotHost, ErrHostConflict, ErrNotRelay, ErrTooLarge,
// ErrTooManyEntries, ErrExpired, ErrEmptyDelta) so the shell can count
// them; ErrUnknownSession and ErrNotRelay mean "not yet" (ignore, don't
// penalize).
//
// Why gating merges by Authorize keeps replicas convergent: the rules that
// read the map are monotone. Hosts never change, relays once added stay
// authorized (a removed relay may still report its counters), and
// compaction keeps both; so a delta accepted at one state is accepted at
// every later state, and one refused for a missing prerequisite is
// accepted once the prerequisite is merged. Honest deltas are therefore
// accepted everywhere eventually, and replicas that accepted the same
// deltas hold the same join. The only order-dependent rule, the per-record
// cap on set sizes, can only refuse writes of a host that exceeds its own
// session's limits. The time rules (MaxSkew, Horizon) depend on now; two
// honest nodes can disagree only for deltas within MaxSkew of a boundary,
// and such disagreements end when both have passed it.
//
// Known limitation: a session ID is not bound to its host, so a peer that
// sees a Create on gossip can race it with its own Create for the same ID;
// nodes that get the squatter's first keep it and refuse the real one
// (ErrHostConflict), and anti-entropy reports that record as different
// forever. Both conflicting Creates are signed, so the shell has proof
// that one of two hosts misbehaved; binding IDs to hosts (e.g. carrying
// the client-signed request in the Create) is the fix for a later version.
//
// # Digests
//
// Map.Hash(id) is BLAKE3 over a domain tag and the record's canonical
// encoding. Record hashes sit in a radix-16 Merkle trie over the session
// ID's nibbles whose node hash depends only on the set of records below it
// (a bucket hash for at most LeafSize records, else the hash of its 16
// children), so Map.Digest, the root, is equal on replicas that hold the
// same records however they got them. Hashes are cached and updated along
// one path per change. Comparing digests is how nodes learn that
// replication is done.
//
// # Anti-entropy
//
// SyncStart and SyncStep implement a stateless reconciliation protocol
// over SyncMsg: each message carries hash claims ("my hash at prefix p is
// h") and bucket claims ("under p I hold exactly these (ID, hash) pairs"),
// plus IDs wanted from the peer. A claim that matches is dropped; one that
// differs is answered one level down (16 child hashes) or, where the local
// node is small, with its bucket; a bucket is answered by listing what
// each side must send. Every claim is answered independently, so the
// shell can run it over one stream, pipeline and split messages, and stop
// anywhere. Equal replicas exchange one 43-byte message; otherwise an
// exchange takes about log16(N/LeafSize)+2 messages and its bytes grow
// with the number of differing records times the tree depth, not with N
// (BenchmarkAntiEntropy1Percent: two maps of 100,000 sessions differing in
// 1% exchange about 3% of a snapshot's bytes, half of it the differing
// records themselves, in 7 message batches).
//
// # State transfer and provenance
//
// What to send for the IDs SyncStep returns is a question of trust. Record
// state is a join of many authors' deltas, and a join of signed deltas is
// not signed by anyone, so a record sent as state would have to be
// trusted wholesale — and a single lying peer could then invent counters
// (which feed rewards) or hosts. The core makes provenance recoverable
// instead: every field of a record belongs to exactly one author (the host
// fields and the host's counter entry to the host, each other counter
// entry to its replica), so a record decomposes exactly into per-author
// deltas whose join is the record. Map.AuthorDeltas(ids...) returns them,
// host first, in an order in which each passes Authorize with its author
// as the signer. The rule for the shell:
//
//   - Over the sync stream send, for each ID, the signed envelopes the
//     authors issued, never unsigned state; the receiver verifies each
//     signature, calls Authorize with the signer, and merges, in the order
//     received (host first).
//   - Keep, per (session, author), the signed envelopes of every delta
//     merged, dropping those covered by a later envelope of the same
//     author (Delta.Covers). To keep this at one envelope, each author
//     periodically signs a checkpoint of its whole contribution,
//     Map.AuthorDelta(id, self) (it always fits in one delta), at least
//     when the session ends; a node's signed envelopes for a record then
//     join to exactly its record, so the receiver reaches the same hash.
//   - Compacted records: their sealed fields are gone from the map, but the
//     retained envelopes still carry them; a receiver merges them and
//     drops them again when it compacts. Keep envelopes until the horizon
//     drops the session; a host may instead sign a checkpoint of its
//     compacted contribution.
//   - Snapshots (below) and AuthorDeltas as unsigned values are only for
//     sources the shell trusts (its own disk, a peer of the same operator).
//
// # Snapshots
//
// WriteSnapshot/ReadSnapshot (Snapshot/LoadSnapshot for byte slices)
// stream the whole state as length-prefixed canonical CBOR frames with the
// digest in the header; reading verifies everything and changes nothing
// unless the whole snapshot is valid, and joins it into the map (into an
// empty map: restores it). A new node that trusts a source catches up from
// its snapshot in one transfer; one that does not runs anti-entropy
// against an empty map, which moves about the same bytes as signed
// deltas.
//
// # Compaction and the horizon
//
// Map.Compact(now, retention) bounds growth in two steps, both decided
// from a record's own fields and now:
//
//   - A session ended or failed, whose EndedAt is at least retention
//     before now, becomes a tombstone: it keeps ID, origin, phase, times,
//     counters, relays, manifest hash and anchor, and drops the sealed
//     participants and private blob. Formally the record is the product of
//     the kept fields K and the sealed fields S; compaction moves S to a
//     new top element ⊤ with s ⊔ ⊤ = ⊤. Adding a top to a join-semilattice
//     keeps it one, and compaction is an inflation (the state only moves
//     up), so Merge stays commutative, associative and idempotent, and
//     replicas that compact at different times still converge: once each
//     has compacted (or received a compacted record), their S parts are
//     all ⊤ and their K parts are the join of the same deltas. A late delta
//     for a tombstone still joins into K (a last counter or an anchor
//     confirmation still count) and cannot resurrect S.
//   - A session created more than Params.Horizon before now is dropped
//     entirely, tombstone and all. Authorize rejects every delta for a
//     session created before now - Horizon (ErrExpired) and every delta
//     for a session whose host it does not know (ErrUnknownSession), so no
//     accepted delta can recreate a dropped record. Because the creation
//     time is write-once and checked against the origin the map knows, a
//     relay cannot lie about it; a host that re-creates its own expired
//     session ID only creates a new record of its own. Clocks may differ
//     by up to MaxSkew, so two nodes may disagree about a session for that
//     long around its horizon; the horizon (default 30 days) must exceed
//     the retention (default 7 days) plus the longest session, or active
//     sessions get dropped too.
//
// Retention and Horizon are network-wide parameters: nodes with different
// values hold different records near the thresholds and would report the
// difference forever.
//
// # Limits
//
// A delta holds at most MaxDeltaRecords sessions and MaxDeltaSize encoded
// bytes; a session at most MaxRelays relays and MaxParticipants sealed
// participants (counting removed ones), each participant at most
// MaxParticipantSize bytes, the private blob MaxPrivateSize, an anchor
// reference MaxAnchorRefSize. A host's whole contribution to a session at
// all limits is about 40 KB, so a checkpoint always fits in one delta.
//
// A Map is not safe for concurrent use, not even for reads (hashes are
// computed lazily); Deltas and SyncMsgs are immutable values.
package crdt
