package sessions

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/lucidnet/lucid/internal/canon"
)

// Protocol IDs. Minor protocol changes get a new ID, negotiated by
// multistream-select, rather than optional fields: see "Versioning" in
// docs/session-protocol.md.
//
// ProtocolSession11 is 1.0.0 plus Response.Features and the Metering
// message. A host serves both session IDs; a client offers 1.1.0 first.
// On a 1.0.0 stream neither addition is ever sent.
const (
	ProtocolSession   = "/lucid/session/1.0.0"
	ProtocolSession11 = "/lucid/session/1.1.0"
	ProtocolTunnel    = "/lucid/tunnel/1.0.0"
)

// Services a host can offer.
const (
	ServiceRDP = "rdp"
	ServiceVNC = "vnc"
	ServiceSSH = "ssh"
)

// Services lists the known services in ascending order, the order capacity
// records use.
var Services = []string{ServiceRDP, ServiceSSH, ServiceVNC}

// RequestVersion is the only Request.Version this package speaks.
const RequestVersion = 1

// MeteringVersion is the only Metering version this package speaks. It is
// implicit in the Metering struct: writers always send it.
const MeteringVersion = 1

// Wire bounds. MaxFrameSize bounds the bytes after the length prefix (type
// byte plus body), so a reader never buffers more than 16 KiB for a peer.
const (
	MaxFrameSize       = 16 << 10
	MaxDetailLen       = 256
	MaxServiceLen      = 16
	MaxTermsVersionLen = 32
	MaxSignatureLen    = 256
	// MaxMeteringFrameSize bounds a Metering frame (type byte plus body);
	// MaxMeteringReceiptLen bounds the opaque receipt it carries.
	MaxMeteringFrameSize  = 1 << 10
	MaxMeteringReceiptLen = 960
)

// Sentinel errors. Every error from this package wraps exactly one of them
// (or io.EOF / io.ErrUnexpectedEOF from ReadMessage), except *Rejection.
var (
	ErrMalformed            = errors.New("sessions: malformed")
	ErrUnsupportedVersion   = errors.New("sessions: unsupported version")
	ErrFrameTooLarge        = errors.New("sessions: frame too large")
	ErrUnknownMessage       = errors.New("sessions: unknown message type")
	ErrInvalidID            = errors.New("sessions: invalid session ID")
	ErrInvalidParams        = errors.New("sessions: invalid connection params")
	ErrUnknownService       = errors.New("sessions: unknown service")
	ErrPolicyForbidsService = errors.New("sessions: connection params forbid the service")
	ErrBadSignature         = errors.New("sessions: bad signature")
	ErrWrongSigner          = errors.New("sessions: key does not belong to the receipt's signer")
	ErrUnsupportedKey       = errors.New("sessions: peer ID does not embed its public key")
	ErrReceiptMismatch      = errors.New("sessions: host receipt does not match the request")
	ErrInvalidHostPolicy    = errors.New("sessions: invalid host policy")
	ErrInvalidTransition    = errors.New("sessions: invalid state transition")
)

var (
	encMode = canon.EncMode(cbor.CoreDetEncOptions())
	// decMode is strict; whatever it lets through, the canonical re-encoding
	// comparison every decoder performs catches (non-shortest integers, key
	// order, explicit zero values).
	decMode = canon.StrictDecMode(cbor.DecOptions{})
)

// mustMarshal encodes one of this package's wire structs. They hold only
// bools, unsigned integers, strings, byte slices and nested wire structs,
// which the encoder cannot fail on, so an error here is a programming error.
func mustMarshal(v any) []byte { return canon.MustMarshal(encMode, v) }

