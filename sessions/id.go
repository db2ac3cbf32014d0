package sessions

import (
	"encoding/hex"
	"fmt"
	"io"
)

// ID is a session ID: a random (version 4, RFC 4122 variant) UUID. A host
// accepts each ID at most once, so an ID names exactly one session for the
// whole network and a captured request cannot be replayed.
type ID [16]byte

// NewID draws a fresh session ID from rand. Randomness is an argument so the
// core stays deterministic under test; production callers pass
// crypto/rand.Reader.
func NewID(rand io.Reader) (ID, error) {
	var id ID
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return ID{}, fmt.Errorf("sessions: reading randomness for session ID: %w", err)
	}
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant (10xx)
	return id, nil
}

// Valid reports whether id is a version 4 UUID with the RFC 4122 variant.
// Only such IDs are accepted anywhere: other UUID versions embed MAC
// addresses, clocks or names, which would be guessable or leak information.
// The zero ID is not valid.
func (id ID) Valid() bool {
	return id[6]>>4 == 4 && id[8]>>6 == 0b10
}

// IsZero reports whether id is the zero value (no session).
func (id ID) IsZero() bool { return id == ID{} }

// String returns the canonical lowercase 8-4-4-4-12 form.
func (id ID) String() string {
	var b [36]byte
	id.appendTo(b[:0])
	return string(b[:])
}

func (id ID) appendTo(b []byte) []byte {
	b = hex.AppendEncode(b, id[0:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[8:10])
	b = append(b, '-')
	return hex.AppendEncode(b, id[10:16])
}

// ParseID parses the canonical 8-4-4-4-12 hex form, in either case. Braces,
// "urn:uuid:" prefixes and hyphen-less forms are refused so that an ID has
// one spelling in logs and on the command line. Errors wrap ErrInvalidID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 36 {
		return ID{}, fmt.Errorf("%w: %q: want 36 characters, got %d", ErrInvalidID, s, len(s))
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return ID{}, fmt.Errorf("%w: %q: want '-' at offset %d", ErrInvalidID, s, i)
			}
			i++
			continue
		}
		hi, ok1 := fromHex(s[i])
		lo, ok2 := fromHex(s[i+1])
		if !ok1 || !ok2 {
			return ID{}, fmt.Errorf("%w: %q: bad hex at offset %d", ErrInvalidID, s, i)
		}
		id[j] = hi<<4 | lo
		j++
		i += 2
	}
	if !id.Valid() {
		return ID{}, fmt.Errorf("%w: %q is not a version 4, RFC 4122 variant UUID", ErrInvalidID, s)
	}
	return id, nil
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// MarshalText renders id for JSON and flags. The zero ID renders as "" so
// that an unset ID survives a round trip; any other ID that ParseID would
// refuse is an error, so text output can always be read back.
func (id ID) MarshalText() ([]byte, error) {
	if id.IsZero() {
		return []byte{}, nil
	}
	if !id.Valid() {
		return nil, fmt.Errorf("%w: %s is not a version 4 UUID", ErrInvalidID, id)
	}
	return id.appendTo(make([]byte, 0, 36)), nil
}

// UnmarshalText is the inverse of MarshalText.
func (id *ID) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*id = ID{}
		return nil
	}
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
