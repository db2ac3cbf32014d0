// Package capacity defines the signed capacity record that every Lucid node
// publishes into the DHT under /lucid-cap/<peerID>, and the DHT validator for
// that namespace. The wire format is documented in docs/capacity-records.md.
package capacity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/multiformats/go-multiaddr"
)

const (
	// Namespace is the DHT namespace; the validator is registered under it.
	Namespace = "lucid-cap"
	// MaxRecordSize bounds the whole signed envelope as stored in the DHT.
	MaxRecordSize = 4096
	// MaxLifetime bounds both expires-issued_at and how far ahead of the
	// validator's clock a record may expire, so a leaked or buggy record
	// cannot squat a key for long.
	MaxLifetime = 2 * time.Hour
	// Domain is the libp2p signed-envelope domain. It is part of the signed
	// bytes, so a signature made for another purpose cannot be replayed here.
	Domain = "lucid-capacity-record"

	// DefaultLifetime is the lifetime publishers use; they republish at half
	// of it, leaving a full half-life of slack for DHT propagation.
	DefaultLifetime = time.Hour
)

// PayloadType is the envelope payload type (codec) of a capacity record.
var PayloadType = []byte("/lucid/capacity/1")

// Known services a host may offer.
const (
	ServiceRDP = "rdp"
	ServiceVNC = "vnc"
	ServiceSSH = "ssh"
)

// Schema bounds; see docs/capacity-records.md.
const (
	maxAddrs       = 16
	maxAddrLen     = 256
	maxSoftwareLen = 64
	maxArchLen     = 32
	maxServices    = 8
	maxServiceLen  = 16
	maxRegionLen   = 32
	maxSlots       = 1024
	maxCPUCores    = 1024
	// maxUnixSeconds is 9999-12-31T23:59:59Z: later times cannot be rendered
	// as RFC 3339, which would make a valid record unprintable as JSON.
	maxUnixSeconds = 253402300799
)

// Sentinel errors. Every rejection wraps exactly one of them with %w.
var (
	ErrMalformed          = errors.New("capacity: malformed record")
	ErrBadSignature       = errors.New("capacity: bad signature")
	ErrPeerMismatch       = errors.New("capacity: record peer is not the signer")
	ErrKeyMismatch        = errors.New("capacity: DHT key does not name the record's peer")
	ErrStaleSequence      = errors.New("capacity: sequence number not newer than stored")
	ErrExpired            = errors.New("capacity: record expired")
	ErrTooFarInFuture     = errors.New("capacity: record expires too far in the future")
	ErrOversize           = errors.New("capacity: record too large")
	ErrSchema             = errors.New("capacity: record field out of bounds")
	ErrUnsupportedVersion = errors.New("capacity: unsupported record version")
	// ErrNoValidRecord is returned by Select when no value is valid; it also
	// wraps the first value's own error.
	ErrNoValidRecord = errors.New("capacity: no valid record")
)

// Record is what a node offers to the network.
type Record struct {
	Peer          peer.ID
	Addrs         []multiaddr.Multiaddr
	Software      string // e.g. "lucid/0.1.0"
	Arch          string // GOOS/GOARCH, e.g. "linux/arm64"
	CPUCores      uint32
	MemoryBytes   uint64 // total RAM
	DiskFreeBytes uint64
	SlotsTotal    uint32 // session slots
	SlotsFree     uint32
	BandwidthBps  uint64    // bandwidth cap in bits per second, 0 = not capped
	Services      []string  // sorted, unique
	Region        string    // optional, e.g. "eu-west"
	Seq           uint64    // strictly increasing per peer
	IssuedAt      time.Time // second precision; Seal truncates
	Expires       time.Time // second precision; Seal truncates
}

const keyPrefix = "/" + Namespace + "/"

// Key returns the DHT key under which id publishes its record.
func Key(id peer.ID) string { return keyPrefix + id.String() }

// PeerFromKey is the inverse of Key. It accepts only the exact string Key
// would produce, so each peer has exactly one key (peer.Decode alone would
// also accept the CID form of the same ID).
func PeerFromKey(key string) (peer.ID, error) {
	s, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", fmt.Errorf("%w: key %q is not in namespace %q", ErrKeyMismatch, key, Namespace)
	}
	id, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("%w: key %q: %v", ErrKeyMismatch, key, err)
	}
	if id.String() != s {
		return "", fmt.Errorf("%w: key %q does not use the canonical peer ID encoding", ErrKeyMismatch, key)
	}
	return id, nil
}

