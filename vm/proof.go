package vm

import (
	"sort"
)

// ProofVersion is the only session-proof encoding version this package
// reads.
const ProofVersion = 1

// SessionProof proves that a session's registration record is an entry of
// the state with a given root: the entry (key = 0x01 ‖ session ID, value =
// Record's encoding) is leaf Index of the Size sorted entries, and Path is
// its RFC 9162 audit path.
type SessionProof struct {
	Session SessionID
	Record  SessionRecord
	Index   uint64
	Size    uint64
	Path    [][32]byte
}

// ProveSession returns the inclusion proof of a session's registration and
// the root it leads to (s.Root()); ErrUnknownSession when the session is
// not registered.
func (s *State) ProveSession(id SessionID) (SessionProof, [32]byte, error) {
	k := sessionKey(id)
	v, ok := s.kv[k]
	if !ok {
		return SessionProof{}, [32]byte{}, errf(ErrUnknownSession, "%x", id)
	}
	keys := s.sortedKeys()
	i := sort.SearchStrings(keys, k)
	path := auditPath(i, s.leaves(keys))
	return SessionProof{Session: id, Record: mustDecodeSession(v), Index: uint64(i), Size: uint64(len(keys)),
		Path: path}, s.root, nil
}

// VerifySessionProof checks that p proves its session's record under
// root; errors wrap ErrBadProof.
func VerifySessionProof(root [32]byte, p SessionProof) error {
	if len(p.Path) > 64 {
		return errf(ErrBadProof, "path of %d hashes", len(p.Path))
	}
	leaf := leafHash([]byte(sessionKey(p.Session)), p.Record.Encode())
	got, ok := rootFromPath(leaf, p.Index, p.Size, p.Path)
	if !ok {
		return errf(ErrBadProof, "path does not fit index %d of %d", p.Index, p.Size)
	}
	if got != root {
		return errf(ErrBadProof, "root %x, want %x", got, root)
	}
	return nil
}

type wireProof struct {
	Version uint64   `cbor:"1,keyasint,omitempty"`
	Session []byte   `cbor:"2,keyasint,omitempty"`
	Record  []byte   `cbor:"3,keyasint,omitempty"`
	Index   uint64   `cbor:"4,keyasint,omitempty"`
	Size    uint64   `cbor:"5,keyasint,omitempty"`
	Path    [][]byte `cbor:"6,keyasint,omitempty"`
}

// Encode returns the canonical encoding (1 = version, 2 = session ID,
// 3 = record encoding, 4 = index, 5 = size, 6 = path).
func (p *SessionProof) Encode() []byte {
	w := wireProof{Version: ProofVersion, Session: p.Session[:], Record: p.Record.Encode(), Index: p.Index, Size: p.Size}
	for _, h := range p.Path {
		w.Path = append(w.Path, h[:])
	}
	return mustMarshal(&w)
}

// DecodeSessionProof is the strict inverse of Encode (structure only; see
// VerifySessionProof).
func DecodeSessionProof(b []byte) (SessionProof, error) {
	if len(b) > 8<<10 {
		return SessionProof{}, malformed("proof of %d bytes", len(b))
	}
	var w wireProof
	if err := decodeStrict(b, &w, ProofVersion, "session proof"); err != nil {
		return SessionProof{}, err
	}
	var p SessionProof
	if err := sessionID(w.Session, &p.Session); err != nil {
		return SessionProof{}, err
	}
	r, err := decodeSession(w.Record)
	if err != nil {
		return SessionProof{}, err
	}
	p.Record, p.Index, p.Size = r, w.Index, w.Size
	for _, h := range w.Path {
		x, err := hash32(h, "path hash")
		if err != nil {
			return SessionProof{}, err
		}
		p.Path = append(p.Path, x)
	}
	return p, nil
}
