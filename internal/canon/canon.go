// Package canon holds what Lucid's canonical CBOR formats share: building
// the encoder and decoder modes from their options, and encoding values
// the caller knows are encodable. Each format keeps its own options
// (limits differ) and its own strict decoding rules.
package canon

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// EncMode builds an encoding mode from options fixed in code; invalid
// options are a programming error.
func EncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

// DecMode builds a decoding mode from options fixed in code.
func DecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

// StrictDecMode builds the decoding mode Lucid's closed formats share:
// duplicate map keys, indefinite lengths, tags and unknown fields are
// errors. limits carries only the format's size limits (zero: the
// library's defaults); the strict fields in it are overridden.
func StrictDecMode(limits cbor.DecOptions) cbor.DecMode {
	limits.DupMapKey = cbor.DupMapKeyEnforcedAPF
	limits.IndefLength = cbor.IndefLengthForbidden
	limits.TagsMd = cbor.TagsForbidden
	limits.ExtraReturnErrors = cbor.ExtraDecErrorUnknownField
	return DecMode(limits)
}

// ErrNotCanonical: the bytes decode, but re-encoding the value does not
// give them back (non-shortest integers, key order, explicit zeros).
var ErrNotCanonical = errors.New("not in canonical encoding")

// Decode decodes b into v and insists that re-encoding v gives b back, so
// one value has exactly one accepted encoding.
func Decode(em cbor.EncMode, dm cbor.DecMode, b []byte, v any) error {
	if err := dm.Unmarshal(b, v); err != nil {
		return err
	}
	if !bytes.Equal(MustMarshal(em, v), b) {
		return ErrNotCanonical
	}
	return nil
}

// MustMarshal encodes a wire struct made only of values the encoder
// cannot fail on (integers, strings, byte strings, booleans, nested wire
// structs); a failure is a programming error, reported with the type.
func MustMarshal(m cbor.EncMode, v any) []byte {
	b, err := m.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("canonical encoding of %T: %v", v, err))
	}
	return b
}

// Version reads key 1 of a CBOR map, where every Lucid format keeps its
// version, before anything else is decoded: a newer layout is then
// reported as a version the reader does not know, not as whatever the
// strict typed decode would trip over first.
func Version(m cbor.DecMode, b []byte) (uint64, error) {
	const cborMajorMap = 5
	if len(b) == 0 || b[0]>>5 != cborMajorMap {
		return 0, errors.New("not a CBOR map")
	}
	var fields map[uint64]cbor.RawMessage
	if err := m.Unmarshal(b, &fields); err != nil {
		return 0, err
	}
	raw, ok := fields[1]
	if !ok {
		return 0, errors.New("no version")
	}
	var v uint64
	if err := m.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("version: %w", err)
	}
	return v, nil
}
