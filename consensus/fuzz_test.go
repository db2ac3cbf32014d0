package consensus

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Run each target with, e.g.:
//
//	go test ./consensus/ -run '^$' -fuzz '^FuzzDecodeProof$' -fuzztime 15s
//
// Every decoder must not panic, must return errors wrapping exactly one
// sentinel, and must accept only canonical encodings (re-encoding gives
// the input back).

func FuzzDecodeProof(f *testing.F) {
	p, fc, proofs := sampleProofs(f)
	for _, pr := range proofs {
		f.Add(mustEncode(f, pr))
	}
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Add([]byte{})
	ctx := fc.ctx()
	f.Fuzz(func(t *testing.T, data []byte) {
		pr, err := DecodeProof(data)
		if err != nil {
			requireSentinel(t, err, ErrMalformed, ErrUnsupportedVersion, ErrUnknownType, ErrOversize)
			return
		}
		require.Equal(t, data, mustEncode(t, pr))
		// Verification of anything that decodes must not panic either;
		// this exercises the Bao slice and Merkle checks on hostile input.
		if err := VerifyProof(pr, p, pr.Slot, ctx); err != nil {
			requireSentinel(t, err, allSentinels...)
		}
		ta, err := NewTally(p)
		require.NoError(t, err)
		require.NoError(t, ta.Add(pr))
		r, err := ta.Compute(pr.Slot)
		require.NoError(t, err)
		checkTallyInvariants(t, p, r)
	})
}

func FuzzDecodeReceipt(f *testing.F) {
	_, _, proofs := sampleProofs(f)
	for _, r := range proofs[0].Relay.Receipts {
		b, err := r.Encode()
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeReceipt(data)
		if err != nil {
			requireSentinel(t, err, ErrMalformed, ErrUnsupportedVersion, ErrOversize)
			return
		}
		b, err := r.Encode()
		require.NoError(t, err)
		require.Equal(t, data, b)
		if err := r.Verify(); err != nil {
			requireSentinel(t, err, ErrMissingCounterSignature, ErrBadCounterSignature, ErrUnsupportedKey)
		}
	})
}

func FuzzDecodeParams(f *testing.F) {
	f.Add(DefaultParams().Encode())
	f.Add(testParams().Encode())
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeParams(data)
		if err != nil {
			requireSentinel(t, err, ErrMalformed, ErrUnsupportedVersion, ErrOversize, ErrInvalidParams)
			return
		}
		require.Equal(t, data, p.Encode())
		require.NoError(t, p.Validate())
		// Slot arithmetic holds for any valid parameters.
		for _, s := range []Slot{0, 1, 1 << 20, MaxSlot} {
			require.Equal(t, s, p.SlotAt(p.SlotStart(s)))
		}
	})
}

func FuzzDecodeTally(f *testing.F) {
	_, ta, _, _ := goldenNetwork(f)
	for _, s := range []Slot{0, 7, 35} {
		r, err := ta.Compute(s)
		require.NoError(f, err)
		f.Add(r.Encode())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeTally(data)
		if err != nil {
			requireSentinel(t, err, ErrMalformed, ErrUnsupportedVersion, ErrOversize)
			return
		}
		require.Equal(t, data, r.Encode())
	})
}

func FuzzDecodeSchedule(f *testing.F) {
	p, ta, chain, _ := goldenNetwork(f)
	s, err := Schedule(p, ta, chain, nil, 0, 40)
	require.NoError(f, err)
	f.Add(EncodeSchedule(s))
	f.Add(EncodeSchedule(s[:1]))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSchedule(data)
		if err != nil {
			requireSentinel(t, err, ErrMalformed, ErrUnsupportedVersion, ErrOversize)
			return
		}
		require.Equal(t, data, EncodeSchedule(s))
	})
}
