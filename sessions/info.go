package sessions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Role is which side of a session this node is.
type Role string

// Roles.
const (
	RoleHost   Role = "host"
	RoleClient Role = "client"
)

// InfoVersion is the version of the persisted Info encoding.
const InfoVersion = 1

// MaxLocalAddrLen bounds Info.LocalAddr ("127.0.0.1:port" or "[::1]:port").
const MaxLocalAddrLen = 64

// Info is what `lucid sessions ls/show` print: one session as seen by this
// node. The node persists it with Encode and serves it as JSON.
type Info struct {
	ID      ID
	Role    Role
	Peer    peer.ID // the other side
	Service string
	State   State
	Reason  string

	CreatedAt, StartedAt, EndedAt time.Time // millisecond precision when encoded

	BytesIn, BytesOut uint64 // from this side's point of view
	Streams           uint32 // tunnel streams opened so far
	Limits            Limits
	LocalAddr         string // client: the 127.0.0.1:port it listens on

	PolicyHash [32]byte
	Params     ConnectionParams
	Consent    ConsentReceipt // zero if none was exchanged
	Receipt    *HostReceipt   // nil until the host accepted

	// Metered is the byte count of the latest metering receipt: on a
	// client the last one it sent, on a host the last one it accepted.
	// MeterReceipt is that receipt, opaque (see Config.Meter). Both are
	// zero for sessions without metering, and set together otherwise.
	Metered      uint64
	MeterReceipt []byte
}

type wireInfo struct {
	Version    uint64           `cbor:"1,keyasint,omitempty"`
	ID         []byte           `cbor:"2,keyasint,omitempty"`
	Role       string           `cbor:"3,keyasint,omitempty"`
	Peer       []byte           `cbor:"4,keyasint,omitempty"`
	Service    string           `cbor:"5,keyasint,omitempty"`
	State      uint8            `cbor:"6,keyasint,omitempty"`
	Reason     string           `cbor:"7,keyasint,omitempty"`
	CreatedAt  uint64           `cbor:"8,keyasint,omitempty"`
	StartedAt  uint64           `cbor:"9,keyasint,omitempty"`
	EndedAt    uint64           `cbor:"10,keyasint,omitempty"`
	BytesIn    uint64           `cbor:"11,keyasint,omitempty"`
	BytesOut   uint64           `cbor:"12,keyasint,omitempty"`
	Streams    uint32           `cbor:"13,keyasint,omitempty"`
	Limits     wireLimits       `cbor:"14,keyasint,omitempty"`
	LocalAddr  string           `cbor:"15,keyasint,omitempty"`
	PolicyHash []byte           `cbor:"16,keyasint,omitempty"`
	Params     wireParams       `cbor:"17,keyasint,omitempty"`
	Consent    *wireConsent     `cbor:"18,keyasint,omitempty"`
	Receipt    *wireHostReceipt `cbor:"19,keyasint,omitempty"`
	Metered    uint64           `cbor:"20,keyasint,omitempty"`
	MeterRcpt  []byte           `cbor:"21,keyasint,omitempty"`
}

func (i *Info) wire() wireInfo {
	w := wireInfo{
		Version:    InfoVersion,
		ID:         i.ID[:],
		Role:       string(i.Role),
		Peer:       []byte(i.Peer),
		Service:    i.Service,
		State:      uint8(i.State),
		Reason:     i.Reason,
		CreatedAt:  millis(i.CreatedAt),
		StartedAt:  millis(i.StartedAt),
		EndedAt:    millis(i.EndedAt),
		BytesIn:    i.BytesIn,
		BytesOut:   i.BytesOut,
		Streams:    i.Streams,
		Limits:     i.Limits.wire(),
		LocalAddr:  i.LocalAddr,
		PolicyHash: i.PolicyHash[:],
		Params:     i.Params.wire(),
		Metered:    i.Metered,
		MeterRcpt:  i.MeterReceipt,
	}
	if !i.Consent.IsZero() {
		c := i.Consent.wire()
		w.Consent = &c
	}
	if i.Receipt != nil {
		r := i.Receipt.wire()
		w.Receipt = &r
	}
	return w
}

