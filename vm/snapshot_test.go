package vm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
)

// snapshotChain is a state with an entry under most prefixes: sessions,
// chunks, a proposal with votes, nonces.
func snapshotChain(t testing.TB) *State {
	t.Helper()
	c := newChain(t)
	n0, n1 := newActor(t, "snap-0"), newActor(t, "snap-1")
	c.eligible = []peer.ID{n0.id, n1.id}
	c.block(c.next(n0, register(1, 3)), c.next(n1, register(2, 1)),
		c.next(n0, &ProposeParam{Name: "cooldown_slots", Value: 24}))
	c.block(c.next(n0, &AnchorChunk{Session: sid(1), Index: 0, Leaf: h32("leaf")}),
		c.next(n1, &Vote{Proposal: 1, Yes: true}))
	return c.s
}

// snapshotOf encodes entries as given (no sorting), to build bad snapshots.
func snapshotOf(entries ...[2]string) []byte {
	out := []byte(snapshotMagic)
	for _, e := range entries {
		for _, f := range e {
			out = binary.AppendUvarint(out, uint64(len(f)))
			out = append(out, f...)
		}
	}
	return out
}

func TestSnapshotRoundTrip(t *testing.T) {
	for name, s := range map[string]*State{"genesis": testGenesis(t), "chain": snapshotChain(t)} {
		t.Run(name, func(t *testing.T) {
			b := s.Snapshot()
			r, err := RestoreState(b, s.Root())
			require.NoError(t, err)
			require.True(t, r.Equal(s))
			require.Equal(t, s.Root(), r.Root())
			require.Equal(t, s.Entries(), r.Entries())
			require.Equal(t, b, r.Snapshot())

			// The restored state executes like the original.
			c := newChain(t)
			in := BlockInput{Height: s.Height() + 1, Slot: s.Slot() + 1, Proposer: c.proposer.id,
				Txs: [][]byte{newActor(t, "snap-2").tx(t, 0, register(7, 2))}}
			s1, rs1, err := ApplyBlock(s, in)
			require.NoError(t, err)
			s2, rs2, err := ApplyBlock(r, in)
			require.NoError(t, err)
			require.Equal(t, s1.Root(), s2.Root())
			require.Equal(t, ReceiptsRoot(rs1), ReceiptsRoot(rs2))

			wrong := s.Root()
			wrong[0] ^= 1
			_, err = RestoreState(b, wrong)
			require.ErrorIs(t, err, ErrStateRoot)
		})
	}
}

func TestRestoreStateRejects(t *testing.T) {
	s := snapshotChain(t)
	good := s.Snapshot()
	height := [2]string{keyHeight, string(be64(1))}
	slot := [2]string{keySlot, string(be64(1))}
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"no magic", good[len(snapshotMagic):]},
		{"wrong magic", append([]byte("lucidst2"), good[len(snapshotMagic):]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(bytes.Clone(good), 0)},
		{"bad length varint", append([]byte(snapshotMagic), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"key longer than the rest", append([]byte(snapshotMagic), 5, 'a')},
		{"oversize entry", binary.AppendUvarint([]byte(snapshotMagic), maxSnapshotEntryLen+1)},
		{"unsorted keys", snapshotOf(slot, height)},
		{"duplicate key", snapshotOf(height, height)},
		{"empty key", snapshotOf([2]string{"", "x"}, height)},
		{"no height", snapshotOf(slot)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := RestoreState(c.b, s.Root())
			require.ErrorIs(t, err, ErrMalformed)
			require.Nil(t, st)
		})
	}
	// A well-formed snapshot of another state is refused by its root.
	_, err := RestoreState(snapshotOf(height, slot), s.Root())
	require.ErrorIs(t, err, ErrStateRoot)
}

// refRestore is an independent reading of the snapshot format; the fuzz
// target checks RestoreState against it.
func refRestore(b []byte) (map[string][]byte, bool) {
	if !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		return nil, false
	}
	b = b[len(snapshotMagic):]
	kv := map[string][]byte{}
	last := ""
	for len(b) > 0 {
		var f [2][]byte
		for i := range f {
			n, k := binary.Uvarint(b)
			if k <= 0 || n > maxSnapshotEntryLen || n > uint64(len(b)-k) {
				return nil, false
			}
			f[i], b = b[k:k+int(n)], b[k+int(n):]
		}
		if len(f[0]) == 0 || (len(kv) > 0 && string(f[0]) <= last) {
			return nil, false
		}
		last = string(f[0])
		kv[last] = bytes.Clone(f[1])
	}
	_, ok := kv[keyHeight]
	return kv, ok
}

func FuzzRestoreState(f *testing.F) {
	f.Add(testGenesis(f).Snapshot())
	f.Add(snapshotChain(f).Snapshot())
	f.Add([]byte(snapshotMagic))
	f.Add(snapshotOf([2]string{keyHeight, string(be64(3))}))
	f.Fuzz(func(t *testing.T, b []byte) {
		kv, ok := refRestore(b)
		if !ok {
			s, err := RestoreState(b, [32]byte{})
			if err == nil || s != nil || !errors.Is(err, ErrMalformed) {
				t.Fatalf("accepted (or wrong error %v) a snapshot the reference refuses", err)
			}
			return
		}
		root := newState(kv).Root()
		s, err := RestoreState(b, root)
		if err != nil {
			t.Fatalf("refused a well-formed snapshot: %v", err)
		}
		if !bytes.Equal(s.Snapshot(), b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", s.Snapshot(), b)
		}
		root[0] ^= 1
		if _, err := RestoreState(b, root); !errors.Is(err, ErrStateRoot) {
			t.Fatalf("wrong root: %v", err)
		}
	})
}