// NextSeq returns the sequence number for a node's next record given the
// last one it used (0 if unknown). Using wall-clock milliseconds as a floor
// means a node that lost its state still moves past what it published before.
func NextSeq(last uint64, now time.Time) uint64 {
	next := last
	if next < math.MaxUint64 {
		next++
	}
	if ms := now.UnixMilli(); ms > 0 && uint64(ms) > next {
		return uint64(ms)
	}
	return next
}

// Offers reports whether the record lists service.
func (r *Record) Offers(service string) bool {
	return slices.Contains(r.Services, service)
}

// Validate checks the schema bounds that Seal and Open enforce, after
// truncating times to whole seconds as the encoding does. Errors wrap
// ErrSchema.
func (r *Record) Validate() error {
	_, err := r.wire().record()
	return err
}

// Seal validates the record, checks that priv belongs to r.Peer and returns
// the signed envelope bytes to store in the DHT. IssuedAt and Expires are
// truncated to whole seconds.
func (r *Record) Seal(priv crypto.PrivKey) ([]byte, error) {
	if priv == nil {
		return nil, fmt.Errorf("%w: nil private key", ErrPeerMismatch)
	}
	w := r.wire()
	if _, err := w.record(); err != nil {
		return nil, err
	}
	signer, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("capacity: deriving peer ID from key: %w", err)
	}
	if signer != r.Peer {
		return nil, fmt.Errorf("%w: record names %s, key belongs to %s", ErrPeerMismatch, r.Peer, signer)
	}
	payload, err := encodePayload(w, nil)
	if err != nil {
		return nil, err
	}
	data, err := sealPayload(payload, priv)
	if err != nil {
		return nil, err
	}
	// Checked here too so a node learns at publish time, not from every
	// remote validator, that its record cannot be stored.
	if len(data) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrOversize, len(data), MaxRecordSize)
	}
	return data, nil
}

// sealPayload signs arbitrary payload bytes. Seal uses it after validation;
// tests use it directly to produce signed records that Seal would refuse.
func sealPayload(payload []byte, priv crypto.PrivKey) ([]byte, error) {
	env, err := record.Seal(&envelopePayload{raw: payload}, priv)
	if err != nil {
		return nil, fmt.Errorf("capacity: sealing envelope: %w", err)
	}
	data, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("capacity: marshaling envelope: %w", err)
	}
	return data, nil
}

// Open verifies a signed capacity record and returns it. It does not look at
// the clock: expiry is the Validator's business.
func Open(data []byte) (*Record, error) {
	r, _, err := open(data)
	return r, err
}

// open is Open that also returns the verified payload bytes.
func open(data []byte) (*Record, []byte, error) {
	if len(data) > MaxRecordSize {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrOversize, len(data), MaxRecordSize)
	}
	var p envelopePayload
	env, err := record.ConsumeTypedEnvelope(data, &p)
	switch {
	case env == nil:
		if err == nil {
			err = errors.New("no envelope")
		}
		return nil, nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	case err != nil && !p.decodeCalled:
		// ConsumeTypedEnvelope decodes the payload only after the signature
		// verified, so any failure before that point is the signature's.
		return nil, nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	case !bytes.Equal(env.PayloadType, PayloadType):
		// Checked before the payload error: a foreign payload's decode
		// failure (e.g. "unsupported version") would be misleading.
		return nil, nil, fmt.Errorf("%w: payload type %q, want %q", ErrMalformed, env.PayloadType, PayloadType)
	case p.err != nil:
		return nil, nil, p.err
	case err != nil:
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// Protobuf decoding tolerates unknown fields, reordering and repeated
	// fields, so without this anyone could derive new byte strings from a
	// stored record; Select's tie-break on bytes would then let a third party
	// swap the stored value. Requiring the canonical encoding makes the
	// envelope bytes a function of its signed contents (and of the signature).
	canon, err := env.Marshal()
	if err != nil || !bytes.Equal(canon, data) {
		return nil, nil, fmt.Errorf("%w: envelope is not canonically encoded (trailing or extra data)", ErrMalformed)
	}
	signer, err := peer.IDFromPublicKey(env.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: signer key: %v", ErrMalformed, err)
	}
	if string(p.wire.Peer) != string(signer) {
		return nil, nil, fmt.Errorf("%w: record names %s, signed by %s", ErrPeerMismatch, peerString(p.wire.Peer), signer)
	}
	r, err := p.wire.record()
	if err != nil {
		return nil, nil, err
	}
	return r, p.raw, nil
}

