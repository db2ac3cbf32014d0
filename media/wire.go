package media

import (
	"errors"
	"fmt"
	"math"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/internal/canon"
	"github.com/lucidnet/lucid/sessions"
)

// Sentinel errors. Every error from this package wraps exactly one of them,
// except errors from the caller's own I/O (the io.Reader given for
// randomness, the io.Writers given to a Reassembler), which are wrapped as
// they are.
var (
	// ErrMalformed: bytes that do not follow the format (frames, chunk
	// headers, zstd payloads, CBOR), or a value that cannot be encoded.
	ErrMalformed = errors.New("media: malformed")
	// ErrUnsupportedVersion: a newer chunk, manifest or codec version.
	ErrUnsupportedVersion = errors.New("media: unsupported version")
	// ErrInvalidArgument: a caller passed a value outside the documented
	// range (chunker limits, frame direction or time, session ID).
	ErrInvalidArgument = errors.New("media: invalid argument")
	// ErrTooLarge: a chunk plaintext above MaxChunkPlaintext.
	ErrTooLarge = errors.New("media: too large")
	// ErrBadKey: a session key of the wrong length, or key text that does
	// not parse.
	ErrBadKey = errors.New("media: bad key")
	// ErrWrongChunk: a well-formed chunk whose header names another
	// session or index than the one asked for (a swapped or misfiled
	// chunk).
	ErrWrongChunk = errors.New("media: wrong chunk")
	// ErrTampered: an authentication tag did not verify: the bytes were
	// changed, or the key is wrong.
	ErrTampered = errors.New("media: authentication failed")
	// ErrNotRecipient: a wrapped key is addressed to another public key.
	ErrNotRecipient = errors.New("media: not a recipient of this key")
	// ErrBadProof: a Merkle proof that does not lead to the root.
	ErrBadProof = errors.New("media: bad Merkle proof")
	// ErrVerification: Report.Err for a recording with problems.
	ErrVerification = errors.New("media: recording failed verification")
)

var (
	encMode = canon.EncMode(cbor.CoreDetEncOptions())
	// decMode is strict; whatever it lets through, the canonical re-encoding
	// comparison every decoder performs catches (non-shortest integers, key
	// order, explicit zero values).
	decMode = canon.StrictDecMode(cbor.DecOptions{
		// A manifest lists up to MaxChunks chunks; the library default
		// (131072) would cap recordings at about 12 days of 8 MiB chunks.
		MaxArrayElements: MaxChunks,
	})
)

// mustMarshal encodes one of this package's wire structs. They hold only
// unsigned integers, strings, byte slices and nested wire structs, which
// the encoder cannot fail on, so an error here is a programming error.
func mustMarshal(v any) []byte { return canon.MustMarshal(encMode, v) }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// checkVersionKey reads map key 1 of b before anything else is interpreted,
// so that a newer, incompatible layout reports ErrUnsupportedVersion rather
// than whatever the strict typed decode would trip over first.
func checkVersionKey(b []byte, want uint64, what string) error {
	v, err := canon.Version(decMode, b)
	if err != nil {
		return malformed("%s: %v", what, err)
	}
	if v != want {
		return fmt.Errorf("%w: %s version %d, want %d", ErrUnsupportedVersion, what, v, want)
	}
	return nil
}

func idFromWire(b []byte, what string) (sessions.ID, error) {
	id, err := sessions.IDFromBytes(b)
	if err != nil {
		return sessions.ID{}, malformed("%s: %v", what, err)
	}
	return id, nil
}

func hashFromWire(b []byte, what string) ([32]byte, error) {
	var h [32]byte
	if len(b) != len(h) {
		return h, malformed("%s: %d bytes, want %d", what, len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

// peerFromWire applies the peer-ID rule of package sessions, so every
// peer in a manifest has a text form that peer.Decode reads back.
func peerFromWire(b []byte, what string) (peer.ID, error) {
	id, err := sessions.PeerFromBytes(b)
	if err != nil {
		return "", malformed("%s: %v", what, err)
	}
	return id, nil
}

// Times in manifests are Unix nanoseconds as CBOR unsigned integers; 0
// means "unset". Times at or before the epoch, or past what int64
// nanoseconds hold (2262), map to MaxUint64, which timeFromNanos rejects,
// so the to-wire direction is total.
var maxNanoTime = time.Unix(0, math.MaxInt64)

func nanos(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	if t.After(maxNanoTime) {
		return math.MaxUint64
	}
	n := t.UnixNano()
	if n <= 0 {
		return math.MaxUint64
	}
	return uint64(n)
}

func timeFromNanos(n uint64, what string) (time.Time, error) {
	if n == 0 {
		return time.Time{}, nil
	}
	if n > math.MaxInt64 {
		return time.Time{}, malformed("%s: %d ns is outside 1970..2262", what, n)
	}
	return time.Unix(0, int64(n)).UTC(), nil
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isPrintable reports whether s is valid UTF-8 without control or other
// non-printing characters: gap reasons end up on terminals.
func isPrintable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// isServiceName matches ^[a-z][a-z0-9-]{0,15}$, the rule of package
// sessions.
func isServiceName(s string) bool {
	if len(s) < 1 || len(s) > sessions.MaxServiceLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z') && !('0' <= c && c <= '9') && c != '-' {
			return false
		}
	}
	return true
}
