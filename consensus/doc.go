// Package consensus is the deterministic core of PoOT, Proof of
// Operational Tasks (spec §3.5): the signed task proofs nodes publish
// (relay bandwidth, storage availability, validation, uptime), their
// verification, the work-credit tally over a sliding window, and the
// leader schedule of the 120 s slots. Blocks, the gossip of proofs and the
// chain state the checks read come in later packages; here they are
// arguments.
//
// The package is pure: no clocks (the current slot is an argument), no
// network, no goroutines, no randomness. Nor is there floating point
// anywhere. Go may fuse a multiply and an add on arm64 but not on amd64,
// so float results can differ between a Raspberry Pi and a server, and
// every honest node must compute byte-identical tallies and schedules.
// The original's leader tie-break used a random local seed, so nodes
// disagreed about the leader (spec §4.5). Here the tie-break is a BLAKE3
// hash of the previous block hash, the slot and the entity. Anything a
// result is computed from is either sorted or folded with commutative,
// idempotent operations (set union, max, min, saturating sums), so map
// iteration order and input order cannot leak into a result. Tallies and
// schedules have canonical encodings and hashes that nodes can compare.
//
// # Fixed point
//
// Ratios are integers in millionths: Micro = 10^6 is 1.0 (uptime, DMin,
// MissPenalty). Credits and scores are micro-credits in a uint64.
// Products go through 128-bit intermediates (math/bits), and every
// division rounds down at the step where it is written below. Sums
// saturate at 2^64−1 instead of wrapping. The caps keep real values far
// below that: a node's relay credits are at most 2^20·2^20·10^6 < 2^60.
//
// # Slots, epochs and parameters
//
// Slot s covers [Genesis + s·SlotLength, Genesis + (s+1)·SlotLength). Epoch
// e is slots [e·EpochSlots, (e+1)·EpochSlots). Params holds every constant.
// It will live in chain state, so it has a canonical encoding
// (Params.Encode, DecodeParams, Params.Hash), and Validate enforces these
// bounds:
//
//	field                        default      bounds                     note
//	SlotLength                   120 s        [1 s, 10 min], whole ms    spec: immutable 120 s; tests use 1 s
//	Genesis                      2024-01-01Z  [1970, 9999], whole ms     spec's slot zero
//	WindowSlots                  5,040        [1, 2^20]                  7 days of 120 s slots
//	EpochSlots                   720          [1, 2^20]                  24 h; miss penalties last one epoch
//	DMin                         200,000      [100,000, 500,000]         0.2 uptime (ParamRegistry 10–50 %)
//	CooldownSlots                16           [1, 64]                    spec [8, 64]; lower for tiny test nets
//	SlotTimeout                  5 s          [10 ms, 10 s], whole ms    and (MaxFallbacks+1)·SlotTimeout ≤ SlotLength
//	MaxFallbacks                 5            [0, 16]                    the original kept 5
//	Lookahead                    2            [1, 64]                    see "Leader schedule"
//	AcceptWindow                 2            [1, 64]                    ± slots a proof may be off the current slot
//	RelayBytesPerCredit          5,000,000    [10^6, 2·10^7]             spec BASE_MB_PER_SESSION 5 (1–20)
//	StorageCreditsPerGB          10           [0, 1000]
//	StorageCreditsPerChunk       2            [0, 1000]
//	ValidationCreditsPerSession  5            [0, 1000]
//	MaxSessionsPerBlock          100          [1, 1000]                  the original's block limit
//	MaxProofSize                 16 KiB       [4 KiB, 1 MiB]             encoding incl. signature
//	MaxReceiptsPerProof          64           [1, 1024]
//	MissPenalty                  500,000      [0, 10^6]                  each miss halves the live score
//	ReplicaTarget                3            [1, 64]                    full-credit holders per chunk
//	ClientRelayCap               5,000        [1, 2^32]                  credits per (node, client) per window
//	NodeRelayCapPerSlot          300          [1, 2^20]                  credits per node per window slot (100 Mbit/s)
//
// # Proofs
//
// A Proof is one node's proof of one task type for one slot: Version,
// Type, Node (the peer ID, which embeds the node's Ed25519 key; other key
// types are ErrUnsupportedKey), Pool (optional, 1..64 bytes), Slot, the
// body of its type, and Sig. Sig is the node's signature over ProofDomain
// followed by the encoding without Sig. Encodings are CBOR maps with small
// integer keys, versioned, and decoded strictly: unknown or duplicate
// keys, indefinite lengths, tags, non-shortest integers, explicit zero
// values, unsorted lists and trailing bytes are ErrMalformed, and
// re-encoding a decoded value gives back the input (Proof.Encode,
// DecodeProof; the same holds for receipts, params, tallies and
// schedules). A proof ranks for its entity: the pool when it names one,
// else the node (EntityID: 0x01 ‖ peer ID or 0x02 ‖ pool ID). A pool's
// nodes are one entity in the tally and the schedule. How a pool signs
// its blocks and splits revenue is not this package's business (spec:
// off-chain). VerifyContext.PoolMember lets chain state restrict who may
// publish under a pool.
//
// Relay bandwidth. The body carries metering receipts, at most one per
// session. A MeteringReceipt {Session, Host, Client, Slot, Start, Bytes}
// is signed by the client with its own key under ReceiptDomain as data
// arrives. Bytes is cumulative since the session began, and Start is the
// session's first slot. VerifyProof requires each receipt's host to be the
// proof's node (ErrReceiptHost), its client to be another key
// (ErrSelfDealing), its slot to be the proof's slot (ErrReceiptSlot), and
// a valid client signature (ErrMissingCounterSignature,
// ErrBadCounterSignature). A host therefore cannot raise a count, forge
// its client's receipt, or reuse a receipt for another host or slot.
//
// Storage availability. Chain state records what each node claims to
// store: StorageClaims of (session, anchored Merkle root, sealed size of
// every chunk), gathered in a ClaimSet. VerifyContext.Claims must return
// the claims in force at the slot's seed block, so that prover and
// verifier agree. StorageChallenge hashes ChallengeDomain ‖ seed ‖ slot ‖
// node ID (BLAKE3, 64 bytes). The first 128 bits, mod the number of chunks
// claimed, pick a chunk across all claims in root order. The next 128
// bits, mod the chunk's 1 KiB blocks, pick a block of 0x00 ‖ sealed
// chunk. That input's BLAKE3 hash is media.LeafHash, which is also its
// Bao root with group 0. The answer is a Bao slice of the block
// (lukechampine.com/blake3/bao), which anyone can check against the leaf
// without the chunk, plus the leaf's Merkle inclusion proof (package
// media's format) against the anchored root. VerifyProof checks both. The
// inclusion proof's Count must be the anchored chunk count, because
// media.Verify trusts it. The slice's length header must match the
// anchored size, because a slice that omits the last Bao chunk does not
// authenticate the length. Errors: ErrUnknownSeed, ErrNoClaims,
// ErrUnknownRoot, ErrChallengeMismatch, ErrBadInclusion, ErrBadSlice.
// ProveStorage is the prover side: the caller asks StorageChallenge which
// chunk is due and passes its bytes and the recording's leaves. A proof
// for a chunk the node does not hold cannot be produced. It also cannot
// be moved to another slot or node, because the challenge changes.
//
// Validation. The body names a block (hash, height, sessions anchored),
// and the proof's slot is the block's slot. The chain must know the block
// (ErrUnknownBlock) with exactly those values (ErrBlockMismatch), and the
// session count cannot exceed MaxSessionsPerBlock.
//
// Uptime. A beacon for a slot, with no body. Only the acceptance window
// stops a node from signing beacons ahead of time, and only by
// AcceptWindow slots.
//
// # Acceptance and deduplication
//
// VerifyProof(p, params, now, ctx) is the gossip validator. It checks, in
// order, structure, size (MaxProofSize, MaxReceiptsPerProof: ErrOversize),
// the acceptance window |p.Slot − now| ≤ AcceptWindow (ErrSlotOutOfWindow),
// pool membership, the signature, then the body as above. Every error
// wraps exactly one sentinel. ErrUnknownSeed and ErrUnknownBlock mean "not
// yet": ignore the proof, do not penalize the sender. Dedup keeps one
// proof per (node, slot, type) for the slots inside the window, so its
// size is bounded by the window and an entry limit. Seen returns
// ErrDuplicate for the same content again (re-delivery, or the same
// content signed twice), ErrEquivocation for different content under the
// same key (the node signed both, so penalize), and ErrReplay for a slot
// it has forgotten.
//
// # Tally
//
// Tally accumulates accepted proofs (Add) and misses (AddMiss), and
// Compute(at) returns the TallyResult of the window W = [max(0,
// at−WindowSlots+1), at], whose width w is at most WindowSlots. Near
// genesis w is smaller, so uptime is measured over the slots that exist.
// Per entity:
//
//   - Relay. Receipts are grouped by (entity, node, client, session).
//     Receipts whose client key published any proof in W are dropped: a
//     node is not a client. The session's bytes are the largest cumulative
//     value if its Start ≥ the window start, otherwise that value minus the
//     smallest one in W (only its growth inside W counts). Per (entity,
//     node, client), with S sessions and B bytes: c = min(max(S,
//     ⌈B / RelayBytesPerCredit⌉), ClientRelayCap). Per node: min(Σc,
//     NodeRelayCapPerSlot·w). Relay = Σ over the entity's nodes, times
//     10^6. This is the spec's max(sessions, ⌈bytes/5 MB⌉). Since receipts
//     are cumulative and each session counts once through its largest
//     receipt, a repeated, replayed or equivocated receipt adds nothing.
//   - Storage. Each distinct chunk (leaf) the entity proved in W earns
//     StorageCreditsPerChunk·10^6 + ⌊StorageCreditsPerGB·size/1000⌋
//     micro-credits (10 per 10^9 bytes). If n > ReplicaTarget entities
//     proved the same leaf in W, each gets ⌊credit·ReplicaTarget/n⌋, so
//     one stored copy claimed by many identities earns no more than
//     ReplicaTarget full credits in all.
//   - Validation. Per slot, the largest session count among the entity's
//     validations of that slot (a pool's nodes validating one block count
//     once). Validation = ValidationCreditsPerSession · Σ sessions · 10^6.
//   - Uptime. U is the number of slots in W with a beacon from any of the
//     entity's nodes. Uptime = min(⌊U·10^6/w⌋, 10^6).
//   - Credits = Relay + Storage + Validation. Base = ⌊Credits·Uptime/10^6⌋
//     (the spec's liveScore = credits × uptime_score).
//   - Misses. Each recorded miss of the entity in at's epoch at a slot ≤
//     at multiplies the score by (10^6 − MissPenalty)/10^6, rounding down
//     each time. The result is LiveScore.
//   - Eligible ⇔ Credits > 0 ∧ Uptime ≥ DMin.
//
// D_min is applied to uptime, as the original consensus code did. Spec-1c
// uses D_min as a density threshold inside the reward formula, which is a
// different question (spec §4.6). A threshold relative to other entities'
// scores was rejected because a Sybil cluster that inflates the
// normalizer could push honest entities below it. Misses lower the rank,
// not eligibility.
//
// The result does not depend on the order of Add calls, on duplicates,
// or on equivocations. Entries are sorted by entity, and TallyResult has
// a canonical encoding and Hash, with the Params hash inside it.
// DecodeTally checks every derived field. Memory: per slot, one bit per
// entity for beacons and one per key for activity, about 8 bytes per
// validation and 48 per receipt or storage proof. No beacon proof is
// kept. BenchmarkTallyAndSchedule's week of 1,000 entities (6.6 M proofs,
// 4.8 M of them beacons) holds about 43 MiB. Prune drops slots that no
// longer matter.
//
// # Leader schedule
//
// The schedule of slot t uses two inputs, fixed L = Lookahead slots
// ahead:
//
//   - the seed: the hash of the latest block at a slot ≤ t − L, or the
//     genesis hash (Chain.Seed). Storage challenges use the same seed.
//   - the tally at slot t − Lag, with Lag = Lookahead + AcceptWindow.
//     Proofs for that slot are refused after slot t − L, so the tally is
//     final when the schedule must be. Slots t < Lag have no tally.
//
// Both are known once slot t − L ends. Before that, Schedule reports
// ErrUnknownSeed rather than guess, so no node can disagree about a
// future slot by computing it from a different partial chain.
//
// Ranking (Ranking) orders the eligible entities by LiveScore descending.
// Ties are ordered by TieKey = BLAKE3(TieDomain ‖ seed ‖ t ‖ entity)
// ascending, and then by entity bytes, which only a hash collision would
// reach. Leaders then applies the cooldown. An entity that was the
// scheduled primary in one of the previous CooldownSlots slots is in
// cooldown. The candidates are the ranked entities outside cooldown,
// followed by those in cooldown, least recently primary first. The
// primary is the first candidate and the fallbacks are the next
// MaxFallbacks. The primary is therefore never in cooldown while an
// eligible entity outside it exists. With fewer than CooldownSlots+1
// eligible entities, leadership rotates round-robin instead of stalling.
// The cooldown history is the scheduled primaries, not the actual block
// producers, so the schedule is a function of chain data alone. Schedule
// rolls that history forward from the caller's recent primaries.
// SlotLeaders.LeaderAt(elapsed) gives whose turn it is while no block has
// appeared: rank k = ⌊elapsed/SlotTimeout⌋, where rank 0 is the primary
// and rank k the k-th fallback. After the last fallback, nobody's turn
// comes. If nobody is eligible (the first Lag slots, a fresh network) the
// primary is empty, and the block layer's bootstrap rule applies (spec:
// the original Server node publishes).
//
// A miss is a slot whose primary produced no block. The chain layer
// decides and records misses; Tally.AddMiss takes them. A miss at slot m
// lowers the entity's live score in the tallies of slots m..end of m's
// epoch, and so in the schedule of slots m+Lag onwards.
//
// # Threat model
//
// Self-dealing host. A host cannot create, raise or move a client's
// receipt: it would need the client's key. A receipt naming itself as
// client is refused. The client is the party that attests.
//
// Sybil clusters and colluding clients. Client keys cost nothing, so a
// cluster of hosts and "clients" that relay only to each other can sign
// any receipt it likes. No signature check can tell this from real
// traffic, and the package does not pretend otherwise. The limits and
// what they leave are pinned in TestSybilRelayFigures and
// TestSybilLeadershipShare (testParams: 100-slot window, caps at the
// defaults). Per host per window, with 10 sessions of 50 MB:
//
//	scenario                                              relay credits
//	honest: 10 distinct real clients                      100
//	A: cluster uses its own node keys as clients          0 (a node is not a client)
//	B: one fresh colluding client key, same volume        100 (ratio 1.00: indistinguishable)
//	C: one colluding client claiming 10 TB                5,000 (ClientRelayCap; 2,000,000 uncapped)
//	D: ten colluding clients claiming 10 TB               30,000 (NodeRelayCapPerSlot × 100 slots)
//
// The caps bound what one fabricated identity earns at a physically
// plausible node (100 Mbit/s at defaults, 1,512,000 relay credits a week).
// They do not bound how many identities a cluster runs. Uptime beacons
// and validation signatures are free for any online identity. Storage
// credits need data held, or at least accessible (see below), and copies
// claimed by many identities share ReplicaTarget credits. What remains,
// and matters most, is the leader rule of the spec: the top CooldownSlots
// + 1 entities by live score share every primary slot. So k identities at
// the node cap, facing honest entities below it, lead min(k,
// CooldownSlots+1)/(CooldownSlots+1) of the slots. With the default
// cooldown, 17 such identities lead every slot. PoOT alone is therefore
// not Sybil-resistant for leadership. The deciding input has to cost
// something per identity: a bond or admission through chain governance
// (the KYC payout path suggests an anchor for this), or relay credit
// counted only for client identities bound to paid, anchored sessions.
// This must be settled before leadership carries real rewards.
//
// Storage outsourcing. A slice proves access to the challenged block, not
// that the prover itself stores the chunk, as with Storj audits. A node
// can fetch the 1 KiB block from another holder within the acceptance
// window. With only the Bao outboard (6 % of the data) and a cooperating
// holder it can answer every challenge. What it cannot do is answer for
// data nobody holds. Proof of replication is out of scope.
//
// Replay. Every proof is bound to its slot and accepted only within
// ±AcceptWindow. Dedup rejects repeats inside the window. Receipts are
// bound to one host and one slot. Storage answers are bound to slot,
// seed, node and chunk. Validations are bound to a block. Tally folds are
// idempotent, so a replay that slips through adds nothing.
//
// Withholding. A primary that withholds its block is recorded as missing
// the slot and loses half its score for the rest of the epoch, which
// usually costs it its rank. Withholding also lets the producer of the
// block at slot t−L choose between its own hash and the previous one as
// the seed of slot t, which is one bit of influence.
//
// Grinding the tie-break. A block producer can try many block variants
// and choose its block hash, and that hash seeds slot t+L (and later
// slots until the next block). It cannot change a score. The ranking is
// the tally at t−Lag, which is made of proofs, not of the block. The seed
// only orders entities whose live scores are exactly equal in
// micro-credits. So the producer can pick which of several exactly tied
// entities leads slot t+L, and an entity able to tie could as easily
// outscore. The producer can also pick which claimed chunk a given node
// is challenged on in the slots its hash seeds. That helps only a node
// that holds part of its claim, and only for those slots.
//
// Agreement on inputs. Tallies agree only if nodes tally the same proofs
// and misses. Gossip cannot guarantee that at the edge of the acceptance
// window: a proof accepted by one node just in time may reach another
// too late. The block layer must therefore commit the accepted proof set
// (or its digest) and the misses, and nodes must tally what the chain
// committed. That is the next issue's job. The tally's hash makes any
// disagreement visible.
//
// Clocks. A node's only clock input is the current slot it passes to
// VerifyProof and Dedup. Skew up to AcceptWindow slots is tolerated.
package consensus
