package consensus

import (
	"encoding/binary"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"lukechampine.com/blake3"

	"github.com/lucidnet/lucid/internal/canon"
	"github.com/lucidnet/lucid/sessions"
)

// Encodings are CBOR maps with small integer keys in core deterministic
// form (RFC 8949 §4.2.1). Every wire struct uses omitempty, so "absent" is
// the only encoding of a zero value, and every decoder re-encodes what it
// decoded and insists on getting the input back: the strict decoder
// options reject duplicate keys, indefinite lengths, tags and unknown
// keys; the comparison catches everything else (non-shortest integers,
// key order, explicit zero values).
var (
	encMode = canon.EncMode(cbor.CoreDetEncOptions())
	decMode = canon.StrictDecMode(cbor.DecOptions{
		MaxNestedLevels:  16,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      64,
	})
)

// mustMarshal encodes one of this package's wire structs. They hold only
// unsigned integers, byte strings, raw messages already validated and
// nested wire structs, which the encoder cannot fail on.
func mustMarshal(v any) []byte { return canon.MustMarshal(encMode, v) }

// decodeStrict decodes b into v (a pointer to a wire struct) after checking
// the version key, and verifies that re-encoding reproduces b.
func decodeStrict(b []byte, v any, version uint64, what string) error {
	if err := checkVersionKey(b, version, what); err != nil {
		return err
	}
	if err := canon.Decode(encMode, decMode, b, v); err != nil {
		return malformed("%s: %v", what, err)
	}
	return nil
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
		return errf(ErrUnsupportedVersion, "%s version %d, want %d", what, v, want)
	}
	return nil
}

func peerFromWire(b []byte, what string) (peer.ID, error) {
	id, err := peer.IDFromBytes(b)
	if err != nil {
		return "", malformed("%s: %v", what, err)
	}
	return id, nil
}

func hashFromWire(b []byte, what string) ([32]byte, error) {
	var h [32]byte
	if len(b) != 32 {
		return h, malformed("%s: %d bytes, want 32", what, len(b))
	}
	copy(h[:], b)
	return h, nil
}

func sessionFromWire(b []byte, what string) (sessions.ID, error) {
	var id sessions.ID
	if len(b) != len(id) {
		return id, malformed("%s: %d bytes, want %d", what, len(b), len(id))
	}
	copy(id[:], b)
	if !id.Valid() {
		return sessions.ID{}, malformed("%s: not a version 4 UUID", what)
	}
	return id, nil
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

func be64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}
