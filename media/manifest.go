package media

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/fxamacker/cbor/v2"
	"math"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"lukechampine.com/blake3"

	"github.com/lucidnet/lucid/sessions"
)

// ManifestVersion is the only manifest version this package reads. The
// codec and chunk format a manifest declares are likewise constants
// (CodecZstd3, ChunkVersion) written by Encode and checked by
// DecodeManifest, so they are not Manifest fields.
const ManifestVersion = 1

// ManifestDomain prefixes the canonical encoding in Manifest.Hash.
const ManifestDomain = "lucid/manifest/1"

// Manifest bounds.
const (
	MaxChunks       = 1 << 20 // 8 TiB of 8 MiB chunks
	MaxParticipants = 16
	MaxWrappedKeys  = 16
	MaxGaps         = 1024
	MaxRecorderLen  = 64
	MaxGapReasonLen = 256
)

// Manifest describes one recording: who took part under which policy and
// consent, how it was chunked, every chunk's size and leaf hash, the
// Merkle root over them, and the session key wrapped to each recipient.
// Its Hash is what gets anchored.
type Manifest struct {
	Session sessions.ID
	Host    peer.ID
	Client  peer.ID
	// Participants are peers other than Host and Client that took part
	// (observers). Encode sorts them.
	Participants []peer.ID
	Service      string

	MaxChunkPlaintext int           // the chunker's limit
	MaxChunkAge       time.Duration // the chunker's limit, whole milliseconds
	ChunkCount        uint64        // must equal len(Chunks)
	Root              [32]byte      // must equal MerkleRoot of the chunks' leaves
	Chunks            []ChunkInfo   // in index order, indexes 0..ChunkCount-1

	// Consent and HostReceipt are the session's signed receipts, carried
	// field by field with the same CBOR keys package sessions uses, so
	// their signatures verify after a round trip. Zero means absent;
	// VerifyRecording reports an absent or mismatched receipt.
	Consent     sessions.ConsentReceipt
	HostReceipt sessions.HostReceipt
	PolicyHash  [32]byte

	Recorder string    // recorder software, e.g. "lucid/0.3.0"
	Started  time.Time // required
	Ended    time.Time // zero while unknown; otherwise not before Started

	Keys []WrappedKey // 1..MaxWrappedKeys, one per recipient; Encode sorts them
	Gaps []Gap        // in AfterIndex order
}

// ChunkInfo is what the manifest records about one chunk: enough to name a
// missing, resized or altered chunk without its key, and to place it on
// the timeline.
type ChunkInfo struct {
	Index         uint64
	SealedSize    uint64 // bytes on disk, header and tag included
	PlaintextSize uint64 // frame bytes before compression
	Leaf          [32]byte
	First, Last   time.Time // first and last frame times
}

// Gap records recording that is missing between chunk AfterIndex and the
// next one, e.g. a crash whose unsealed data recovery could not save.
type Gap struct {
	AfterIndex uint64
	Reason     string    // printable, 1..MaxGapReasonLen bytes
	From, To   time.Time // the span, when known
}

// Wire forms. Integer keys and omitempty as elsewhere in Lucid; required
// fields never have their zero value, so "absent" is the only encoding of
// zero.
type wireManifest struct {
	Version           uint64          `cbor:"1,keyasint,omitempty"`
	Session           []byte          `cbor:"2,keyasint,omitempty"`
	Host              []byte          `cbor:"3,keyasint,omitempty"`
	Client            []byte          `cbor:"4,keyasint,omitempty"`
	Participants      [][]byte        `cbor:"5,keyasint,omitempty"`
	Service           string          `cbor:"6,keyasint,omitempty"`
	Codec             string          `cbor:"7,keyasint,omitempty"`
	ChunkFormat       uint64          `cbor:"8,keyasint,omitempty"`
	MaxChunkPlaintext uint64          `cbor:"9,keyasint,omitempty"`
	MaxChunkAge       uint64          `cbor:"10,keyasint,omitempty"` // milliseconds
	ChunkCount        uint64          `cbor:"11,keyasint,omitempty"`
	Root              []byte          `cbor:"12,keyasint,omitempty"`
	Chunks            []wireChunkInfo `cbor:"13,keyasint,omitempty"`
	// The receipts in package sessions' own canonical encoding.
	Consent     cbor.RawMessage  `cbor:"14,keyasint,omitempty"`
	HostReceipt cbor.RawMessage  `cbor:"15,keyasint,omitempty"`
	PolicyHash  []byte           `cbor:"16,keyasint,omitempty"`
	Recorder    string           `cbor:"17,keyasint,omitempty"`
	Started     uint64           `cbor:"18,keyasint,omitempty"` // Unix ns
	Ended       uint64           `cbor:"19,keyasint,omitempty"` // Unix ns
	Keys        []wireWrappedKey `cbor:"20,keyasint,omitempty"`
	Gaps        []wireGap        `cbor:"21,keyasint,omitempty"`
}

