package consensus

import "errors"

// Sentinel errors of the block layer (block.go, forkchoice.go). Each block
// rejection wraps exactly one sentinel. Structural problems reuse
// ErrMalformed and ErrUnsupportedVersion; a slot whose schedule is not
// known yet reuses ErrUnknownSeed ("not yet": retry later, do not
// penalize).
var (
	// ErrBlockTooLarge: a block encoding above BlockParams.MaxBlockBytes.
	ErrBlockTooLarge = errors.New("consensus: block too large")
	// ErrBlockTooManyTxs: more transactions than BlockParams.MaxBlockTxs.
	ErrBlockTooManyTxs = errors.New("consensus: too many transactions in block")
	// ErrBlockHeight: the height is not the parent's height plus one.
	ErrBlockHeight = errors.New("consensus: block height is not parent height + 1")
	// ErrBlockSlot: the slot is not after the parent's slot.
	ErrBlockSlot = errors.New("consensus: block slot not after parent slot")
	// ErrBlockPrev: Prev is not the parent's hash.
	ErrBlockPrev = errors.New("consensus: block does not link to its parent")
	// ErrNotProposer: the proposer is neither the slot's primary nor one
	// of its fallbacks (nor the bootstrap proposer of a slot without
	// leaders).
	ErrNotProposer = errors.New("consensus: proposer is not a leader of the slot")
	// ErrProposerEarly: a fallback's block arrived before its turn
	// (rank·SlotTimeout into the slot).
	ErrProposerEarly = errors.New("consensus: fallback proposer before its turn")
	// ErrBlockSignature: the proposer's signature is missing or does not
	// verify.
	ErrBlockSignature = errors.New("consensus: bad block signature")
	// ErrTxRoot: the header's TxRoot is not the root of the body's
	// transactions.
	ErrTxRoot = errors.New("consensus: tx root does not match the body")
	// ErrProofRoot: the header's ProofRoot is not the root of the body's
	// proofs.
	ErrProofRoot = errors.New("consensus: proof root does not match the body")
	// ErrUnknownParent: ForkChoice.Add of a block whose parent it does
	// not hold (yet). Buffer the block and add it after its parent.
	ErrUnknownParent = errors.New("consensus: unknown parent block")
	// ErrRevertsFinal: ForkChoice.Add of a block that does not descend
	// from the final block; accepting it could revert finality.
	ErrRevertsFinal = errors.New("consensus: block conflicts with the final block")
)
