package consensus

import (
	"fmt"
	"math"
	"time"

	"github.com/lucidnet/lucid/internal/edsig"
)

// Slot numbers slots since Params.Genesis: slot s covers
// [Genesis + s·SlotLength, Genesis + (s+1)·SlotLength).
type Slot uint64

// MaxSlot bounds every slot this package accepts, so that slot arithmetic
// (s + window, s·SlotLength in milliseconds) never overflows.
const MaxSlot Slot = 1<<40 - 1

// Fixed-point unit: scores, ratios and credits are integers in millionths.
// Micro is 1.0.
const Micro = 1_000_000

// ParamsVersion is the only parameter-encoding version this package reads.
const ParamsVersion = 1

// Params are the PoOT constants. They will live in chain state (a bounded
// ParamRegistry); Validate enforces the bounds documented on each field,
// which are what every node must accept. All fields are integers: durations
// are whole milliseconds, ratios are millionths (Micro = 1.0).
type Params struct {
	// SlotLength is the duration of a slot. Default 120 s; bounds
	// [1 s, 10 min], whole milliseconds.
	SlotLength time.Duration
	// Genesis is the start of slot 0. Default 2024-01-01T00:00:00Z;
	// bounds [1970-01-01, 9999-12-31], whole milliseconds.
	Genesis time.Time
	// WindowSlots is the length of the sliding tally window in slots.
	// Default 5,040 (7 days of 120 s slots); bounds [1, 2^20].
	WindowSlots uint64
	// EpochSlots is the epoch length in slots: a missed slot lowers the
	// entity's live score for the rest of its epoch. Default 720 (24 h);
	// bounds [1, 2^20].
	EpochSlots uint64
	// DMin is the minimum uptime score (millionths) for eligibility.
	// Default 200,000 (0.2); bounds [100,000, 500,000].
	DMin uint64
	// CooldownSlots: an entity that was primary in one of the last
	// CooldownSlots slots is not primary again while another eligible
	// entity is available. Default 16; bounds [1, 64].
	CooldownSlots uint64
	// SlotTimeout is how long each leader in the ranked list has before
	// the next takes over. Default 5 s; bounds [10 ms, 10 s], whole
	// milliseconds, and (MaxFallbacks+1)·SlotTimeout ≤ SlotLength.
	SlotTimeout time.Duration
	// MaxFallbacks is the number of ranked fallbacks after the primary.
	// Default 5; bounds [0, 16].
	MaxFallbacks uint64
	// Lookahead L: the schedule for slot t uses the hash of the latest
	// block at a slot ≤ t−L and the tally at slot t−L−AcceptWindow, so it
	// is fixed once slot t−L has ended. Default 2; bounds [1, 64].
	Lookahead uint64
	// AcceptWindow: a proof for slot p is accepted while the current slot
	// is within [p−AcceptWindow, p+AcceptWindow]. Default 2; bounds
	// [1, 64].
	AcceptWindow uint64
	// RelayBytesPerCredit: relayed bytes worth one relay credit (the
	// spec's BASE_MB_PER_SESSION). Default 5,000,000; bounds [10^6,
	// 2·10^7].
	RelayBytesPerCredit uint64
	// StorageCreditsPerGB: storage credits per 10^9 bytes of a proven
	// chunk. Default 10; bounds [0, 1000].
	StorageCreditsPerGB uint64
	// StorageCreditsPerChunk: storage credits per proven chunk. Default 2;
	// bounds [0, 1000].
	StorageCreditsPerChunk uint64
	// ValidationCreditsPerSession: credits per session anchored by a
	// validated block. Default 5; bounds [0, 1000].
	ValidationCreditsPerSession uint64
	// MaxSessionsPerBlock bounds the session count a validation proof may
	// claim. Default 100; bounds [1, 1000].
	MaxSessionsPerBlock uint64
	// MaxProofSize bounds a proof's encoding, signature included. Default
	// 16 KiB; bounds [4 KiB, 1 MiB].
	MaxProofSize uint64
	// MaxReceiptsPerProof bounds the metering receipts in one relay proof.
	// Default 64; bounds [1, 1024].
	MaxReceiptsPerProof uint64
	// MissPenalty: each slot an entity missed as primary multiplies its
	// live score by (1 − MissPenalty) for the rest of the epoch
	// (millionths). Default 500,000 (halves it); bounds [0, 1,000,000].
	MissPenalty uint64
	// ReplicaTarget: up to this many entities proving the same chunk in a
	// window each get the chunk's full storage credit; beyond it the
	// credit of ReplicaTarget holders is shared among all. Default 3;
	// bounds [1, 64].
	ReplicaTarget uint64
	// ClientRelayCap: relay credits one client key can give one node per
	// window. Default 5,000 (25 GB at the default rate); bounds [1, 2^32].
	ClientRelayCap uint64
	// NodeRelayCapPerSlot: relay credits one node can earn per slot of the
	// window (its physical-bandwidth ceiling). Default 300 (1.5 GB per
	// 120 s slot, 100 Mbit/s); bounds [1, 2^20].
	NodeRelayCapPerSlot uint64
}