type wireChunkInfo struct {
	Index         uint64 `cbor:"1,keyasint,omitempty"`
	SealedSize    uint64 `cbor:"2,keyasint,omitempty"`
	PlaintextSize uint64 `cbor:"3,keyasint,omitempty"`
	Leaf          []byte `cbor:"4,keyasint,omitempty"`
	First         uint64 `cbor:"5,keyasint,omitempty"` // Unix ns
	Last          uint64 `cbor:"6,keyasint,omitempty"` // Unix ns
}

type wireWrappedKey struct {
	Label     string `cbor:"1,keyasint,omitempty"`
	Recipient []byte `cbor:"2,keyasint,omitempty"`
	Ephemeral []byte `cbor:"3,keyasint,omitempty"`
	Nonce     []byte `cbor:"4,keyasint,omitempty"`
	Sealed    []byte `cbor:"5,keyasint,omitempty"`
}

type wireGap struct {
	AfterIndex uint64 `cbor:"1,keyasint,omitempty"`
	Reason     string `cbor:"2,keyasint,omitempty"`
	From       uint64 `cbor:"3,keyasint,omitempty"` // Unix ns
	To         uint64 `cbor:"4,keyasint,omitempty"` // Unix ns
}

// The receipts' wire forms mirror package sessions key for key (its own
// are unexported): times in Unix milliseconds, limits in seconds.
// durationMillis encodes a positive whole-millisecond duration; anything
// else maps to MaxUint64, which value rejects.
func durationMillis(d time.Duration) uint64 {
	if d <= 0 || d%time.Millisecond != 0 {
		return math.MaxUint64
	}
	return uint64(d / time.Millisecond)
}

func (m *Manifest) wire() wireManifest {
	w := wireManifest{
		Version:           ManifestVersion,
		Session:           m.Session[:],
		Host:              []byte(m.Host),
		Client:            []byte(m.Client),
		Service:           m.Service,
		Codec:             CodecZstd3,
		ChunkFormat:       ChunkVersion,
		MaxChunkPlaintext: uint64(max(m.MaxChunkPlaintext, 0)),
		MaxChunkAge:       durationMillis(m.MaxChunkAge),
		ChunkCount:        m.ChunkCount,
		Root:              m.Root[:],
		PolicyHash:        m.PolicyHash[:],
		Recorder:          m.Recorder,
		Started:           nanos(m.Started),
		Ended:             nanos(m.Ended),
	}
	if len(m.Participants) > 0 {
		ps := slices.Clone(m.Participants)
		slices.Sort(ps)
		w.Participants = make([][]byte, len(ps))
		for i, p := range ps {
			w.Participants[i] = []byte(p)
		}
	}
	if len(m.Chunks) > 0 {
		w.Chunks = make([]wireChunkInfo, len(m.Chunks))
		for i := range m.Chunks {
			w.Chunks[i] = m.Chunks[i].wire()
		}
	}
	if !m.Consent.IsZero() {
		w.Consent = m.Consent.CBOR()
	}
	if !m.HostReceipt.IsZero() {
		w.HostReceipt = m.HostReceipt.CBOR()
	}
	if len(m.Keys) > 0 {
		keys := slices.Clone(m.Keys)
		slices.SortFunc(keys, func(a, b WrappedKey) int { return bytes.Compare(a.Recipient[:], b.Recipient[:]) })
		w.Keys = make([]wireWrappedKey, len(keys))
		for i := range keys {
			k := &keys[i]
			w.Keys[i] = wireWrappedKey{Label: k.Label, Recipient: k.Recipient[:], Ephemeral: k.Ephemeral[:], Nonce: k.Nonce[:], Sealed: k.Sealed}
		}
	}
	if len(m.Gaps) > 0 {
		w.Gaps = make([]wireGap, len(m.Gaps))
		for i, g := range m.Gaps {
			w.Gaps[i] = wireGap{AfterIndex: g.AfterIndex, Reason: g.Reason, From: nanos(g.From), To: nanos(g.To)}
		}
	}
	return w
}

