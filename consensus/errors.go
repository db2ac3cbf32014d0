package consensus

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps exactly one of
// them, so the gossip layer can count rejections by reason with errors.Is
// and decide which to penalize (see "Rejections" in the package doc).
var (
	// ErrMalformed: bytes that are not the canonical encoding of a valid
	// value (not CBOR, unknown or duplicate keys, non-canonical forms,
	// trailing data, fields out of their structural range, a body that
	// does not match the proof type).
	ErrMalformed = errors.New("consensus: malformed")
	// ErrUnsupportedVersion: a proof, receipt, parameter set, tally or
	// schedule of another format version.
	ErrUnsupportedVersion = errors.New("consensus: unsupported version")
	// ErrUnknownType: a proof type other than the four defined ones.
	ErrUnknownType = errors.New("consensus: unknown proof type")
	// ErrOversize: an encoding above Params.MaxProofSize (or the absolute
	// decoder limit), or more receipts than Params.MaxReceiptsPerProof.
	ErrOversize = errors.New("consensus: oversize")
	// ErrInvalidParams: Params outside their documented bounds.
	ErrInvalidParams = errors.New("consensus: invalid params")
	// ErrInvalidArgument: a caller passed a value outside the documented
	// range (nil key, wrong history length, a storage claim set that is
	// not well formed, ...).
	ErrInvalidArgument = errors.New("consensus: invalid argument")

	// ErrBadSignature: the node's signature on a proof is missing or does
	// not verify.
	ErrBadSignature = errors.New("consensus: bad signature")
	// ErrUnsupportedKey: a node or client whose peer ID does not embed an
	// Ed25519 public key.
	ErrUnsupportedKey = errors.New("consensus: unsupported key type")
	// ErrSlotOutOfWindow: the proof's slot is more than
	// Params.AcceptWindow slots before or after the current slot.
	ErrSlotOutOfWindow = errors.New("consensus: slot outside the acceptance window")
	// ErrNotPoolMember: the proof names a pool the node does not belong to
	// (only when VerifyContext.PoolMember is set).
	ErrNotPoolMember = errors.New("consensus: node is not a member of the pool")

	// ErrMissingCounterSignature: a metering receipt without the client's
	// signature.
	ErrMissingCounterSignature = errors.New("consensus: receipt lacks the client's counter-signature")
	// ErrBadCounterSignature: a metering receipt whose client signature
	// does not verify.
	ErrBadCounterSignature = errors.New("consensus: bad client counter-signature")
	// ErrReceiptHost: a receipt that names another host than the proof's
	// node.
	ErrReceiptHost = errors.New("consensus: receipt for another host")
	// ErrReceiptSlot: a receipt for another slot than the proof's.
	ErrReceiptSlot = errors.New("consensus: receipt for another slot")
	// ErrSelfDealing: a receipt whose client is the host itself.
	ErrSelfDealing = errors.New("consensus: client is the host")

	// ErrUnknownSeed: the seed (block hash) for the proof's slot is not
	// known yet. Not a fault of the sender: ignore, do not penalize.
	ErrUnknownSeed = errors.New("consensus: seed for slot not known")
	// ErrNoClaims: a storage proof from a node without storage claims.
	ErrNoClaims = errors.New("consensus: node has no storage claims")
	// ErrUnknownRoot: a storage proof for a recording root the node has
	// not claimed.
	ErrUnknownRoot = errors.New("consensus: unknown recording root")
	// ErrChallengeMismatch: a storage proof for another chunk, size or
	// recording than the slot's challenge selects.
	ErrChallengeMismatch = errors.New("consensus: storage proof does not answer the challenge")
	// ErrBadInclusion: the chunk leaf's Merkle proof does not lead to the
	// anchored root at the challenged index.
	ErrBadInclusion = errors.New("consensus: bad Merkle inclusion proof")
	// ErrBadSlice: the Bao slice does not verify against the chunk leaf
	// (the prover does not hold the challenged bytes).
	ErrBadSlice = errors.New("consensus: bad Bao slice")
	// ErrChunkMismatch: ProveStorage was given bytes or leaves that are
	// not the challenged chunk of the claimed recording.
	ErrChunkMismatch = errors.New("consensus: chunk does not match the claim")

	// ErrUnknownBlock: a validation proof for a block the chain does not
	// know (yet).
	ErrUnknownBlock = errors.New("consensus: unknown block")
	// ErrBlockMismatch: a validation proof whose slot, height or session
	// count differs from the block's.
	ErrBlockMismatch = errors.New("consensus: validation does not match the block")

	// ErrDuplicate: a proof already seen (same node, slot, type and
	// content). Gossip re-delivery: ignore.
	ErrDuplicate = errors.New("consensus: duplicate proof")
	// ErrEquivocation: a second, different proof for the same node, slot
	// and type. The node signed both: penalize.
	ErrEquivocation = errors.New("consensus: conflicting proof for the same node, slot and type")
	// ErrReplay: a proof for a slot the deduplicator has already
	// forgotten (older than the acceptance window).
	ErrReplay = errors.New("consensus: replayed proof")
	// ErrDedupFull: the deduplicator is at its entry limit.
	ErrDedupFull = errors.New("consensus: deduplicator full")

	// ErrWrongTally: a tally that is not the one the schedule rule
	// prescribes for the slot (other slot or other parameters).
	ErrWrongTally = errors.New("consensus: wrong tally for slot")
	// ErrPruned: a tally was asked for a window whose slots were pruned.
	ErrPruned = errors.New("consensus: window already pruned")
)

func errf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

func malformed(format string, args ...any) error { return errf(ErrMalformed, format, args...) }