// DefaultParams returns the MVP parameters (spec §3.5, "Set for MVP").
func DefaultParams() Params {
	return Params{
		SlotLength:                  120 * time.Second,
		Genesis:                     time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		WindowSlots:                 7 * 24 * 30,
		EpochSlots:                  24 * 30,
		DMin:                        200_000,
		CooldownSlots:               16,
		SlotTimeout:                 5 * time.Second,
		MaxFallbacks:                5,
		Lookahead:                   2,
		AcceptWindow:                2,
		RelayBytesPerCredit:         5_000_000,
		StorageCreditsPerGB:         10,
		StorageCreditsPerChunk:      2,
		ValidationCreditsPerSession: 5,
		MaxSessionsPerBlock:         100,
		MaxProofSize:                16 << 10,
		MaxReceiptsPerProof:         64,
		MissPenalty:                 500_000,
		ReplicaTarget:               3,
		ClientRelayCap:              5_000,
		NodeRelayCapPerSlot:         300,
	}
}

// Bounds the decoders use regardless of Params.
const (
	maxProofSizeLimit   = 1 << 20
	maxReceiptsLimit    = 1024
	maxPoolLen          = 64
	maxSliceLen         = 8 << 10
	maxChunkSize        = 1 << 40
	maxSessionsLimit    = 1000
	maxUnixMillis       = 253402300799999 // 9999-12-31T23:59:59.999Z
	maxTallyEntries     = 1 << 20
	maxScheduleSlots    = 1 << 16
	sigLen              = edsig.Size
	maxClaimChunksTotal = 1 << 40
)

type bound struct {
	name   string
	v      uint64
	lo, hi uint64
}

// Validate checks every field against its documented bounds. Errors wrap
// ErrInvalidParams.
func (p Params) Validate() error {
	w := p.wire()
	if _, err := w.value(); err != nil {
		return err
	}
	return nil
}

// SlotAt returns the slot containing t. Times before Genesis map to slot 0
// and times beyond MaxSlot to MaxSlot. Slot boundaries are whole
// milliseconds, so millisecond arithmetic is exact.
func (p Params) SlotAt(t time.Time) Slot {
	ms := p.SlotLength.Milliseconds()
	if !t.After(p.Genesis) || ms <= 0 {
		return 0
	}
	s := uint64(t.UnixMilli()-p.Genesis.UnixMilli()) / uint64(ms)
	if s > uint64(MaxSlot) {
		return MaxSlot
	}
	return Slot(s)
}

// SlotStart returns the start of slot s (s is clamped to MaxSlot).
func (p Params) SlotStart(s Slot) time.Time {
	if s > MaxSlot {
		s = MaxSlot
	}
	// MaxSlot × 10 min in ms is below 2^60: no overflow for valid params.
	return time.UnixMilli(p.Genesis.UnixMilli() + int64(s)*p.SlotLength.Milliseconds()).In(p.Genesis.Location())
}

// Epoch returns the epoch of slot s.
func (p Params) Epoch(s Slot) uint64 {
	if p.EpochSlots == 0 {
		return 0
	}
	return uint64(s) / p.EpochSlots
}

// Lag is how many slots the tally behind a slot's schedule trails it:
// Lookahead + AcceptWindow. The schedule for slot t ranks by the tally at
// t−Lag, whose proofs can no longer be accepted once slot t−Lookahead
// has ended.
func (p Params) Lag() uint64 { return p.Lookahead + p.AcceptWindow }

// TallySlotFor returns the slot of the tally that ranks slot t, and false
// for t < Lag (the first slots after genesis have no tally: nobody is
// eligible and the bootstrap rule applies).
func (p Params) TallySlotFor(t Slot) (Slot, bool) {
	if uint64(t) < p.Lag() {
		return 0, false
	}
	return t - Slot(p.Lag()), true
}

// Hash is BLAKE3 over a domain tag and the canonical encoding. Tallies
// carry it, so results computed under different parameters never compare
// equal.
func (p Params) Hash() [32]byte { return domainHash("lucid/poot/params/1\n", p.Encode()) }