// value checks structure only: Info is this node's own record, written
// after the checks that matter, and must be readable even when, say, the
// params it recorded were refused.
func (w *wireInfo) value() (Info, error) {
	i := Info{
		Role:      Role(w.Role),
		Service:   w.Service,
		State:     State(w.State),
		Reason:    w.Reason,
		BytesIn:   w.BytesIn,
		BytesOut:  w.BytesOut,
		Streams:   w.Streams,
		LocalAddr: w.LocalAddr,
		Metered:   w.Metered,
	}
	var err error
	if i.ID, err = idFromWire(w.ID, "id"); err != nil {
		return Info{}, err
	}
	if i.Role != RoleHost && i.Role != RoleClient {
		return Info{}, malformed("role %q, want %q or %q", w.Role, RoleHost, RoleClient)
	}
	if i.Peer, err = peerFromWire(w.Peer, "peer"); err != nil {
		return Info{}, err
	}
	if !isServiceName(w.Service) {
		return Info{}, malformed("service %q: want ^[a-z][a-z0-9-]{0,15}$", w.Service)
	}
	if !i.State.Valid() {
		return Info{}, malformed("state %d", w.State)
	}
	if len(w.Reason) > MaxReasonLen || !isPrintable(w.Reason) {
		return Info{}, malformed("reason: want at most %d bytes of printable UTF-8", MaxReasonLen)
	}
	if i.CreatedAt, err = timeFromMillis(w.CreatedAt, "created_at"); err != nil {
		return Info{}, err
	}
	if i.StartedAt, err = timeFromMillis(w.StartedAt, "started_at"); err != nil {
		return Info{}, err
	}
	if i.EndedAt, err = timeFromMillis(w.EndedAt, "ended_at"); err != nil {
		return Info{}, err
	}
	if i.Limits, err = w.Limits.value(); err != nil {
		return Info{}, err
	}
	if len(w.LocalAddr) > MaxLocalAddrLen || !isPrintableASCII(w.LocalAddr) || strings.Contains(w.LocalAddr, " ") {
		return Info{}, malformed("local_addr: want at most %d printable ASCII bytes without spaces", MaxLocalAddrLen)
	}
	if i.PolicyHash, err = hashFromWire(w.PolicyHash, "policy hash"); err != nil {
		return Info{}, err
	}
	if i.Params, err = w.Params.value(); err != nil {
		return Info{}, err
	}
	if w.Consent != nil {
		if i.Consent, err = w.Consent.value(); err != nil {
			return Info{}, fmt.Errorf("consent: %w", err)
		}
	}
	if w.Receipt != nil {
		r, err := w.Receipt.value()
		if err != nil {
			return Info{}, fmt.Errorf("receipt: %w", err)
		}
		i.Receipt = &r
	}
	if len(w.MeterRcpt) > MaxMeteringReceiptLen {
		return Info{}, malformed("meter receipt: %d bytes, limit %d", len(w.MeterRcpt), MaxMeteringReceiptLen)
	}
	if (w.Metered == 0) != (len(w.MeterRcpt) == 0) {
		return Info{}, malformed("metered bytes and meter receipt must be set together")
	}
	if len(w.MeterRcpt) > 0 {
		i.MeterReceipt = w.MeterRcpt
	}
	return i, nil
}

// Encode returns the canonical CBOR encoding of i, with times truncated to
// milliseconds. Structural problems wrap ErrMalformed (or
// ErrUnsupportedVersion for params that are not v1), so the node learns when
// writing, not when reading back, that a record is unreadable.
func (i Info) Encode() ([]byte, error) {
	w := i.wire()
	if _, err := w.value(); err != nil {
		return nil, fmt.Errorf("session info: %w", err)
	}
	return mustMarshal(&w), nil
}

// DecodeInfo decodes what Encode wrote. The encoding must be canonical.
func DecodeInfo(b []byte) (Info, error) {
	if err := checkVersionKey(b, InfoVersion, "session info"); err != nil {
		return Info{}, err
	}
	var w wireInfo
	if err := unmarshal(b, &w); err != nil {
		return Info{}, fmt.Errorf("session info: %w", err)
	}
	i, err := w.value()
	if err != nil {
		return Info{}, fmt.Errorf("session info: %w", err)
	}
	again := i.wire()
	if !bytes.Equal(mustMarshal(&again), b) {
		return Info{}, malformed("session info is not in canonical encoding")
	}
	return i, nil
}

