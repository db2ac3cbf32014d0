package crdt

import (
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/lucidnet/lucid/internal/golden"
	"github.com/stretchr/testify/require"
)

// The golden vector pins the formats byte for byte: one delta with every
// field set, the hash of the record it makes, the digest of a map holding
// only it, the opening sync message of that map and its snapshot. A
// change to any encoding, hash domain or tree rule shows up here. Run with
// -update (or LUCID_UPDATE_GOLDEN=1) to rewrite the file after an intended
// change, and review the diff: old nodes will not understand the new
// format, so it needs a new version number.

type goldenDelta struct {
	Description string `json:"description"`
	Author      string `json:"author"`
	Session     string `json:"session"`
	Delta       string `json:"delta"`
	RecordHash  string `json:"record_hash"`
	Digest      string `json:"digest"`
	SyncStart   string `json:"sync_start"`
	Snapshot    string `json:"snapshot"`
}

func TestGoldenDelta(t *testing.T) {
	d := sampleDelta(t)
	m := NewMap(Params{})
	m.Merge(d)
	id := sid(1)
	rh, ok := m.Hash(id)
	require.True(t, ok)
	dg := m.Digest()
	got := goldenDelta{
		Description: "crdt delta v1: hostA creates session sid(1) at 2026-03-01T12:00:00Z with relay, phase active, " +
			"a participant, private blob, manifest 0xaa.., anchor pending \"tx\", counters (1, 2, 3); see sampleDelta",
		Author:     hostA.String(),
		Session:    id.String(),
		Delta:      hex.EncodeToString(d.Encode()),
		RecordHash: hex.EncodeToString(rh[:]),
		Digest:     hex.EncodeToString(dg[:]),
		SyncStart:  hex.EncodeToString(m.SyncStart().Encode()),
		Snapshot:   hex.EncodeToString(m.Snapshot()),
	}
	path := filepath.Join("testdata", "golden-delta.json")
	var want goldenDelta
	golden.JSON(t, path, got, &want)
	require.Equal(t, want, got)

	// The checked-in bytes decode, and re-encode to themselves.
	raw, err := hex.DecodeString(want.Delta)
	require.NoError(t, err)
	dd, err := DecodeDelta(raw)
	require.NoError(t, err)
	require.Equal(t, raw, dd.Encode())
	snap, err := hex.DecodeString(want.Snapshot)
	require.NoError(t, err)
	c := NewMap(Params{})
	_, err = c.LoadSnapshot(snap)
	require.NoError(t, err)
	require.Equal(t, dg, c.Digest())
}