type wireParams struct {
	Version                     uint64 `cbor:"1,keyasint,omitempty"`
	SlotLengthMs                uint64 `cbor:"2,keyasint,omitempty"`
	GenesisMs                   uint64 `cbor:"3,keyasint,omitempty"`
	WindowSlots                 uint64 `cbor:"4,keyasint,omitempty"`
	EpochSlots                  uint64 `cbor:"5,keyasint,omitempty"`
	DMin                        uint64 `cbor:"6,keyasint,omitempty"`
	CooldownSlots               uint64 `cbor:"7,keyasint,omitempty"`
	SlotTimeoutMs               uint64 `cbor:"8,keyasint,omitempty"`
	MaxFallbacks                uint64 `cbor:"9,keyasint,omitempty"`
	Lookahead                   uint64 `cbor:"10,keyasint,omitempty"`
	AcceptWindow                uint64 `cbor:"11,keyasint,omitempty"`
	RelayBytesPerCredit         uint64 `cbor:"12,keyasint,omitempty"`
	StorageCreditsPerGB         uint64 `cbor:"13,keyasint,omitempty"`
	StorageCreditsPerChunk      uint64 `cbor:"14,keyasint,omitempty"`
	ValidationCreditsPerSession uint64 `cbor:"15,keyasint,omitempty"`
	MaxSessionsPerBlock         uint64 `cbor:"16,keyasint,omitempty"`
	MaxProofSize                uint64 `cbor:"17,keyasint,omitempty"`
	MaxReceiptsPerProof         uint64 `cbor:"18,keyasint,omitempty"`
	MissPenalty                 uint64 `cbor:"19,keyasint,omitempty"`
	ReplicaTarget               uint64 `cbor:"20,keyasint,omitempty"`
	ClientRelayCap              uint64 `cbor:"21,keyasint,omitempty"`
	NodeRelayCapPerSlot         uint64 `cbor:"22,keyasint,omitempty"`
}

// wholeMillis converts d to milliseconds, or MaxUint64 (refused by the
// bounds) when d is negative or not whole.
func wholeMillis(d time.Duration) uint64 {
	if d < 0 || d%time.Millisecond != 0 {
		return math.MaxUint64
	}
	return uint64(d / time.Millisecond)
}

func (p Params) wire() wireParams {
	g := uint64(math.MaxUint64)
	if ms := p.Genesis.UnixMilli(); ms >= 0 && p.Genesis.Equal(time.UnixMilli(ms)) {
		g = uint64(ms)
	}
	return wireParams{
		Version:                     ParamsVersion,
		SlotLengthMs:                wholeMillis(p.SlotLength),
		GenesisMs:                   g,
		WindowSlots:                 p.WindowSlots,
		EpochSlots:                  p.EpochSlots,
		DMin:                        p.DMin,
		CooldownSlots:               p.CooldownSlots,
		SlotTimeoutMs:               wholeMillis(p.SlotTimeout),
		MaxFallbacks:                p.MaxFallbacks,
		Lookahead:                   p.Lookahead,
		AcceptWindow:                p.AcceptWindow,
		RelayBytesPerCredit:         p.RelayBytesPerCredit,
		StorageCreditsPerGB:         p.StorageCreditsPerGB,
		StorageCreditsPerChunk:      p.StorageCreditsPerChunk,
		ValidationCreditsPerSession: p.ValidationCreditsPerSession,
		MaxSessionsPerBlock:         p.MaxSessionsPerBlock,
		MaxProofSize:                p.MaxProofSize,
		MaxReceiptsPerProof:         p.MaxReceiptsPerProof,
		MissPenalty:                 p.MissPenalty,
		ReplicaTarget:               p.ReplicaTarget,
		ClientRelayCap:              p.ClientRelayCap,
		NodeRelayCapPerSlot:         p.NodeRelayCapPerSlot,
	}
}

