package vm

import (
	"bytes"
	"encoding/binary"
)

// Snapshots.
//
// A snapshot is the state's entries in key order, each as uvarint key
// length ‖ key ‖ uvarint value length ‖ value, after the 8-byte magic
// "lucidst1". It is what a node stores at a final height and what a new
// node downloads instead of replaying the chain; RestoreState accepts it
// only when the entries hash to the root the caller trusts (a final
// block's StateRoot), so a snapshot needs no signature.

const snapshotMagic = "lucidst1"

// maxSnapshotEntryLen bounds one key or value of a snapshot.
const maxSnapshotEntryLen = 1 << 20

// Snapshot returns the state's entries in the snapshot encoding.
func (s *State) Snapshot() []byte {
	ks := s.sortedKeys()
	n := len(snapshotMagic)
	for _, k := range ks {
		n += 2*binary.MaxVarintLen64 + len(k) + len(s.kv[k])
	}
	out := make([]byte, 0, n)
	out = append(out, snapshotMagic...)
	for _, k := range ks {
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
		out = binary.AppendUvarint(out, uint64(len(s.kv[k])))
		out = append(out, s.kv[k]...)
	}
	return out
}

// RestoreState decodes a snapshot and checks it against root
// (ErrMalformed for bad bytes, unsorted or duplicate keys;
// ErrStateRoot when the entries do not hash to root).
func RestoreState(b []byte, root [32]byte) (*State, error) {
	if !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		return nil, malformed("snapshot: no magic")
	}
	b = b[len(snapshotMagic):]
	kv := map[string][]byte{}
	var prev []byte
	field := func(what string) ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > maxSnapshotEntryLen || n > uint64(len(b)-k) {
			return nil, malformed("snapshot: bad %s length at entry %d", what, len(kv))
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		return f, nil
	}
	for len(b) > 0 {
		k, err := field("key")
		if err != nil {
			return nil, err
		}
		v, err := field("value")
		if err != nil {
			return nil, err
		}
		if len(k) == 0 || (prev != nil && bytes.Compare(prev, k) >= 0) {
			return nil, malformed("snapshot: key %d out of order", len(kv))
		}
		prev = k
		kv[string(k)] = bytes.Clone(v)
	}
	if _, ok := kv[keyHeight]; !ok {
		return nil, malformed("snapshot: no height entry")
	}
	s := newState(kv)
	if s.root != root {
		return nil, errf(ErrStateRoot, "snapshot root %x, want %x", s.root[:8], root[:8])
	}
	return s, nil
}