// peerString renders possibly invalid peer bytes for error messages.
func peerString(b []byte) string {
	if id, err := peer.IDFromBytes(b); err == nil {
		return id.String()
	}
	return fmt.Sprintf("invalid peer ID %x", b)
}

// recordJSON is the JSON view of Record used by CLIs and APIs.
type recordJSON struct {
	PeerID        string   `json:"peer_id"`
	Addrs         []string `json:"addrs"`
	Software      string   `json:"software"`
	Arch          string   `json:"arch"`
	CPUCores      uint32   `json:"cpu_cores"`
	MemoryBytes   uint64   `json:"memory_bytes"`
	DiskFreeBytes uint64   `json:"disk_free_bytes"`
	SlotsTotal    uint32   `json:"slots_total"`
	SlotsFree     uint32   `json:"slots_free"`
	BandwidthBps  uint64   `json:"bandwidth_bps"`
	Services      []string `json:"services"`
	Region        string   `json:"region"`
	Seq           uint64   `json:"seq"`
	IssuedAt      string   `json:"issued_at"`
	Expires       string   `json:"expires"`
}

// MarshalJSON renders the record with snake_case fields, multiaddrs as
// strings and times as RFC 3339 UTC.
func (r Record) MarshalJSON() ([]byte, error) {
	j := recordJSON{
		Addrs:         make([]string, len(r.Addrs)),
		Software:      r.Software,
		Arch:          r.Arch,
		CPUCores:      r.CPUCores,
		MemoryBytes:   r.MemoryBytes,
		DiskFreeBytes: r.DiskFreeBytes,
		SlotsTotal:    r.SlotsTotal,
		SlotsFree:     r.SlotsFree,
		BandwidthBps:  r.BandwidthBps,
		Services:      r.Services,
		Region:        r.Region,
		Seq:           r.Seq,
		IssuedAt:      r.IssuedAt.UTC().Format(time.RFC3339),
		Expires:       r.Expires.UTC().Format(time.RFC3339),
	}
	if r.Peer != "" {
		j.PeerID = r.Peer.String()
	}
	for i, a := range r.Addrs {
		j.Addrs[i] = a.String()
	}
	if j.Services == nil {
		// API consumers should not have to tell null from [].
		j.Services = []string{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON parses the view written by MarshalJSON. It checks syntax
// (peer ID, multiaddrs, timestamps) but not the schema; call Validate or Seal.
func (r *Record) UnmarshalJSON(data []byte) error {
	var j recordJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	out := Record{
		Software:      j.Software,
		Arch:          j.Arch,
		CPUCores:      j.CPUCores,
		MemoryBytes:   j.MemoryBytes,
		DiskFreeBytes: j.DiskFreeBytes,
		SlotsTotal:    j.SlotsTotal,
		SlotsFree:     j.SlotsFree,
		BandwidthBps:  j.BandwidthBps,
		Region:        j.Region,
		Seq:           j.Seq,
	}
	if j.PeerID != "" {
		id, err := peer.Decode(j.PeerID)
		if err != nil {
			return fmt.Errorf("capacity: peer_id: %w", err)
		}
		out.Peer = id
	}
	for i, s := range j.Addrs {
		a, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("capacity: addrs[%d]: %w", i, err)
		}
		out.Addrs = append(out.Addrs, a)
	}
	if len(j.Services) > 0 {
		out.Services = j.Services
	}
	var err error
	if out.IssuedAt, err = parseJSONTime(j.IssuedAt); err != nil {
		return fmt.Errorf("capacity: issued_at: %w", err)
	}
	if out.Expires, err = parseJSONTime(j.Expires); err != nil {
		return fmt.Errorf("capacity: expires: %w", err)
	}
	*r = out
	return nil
}

func parseJSONTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