func unmarshal(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// checkVersionKey reads map key 1 of b before anything else is interpreted,
// so that a newer, incompatible layout reports ErrUnsupportedVersion rather
// than whatever the strict typed decode would trip over first.
func checkVersionKey(b []byte, want uint64, what string) error {
	var fields map[uint64]cbor.RawMessage
	if err := decMode.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	return checkVersionField(fields, want, what)
}

func checkVersionField(fields map[uint64]cbor.RawMessage, want uint64, what string) error {
	raw, ok := fields[1]
	if !ok {
		return fmt.Errorf("%w: %s has no version", ErrMalformed, what)
	}
	var v uint64
	if err := decMode.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("%w: %s version: %v", ErrMalformed, what, err)
	}
	if v != want {
		return fmt.Errorf("%w: %s version %d, want %d", ErrUnsupportedVersion, what, v, want)
	}
	return nil
}

// Field conversions shared by the wire structs. The to-wire direction is
// total (invalid values map to something the from-wire direction rejects), so
// hashes are defined for every value.

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func idFromWire(b []byte, what string) (ID, error) {
	id, err := IDFromBytes(b)
	if err != nil {
		return ID{}, malformed("%s: %v", what, err)
	}
	return id, nil
}

// IDFromBytes reads a session ID in its 16-byte wire form; it must be a
// version 4 UUID. Other formats that carry session IDs (recordings) use it
// so that every decoder applies one rule.
func IDFromBytes(b []byte) (ID, error) {
	var id ID
	if len(b) != len(id) {
		return ID{}, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidID, len(b), len(id))
	}
	copy(id[:], b)
	if !id.Valid() {
		return ID{}, fmt.Errorf("%w: %s is not a version 4 UUID", ErrInvalidID, id)
	}
	return id, nil
}