// value checks every bound of the format and converts w. It does not check
// signatures or that the receipts match the manifest; VerifyRecording
// does, so a manifest with a bad receipt can still be read and reported
// on.
func (w *wireManifest) value() (Manifest, error) {
	if w.Version != ManifestVersion {
		return Manifest{}, fmt.Errorf("%w: manifest version %d, want %d", ErrUnsupportedVersion, w.Version, ManifestVersion)
	}
	if w.Codec != CodecZstd3 {
		return Manifest{}, fmt.Errorf("%w: codec %q, want %q", ErrUnsupportedVersion, w.Codec, CodecZstd3)
	}
	if w.ChunkFormat != ChunkVersion {
		return Manifest{}, fmt.Errorf("%w: chunk format %d, want %d", ErrUnsupportedVersion, w.ChunkFormat, ChunkVersion)
	}
	m := Manifest{Service: w.Service, ChunkCount: w.ChunkCount, Recorder: w.Recorder}
	var err error
	if m.Session, err = idFromWire(w.Session, "session"); err != nil {
		return Manifest{}, err
	}
	if m.Host, err = peerFromWire(w.Host, "host"); err != nil {
		return Manifest{}, err
	}
	if m.Client, err = peerFromWire(w.Client, "client"); err != nil {
		return Manifest{}, err
	}
	if m.Host == m.Client {
		return Manifest{}, malformed("host and client are the same peer")
	}
	if len(w.Participants) > MaxParticipants {
		return Manifest{}, malformed("%d participants, limit %d", len(w.Participants), MaxParticipants)
	}
	for i, b := range w.Participants {
		p, err := peerFromWire(b, fmt.Sprintf("participant %d", i))
		if err != nil {
			return Manifest{}, err
		}
		if p == m.Host || p == m.Client {
			return Manifest{}, malformed("participant %d is the host or the client", i)
		}
		if i > 0 && bytes.Compare(w.Participants[i-1], b) >= 0 {
			return Manifest{}, malformed("participants not strictly ascending at %d", i)
		}
		m.Participants = append(m.Participants, p)
	}
	if !isServiceName(w.Service) {
		return Manifest{}, malformed("service %q: want ^[a-z][a-z0-9-]{0,15}$", w.Service)
	}
	if w.MaxChunkPlaintext < MinChunkPlaintext || w.MaxChunkPlaintext > MaxChunkPlaintext {
		return Manifest{}, malformed("max chunk plaintext %d, want %d..%d", w.MaxChunkPlaintext, MinChunkPlaintext, MaxChunkPlaintext)
	}
	m.MaxChunkPlaintext = int(w.MaxChunkPlaintext)
	if w.MaxChunkAge < 1 || w.MaxChunkAge > uint64(MaxChunkAge/time.Millisecond) {
		return Manifest{}, malformed("max chunk age must be whole milliseconds in 1ms..%s", MaxChunkAge)
	}
	m.MaxChunkAge = time.Duration(w.MaxChunkAge) * time.Millisecond
	if m.Chunks, err = chunksFromWire(w.Chunks, w.ChunkCount, w.MaxChunkPlaintext); err != nil {
		return Manifest{}, err
	}
	if m.Root, err = hashFromWire(w.Root, "merkle root"); err != nil {
		return Manifest{}, err
	}
	leaves := make([][32]byte, len(m.Chunks))
	for i := range m.Chunks {
		leaves[i] = m.Chunks[i].Leaf
	}
	if root := MerkleRoot(leaves); root != m.Root {
		return Manifest{}, malformed("merkle root %x does not match the chunk list (%x)", m.Root, root)
	}
	if len(w.Consent) > 0 {
		if m.Consent, err = sessions.DecodeConsent(w.Consent); err != nil {
			return Manifest{}, malformed("consent receipt: %v", err)
		}
	}
	if len(w.HostReceipt) > 0 {
		if m.HostReceipt, err = sessions.DecodeHostReceipt(w.HostReceipt); err != nil {
			return Manifest{}, malformed("host receipt: %v", err)
		}
	}
	if m.PolicyHash, err = hashFromWire(w.PolicyHash, "policy hash"); err != nil {
		return Manifest{}, err
	}
	if n := len(w.Recorder); n < 1 || n > MaxRecorderLen || !isPrintableASCII(w.Recorder) {
		return Manifest{}, malformed("recorder %q: want 1..%d printable ASCII bytes", w.Recorder, MaxRecorderLen)
	}
	if w.Started == 0 {
		return Manifest{}, malformed("started is not set")
	}
	if m.Started, err = timeFromNanos(w.Started, "started"); err != nil {
		return Manifest{}, err
	}
	if m.Ended, err = timeFromNanos(w.Ended, "ended"); err != nil {
		return Manifest{}, err
	}
	if w.Ended != 0 && w.Ended < w.Started {
		return Manifest{}, malformed("ended before started")
	}
	if m.Keys, err = keysFromWire(w.Keys); err != nil {
		return Manifest{}, err
	}
	if m.Gaps, err = gapsFromWire(w.Gaps, w.ChunkCount); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

func (c *ChunkInfo) wire() wireChunkInfo {
	return wireChunkInfo{
		Index:         c.Index,
		SealedSize:    c.SealedSize,
		PlaintextSize: c.PlaintextSize,
		Leaf:          c.Leaf[:],
		First:         nanos(c.First),
		Last:          nanos(c.Last),
	}
}

func chunksFromWire(ws []wireChunkInfo, count, maxPlain uint64) ([]ChunkInfo, error) {
	if count > MaxChunks {
		return nil, malformed("%d chunks, limit %d", count, MaxChunks)
	}
	if uint64(len(ws)) != count {
		return nil, malformed("chunk count %d, but %d chunks listed", count, len(ws))
	}
	if len(ws) == 0 {
		return nil, nil
	}
	out := make([]ChunkInfo, len(ws))
	for i := range ws {
		if ws[i].Index != uint64(i) {
			return nil, malformed("chunk %d is listed at position %d", ws[i].Index, i)
		}
		c, err := chunkFromWire(&ws[i], maxPlain)
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// chunkFromWire checks one chunk entry on its own; its position is the
// caller's concern.
func chunkFromWire(w *wireChunkInfo, maxPlain uint64) (ChunkInfo, error) {
	i := w.Index
	if w.PlaintextSize < 1 || w.PlaintextSize > maxPlain {
		return ChunkInfo{}, malformed("chunk %d: plaintext size %d, want 1..%d", i, w.PlaintextSize, maxPlain)
	}
	minSealed := uint64(ChunkOverhead + 1)
	maxSealed := uint64(ChunkOverhead + maxCompressedLen(int(w.PlaintextSize)))
	if w.SealedSize < minSealed || w.SealedSize > maxSealed {
		return ChunkInfo{}, malformed("chunk %d: sealed size %d, want %d..%d for %d plaintext bytes", i, w.SealedSize, minSealed, maxSealed, w.PlaintextSize)
	}
	c := ChunkInfo{Index: w.Index, SealedSize: w.SealedSize, PlaintextSize: w.PlaintextSize}
	var err error
	if c.Leaf, err = hashFromWire(w.Leaf, fmt.Sprintf("chunk %d leaf", i)); err != nil {
		return ChunkInfo{}, err
	}
	if w.First == 0 || w.Last == 0 {
		return ChunkInfo{}, malformed("chunk %d: first and last frame times are required", i)
	}
	if c.First, err = timeFromNanos(w.First, fmt.Sprintf("chunk %d first", i)); err != nil {
		return ChunkInfo{}, err
	}
	if c.Last, err = timeFromNanos(w.Last, fmt.Sprintf("chunk %d last", i)); err != nil {
		return ChunkInfo{}, err
	}
	return c, nil
}

func keysFromWire(ws []wireWrappedKey) ([]WrappedKey, error) {
	if n := len(ws); n < 1 || n > MaxWrappedKeys {
		return nil, malformed("%d wrapped keys, want 1..%d", n, MaxWrappedKeys)
	}
	out := make([]WrappedKey, len(ws))
	for i := range ws {
		w := &ws[i]
		if !validLabel(w.Label) {
			return nil, malformed("wrapped key %d: label %q, want %q, %q or %q", i, w.Label, LabelOwner, LabelAuditor, LabelRecovery)
		}
		k := WrappedKey{Label: w.Label}
		var err error
		if k.Recipient, err = hashFromWire(w.Recipient, fmt.Sprintf("wrapped key %d recipient", i)); err != nil {
			return nil, err
		}
		if i > 0 && bytes.Compare(ws[i-1].Recipient, w.Recipient) >= 0 {
			return nil, malformed("wrapped keys not in strictly ascending recipient order at %d", i)
		}
		if k.Ephemeral, err = hashFromWire(w.Ephemeral, fmt.Sprintf("wrapped key %d ephemeral", i)); err != nil {
			return nil, err
		}
		if len(w.Nonce) != len(k.Nonce) {
			return nil, malformed("wrapped key %d: nonce is %d bytes, want %d", i, len(w.Nonce), len(k.Nonce))
		}
		copy(k.Nonce[:], w.Nonce)
		if len(w.Sealed) != wrappedKeyLen {
			return nil, malformed("wrapped key %d: %d sealed bytes, want %d", i, len(w.Sealed), wrappedKeyLen)
		}
		k.Sealed = w.Sealed
		out[i] = k
	}
	return out, nil
}

func gapsFromWire(ws []wireGap, count uint64) ([]Gap, error) {
	if len(ws) > MaxGaps {
		return nil, malformed("%d gaps, limit %d", len(ws), MaxGaps)
	}
	if len(ws) == 0 {
		return nil, nil
	}
	out := make([]Gap, len(ws))
	for i, w := range ws {
		if w.AfterIndex >= count {
			return nil, malformed("gap %d after chunk %d, but there are %d chunks", i, w.AfterIndex, count)
		}
		if i > 0 && w.AfterIndex < ws[i-1].AfterIndex {
			return nil, malformed("gaps not in chunk order at %d", i)
		}
		if n := len(w.Reason); n < 1 || n > MaxGapReasonLen || !isPrintable(w.Reason) {
			return nil, malformed("gap %d: reason must be 1..%d printable bytes", i, MaxGapReasonLen)
		}
		g := Gap{AfterIndex: w.AfterIndex, Reason: w.Reason}
		var err error
		if g.From, err = timeFromNanos(w.From, fmt.Sprintf("gap %d from", i)); err != nil {
			return nil, err
		}
		if g.To, err = timeFromNanos(w.To, fmt.Sprintf("gap %d to", i)); err != nil {
			return nil, err
		}
		if w.From != 0 && w.To != 0 && w.To < w.From {
			return nil, malformed("gap %d ends before it starts", i)
		}
		out[i] = g
	}
	return out, nil
}

// Validate checks m against every bound of the format without encoding it:
// exactly what Encode refuses, with the same errors (ErrMalformed).
func (m Manifest) Validate() error {
	_, err := m.Encode()
	return err
}

// Encode returns the canonical CBOR encoding of m (RFC 8949 core
// deterministic encoding, integer keys; docs/recording-format.md lists
// them). Participants and Keys are written in ascending byte order
// whatever their order in m. A manifest that DecodeManifest would refuse
// is refused with ErrMalformed: the chunk list must be numbered 0..n-1 and
// match ChunkCount and Root, receipt times must be whole milliseconds and
// MaxChunkAge whole milliseconds (the conversion is never lossy), and so
// on.
func (m Manifest) Encode() ([]byte, error) {
	// Receipts are signed over whole milliseconds, and their encoding
	// truncates to that: a finer time would change silently, so refuse it.
	for _, r := range []struct {
		what string
		at   time.Time
	}{{"consent", m.Consent.AcceptedAt}, {"host receipt", m.HostReceipt.AcceptedAt}} {
		if r.at.Nanosecond()%int(time.Millisecond) != 0 {
			return nil, malformed("%s accepted_at: %s is not a whole millisecond", r.what, r.at.Format(time.RFC3339Nano))
		}
	}
	w := m.wire()
	if _, err := w.value(); err != nil {
		return nil, err
	}
	return mustMarshal(&w), nil
}

// DecodeManifest is the strict inverse of Encode. It refuses duplicate,
// unknown or out-of-order keys, indefinite lengths, tags, trailing bytes,
// non-shortest integers and explicit zero values (anything that is not
// the one canonical encoding), and every bound Encode checks. A newer
// manifest version, codec or chunk format wraps ErrUnsupportedVersion;
// everything else wraps ErrMalformed. Signatures are not checked here.
func DecodeManifest(b []byte) (Manifest, error) {
	if err := checkVersionKey(b, ManifestVersion, "manifest"); err != nil {
		return Manifest{}, err
	}
	var w wireManifest
	if err := decMode.Unmarshal(b, &w); err != nil {
		return Manifest{}, malformed("manifest: %v", err)
	}
	m, err := w.value()
	if err != nil {
		return Manifest{}, err
	}
	if canon := m.wire(); !bytes.Equal(mustMarshal(&canon), b) {
		return Manifest{}, malformed("manifest is not in canonical encoding")
	}
	return m, nil
}

// Hash is BLAKE3-256 of ManifestDomain followed by the canonical encoding:
// the value a later step anchors on chain. It is defined for every value
// (an invalid manifest hashes its best-effort encoding), but only a valid
// manifest's hash means anything; call Validate first.
func (m Manifest) Hash() [32]byte {
	w := m.wire()
	h := blake3.New(32, nil)
	h.Write([]byte(ManifestDomain))
	h.Write(mustMarshal(&w))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Leaves returns the chunks' leaf hashes in index order.
func (m Manifest) Leaves() [][32]byte {
	out := make([][32]byte, len(m.Chunks))
	for i := range m.Chunks {
		out[i] = m.Chunks[i].Leaf
	}
	return out
}

// KeyFor returns the wrapped key addressed to pub.
func (m Manifest) KeyFor(pub [32]byte) (WrappedKey, bool) {
	for _, k := range m.Keys {
		if k.Recipient == pub {
			return k, true
		}
	}
	return WrappedKey{}, false
}

// JSON view for the CLI: snake_case names, hashes and raw bytes as
// lowercase hex, times as RFC 3339 UTC with nanoseconds, peers in base58,
// recipients in their key text form. It is an output format only; the
// canonical form is the CBOR encoding.

type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h), nil }

type manifestJSON struct {
	Version           int                      `json:"version"`
	ManifestHash      hexBytes                 `json:"manifest_hash"`
	SessionID         sessions.ID              `json:"session_id"`
	HostID            string                   `json:"host_id"`
	ClientID          string                   `json:"client_id"`
	Participants      []string                 `json:"participants"`
	Service           string                   `json:"service"`
	Codec             string                   `json:"codec"`
	ChunkFormat       int                      `json:"chunk_format"`
	MaxChunkPlaintext int                      `json:"max_chunk_plaintext"`
	MaxChunkAgeMs     int64                    `json:"max_chunk_age_ms"`
	ChunkCount        uint64                   `json:"chunk_count"`
	MerkleRoot        hexBytes                 `json:"merkle_root"`
	Chunks            []chunkInfoJSON          `json:"chunks"`
	ConsentReceipt    *sessions.ConsentReceipt `json:"consent_receipt"`
	HostReceipt       *sessions.HostReceipt    `json:"host_receipt"`
	PolicyHash        hexBytes                 `json:"policy_hash"`
	Recorder          string                   `json:"recorder"`
	StartedAt         string                   `json:"started_at"`
	EndedAt           string                   `json:"ended_at,omitempty"`
	WrappedKeys       []wrappedKeyJSON         `json:"wrapped_keys"`
	Gaps              []gapJSON                `json:"gaps"`
}

type chunkInfoJSON struct {
	Index         uint64   `json:"index"`
	SealedSize    uint64   `json:"sealed_size"`
	PlaintextSize uint64   `json:"plaintext_size"`
	Leaf          hexBytes `json:"leaf"`
	FirstFrame    string   `json:"first_frame"`
	LastFrame     string   `json:"last_frame"`
}

type wrappedKeyJSON struct {
	Label     string   `json:"label"`
	Recipient string   `json:"recipient"`
	Ephemeral hexBytes `json:"ephemeral"`
	Nonce     hexBytes `json:"nonce"`
	Sealed    hexBytes `json:"sealed"`
}

type gapJSON struct {
	AfterIndex uint64 `json:"after_index"`
	Reason     string `json:"reason"`
	From       string `json:"from,omitempty"`
	To         string `json:"to,omitempty"`
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func peerText(id peer.ID) string {
	if id == "" {
		return ""
	}
	return id.String()
}

// MarshalJSON renders the JSON view, including the manifest hash. Keys and
// participants appear in encoding order.
func (m Manifest) MarshalJSON() ([]byte, error) {
	hash := m.Hash()
	j := manifestJSON{
		Version:           ManifestVersion,
		ManifestHash:      hash[:],
		SessionID:         m.Session,
		HostID:            peerText(m.Host),
		ClientID:          peerText(m.Client),
		Participants:      []string{},
		Service:           m.Service,
		Codec:             CodecZstd3,
		ChunkFormat:       ChunkVersion,
		MaxChunkPlaintext: m.MaxChunkPlaintext,
		MaxChunkAgeMs:     m.MaxChunkAge.Milliseconds(),
		ChunkCount:        m.ChunkCount,
		MerkleRoot:        m.Root[:],
		Chunks:            make([]chunkInfoJSON, len(m.Chunks)),
		PolicyHash:        m.PolicyHash[:],
		Recorder:          m.Recorder,
		StartedAt:         timeText(m.Started),
		EndedAt:           timeText(m.Ended),
		WrappedKeys:       make([]wrappedKeyJSON, 0, len(m.Keys)),
		Gaps:              make([]gapJSON, len(m.Gaps)),
	}
	ps := slices.Clone(m.Participants)
	slices.Sort(ps)
	for _, p := range ps {
		j.Participants = append(j.Participants, peerText(p))
	}
	for i, c := range m.Chunks {
		j.Chunks[i] = chunkInfoJSON{Index: c.Index, SealedSize: c.SealedSize, PlaintextSize: c.PlaintextSize,
			Leaf: c.Leaf[:], FirstFrame: timeText(c.First), LastFrame: timeText(c.Last)}
	}
	if !m.Consent.IsZero() {
		c := m.Consent
		j.ConsentReceipt = &c
	}
	if !m.HostReceipt.IsZero() {
		h := m.HostReceipt
		j.HostReceipt = &h
	}
	keys := slices.Clone(m.Keys)
	slices.SortFunc(keys, func(a, b WrappedKey) int { return bytes.Compare(a.Recipient[:], b.Recipient[:]) })
	for _, k := range keys {
		j.WrappedKeys = append(j.WrappedKeys, wrappedKeyJSON{Label: k.Label, Recipient: formatKey(RecipientPrefix, k.Recipient[:]),
			Ephemeral: k.Ephemeral[:], Nonce: k.Nonce[:], Sealed: k.Sealed})
	}
	for i, g := range m.Gaps {
		j.Gaps[i] = gapJSON{AfterIndex: g.AfterIndex, Reason: g.Reason, From: timeText(g.From), To: timeText(g.To)}
	}
	return json.Marshal(j)
}