type infoJSON struct {
	ID         ID               `json:"id"`
	Role       Role             `json:"role"`
	Peer       string           `json:"peer"`
	Service    string           `json:"service"`
	State      State            `json:"state"`
	Reason     string           `json:"reason"`
	CreatedAt  string           `json:"created_at,omitempty"`
	StartedAt  string           `json:"started_at,omitempty"`
	EndedAt    string           `json:"ended_at,omitempty"`
	BytesIn    uint64           `json:"bytes_in"`
	BytesOut   uint64           `json:"bytes_out"`
	Streams    uint32           `json:"streams"`
	Limits     Limits           `json:"limits"`
	LocalAddr  string           `json:"local_addr,omitempty"`
	PolicyHash hexHash          `json:"policy_hash"`
	Params     ConnectionParams `json:"params"`
	Consent    *ConsentReceipt  `json:"consent,omitempty"`
	Receipt    *HostReceipt     `json:"receipt,omitempty"`
	Metered    uint64           `json:"metered,omitempty"`
	MeterRcpt  []byte           `json:"meter_receipt,omitempty"`
}

// MarshalJSON renders i with snake_case names, the state as a word, hashes
// as hex, signatures and the meter receipt as base64, and times as RFC 3339
// UTC (omitted when zero). A zero consent, a nil receipt and absent metering
// are omitted.
func (i Info) MarshalJSON() ([]byte, error) {
	j := infoJSON{
		ID:         i.ID,
		Role:       i.Role,
		Peer:       peerText(i.Peer),
		Service:    i.Service,
		State:      i.State,
		Reason:     i.Reason,
		CreatedAt:  timeText(i.CreatedAt),
		StartedAt:  timeText(i.StartedAt),
		EndedAt:    timeText(i.EndedAt),
		BytesIn:    i.BytesIn,
		BytesOut:   i.BytesOut,
		Streams:    i.Streams,
		Limits:     i.Limits,
		LocalAddr:  i.LocalAddr,
		PolicyHash: i.PolicyHash,
		Params:     i.Params,
		Receipt:    i.Receipt,
		Metered:    i.Metered,
		MeterRcpt:  i.MeterReceipt,
	}
	if !i.Consent.IsZero() {
		j.Consent = &i.Consent
	}
	return json.Marshal(j)
}

// UnmarshalJSON is the inverse of MarshalJSON. It checks syntax, not
// structure; Encode does that.
func (i *Info) UnmarshalJSON(b []byte) error {
	var j infoJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Info{
		ID:         j.ID,
		Role:       j.Role,
		Service:    j.Service,
		State:      j.State,
		Reason:     j.Reason,
		BytesIn:    j.BytesIn,
		BytesOut:   j.BytesOut,
		Streams:    j.Streams,
		Limits:     j.Limits,
		LocalAddr:  j.LocalAddr,
		PolicyHash: j.PolicyHash,
		Params:     j.Params,
		Receipt:    j.Receipt,
		Metered:    j.Metered,
	}
	if len(j.MeterRcpt) > 0 {
		out.MeterReceipt = j.MeterRcpt
	}
	if j.Consent != nil {
		out.Consent = *j.Consent
	}
	var err error
	if out.Peer, err = parsePeerText(j.Peer); err != nil {
		return fmt.Errorf("sessions: peer: %w", err)
	}
	if out.CreatedAt, err = parseTimeText(j.CreatedAt); err != nil {
		return fmt.Errorf("sessions: created_at: %w", err)
	}
	if out.StartedAt, err = parseTimeText(j.StartedAt); err != nil {
		return fmt.Errorf("sessions: started_at: %w", err)
	}
	if out.EndedAt, err = parseTimeText(j.EndedAt); err != nil {
		return fmt.Errorf("sessions: ended_at: %w", err)
	}
	*i = out
	return nil
}