func hashFromWire(b []byte, what string) ([32]byte, error) {
	var h [32]byte
	if len(b) != len(h) {
		return h, malformed("%s: %d bytes, want %d", what, len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

// maxInlineKeyLen is libp2p's limit for public keys inlined in a peer ID
// with the identity multihash.
const maxInlineKeyLen = 42

func peerFromWire(b []byte, what string) (peer.ID, error) {
	id, err := PeerFromBytes(b)
	if err != nil {
		return "", malformed("%s: %v", what, err)
	}
	return id, nil
}

// PeerFromBytes accepts only the two forms libp2p peer IDs take: an
// identity multihash of an inlined key, or a SHA2-256 multihash.
// peer.IDFromBytes accepts any multihash, but peer.Decode cannot read back
// the text form of the others, so they would break the JSON views.
func PeerFromBytes(b []byte) (peer.ID, error) {
	dmh, err := mh.Decode(b)
	if err != nil {
		return "", err
	}
	switch {
	case dmh.Code == mh.IDENTITY && dmh.Length >= 1 && dmh.Length <= maxInlineKeyLen:
	case dmh.Code == mh.SHA2_256 && dmh.Length == 32:
	default:
		return "", fmt.Errorf("multihash code %#x, length %d is not a peer ID", dmh.Code, dmh.Length)
	}
	return peer.ID(b), nil
}

// maxUnixMillis is 9999-12-31T23:59:59.999Z: later times cannot be rendered
// as RFC 3339.
const maxUnixMillis = 253402300799999

// millis encodes t as Unix milliseconds, truncating. The zero time is 0
// ("unset"); times at or before the epoch or after maxUnixMillis become
// MaxUint64, which timeFromMillis rejects.
func millis(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	ms := t.UnixMilli()
	if ms <= 0 || ms > maxUnixMillis {
		return math.MaxUint64
	}
	return uint64(ms)
}

func timeFromMillis(ms uint64, what string) (time.Time, error) {
	if ms == 0 {
		return time.Time{}, nil
	}
	if ms > maxUnixMillis {
		return time.Time{}, malformed("%s: %d ms is outside 1970..9999", what, ms)
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}

// truncMillis is the time the wire will carry for t.
func truncMillis(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// isPrintable reports whether s is valid UTF-8 without control or other
// non-printing characters. Strings that a remote peer chooses end up on
// terminals; this keeps escape sequences out of them.
func isPrintable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func isPrintableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// isServiceName matches ^[a-z][a-z0-9-]{0,15}$, the capacity record's rule,
// so that any service a host can advertise can also be requested.
func isServiceName(s string) bool {
	if len(s) < 1 || len(s) > MaxServiceLen || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func checkDetail(s string) error {
	if len(s) > MaxDetailLen || !isPrintable(s) {
		return malformed("detail: want at most %d bytes of printable UTF-8", MaxDetailLen)
	}
	return nil
}

// SanitizeDetail makes s acceptable as a Detail: non-printing characters
// become '?', and it is cut to MaxDetailLen bytes at a rune boundary. Use it
// for text that comes from errors or other peers.
func SanitizeDetail(s string) string { return sanitize(s, MaxDetailLen) }

// RejectReason is why a host refused a session or a tunnel stream. The
// numeric value is the wire code; receivers must treat unknown codes as a
// generic refusal, so hosts may add codes without a protocol change.
type RejectReason uint16

// Reject reasons; see docs/session-protocol.md for when each is used.
const (
	ReasonMalformed RejectReason = 1 + iota
	ReasonUnsupportedVersion
	ReasonBadSignature
	ReasonWrongPeer
	ReasonSessionReused
	ReasonTermsMismatch
	ReasonPolicyMismatch
	ReasonClockSkew
	ReasonServiceNotOffered
	ReasonPolicyForbidsService
	ReasonAccessDenied
	ReasonHostFull
	ReasonInternal
)

var rejectReasons = [...]struct{ code, words string }{
	ReasonMalformed:            {"malformed", "malformed request"},
	ReasonUnsupportedVersion:   {"unsupported_version", "unsupported protocol version"},
	ReasonBadSignature:         {"bad_signature", "consent signature does not verify"},
	ReasonWrongPeer:            {"wrong_peer", "consent was not signed by the connecting peer"},
	ReasonSessionReused:        {"session_reused", "session ID was already used"},
	ReasonTermsMismatch:        {"terms_mismatch", "terms of connection not recognised"},
	ReasonPolicyMismatch:       {"policy_mismatch", "connection params do not match their hash or are invalid"},
	ReasonClockSkew:            {"clock_skew", "consent time too far from the host's clock"},
	ReasonServiceNotOffered:    {"service_not_offered", "service not offered by this host"},
	ReasonPolicyForbidsService: {"policy_forbids_service", "your connection params forbid this service"},
	ReasonAccessDenied:         {"access_denied", "access denied"},
	ReasonHostFull:             {"host_full", "host has no free session slots"},
	ReasonInternal:             {"internal", "internal error on the host"},
}

// Code is a stable snake_case identifier for scripts and JSON, e.g.
// "access_denied"; unknown values give "reason_<n>".
func (r RejectReason) Code() string {
	if int(r) < len(rejectReasons) && rejectReasons[r].code != "" {
		return rejectReasons[r].code
	}
	return fmt.Sprintf("reason_%d", uint16(r))
}

// String gives the reason in words for the CLI.
func (r RejectReason) String() string {
	if int(r) < len(rejectReasons) && rejectReasons[r].words != "" {
		return rejectReasons[r].words
	}
	return fmt.Sprintf("unknown reason %d", uint16(r))
}

// EndReason is why a session ended, carried by End.
type EndReason uint16

// End reasons; unknown codes must be treated like EndError.
const (
	EndClientClosed EndReason = 1 + iota
	EndHostClosed
	EndKilled
	EndMaxDuration
	EndIdleTimeout
	EndPolicyViolation
	EndHostShutdown
	EndError
)

var endReasons = [...]struct{ code, words string }{
	EndClientClosed:    {"client_closed", "closed by the client"},
	EndHostClosed:      {"host_closed", "closed by the host"},
	EndKilled:          {"killed", "killed by an operator"},
	EndMaxDuration:     {"max_duration", "maximum duration reached"},
	EndIdleTimeout:     {"idle_timeout", "idle timeout"},
	EndPolicyViolation: {"policy_violation", "connection policy violated"},
	EndHostShutdown:    {"host_shutdown", "host shutting down"},
	EndError:           {"error", "error"},
}

// Code is a stable snake_case identifier; unknown values give "end_<n>".
func (r EndReason) Code() string {
	if int(r) < len(endReasons) && endReasons[r].code != "" {
		return endReasons[r].code
	}
	return fmt.Sprintf("end_%d", uint16(r))
}

// String gives the reason in words for the CLI.
func (r EndReason) String() string {
	if int(r) < len(endReasons) && endReasons[r].words != "" {
		return endReasons[r].words
	}
	return fmt.Sprintf("unknown end reason %d", uint16(r))
}

// Message is one frame's content: *Request, *Response, *End, *TunnelOpen,
// *TunnelReply or *Metering.
type Message interface {
	msgType() byte
	// wireBody returns a pointer to the message's wire struct.
	wireBody() any
	// validate checks the structure ReadMessage enforces.
	validate() error
}

// Frame type bytes.
const (
	typeRequest     = 1
	typeResponse    = 2
	typeEnd         = 3
	typeTunnelOpen  = 4
	typeTunnelReply = 5
	typeMetering    = 6 // ProtocolSession11 only
)

// Features is the bitmask of optional protocol features a host offers in an
// accepted Response (ProtocolSession11 only). Readers ignore bits they do
// not know, so a host may advertise a feature an older client never uses.
type Features uint64

// Feature bits.
const (
	// FeatureMetering: the host accepts Metering messages on the session
	// stream.
	FeatureMetering Features = 1 << 0
)

// Has reports whether every bit of x is set in f.
func (f Features) Has(x Features) bool { return f&x == x }

// Request is the first message on a session stream, client to host.
type Request struct {
	Version      uint8 // RequestVersion
	Session      ID
	Service      string
	Params       ConnectionParams
	PolicyHash   [32]byte // must equal Params.Hash()
	TermsVersion string
	TermsHash    [32]byte
	Consent      ConsentReceipt
}

// Response is the host's answer to a Request. Receipt is set iff Accepted;
// Reason is set iff not Accepted. Features may be set only if Accepted, and
// only on a ProtocolSession11 stream (a 1.0.0 client rejects the key).
type Response struct {
	Accepted bool
	Reason   RejectReason
	Detail   string
	Receipt  *HostReceipt
	Features Features
}

// End ends the session; either side may send it on the session stream.
type End struct {
	Reason EndReason
	Detail string
}

// TunnelOpen is the first message of each tunnel stream, client to host.
type TunnelOpen struct {
	Session ID
}

// Metering carries the client's latest signed metering receipt to the host
// on the session stream (ProtocolSession11, only if the host offered
// FeatureMetering). Bytes is the cumulative count of tunnel bytes the client
// has received from the host in this session, which Receipt attests;
// Receipt is opaque to this package (the node signs a
// consensus.MeteringReceipt). The wire also carries MeteringVersion.
type Metering struct {
	Bytes   uint64
	Receipt []byte
}

// TunnelReply answers TunnelOpen. On OK the stream carries raw bytes from
// the next byte on; otherwise Reason says why and the host closes it.
type TunnelReply struct {
	OK     bool
	Reason RejectReason
	Detail string
}

type wireRequest struct {
	Version      uint64      `cbor:"1,keyasint,omitempty"`
	Session      []byte      `cbor:"2,keyasint,omitempty"`
	Service      string      `cbor:"3,keyasint,omitempty"`
	Params       wireParams  `cbor:"4,keyasint,omitempty"`
	PolicyHash   []byte      `cbor:"5,keyasint,omitempty"`
	TermsVersion string      `cbor:"6,keyasint,omitempty"`
	TermsHash    []byte      `cbor:"7,keyasint,omitempty"`
	Consent      wireConsent `cbor:"8,keyasint,omitempty"`
}

type wireResponse struct {
	Accepted bool             `cbor:"1,keyasint,omitempty"`
	Reason   uint16           `cbor:"2,keyasint,omitempty"`
	Detail   string           `cbor:"3,keyasint,omitempty"`
	Receipt  *wireHostReceipt `cbor:"4,keyasint,omitempty"`
	Features uint64           `cbor:"5,keyasint,omitempty"`
}

type wireEnd struct {
	Reason uint16 `cbor:"1,keyasint,omitempty"`
	Detail string `cbor:"2,keyasint,omitempty"`
}

type wireTunnelOpen struct {
	Session []byte `cbor:"1,keyasint,omitempty"`
}

type wireMetering struct {
	Version uint64 `cbor:"1,keyasint,omitempty"`
	Bytes   uint64 `cbor:"2,keyasint,omitempty"`
	Receipt []byte `cbor:"3,keyasint,omitempty"`
}

type wireTunnelReply struct {
	OK     bool   `cbor:"1,keyasint,omitempty"`
	Reason uint16 `cbor:"2,keyasint,omitempty"`
	Detail string `cbor:"3,keyasint,omitempty"`
}

func (*Request) msgType() byte     { return typeRequest }
func (*Response) msgType() byte    { return typeResponse }
func (*End) msgType() byte         { return typeEnd }
func (*TunnelOpen) msgType() byte  { return typeTunnelOpen }
func (*TunnelReply) msgType() byte { return typeTunnelReply }
func (*Metering) msgType() byte    { return typeMetering }

func (r *Request) wire() wireRequest {
	return wireRequest{
		Version:      uint64(r.Version),
		Session:      r.Session[:],
		Service:      r.Service,
		Params:       r.Params.wire(),
		PolicyHash:   r.PolicyHash[:],
		TermsVersion: r.TermsVersion,
		TermsHash:    r.TermsHash[:],
		Consent:      r.Consent.wire(),
	}
}

// value checks the structure only. Whether the request is acceptable (hash
// matches, params in bounds, signature) is HostPolicy.Check's business, so
// that the host can answer with a specific reason.
func (w *wireRequest) value() (*Request, error) {
	if w.Version != RequestVersion {
		return nil, fmt.Errorf("%w: request version %d, want %d", ErrUnsupportedVersion, w.Version, RequestVersion)
	}
	r := &Request{Version: RequestVersion, Service: w.Service, TermsVersion: w.TermsVersion}
	var err error
	if r.Session, err = idFromWire(w.Session, "session"); err != nil {
		return nil, err
	}
	if !isServiceName(w.Service) {
		return nil, malformed("service %q: want ^[a-z][a-z0-9-]{0,15}$", w.Service)
	}
	if r.Params, err = w.Params.value(); err != nil {
		return nil, err
	}
	if r.PolicyHash, err = hashFromWire(w.PolicyHash, "policy hash"); err != nil {
		return nil, err
	}
	if n := len(w.TermsVersion); n < 1 || n > MaxTermsVersionLen || !isPrintableASCII(w.TermsVersion) {
		return nil, malformed("terms version %q: want 1..%d printable ASCII bytes", w.TermsVersion, MaxTermsVersionLen)
	}
	if r.TermsHash, err = hashFromWire(w.TermsHash, "terms hash"); err != nil {
		return nil, err
	}
	if r.Consent, err = w.Consent.value(); err != nil {
		return nil, fmt.Errorf("consent: %w", err)
	}
	return r, nil
}

func (r *Request) wireBody() any { w := r.wire(); return &w }

func (r *Request) validate() error { w := r.wire(); _, err := w.value(); return err }

func (r *Response) wire() wireResponse {
	w := wireResponse{Accepted: r.Accepted, Reason: uint16(r.Reason), Detail: r.Detail, Features: uint64(r.Features)}
	if r.Receipt != nil {
		hr := r.Receipt.wire()
		w.Receipt = &hr
	}
	return w
}

func (w *wireResponse) value() (*Response, error) {
	r := &Response{Accepted: w.Accepted, Reason: RejectReason(w.Reason), Detail: w.Detail, Features: Features(w.Features)}
	if err := checkDetail(w.Detail); err != nil {
		return nil, err
	}
	switch {
	case w.Accepted && (w.Receipt == nil || w.Reason != 0):
		return nil, malformed("accepted response needs a receipt and no reason")
	case !w.Accepted && (w.Receipt != nil || w.Reason == 0):
		return nil, malformed("rejection needs a reason and no receipt")
	case !w.Accepted && w.Features != 0:
		return nil, malformed("rejection offers no features")
	}
	if w.Receipt != nil {
		hr, err := w.Receipt.value()
		if err != nil {
			return nil, fmt.Errorf("receipt: %w", err)
		}
		r.Receipt = &hr
	}
	return r, nil
}

func (r *Response) wireBody() any { w := r.wire(); return &w }

func (r *Response) validate() error { w := r.wire(); _, err := w.value(); return err }

func (e *End) wire() wireEnd { return wireEnd{Reason: uint16(e.Reason), Detail: e.Detail} }

func (w *wireEnd) value() (*End, error) {
	if w.Reason == 0 {
		return nil, malformed("end needs a reason")
	}
	if err := checkDetail(w.Detail); err != nil {
		return nil, err
	}
	return &End{Reason: EndReason(w.Reason), Detail: w.Detail}, nil
}

func (e *End) wireBody() any { w := e.wire(); return &w }

func (e *End) validate() error { w := e.wire(); _, err := w.value(); return err }

func (t *TunnelOpen) wire() wireTunnelOpen { return wireTunnelOpen{Session: t.Session[:]} }

func (w *wireTunnelOpen) value() (*TunnelOpen, error) {
	id, err := idFromWire(w.Session, "session")
	if err != nil {
		return nil, err
	}
	return &TunnelOpen{Session: id}, nil
}

func (t *TunnelOpen) wireBody() any { w := t.wire(); return &w }

func (t *TunnelOpen) validate() error { w := t.wire(); _, err := w.value(); return err }

func (t *TunnelReply) wire() wireTunnelReply {
	return wireTunnelReply{OK: t.OK, Reason: uint16(t.Reason), Detail: t.Detail}
}

func (w *wireTunnelReply) value() (*TunnelReply, error) {
	if w.OK != (w.Reason == 0) {
		return nil, malformed("tunnel reply needs a reason iff not OK")
	}
	if err := checkDetail(w.Detail); err != nil {
		return nil, err
	}
	return &TunnelReply{OK: w.OK, Reason: RejectReason(w.Reason), Detail: w.Detail}, nil
}

func (t *TunnelReply) wireBody() any { w := t.wire(); return &w }

func (t *TunnelReply) validate() error { w := t.wire(); _, err := w.value(); return err }

func (m *Metering) wire() wireMetering {
	return wireMetering{Version: MeteringVersion, Bytes: m.Bytes, Receipt: m.Receipt}
}

func (w *wireMetering) value() (*Metering, error) {
	if w.Version != MeteringVersion {
		return nil, fmt.Errorf("%w: metering version %d, want %d", ErrUnsupportedVersion, w.Version, MeteringVersion)
	}
	if w.Bytes == 0 {
		return nil, malformed("metering attests no bytes")
	}
	if n := len(w.Receipt); n < 1 || n > MaxMeteringReceiptLen {
		return nil, malformed("metering receipt: %d bytes, want 1..%d", n, MaxMeteringReceiptLen)
	}
	return &Metering{Bytes: w.Bytes, Receipt: w.Receipt}, nil
}

func (m *Metering) wireBody() any { w := m.wire(); return &w }

func (m *Metering) validate() error { w := m.wire(); _, err := w.value(); return err }

// encodeFrame validates m and returns its complete frame.
func encodeFrame(m Message) ([]byte, error) {
	if m == nil || isNilPointer(m) {
		return nil, malformed("nil message")
	}
	// Details are free text for people, often an error string. Making them
	// sendable here, on a copy, rather than refusing the message means a
	// long or odd error text can never stop a rejection or an End from
	// reaching the peer. Valid details pass through unchanged.
	switch v := m.(type) {
	case *Response:
		c := *v
		c.Detail = SanitizeDetail(c.Detail)
		m = &c
	case *End:
		c := *v
		c.Detail = SanitizeDetail(c.Detail)
		m = &c
	case *TunnelReply:
		c := *v
		c.Detail = SanitizeDetail(c.Detail)
		m = &c
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	body := mustMarshal(m.wireBody())
	n := 1 + len(body)
	if limit := frameLimit(m.msgType()); n > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, limit)
	}
	frame := make([]byte, 0, binary.MaxVarintLen16+n)
	frame = binary.AppendUvarint(frame, uint64(n))
	frame = append(frame, m.msgType())
	return append(frame, body...), nil
}

func isNilPointer(m Message) bool {
	switch v := m.(type) {
	case *Request:
		return v == nil
	case *Response:
		return v == nil
	case *End:
		return v == nil
	case *TunnelOpen:
		return v == nil
	case *TunnelReply:
		return v == nil
	case *Metering:
		return v == nil
	}
	return false
}

// frameLimit is the largest frame (type byte plus body) of message type t.
func frameLimit(t byte) int {
	if t == typeMetering {
		return MaxMeteringFrameSize
	}
	return MaxFrameSize
}

// WriteMessage validates m and writes it as one frame with a single Write,
// so the muxer gets the frame in one piece rather than a length prefix in a
// packet of its own. Goroutines sharing a stream must still serialize their
// calls. Detail fields are passed through SanitizeDetail (m itself is not
// modified); anything else ReadMessage would refuse is refused
// (ErrMalformed, ErrUnsupportedVersion, ErrFrameTooLarge).
func WriteMessage(w io.Writer, m Message) error {
	frame, err := encodeFrame(m)
	if err != nil {
		return err
	}
	if _, err := w.Write(frame); err != nil {
		return fmt.Errorf("sessions: writing %s: %w", msgName(m.msgType()), err)
	}
	return nil
}

// maxPrefixLen is the longest minimal uvarint whose value can be at most
// MaxFrameSize (16384 needs three bytes).
const maxPrefixLen = 3

// ReadMessage reads exactly one frame from r and returns its message. It
// never reads past the frame, because a tunnel stream carries raw bytes
// right after TunnelOpen/TunnelReply: the length prefix is read one byte at
// a time (through io.ByteReader if r has it) and the rest with io.ReadFull.
// Callers that want buffering pass a *bufio.Reader and keep using it.
//
// It returns io.EOF, unwrapped, if r ends before the first byte of a frame,
// and a wrapped io.ErrUnexpectedEOF if it ends inside one. Other errors wrap
// ErrFrameTooLarge, ErrUnknownMessage, ErrMalformed or ErrUnsupportedVersion;
// bodies must be in canonical encoding (re-encoding a decoded message gives
// the same bytes).
func ReadMessage(r io.Reader) (Message, error) {
	t, body, err := readFrame(r)
	if err != nil {
		return nil, err
	}
	return decodeFrame(t, body)
}

// readFrame reads one whole frame without interpreting its body. When it
// succeeds the stream is positioned at the next frame, whatever decodeFrame
// then makes of the body; when it fails the stream is out of step.
func readFrame(r io.Reader) (byte, []byte, error) {
	n, err := readPrefix(r)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 0, nil, malformed("empty frame")
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, fmt.Errorf("sessions: reading %d-byte frame: %w", n, err)
	}
	return buf[0], buf[1:], nil
}

func readPrefix(r io.Reader) (uint64, error) {
	var x uint64
	for i := range maxPrefixLen {
		c, err := readByte(r)
		if err != nil {
			if i == 0 && errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("sessions: reading frame length: %w", err)
		}
		x |= uint64(c&0x7f) << (7 * i)
		if x > MaxFrameSize {
			// Stop now: the remaining prefix bytes can only make it larger.
			return 0, fmt.Errorf("%w: length prefix exceeds %d", ErrFrameTooLarge, MaxFrameSize)
		}
		if c < 0x80 {
			if c == 0 && i > 0 {
				return 0, malformed("frame length is not a minimal uvarint")
			}
			return x, nil
		}
	}
	// A fourth byte would be needed: the value is either above 2^21 or
	// padded with zero groups. Either way it is not a valid v1 frame.
	return 0, fmt.Errorf("%w: length prefix longer than %d bytes", ErrFrameTooLarge, maxPrefixLen)
}

func readByte(r io.Reader) (byte, error) {
	if br, ok := r.(io.ByteReader); ok {
		return br.ReadByte()
	}
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return b[0], nil
}

func msgName(t byte) string {
	switch t {
	case typeRequest:
		return "request"
	case typeResponse:
		return "response"
	case typeEnd:
		return "end"
	case typeTunnelOpen:
		return "tunnel open"
	case typeTunnelReply:
		return "tunnel reply"
	case typeMetering:
		return "metering"
	}
	return fmt.Sprintf("message type %d", t)
}

func decodeFrame(t byte, body []byte) (Message, error) {
	m, err := decodeBody(t, body)
	if err != nil {
		return nil, err
	}
	// Canonical check: the one encoding of this message must be what we
	// read. This also proves that the conversion from the wire struct lost
	// nothing.
	if !bytes.Equal(mustMarshal(m.wireBody()), body) {
		return nil, malformed("%s is not in canonical encoding", msgName(t))
	}
	return m, nil
}

func decodeBody(t byte, body []byte) (Message, error) {
	var m Message
	var err error
	switch t {
	case typeRequest:
		if err = checkRequestVersions(body); err == nil {
			m, err = decodeWire[wireRequest, *wireRequest, *Request](body)
		}
	case typeResponse:
		m, err = decodeWire[wireResponse, *wireResponse, *Response](body)
	case typeEnd:
		m, err = decodeWire[wireEnd, *wireEnd, *End](body)
	case typeTunnelOpen:
		m, err = decodeWire[wireTunnelOpen, *wireTunnelOpen, *TunnelOpen](body)
	case typeTunnelReply:
		m, err = decodeWire[wireTunnelReply, *wireTunnelReply, *TunnelReply](body)
	case typeMetering:
		// The smaller limit is checked before any CBOR is parsed, and the
		// version before the typed decode.
		if n := 1 + len(body); n > MaxMeteringFrameSize {
			err = fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, MaxMeteringFrameSize)
		} else if err = checkVersionKey(body, MeteringVersion, "metering"); err == nil {
			m, err = decodeWire[wireMetering, *wireMetering, *Metering](body)
		}
	default:
		return nil, fmt.Errorf("%w: type %d", ErrUnknownMessage, t)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", msgName(t), err)
	}
	return m, nil
}

// decodeWire decodes body into a W and converts it. The result is returned
// as Message only on success, so a failed decode never yields a non-nil
// interface holding a nil pointer.
func decodeWire[W any, P interface {
	*W
	value() (M, error)
}, M Message](body []byte) (Message, error) {
	var w W
	if err := unmarshal(body, &w); err != nil {
		return nil, err
	}
	m, err := P(&w).value()
	if err != nil {
		return nil, err
	}
	return m, nil
}

// checkRequestVersions reads the request version, and the params version
// inside it, before the strict typed decode.
func checkRequestVersions(body []byte) error {
	var fields map[uint64]cbor.RawMessage
	if err := decMode.Unmarshal(body, &fields); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkVersionField(fields, RequestVersion, "request"); err != nil {
		return err
	}
	raw, ok := fields[4]
	if !ok {
		return malformed("request has no connection params")
	}
	return checkVersionKey(raw, ParamsVersion, "connection params")
}