func (w *wireParams) value() (Params, error) {
	for _, b := range []bound{
		{"slot length (ms)", w.SlotLengthMs, 1_000, 600_000},
		{"genesis (Unix ms)", w.GenesisMs, 0, maxUnixMillis},
		{"window slots", w.WindowSlots, 1, 1 << 20},
		{"epoch slots", w.EpochSlots, 1, 1 << 20},
		{"D_min", w.DMin, 100_000, 500_000},
		{"cooldown slots", w.CooldownSlots, 1, 64},
		{"slot timeout (ms)", w.SlotTimeoutMs, 10, 10_000},
		{"max fallbacks", w.MaxFallbacks, 0, 16},
		{"lookahead", w.Lookahead, 1, 64},
		{"accept window", w.AcceptWindow, 1, 64},
		{"relay bytes per credit", w.RelayBytesPerCredit, 1_000_000, 20_000_000},
		{"storage credits per GB", w.StorageCreditsPerGB, 0, 1000},
		{"storage credits per chunk", w.StorageCreditsPerChunk, 0, 1000},
		{"validation credits per session", w.ValidationCreditsPerSession, 0, 1000},
		{"max sessions per block", w.MaxSessionsPerBlock, 1, maxSessionsLimit},
		{"max proof size", w.MaxProofSize, 4 << 10, maxProofSizeLimit},
		{"max receipts per proof", w.MaxReceiptsPerProof, 1, maxReceiptsLimit},
		{"miss penalty", w.MissPenalty, 0, Micro},
		{"replica target", w.ReplicaTarget, 1, 64},
		{"client relay cap", w.ClientRelayCap, 1, 1 << 32},
		{"node relay cap per slot", w.NodeRelayCapPerSlot, 1, 1 << 20},
	} {
		if b.v < b.lo || b.v > b.hi {
			if b.v == math.MaxUint64 {
				return Params{}, errf(ErrInvalidParams, "%s: not a whole, non-negative number of milliseconds", b.name)
			}
			return Params{}, errf(ErrInvalidParams, "%s = %d, want [%d, %d]", b.name, b.v, b.lo, b.hi)
		}
	}
	if (w.MaxFallbacks+1)*w.SlotTimeoutMs > w.SlotLengthMs {
		return Params{}, errf(ErrInvalidParams, "(max fallbacks + 1) × slot timeout = %d ms exceeds the slot length %d ms",
			(w.MaxFallbacks+1)*w.SlotTimeoutMs, w.SlotLengthMs)
	}
	return Params{
		SlotLength:                  time.Duration(w.SlotLengthMs) * time.Millisecond,
		Genesis:                     time.UnixMilli(int64(w.GenesisMs)).UTC(),
		WindowSlots:                 w.WindowSlots,
		EpochSlots:                  w.EpochSlots,
		DMin:                        w.DMin,
		CooldownSlots:               w.CooldownSlots,
		SlotTimeout:                 time.Duration(w.SlotTimeoutMs) * time.Millisecond,
		MaxFallbacks:                w.MaxFallbacks,
		Lookahead:                   w.Lookahead,
		AcceptWindow:                w.AcceptWindow,
		RelayBytesPerCredit:         w.RelayBytesPerCredit,
		StorageCreditsPerGB:         w.StorageCreditsPerGB,
		StorageCreditsPerChunk:      w.StorageCreditsPerChunk,
		ValidationCreditsPerSession: w.ValidationCreditsPerSession,
		MaxSessionsPerBlock:         w.MaxSessionsPerBlock,
		MaxProofSize:                w.MaxProofSize,
		MaxReceiptsPerProof:         w.MaxReceiptsPerProof,
		MissPenalty:                 w.MissPenalty,
		ReplicaTarget:               w.ReplicaTarget,
		ClientRelayCap:              w.ClientRelayCap,
		NodeRelayCapPerSlot:         w.NodeRelayCapPerSlot,
	}, nil
}

// Encode returns the canonical CBOR encoding: a map with 1 = version and
// keys 2..22 in field order (durations in ms, Genesis in Unix ms, zero
// values omitted). Out-of-bounds params encode to bytes DecodeParams
// refuses.
func (p Params) Encode() []byte {
	w := p.wire()
	return mustMarshal(&w)
}

// DecodeParams is the strict inverse of Encode; it also validates the
// bounds (ErrInvalidParams).
func DecodeParams(b []byte) (Params, error) {
	if len(b) > 1024 {
		return Params{}, errf(ErrOversize, "params: %d bytes", len(b))
	}
	var w wireParams
	if err := decodeStrict(b, &w, ParamsVersion, "params"); err != nil {
		return Params{}, err
	}
	return w.value()
}

// String renders the parameters for logs.
func (p Params) String() string {
	return fmt.Sprintf("slot=%s genesis=%s window=%d epoch=%d dmin=%d cooldown=%d timeout=%s fallbacks=%d lookahead=%d accept=%d",
		p.SlotLength, p.Genesis.UTC().Format(time.RFC3339), p.WindowSlots, p.EpochSlots, p.DMin, p.CooldownSlots,
		p.SlotTimeout, p.MaxFallbacks, p.Lookahead, p.AcceptWindow)
}
