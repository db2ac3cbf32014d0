package chain

import (
	"bytes"
	"testing"

	"github.com/lucidnet/lucid/internal/canon"
)

// FuzzFetchRequest: a request from the network decodes into a valid
// request or a clear error, and a valid one re-encodes to its bytes.
func FuzzFetchRequest(f *testing.F) {
	for _, r := range []fetchRequest{{Kind: fetchHead}, {Kind: fetchHash, Hash: make([]byte, 32)}, {Kind: fetchRange, From: 7, Count: 64}} {
		f.Add(canon.MustMarshal(encMode, &r))
	}
	f.Add([]byte{0xa1, 0x01, 0x09})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeFetchRequest(b)
		if err != nil {
			return
		}
		if got := canon.MustMarshal(encMode, &r); !bytes.Equal(got, b) {
			t.Fatalf("accepted a non-canonical request: %x re-encodes to %x", b, got)
		}
	})
}

// FuzzStoredRecords: the decoders of what the node reads back from its
// store (final index, transaction index) refuse damaged bytes with an
// error and never panic.
func FuzzStoredRecords(f *testing.F) {
	f.Add(canon.MustMarshal(encMode, &wireFinal{Hash: make([]byte, 32), Misses: []wireMiss{{Slot: 3, Entity: []byte{1, 2}}}}))
	f.Add(canon.MustMarshal(encMode, &wireTxLoc{Block: make([]byte, 32), Height: 9, Index: 2, Code: 1}))
	f.Add(canon.MustMarshal(encMode, &wireSnapshot{Hash: make([]byte, 32), State: []byte("lucidst1")}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, _, err := decodeFinal(b); err == nil && len(b) == 0 {
			t.Fatal("empty final record accepted")
		}
		if loc, err := decodeTxLoc(b); err == nil && loc.Index < 0 {
			t.Fatalf("negative index %d", loc.Index)
		}
		_, _, _ = decodeSnapshotRecord(b)
	})
}

// FuzzHistoryRecord: the records of final blocks a snapshot sync fetches
// from a peer decode or fail cleanly; an accepted one re-encodes to the
// same bytes.
func FuzzHistoryRecord(f *testing.F) {
	f.Add(canon.MustMarshal(encMode, &wireHistory{Block: []byte{0xa0}}))
	f.Add(canon.MustMarshal(encMode, &wireHistory{Block: []byte{1}, Misses: []wireMiss{{Slot: 1, Entity: []byte{1, 0}}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		sb, err := decodeHistory(b)
		if err != nil {
			return
		}
		if got := encodeHistory(sb); !bytes.Equal(got, b) {
			t.Fatalf("accepted a non-canonical history record: %x re-encodes to %x", b, got)
		}
	})
}
