package crdt

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps exactly one of
// them, so a shell can count rejections by reason with errors.Is.
//
// Decoding errors: ErrMalformed, ErrUnsupportedVersion, ErrTooLarge,
// ErrTooManyEntries. Authorization errors (Map.Authorize): ErrWrongSigner,
// ErrEmptyDelta, ErrTooLarge, ErrTooManyEntries, ErrNotHost,
// ErrUnknownSession, ErrHostConflict, ErrForeignCounter, ErrForeignStamp,
// ErrNotRelay, ErrExpired, ErrFromFuture. Local misuse (Map.Update and
// friends): ErrInvalidArgument, ErrInvalidTransition, plus the
// authorization errors, which a local update must pass too.
var (
	// ErrMalformed: bytes that are not a canonical encoding of a valid
	// value (not CBOR, unknown or duplicate keys, non-canonical forms,
	// values out of range, unsorted lists, trailing data).
	ErrMalformed = errors.New("crdt: malformed")
	// ErrUnsupportedVersion: a delta, sync message or snapshot of another
	// format version.
	ErrUnsupportedVersion = errors.New("crdt: unsupported version")
	// ErrTooLarge: an encoding or an element above its size limit
	// (MaxDeltaSize, MaxParticipantSize, MaxPrivateSize, MaxAnchorRefSize,
	// MaxSyncMsgSize, MaxSnapshotFrame).
	ErrTooLarge = errors.New("crdt: too large")
	// ErrTooManyEntries: more records, set elements, counter entries,
	// claims or IDs than a delta, record or message may hold.
	ErrTooManyEntries = errors.New("crdt: too many entries")
	// ErrInvalidArgument: a caller passed a value outside the documented
	// range (an invalid replica or session ID, service name, phase, time,
	// a counter overflow, deltas of different authors to JoinDeltas).
	ErrInvalidArgument = errors.New("crdt: invalid argument")
	// ErrInvalidTransition: a local SetPhase that would go backwards or
	// leave a terminal phase, or a Create of a session that exists.
	ErrInvalidTransition = errors.New("crdt: invalid transition")

	// ErrWrongSigner: the delta's author is not the peer that signed it.
	ErrWrongSigner = errors.New("crdt: author is not the signer")
	// ErrEmptyDelta: a delta without records; nothing to gossip.
	ErrEmptyDelta = errors.New("crdt: empty delta")
	// ErrNotHost: a host-owned field (origin, phase, times, relays,
	// participants, private blob, manifest hash, anchor) written by a
	// replica that is not the session's host, or a Create naming a host
	// other than its author.
	ErrNotHost = errors.New("crdt: only the host may write this field")
	// ErrUnknownSession: the delta writes a session whose host is not
	// known, neither from the map nor from a Create in the delta itself.
	// The delta may become acceptable once the Create arrives; a gossip
	// validator should ignore rather than penalize it.
	ErrUnknownSession = errors.New("crdt: unknown session")
	// ErrHostConflict: a Create whose origin (host, service, creation
	// time) differs from the one the map knows: an attempt to change the
	// host of a session.
	ErrHostConflict = errors.New("crdt: conflicting session origin")
	// ErrForeignCounter: a counter entry for a replica other than the
	// delta's author.
	ErrForeignCounter = errors.New("crdt: counter entry of another replica")
	// ErrForeignStamp: a register timestamp or set dot attributed to a
	// replica other than the delta's author.
	ErrForeignStamp = errors.New("crdt: timestamp of another replica")
	// ErrNotRelay: a counter entry written by a replica that is neither
	// the host nor a relay of the session. Like ErrUnknownSession it may
	// become acceptable once the host's AddRelay arrives.
	ErrNotRelay = errors.New("crdt: author is neither host nor relay")
	// ErrExpired: the session was created before now - Params.Horizon;
	// its record has been (or will be) dropped everywhere.
	ErrExpired = errors.New("crdt: session beyond the horizon")
	// ErrFromFuture: a timestamp or time more than Params.MaxSkew ahead of
	// the local clock.
	ErrFromFuture = errors.New("crdt: timestamp from the future")
)

func errf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}

func malformed(format string, args ...any) error { return errf(ErrMalformed, format, args...) }
