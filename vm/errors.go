package vm

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps exactly one of
// them (test with errors.Is). Errors from ApplyBlock itself mean the block is
// invalid and must be dropped; errors in a Receipt mean the transaction
// failed inside a valid block (its nonce is consumed, its gas charged, its
// writes discarded).
var (
	// ErrMalformed: bytes that are not the canonical encoding of a valid
	// transaction, header or proof (not CBOR, unknown or duplicate keys,
	// non-canonical forms, trailing data, fields outside their structural
	// range, unknown transaction type). Makes the block invalid.
	ErrMalformed = errors.New("vm: malformed")
	// ErrUnsupportedVersion: an encoding of another format version. Makes
	// the block invalid.
	ErrUnsupportedVersion = errors.New("vm: unsupported version")
	// ErrBadSignature: a transaction or header signature that is missing
	// or does not verify, or a sender whose peer ID does not embed an
	// Ed25519 key. Makes the block invalid.
	ErrBadSignature = errors.New("vm: bad signature")
	// ErrBadNonce: a transaction whose nonce is not its sender's next
	// nonce (replay or gap). Makes the block invalid.
	ErrBadNonce = errors.New("vm: bad nonce")
	// ErrBlockLimit: a block above max_block_bytes, max_block_txs or
	// max_block_gas.
	ErrBlockLimit = errors.New("vm: block exceeds a limit")
	// ErrInvalidBlock: a block input that does not follow its parent state
	// (height not parent+1, slot not increasing, no proposer).
	ErrInvalidBlock = errors.New("vm: invalid block")
	// ErrStateRoot: a state snapshot whose entries do not hash to the
	// trusted root.
	ErrStateRoot = errors.New("vm: state root mismatch")
	// ErrInvalidArgument: a caller passed a value outside the documented
	// range (genesis overrides, nil key).
	ErrInvalidArgument = errors.New("vm: invalid argument")

	// Transaction failures (receipts).

	// ErrSessionExists: a second RegisterSession for a session ID.
	ErrSessionExists = errors.New("vm: session already registered")
	// ErrUnknownSession: AnchorChunk or ClaimStorage (or a proof request)
	// for a session that is not registered.
	ErrUnknownSession = errors.New("vm: unknown session")
	// ErrNotOwner: AnchorChunk by another sender than the session's
	// registrant.
	ErrNotOwner = errors.New("vm: sender did not register the session")
	// ErrChunkIndex: AnchorChunk with index ≥ the session's chunk count.
	ErrChunkIndex = errors.New("vm: chunk index out of range")
	// ErrChunkAnchored: a second AnchorChunk for one (session, index).
	ErrChunkAnchored = errors.New("vm: chunk already anchored")
	// ErrNotProposer: CommitTally sent by another key than the block's
	// proposer.
	ErrNotProposer = errors.New("vm: sender is not the block proposer")
	// ErrTallyCommitted: a second CommitTally for an epoch.
	ErrTallyCommitted = errors.New("vm: tally already committed for epoch")
	// ErrEpochNotOver: CommitTally for the current or a future epoch.
	ErrEpochNotOver = errors.New("vm: epoch not over")
	// ErrUnknownParam: ProposeParam naming a parameter not in the registry.
	ErrUnknownParam = errors.New("vm: unknown parameter")
	// ErrImmutableParam: ProposeParam for a parameter fixed at genesis.
	ErrImmutableParam = errors.New("vm: parameter is immutable")
	// ErrParamOutOfBounds: a value outside the parameter's bounds, or one
	// that breaks a cross-parameter constraint.
	ErrParamOutOfBounds = errors.New("vm: parameter value out of bounds")
	// ErrNotEligible: ProposeParam or Vote by a node not in the block's
	// eligible set.
	ErrNotEligible = errors.New("vm: sender not eligible to govern")
	// ErrUnknownProposal: a Vote for a proposal that does not exist.
	ErrUnknownProposal = errors.New("vm: unknown proposal")
	// ErrVotingClosed: a Vote after the proposal's deadline.
	ErrVotingClosed = errors.New("vm: voting closed")
	// ErrDoubleVote: a second Vote by one node on one proposal.
	ErrDoubleVote = errors.New("vm: already voted")
	// ErrBelowQuorum: the outcome of a proposal that closed with fewer
	// votes than its quorum (Proposal.Err).
	ErrBelowQuorum = errors.New("vm: proposal below quorum")
	// ErrRejected: the outcome of a proposal that reached quorum without a
	// strict majority of yes votes (Proposal.Err).
	ErrRejected = errors.New("vm: proposal rejected")
	// ErrTimelock: the outcome of a proposal that passed and is waiting
	// for its timelock (Proposal.Err): not in effect yet.
	ErrTimelock = errors.New("vm: proposal waiting for its timelock")
	// ErrVotingOpen: the outcome of a proposal whose vote is still open.
	ErrVotingOpen = errors.New("vm: proposal voting still open")
	// ErrBadEvidence: equivocation evidence whose headers are identical,
	// for different slots, or by different proposers.
	ErrBadEvidence = errors.New("vm: bad equivocation evidence")
	// ErrAlreadySlashed: equivocation evidence against a proposer already
	// slashed for that epoch.
	ErrAlreadySlashed = errors.New("vm: proposer already slashed for epoch")
	// ErrClaimMismatch: ClaimStorage whose number of chunk sizes is not
	// the registered session's chunk count.
	ErrClaimMismatch = errors.New("vm: claim does not match the session's chunk count")
	// ErrClaimExists: a second ClaimStorage by one sender for one session.
	ErrClaimExists = errors.New("vm: storage already claimed")
	// ErrPoolChangeTooSoon: SetPool by a node whose pool already changed
	// (joined, switched or left) in the block's epoch.
	ErrPoolChangeTooSoon = errors.New("vm: pool already changed this epoch")
	// ErrNotInPool: SetPool with an empty pool (leave) by a node that is
	// in no pool.
	ErrNotInPool = errors.New("vm: not in a pool")
	// ErrBadProof: a session inclusion proof that does not verify.
	ErrBadProof = errors.New("vm: bad inclusion proof")
)

// receiptCodes numbers the failures a receipt can carry; the code, not the
// message, is what enters the receipts hash. Append only.
var receiptCodes = []error{
	nil,
	ErrSessionExists, ErrUnknownSession, ErrNotOwner, ErrChunkIndex, ErrChunkAnchored,
	ErrNotProposer, ErrTallyCommitted, ErrEpochNotOver,
	ErrUnknownParam, ErrImmutableParam, ErrParamOutOfBounds,
	ErrNotEligible, ErrUnknownProposal, ErrVotingClosed, ErrDoubleVote,
	ErrBadEvidence, ErrAlreadySlashed,
	ErrClaimMismatch, ErrClaimExists,
	ErrPoolChangeTooSoon, ErrNotInPool,
}

func codeOf(err error) uint64 {
	for i, s := range receiptCodes[1:] {
		if errors.Is(err, s) {
			return uint64(i + 1)
		}
	}
	panic(fmt.Sprintf("vm: receipt error without a code: %v", err))
}

func errf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

func malformed(format string, args ...any) error { return errf(ErrMalformed, format, args...) }

// ReceiptError returns the sentinel a receipt code stands for (nil for 0;
// an error naming the code when it is unknown to this version).
func ReceiptError(code uint64) error {
	if code < uint64(len(receiptCodes)) {
		return receiptCodes[code]
	}
	return fmt.Errorf("vm: unknown receipt code %d", code)
}
