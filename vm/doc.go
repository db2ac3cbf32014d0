// Package vm is the deterministic state machine that executes the blocks
// of the Lucid data chain (spec §3.9, item 1: the LucidAnchors,
// ParamRegistry, Governor and WorkCreditsOracle roles, as native typed
// transactions rather than a contract VM). ApplyBlock takes a State and a
// BlockInput and returns the next State, one Receipt per transaction, or
// an error when the block is invalid.
//
// The package is pure: no clocks (heights and slots are arguments), no
// randomness, no goroutines, no floating point. Nothing that reaches the
// state root depends on map iteration order: the root is computed over
// entries sorted by key, and the only map walks merge writes into maps
// (order-free). Eligible sets are used as sets. States are immutable;
// ApplyBlock never modifies its input, valid block or not.
//
// # Transactions
//
// A Tx is {Sender, Nonce, Body, Sig}, encoded as canonical CBOR: a map with
// 1 = version (TxVersion = 1), 2 = type, 3 = sender peer ID, 4 = nonce,
// 5 = body (a map of the type's fields), 6 = signature. Zero values are
// absent; DecodeTx is strict (unknown or duplicate keys, indefinite
// lengths, tags, non-shortest integers, explicit zeros, trailing bytes,
// wrong lengths are ErrMalformed; another version is ErrUnsupportedVersion)
// and re-encoding a decoded Tx gives back its input. Sig is the sender's
// Ed25519 signature over TxDomain ("lucid/vm/tx/1\n") ‖ the encoding
// without key 6; the sender's peer ID embeds the public key. Nonce must be
// the sender's next nonce (0 first), which makes every transaction
// single-use.
//
//	type                 body keys                                          rules (failure sentinel)
//	1 RegisterSession    1 session (16 B), 2 manifest hash (32), 3 Merkle   once per session ID (ErrSessionExists);
//	                     root (32), 4 chunk count [1, 2^32−1], 5 owner      the sender becomes the registrant
//	                     key (1..64 B)
//	2 AnchorChunk        1 session, 2 index, 3 leaf (32)                    registered session (ErrUnknownSession),
//	                                                                        by its registrant (ErrNotOwner), index <
//	                                                                        chunk count (ErrChunkIndex), once per
//	                                                                        index (ErrChunkAnchored)
//	3 CommitTally        1 epoch, 2 tally root (32), 3 [[entity,            sender = block proposer (ErrNotProposer),
//	                     micro-credits], ...] strictly ascending by         epoch < slot / epoch_slots
//	                     entity, credits > 0, ≤ 16,384 entries; entities    (ErrEpochNotOver), once per epoch
//	                     are consensus.EntityIDs                            (ErrTallyCommitted)
//	4 ProposeParam       1 name, 2 value                                    sender eligible (ErrNotEligible), name in
//	                                                                        the registry (ErrUnknownParam), not
//	                                                                        immutable (ErrImmutableParam), within
//	                                                                        bounds and the cross-parameter constraint
//	                                                                        (ErrParamOutOfBounds)
//	5 Vote               1 proposal ID (≥ 1), 2 yes (bool)                  proposal exists (ErrUnknownProposal),
//	                                                                        height ≤ deadline (ErrVotingClosed), voter
//	                                                                        eligible (ErrNotEligible), once per voter
//	                                                                        (ErrDoubleVote)
//	6 Equivocation       1 header A, 2 header B (consensus block headers,   same slot and proposer, different hashes,
//	                     A's encoding sorts strictly before B's)            both signatures valid (ErrBadEvidence); once per proposer
//	                                                                        and epoch (ErrAlreadySlashed)
//	7 ClaimStorage       1 session, 2 [sealed chunk sizes in index order]   registered session (ErrUnknownSession),
//	                     (1..8,192 sizes, each in [1, 2^40])                as many sizes as the session's chunk count
//	                                                                        (ErrClaimMismatch), once per sender and
//	                                                                        session (ErrClaimExists)
//	8 SetPool            1 pool ID (1..64 B); absent = leave the pool       one change per sender and epoch
//	                     (the body is then the empty map)                   (ErrPoolChangeTooSoon); leaving needs a
//	                                                                        pool (ErrNotInPool); joining the pool
//	                                                                        the sender is in is a no-op
//
// CommitTally records each entity's micro-credits for the epoch under
// 0x06 ‖ epoch ‖ entity, the accounting a later settlement draws on (the
// VM does not recompute the tally: see "What the chain layer provides").
// Equivocation evidence takes the proposer's node entity (0x01 ‖ peer ID)
// credits for the epoch of the headers' slot: it deletes them if the
// epoch's tally is committed, and marks the entity slashed so that a
// later CommitTally records nothing for it. Anyone may submit evidence.
//
// ClaimStorage records that its sender stores a session's recording,
// under 0x0c ‖ sender ‖ session; State.StorageClaims(node) returns a
// node's claims in session order with each session's registered Merkle
// root, the consensus.StorageClaim list a storage challenge draws on. Any
// node may claim any registered session, so replicas claim too: a claim
// a node cannot back with the data earns nothing, since a storage proof
// needs the real bytes. Claims are not withdrawn.
//
// SetPool makes pool membership chain state, so every node agrees which
// nodes PoOT ranks together as one pool entity (consensus.PoolEntity,
// 0x02 ‖ pool ID). A node is in at most one pool; its record, under
// 0x0d ‖ sender, holds its pool (empty after leaving) and the epoch
// (block slot / epoch_slots) of its last change. The rules, in order:
// if the record was changed in the block's epoch, any SetPool fails
// (ErrPoolChangeTooSoon), so a node joins, switches or leaves at most
// once per epoch; leaving when in no pool fails (ErrNotInPool); joining
// the pool the node is already in succeeds and writes nothing (it is not
// a change and does not restart the epoch rule); anything else sets the
// record to {pool, epoch}. Leaving keeps the record with an empty pool,
// so leave-then-rejoin in one epoch is refused too. State.PoolOf(node)
// returns a node's pool; State.PoolMembers(pool) its members in peer-ID
// byte order (one scan of the state).
//
// # Headers
//
// Header is the chain's block header, consensus.BlockHeader: equivocation
// is judged on exactly what proposers sign (its encoding, signature domain
// and hash are package consensus's); evidence is two headers for one slot
// by one proposer with different hashes (consensus.DetectEquivocation).
// TxRoot(txs) and ReceiptsRoot(receipts) are Merkle roots with the state
// tree's hashing, leaf key = be32 index.
//
// # Blocks
//
// ApplyBlock(s, BlockInput{Height, Slot, Proposer, Txs, Eligible}):
//
//  1. Height must be s.Height()+1; Slot must exceed s.Slot() (any slot
//     at height 1); Proposer must be a valid peer ID. Else ErrInvalidBlock.
//  2. Governance step of the height (see below); parameters changed here
//     govern this block.
//  3. Limits with the parameters in effect: len(Txs) ≤ max_block_txs,
//     Σ len(tx) ≤ max_block_bytes, Σ gas ≤ max_block_gas (ErrBlockLimit).
//  4. Every transaction must decode (ErrMalformed, ErrUnsupportedVersion)
//     and carry a valid signature (ErrBadSignature); in order, each must
//     use its sender's next nonce (ErrBadNonce). These are block errors,
//     wrapped in a *TxError with the index: a proposer never needs to
//     include such a transaction.
//  5. Each transaction consumes its nonce and is executed on a
//     copy-on-write layer: on success its writes are kept, on failure
//     discarded, and its Receipt carries the sentinel (Err) and its
//     append-only numeric Code (1 ErrSessionExists, 2 ErrUnknownSession,
//     3 ErrNotOwner, 4 ErrChunkIndex, 5 ErrChunkAnchored, 6 ErrNotProposer,
//     7 ErrTallyCommitted, 8 ErrEpochNotOver, 9 ErrUnknownParam,
//     10 ErrImmutableParam, 11 ErrParamOutOfBounds, 12 ErrNotEligible,
//     13 ErrUnknownProposal, 14 ErrVotingClosed, 15 ErrDoubleVote,
//     16 ErrBadEvidence, 17 ErrAlreadySlashed, 18 ErrClaimMismatch,
//     19 ErrClaimExists, 20 ErrPoolChangeTooSoon, 21 ErrNotInPool). A
//     failed transaction is charged its full gas.
//
// # Gas
//
// gas(tx) = GasPerTx (1,000) + GasPerByte (4) · len(encoding) + the type's
// gas: RegisterSession 4,000; AnchorChunk 2,000; CommitTally 5,000 + 200
// per entry; ProposeParam 10,000; Vote 2,000; Equivocation 20,000 (two
// signature checks); ClaimStorage 4,000 + 50 per chunk size (the largest
// claim, 8,192 sizes of 2^40, costs about 710,000 in all); SetPool 2,000
// (one read and one write, as a Vote). Gas is known before execution, so the block gas
// limit is checked statically. There are no fees or balances yet: gas
// only bounds a block's work (a 220-byte registration costs 5,880 gas, so 1,000 ≈ 5.9 M,
// under the default 8 M).
//
// # Parameters
//
// The registry (Params, LookupParam) is fixed in code; genesis writes every
// parameter (defaults, or Genesis overrides within bounds) and only
// governance changes them:
//
//	name                            default          bounds                    source
//	slot_length_ms                  120,000          immutable                 spec: slotDurationSec 120, immutable
//	epoch_slots                     720              immutable                 consensus EpochSlots; accounting keys
//	slot_timeout_ms                 5,000            [1,000, 10,000]           ParamRegistry slotTimeoutMs
//	cooldown_slots                  16               [8, 64]                   ParamRegistry cooldownSlots
//	window_slots                    5,040            [2,160, 10,080]           leaderWindowDays [3, 14]
//	d_min                           200,000          [100,000, 500,000]        D_min 10–50 %, millionths
//	relay_bytes_per_credit          5,000,000        [10^6, 2·10^7]            BASE_MB_PER_SESSION 1–20
//	storage_credits_per_gb          10               [0, 1000]                 consensus
//	storage_credits_per_chunk       2                [0, 1000]                 consensus
//	validation_credits_per_session  5                [0, 1000]                 consensus
//	max_sessions_per_block          100              [1, 1000]                 consensus
//	max_fallbacks                   5                [0, 16]                   consensus
//	lookahead, accept_window        2, 2             [1, 64]                   consensus
//	miss_penalty                    500,000          [0, 10^6]                 consensus
//	replica_target                  3                [1, 64]                   consensus
//	client_relay_cap                5,000            [1, 2^32]                 consensus
//	node_relay_cap_per_slot         300              [1, 2^20]                 consensus
//	confirmation_blocks             6                [1, 64]                   consensus-config.yaml
//	max_block_bytes                 1,048,576        [64 KiB, 8 MiB]           block_size_limit_bytes
//	max_block_txs                   1,000            [10, 10,000]              max_transactions_per_block
//	max_block_gas                   8,000,000        [10^6, 10^8]              gas_limit_per_block
//	gov_voting_blocks               5,040            [10, 100,800]             ~7 days of blocks
//	gov_timelock_blocks             720              [6, 100,800]              ~1 day
//	gov_quorum_ppm                  400,000          [100,000, 10^6]           of the electorate
//	max_payout_usdt_micro           1,000·10^6       [10^6, 10^10]             ParamRegistry MAX_PAYOUT_AMOUNT
//	daily_payout_limit_usdt_micro   10,000·10^6      [10^9, 10^11]             DAILY_PAYOUT_LIMIT
//	min_kyc_level                   2                [1, 5]                    MIN_KYC_LEVEL
//	max_session_duration_s          3,600            [300, 86,400]             MAX_SESSION_DURATION
//	max_chunk_size                  1 MiB            [64 KiB, 10 MiB]          MAX_CHUNK_SIZE
//
// Cross-parameter constraint: (max_fallbacks + 1) · slot_timeout_ms ≤
// slot_length_ms (as consensus.Params.Validate).
//
// # Governance
//
// One eligible node, one vote; token balance adds nothing (spec §3.10).
// The electorate of a block is BlockInput.Eligible, which the chain layer
// computes (nodes with ≥ 80 % uptime per PoOT). Only eligible nodes may
// propose. A proposal made at height h records the electorate size E and
// the quorum Q = max(1, ⌈E · gov_quorum_ppm / 10^6⌉), accepts votes at
// heights ≤ deadline = h + gov_voting_blocks, and is decided by the
// governance step of height deadline + 1: fewer than Q votes (yes + no)
// → StatusNoQuorum (Err: ErrBelowQuorum); else yes > no (strict majority of
// votes cast) → StatusPassed, else StatusRejected (ErrRejected). A passed
// proposal takes effect in the governance step of height apply_at =
// deadline + gov_timelock_blocks (periods are snapshotted at proposal
// time), so the block at apply_at is the first to run under the new value;
// until then Err is ErrTimelock. If at apply_at the value would break the
// cross-parameter constraint (another change landed first), the proposal
// fails (StatusFailedApp, ErrParamOutOfBounds). Several proposals due at
// one height are decided and applied in ascending ID order. The
// governance step reads only two agenda entries keyed by the height, so
// it costs nothing when idle.
//
// # State layout
//
// Keys are a prefix byte and fixed-width big-endian fields; values are
// canonical CBOR records or be64 integers:
//
//	0x00 0x01                      be64 height of the last block
//	0x00 0x02                      be64 slot of the last block
//	0x00 0x03                      be64 next proposal ID (from 1)
//	0x01 ‖ session(16)             SessionRecord {1 manifest, 2 root, 3 chunks, 4 owner, 5 registrant, 6 height}
//	0x02 ‖ session ‖ be32 index    anchored leaf (32 bytes)
//	0x03 ‖ name                    be64 parameter value
//	0x04 ‖ be64 id                 Proposal {1 id, 2 name, 3 value, 4 proposer, 5 height, 6 deadline, 7 apply_at,
//	                               8 electorate, 9 quorum, 10 yes, 11 no, 12 status}
//	0x05 ‖ be64 id ‖ voter         0x01 yes / 0x00 no
//	0x06 ‖ be64 epoch ‖ entity     be64 micro-credits
//	0x07 ‖ be64 epoch              TallyRecord {1 root, 2 proposer, 3 height, 4 entries}
//	0x08 ‖ sender peer ID          be64 next nonce
//	0x09 ‖ be64 height             CBOR array of proposal IDs decided at that height
//	0x0a ‖ be64 height             CBOR array of proposal IDs taking effect at that height
//	0x0b ‖ be64 epoch ‖ entity     BLAKE3 of the equivocation evidence
//	0x0c ‖ node peer ID ‖ session  ClaimRecord {1 sealed chunk sizes}
//	0x0d ‖ node peer ID            PoolRecord {1 pool ID (absent after leaving), 2 epoch of the last change}
//
// # State root
//
// The root is an RFC 9162 Merkle tree hash over the entries sorted by key,
// with BLAKE3 and domain-separated leaves and nodes:
//
//	leaf = BLAKE3("lucid/vm/state-leaf/1\n" ‖ be32 len(key) ‖ key ‖ value)
//	node = BLAKE3("lucid/vm/state-node/1\n" ‖ left ‖ right)
//	empty tree = BLAKE3("lucid/vm/state-empty/1\n")
//
// Keys are unique and each leaf commits to its key and value
// unambiguously, so the root changes exactly when an entry is added,
// removed or changed (every block changes at least the height). Since
// height and slot are state, so is every block's position.
// State.ProveSession returns a session registration's audit path and the
// root; VerifySessionProof checks it against a root with no state at all
// (what `lucid chain proof <session>` prints: SessionProof.Encode, keys
// 1 = version, 2 = session, 3 = record, 4 = index, 5 = size, 6 = path).
// The root is recomputed from all entries on every block (O(n log n));
// an incremental tree is future work and need not change the definition.
//
// # What the chain layer provides
//
// The VM validates transactions against state; it does not know about
// consensus. The chain layer must:
//   - order blocks and run fork choice, and apply each block to its
//     parent's State (ApplyBlock checks only height and slot continuity);
//   - determine the slot's legitimate proposer (consensus leader
//     schedule, fallbacks) and pass it as Proposer; verify the proposer's
//     header signature, and that header.TxRoot = TxRoot(Txs) and
//     header.StateRoot = the returned State's Root;
//   - pass the block's electorate (Eligible): the nodes with ≥ 80 % uptime
//     per PoOT, computed identically on every node from chain data;
//   - check a CommitTally's root and credits against the locally computed
//     consensus tally before accepting the block (the VM records the
//     proposer's tally; it cannot recompute it);
//   - feed the parameters (State.Param) back into consensus.Params and
//     the block limits into block production;
//   - keep States for the blocks it may still reorganize to (States are
//     immutable and cheap to keep while the chain layer holds them).
package vm
