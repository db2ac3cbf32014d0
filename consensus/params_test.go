package consensus

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultParams(t *testing.T) {
	p := DefaultParams()
	require.NoError(t, p.Validate())
	require.Equal(t, uint64(5040), p.WindowSlots, "7 days of 120 s slots")
	require.Equal(t, uint64(720), p.EpochSlots, "24 h")
	require.Equal(t, uint64(200_000), p.DMin)
	require.Equal(t, uint64(16), p.CooldownSlots)
	require.Equal(t, 5*time.Second, p.SlotTimeout)
	require.Equal(t, uint64(5_000_000), p.RelayBytesPerCredit)
	require.Equal(t, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), p.Genesis)
	require.NoError(t, testParams().Validate())
}

func TestParamsBounds(t *testing.T) {
	for name, mut := range map[string]func(*Params){
		"slot too short":         func(p *Params) { p.SlotLength = 999 * time.Millisecond },
		"slot too long":          func(p *Params) { p.SlotLength = 11 * time.Minute },
		"slot not whole ms":      func(p *Params) { p.SlotLength = 120*time.Second + 1 },
		"genesis before 1970":    func(p *Params) { p.Genesis = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) },
		"genesis not whole ms":   func(p *Params) { p.Genesis = p.Genesis.Add(1) },
		"zero genesis":           func(p *Params) { p.Genesis = time.Time{} },
		"window 0":               func(p *Params) { p.WindowSlots = 0 },
		"window huge":            func(p *Params) { p.WindowSlots = 1<<20 + 1 },
		"epoch 0":                func(p *Params) { p.EpochSlots = 0 },
		"dmin low":               func(p *Params) { p.DMin = 99_999 },
		"dmin high":              func(p *Params) { p.DMin = 500_001 },
		"cooldown 0":             func(p *Params) { p.CooldownSlots = 0 },
		"cooldown 65":            func(p *Params) { p.CooldownSlots = 65 },
		"timeout low":            func(p *Params) { p.SlotTimeout = 9 * time.Millisecond },
		"timeout high":           func(p *Params) { p.SlotTimeout = 10*time.Second + time.Millisecond },
		"fallbacks overrun slot": func(p *Params) { p.MaxFallbacks = 16; p.SlotTimeout = 10 * time.Second },
		"fallbacks 17":           func(p *Params) { p.MaxFallbacks = 17 },
		"lookahead 0":            func(p *Params) { p.Lookahead = 0 },
		"accept 0":               func(p *Params) { p.AcceptWindow = 0 },
		"relay rate low":         func(p *Params) { p.RelayBytesPerCredit = 999_999 },
		"relay rate high":        func(p *Params) { p.RelayBytesPerCredit = 20_000_001 },
		"storage per GB":         func(p *Params) { p.StorageCreditsPerGB = 1001 },
		"storage per chunk":      func(p *Params) { p.StorageCreditsPerChunk = 1001 },
		"validation":             func(p *Params) { p.ValidationCreditsPerSession = 1001 },
		"sessions per block":     func(p *Params) { p.MaxSessionsPerBlock = 0 },
		"proof size low":         func(p *Params) { p.MaxProofSize = 4095 },
		"proof size high":        func(p *Params) { p.MaxProofSize = 1<<20 + 1 },
		"receipts 0":             func(p *Params) { p.MaxReceiptsPerProof = 0 },
		"miss penalty > 1":       func(p *Params) { p.MissPenalty = Micro + 1 },
		"replicas 0":             func(p *Params) { p.ReplicaTarget = 0 },
		"client cap 0":           func(p *Params) { p.ClientRelayCap = 0 },
		"node cap 0":             func(p *Params) { p.NodeRelayCapPerSlot = 0 },
	} {
		p := DefaultParams()
		mut(&p)
		requireSentinel(t, p.Validate(), ErrInvalidParams)
		_, err := NewTally(p)
		requireSentinel(t, err, ErrInvalidParams)
		_, err = DecodeParams(p.Encode())
		requireSentinel(t, err, ErrInvalidParams)
		_ = name
	}
}

func TestParamsEncodingRoundTrip(t *testing.T) {
	for _, p := range []Params{DefaultParams(), testParams()} {
		b := p.Encode()
		d, err := DecodeParams(b)
		require.NoError(t, err)
		require.Equal(t, b, d.Encode())
		require.True(t, p.Genesis.Equal(d.Genesis))
		require.Equal(t, p.Hash(), d.Hash())
	}
	q := testParams()
	q.MissPenalty = 0 // omitted on the wire; still round-trips
	d, err := DecodeParams(q.Encode())
	require.NoError(t, err)
	require.Equal(t, uint64(0), d.MissPenalty)
	require.NotEqual(t, testParams().Hash(), q.Hash())
}

func TestSlotArithmetic(t *testing.T) {
	p := DefaultParams()
	g := p.Genesis
	require.Equal(t, Slot(0), p.SlotAt(g.Add(-time.Hour)))
	require.Equal(t, Slot(0), p.SlotAt(g))
	require.Equal(t, Slot(0), p.SlotAt(g.Add(119999*time.Millisecond)))
	require.Equal(t, Slot(1), p.SlotAt(g.Add(120*time.Second)))
	require.Equal(t, Slot(720), p.SlotAt(g.Add(24*time.Hour)))
	for _, s := range []Slot{0, 1, 719, 720, 123456789} {
		require.Equal(t, s, p.SlotAt(p.SlotStart(s)))
		require.Equal(t, s, p.SlotAt(p.SlotStart(s+1).Add(-time.Nanosecond)))
	}
	require.Equal(t, uint64(1), p.Epoch(720))
	require.Equal(t, uint64(0), p.Epoch(719))
	ts, ok := p.TallySlotFor(10)
	require.True(t, ok)
	require.Equal(t, Slot(10-p.Lag()), ts)
	_, ok = p.TallySlotFor(Slot(p.Lag() - 1))
	require.False(t, ok)
}
