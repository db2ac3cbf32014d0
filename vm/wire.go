package vm

import (
	"encoding/binary"

	"github.com/fxamacker/cbor/v2"
	"lukechampine.com/blake3"

	"github.com/lucidnet/lucid/internal/canon"
)

// Encodings are CBOR maps with small integer keys in core deterministic
// form. Wire structs use omitempty, so absence is the only encoding of a
// zero value, and decoders re-encode and insist on getting their input
// back (which rejects non-shortest integers, unsorted keys and explicit
// zero values); the decoder options reject duplicate keys, indefinite
// lengths, tags and unknown keys.
var (
	encMode = canon.EncMode(cbor.CoreDetEncOptions())
	decMode = canon.StrictDecMode(cbor.DecOptions{
		MaxNestedLevels:  8,
		MaxArrayElements: 1 << 16,
		MaxMapPairs:      32,
	})
)

func mustMarshal(v any) []byte { return canon.MustMarshal(encMode, v) }

// decodeStrict decodes b into v after checking the version key (when
// version > 0) and checks that re-encoding reproduces b.
func decodeStrict(b []byte, v any, version uint64, what string) error {
	if version > 0 {
		got, err := canon.Version(decMode, b)
		if err != nil {
			return malformed("%s: %v", what, err)
		}
		if got != version {
			return errf(ErrUnsupportedVersion, "%s version %d, want %d", what, got, version)
		}
	}
	if err := canon.Decode(encMode, decMode, b, v); err != nil {
		return malformed("%s: %v", what, err)
	}
	return nil
}

func hash32(b []byte, what string) ([32]byte, error) {
	var h [32]byte
	if len(b) != 32 {
		return h, malformed("%s: %d bytes, want 32", what, len(b))
	}
	copy(h[:], b)
	return h, nil
}

// domainHash is BLAKE3-256 over domain ‖ parts.
func domainHash(domain string, parts ...[]byte) [32]byte {
	h := blake3.New(32, nil)
	h.Write([]byte(domain))
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
