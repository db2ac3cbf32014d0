package sessions

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Signing domains. A receipt signature covers the domain followed by the
// canonical CBOR of every field except the signature, so a signature made
// for one purpose (or by another Lucid component) cannot be replayed as
// another, and the trailing newline keeps the domain from running into the
// CBOR bytes.
const (
	ConsentDomain     = "lucid/consent-receipt/1\n"
	HostReceiptDomain = "lucid/host-receipt/1\n"
)

// ConsentReceipt is the client's signed acceptance of one session under one
// policy and one version of the terms (spec §3.4). The spec's
// "user_id|session_id|..." string is replaced by domain-separated canonical
// CBOR, which has no delimiter ambiguity.
type ConsentReceipt struct {
	User       peer.ID // the client; its key signs
	Session    ID
	PolicyHash [32]byte
	TermsHash  [32]byte
	AcceptedAt time.Time // millisecond precision; Sign truncates
	Signature  []byte
}

type wireConsent struct {
	User       []byte `cbor:"1,keyasint,omitempty"`
	Session    []byte `cbor:"2,keyasint,omitempty"`
	PolicyHash []byte `cbor:"3,keyasint,omitempty"`
	TermsHash  []byte `cbor:"4,keyasint,omitempty"`
	AcceptedAt uint64 `cbor:"5,keyasint,omitempty"`
	Signature  []byte `cbor:"6,keyasint,omitempty"`
}

func (r *ConsentReceipt) wire() wireConsent {
	return wireConsent{
		User:       []byte(r.User),
		Session:    r.Session[:],
		PolicyHash: r.PolicyHash[:],
		TermsHash:  r.TermsHash[:],
		AcceptedAt: millis(r.AcceptedAt),
		Signature:  r.Signature,
	}
}

// value checks structure only; the signature is Verify's business.
func (w *wireConsent) value() (ConsentReceipt, error) {
	var r ConsentReceipt
	var err error
	if r.User, err = peerFromWire(w.User, "user"); err != nil {
		return ConsentReceipt{}, err
	}
	if r.Session, err = idFromWire(w.Session, "session"); err != nil {
		return ConsentReceipt{}, err
	}
	if r.PolicyHash, err = hashFromWire(w.PolicyHash, "policy hash"); err != nil {
		return ConsentReceipt{}, err
	}
	if r.TermsHash, err = hashFromWire(w.TermsHash, "terms hash"); err != nil {
		return ConsentReceipt{}, err
	}
	if w.AcceptedAt == 0 {
		return ConsentReceipt{}, malformed("accepted_at is not set")
	}
	if r.AcceptedAt, err = timeFromMillis(w.AcceptedAt, "accepted_at"); err != nil {
		return ConsentReceipt{}, err
	}
	if len(w.Signature) > MaxSignatureLen {
		return ConsentReceipt{}, malformed("signature: %d bytes, limit %d", len(w.Signature), MaxSignatureLen)
	}
	if len(w.Signature) > 0 {
		r.Signature = w.Signature
	}
	return r, nil
}

// CBOR is the receipt's canonical encoding, signature included: the form
// other documents (recording manifests) carry, so that the signature still
// verifies after a round trip. Fields out of bounds encode to values that
// DecodeConsent refuses.
func (r ConsentReceipt) CBOR() []byte {
	w := r.wire()
	return mustMarshal(&w)
}

// DecodeConsent is the strict inverse of CBOR. It checks structure only;
// Verify checks the signature.
func DecodeConsent(b []byte) (ConsentReceipt, error) {
	var w wireConsent
	if err := unmarshal(b, &w); err != nil {
		return ConsentReceipt{}, err
	}
	return w.value()
}

// IsZero reports whether r is the zero value (no consent recorded).
func (r ConsentReceipt) IsZero() bool {
	return r.User == "" && r.Session.IsZero() && r.PolicyHash == [32]byte{} &&
		r.TermsHash == [32]byte{} && r.AcceptedAt.IsZero() && len(r.Signature) == 0
}

// Sign truncates AcceptedAt to milliseconds and signs r with priv, which
// must belong to r.User (ErrWrongSigner) and be of a type whose public key
// is embedded in the peer ID (ErrUnsupportedKey), so that a verifier needs
// nothing but the receipt. Structural problems wrap ErrMalformed.
func (r *ConsentReceipt) Sign(priv crypto.PrivKey) error {
	c := *r
	c.AcceptedAt = truncMillis(r.AcceptedAt)
	w := c.wire()
	sig, err := signReceipt(priv, r.User, ConsentDomain, &w)
	if err != nil {
		return err
	}
	r.AcceptedAt, r.Signature = c.AcceptedAt, sig
	return nil
}

// Verify checks the structure (ErrMalformed) and the signature by the key
// embedded in r.User (ErrBadSignature, ErrUnsupportedKey).
func (r ConsentReceipt) Verify() error {
	w := r.wire()
	return verifyReceipt(r.User, ConsentDomain, &w, r.Signature)
}

// Hash is SHA-256 of the canonical encoding including the signature. The
// host receipt binds it, so the client can tell that the host acted on
// exactly the consent it sent.
func (r ConsentReceipt) Hash() [32]byte {
	w := r.wire()
	return sha256.Sum256(mustMarshal(&w))
}

// Limits are the host's per-session limits, stated in its receipt. Zero
// means "no limit" for each field.
type Limits struct {
	MaxDuration time.Duration // whole seconds
	IdleTimeout time.Duration // whole seconds
	// BandwidthBps caps each direction in bits per second, like
	// capacity.Record.BandwidthBps; TokenBucket counts bytes, so divide by 8.
	BandwidthBps uint64
}

type wireLimits struct {
	MaxDuration  uint64 `cbor:"1,keyasint,omitempty"` // seconds
	IdleTimeout  uint64 `cbor:"2,keyasint,omitempty"` // seconds
	BandwidthBps uint64 `cbor:"3,keyasint,omitempty"`
}

// maxLimitSeconds is the largest number of seconds a time.Duration holds.
const maxLimitSeconds = math.MaxInt64 / uint64(time.Second)

func (l Limits) wire() wireLimits {
	secs := func(d time.Duration) uint64 {
		if d < 0 || d%time.Second != 0 {
			return math.MaxUint64 // rejected by value
		}
		return uint64(d / time.Second)
	}
	return wireLimits{MaxDuration: secs(l.MaxDuration), IdleTimeout: secs(l.IdleTimeout), BandwidthBps: l.BandwidthBps}
}

func (w wireLimits) value() (Limits, error) {
	if w.MaxDuration > maxLimitSeconds || w.IdleTimeout > maxLimitSeconds {
		return Limits{}, malformed("limits: durations must be whole, non-negative seconds below %d", maxLimitSeconds)
	}
	return Limits{
		MaxDuration:  time.Duration(w.MaxDuration) * time.Second,
		IdleTimeout:  time.Duration(w.IdleTimeout) * time.Second,
		BandwidthBps: w.BandwidthBps,
	}, nil
}

// Validate checks that durations are whole, non-negative seconds, the only
// values the wire carries. Rounding instead would turn a sub-second limit
// into 0, which means "unlimited". Errors wrap ErrMalformed.
func (l Limits) Validate() error {
	_, err := l.wire().value()
	return err
}

type limitsJSON struct {
	MaxDurationS uint64 `json:"max_duration_s"`
	IdleTimeoutS uint64 `json:"idle_timeout_s"`
	BandwidthBps uint64 `json:"bandwidth_bps"`
}

// MarshalJSON renders durations as whole seconds (0 = no limit).
func (l Limits) MarshalJSON() ([]byte, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	w := l.wire()
	return json.Marshal(limitsJSON{MaxDurationS: w.MaxDuration, IdleTimeoutS: w.IdleTimeout, BandwidthBps: w.BandwidthBps})
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (l *Limits) UnmarshalJSON(b []byte) error {
	var j limitsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	v, err := wireLimits{MaxDuration: j.MaxDurationS, IdleTimeout: j.IdleTimeoutS, BandwidthBps: j.BandwidthBps}.value()
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// HostReceipt is the host's signed acceptance of a Request. It binds the
// request's policy, terms and consent (by hash) to the limits the host will
// enforce, so either side can later prove what was agreed.
type HostReceipt struct {
	Host, Client                       peer.ID
	Session                            ID
	Service                            string
	PolicyHash, TermsHash, ConsentHash [32]byte
	Limits                             Limits
	AcceptedAt                         time.Time // millisecond precision; Sign truncates
	Signature                          []byte
}

type wireHostReceipt struct {
	Host        []byte     `cbor:"1,keyasint,omitempty"`
	Client      []byte     `cbor:"2,keyasint,omitempty"`
	Session     []byte     `cbor:"3,keyasint,omitempty"`
	Service     string     `cbor:"4,keyasint,omitempty"`
	PolicyHash  []byte     `cbor:"5,keyasint,omitempty"`
	TermsHash   []byte     `cbor:"6,keyasint,omitempty"`
	ConsentHash []byte     `cbor:"7,keyasint,omitempty"`
	Limits      wireLimits `cbor:"8,keyasint,omitempty"`
	AcceptedAt  uint64     `cbor:"9,keyasint,omitempty"`
	Signature   []byte     `cbor:"10,keyasint,omitempty"`
}

// CBOR is the host receipt's canonical encoding, signature included; see
// ConsentReceipt.CBOR.
func (r HostReceipt) CBOR() []byte {
	w := r.wire()
	return mustMarshal(&w)
}

// DecodeHostReceipt is the strict inverse of CBOR (structure only).
func DecodeHostReceipt(b []byte) (HostReceipt, error) {
	var w wireHostReceipt
	if err := unmarshal(b, &w); err != nil {
		return HostReceipt{}, err
	}
	return w.value()
}

// IsZero reports whether r is the zero value (no receipt recorded).
func (r HostReceipt) IsZero() bool {
	return r.Host == "" && r.Client == "" && r.Session.IsZero() && r.Service == "" &&
		r.PolicyHash == [32]byte{} && r.TermsHash == [32]byte{} && r.ConsentHash == [32]byte{} &&
		r.Limits == Limits{} && r.AcceptedAt.IsZero() && len(r.Signature) == 0
}

func (r *HostReceipt) wire() wireHostReceipt {
	return wireHostReceipt{
		Host:        []byte(r.Host),
		Client:      []byte(r.Client),
		Session:     r.Session[:],
		Service:     r.Service,
		PolicyHash:  r.PolicyHash[:],
		TermsHash:   r.TermsHash[:],
		ConsentHash: r.ConsentHash[:],
		Limits:      r.Limits.wire(),
		AcceptedAt:  millis(r.AcceptedAt),
		Signature:   r.Signature,
	}
}

func (w *wireHostReceipt) value() (HostReceipt, error) {
	r := HostReceipt{Service: w.Service}
	var err error
	if r.Host, err = peerFromWire(w.Host, "host"); err != nil {
		return HostReceipt{}, err
	}
	if r.Client, err = peerFromWire(w.Client, "client"); err != nil {
		return HostReceipt{}, err
	}
	if r.Session, err = idFromWire(w.Session, "session"); err != nil {
		return HostReceipt{}, err
	}
	if !isServiceName(w.Service) {
		return HostReceipt{}, malformed("service %q: want ^[a-z][a-z0-9-]{0,15}$", w.Service)
	}
	if r.PolicyHash, err = hashFromWire(w.PolicyHash, "policy hash"); err != nil {
		return HostReceipt{}, err
	}
	if r.TermsHash, err = hashFromWire(w.TermsHash, "terms hash"); err != nil {
		return HostReceipt{}, err
	}
	if r.ConsentHash, err = hashFromWire(w.ConsentHash, "consent hash"); err != nil {
		return HostReceipt{}, err
	}
	if r.Limits, err = w.Limits.value(); err != nil {
		return HostReceipt{}, err
	}
	if w.AcceptedAt == 0 {
		return HostReceipt{}, malformed("accepted_at is not set")
	}
	if r.AcceptedAt, err = timeFromMillis(w.AcceptedAt, "accepted_at"); err != nil {
		return HostReceipt{}, err
	}
	if len(w.Signature) > MaxSignatureLen {
		return HostReceipt{}, malformed("signature: %d bytes, limit %d", len(w.Signature), MaxSignatureLen)
	}
	if len(w.Signature) > 0 {
		r.Signature = w.Signature
	}
	return r, nil
}

// Sign truncates AcceptedAt to milliseconds and signs r with priv, which
// must belong to r.Host. Errors as for ConsentReceipt.Sign.
func (r *HostReceipt) Sign(priv crypto.PrivKey) error {
	c := *r
	c.AcceptedAt = truncMillis(r.AcceptedAt)
	w := c.wire()
	sig, err := signReceipt(priv, r.Host, HostReceiptDomain, &w)
	if err != nil {
		return err
	}
	r.AcceptedAt, r.Signature = c.AcceptedAt, sig
	return nil
}

// Verify checks the structure (ErrMalformed) and the signature by the key
// embedded in r.Host (ErrBadSignature, ErrUnsupportedKey). It does not know
// which host was dialled or what was requested; see VerifyFor.
func (r HostReceipt) Verify() error {
	w := r.wire()
	return verifyReceipt(r.Host, HostReceiptDomain, &w, r.Signature)
}

// VerifyBinding checks r against the request the client sent: same session,
// client (the consent's signer), service, policy and terms hashes, and the
// hash of the exact consent sent. It does not check the signature. Errors
// wrap ErrReceiptMismatch.
func (r HostReceipt) VerifyBinding(req *Request) error {
	if req == nil {
		return fmt.Errorf("%w: no request", ErrReceiptMismatch)
	}
	mismatch := func(field string) error {
		return fmt.Errorf("%w: %s differs", ErrReceiptMismatch, field)
	}
	switch {
	case r.Session != req.Session:
		return mismatch("session")
	case r.Client != req.Consent.User:
		return mismatch("client")
	case r.Service != req.Service:
		return mismatch("service")
	case r.PolicyHash != req.PolicyHash:
		return mismatch("policy hash")
	case r.TermsHash != req.TermsHash:
		return mismatch("terms hash")
	case r.ConsentHash != req.Consent.Hash():
		return mismatch("consent hash")
	}
	return nil
}

// VerifyFor is what a client runs on an accepted Response: Verify, then
// r.Host must be the peer it dialled (ErrReceiptMismatch), then
// VerifyBinding. Without the host check a relay in the middle of the
// protocol could present its own valid receipt.
func (r HostReceipt) VerifyFor(host peer.ID, req *Request) error {
	if err := r.Verify(); err != nil {
		return err
	}
	if r.Host != host {
		return fmt.Errorf("%w: receipt is from %s, dialled %s", ErrReceiptMismatch, r.Host, host)
	}
	return r.VerifyBinding(req)
}

// NewRequest builds a Request for a fresh session and signs its consent
// with the client's key at now under the current terms (TermsVersion).
// It first checks params.Permits(service), so a client learns locally that
// its own policy forbids what it asks for.
func NewRequest(priv crypto.PrivKey, session ID, service string, params ConnectionParams, now time.Time) (*Request, error) {
	if priv == nil {
		return nil, fmt.Errorf("%w: nil private key", ErrWrongSigner)
	}
	if err := params.Permits(service); err != nil {
		return nil, err
	}
	user, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	req := &Request{
		Version:      RequestVersion,
		Session:      session,
		Service:      service,
		Params:       params,
		PolicyHash:   params.Hash(),
		TermsVersion: TermsVersion,
		TermsHash:    TermsHash(),
	}
	req.Consent = ConsentReceipt{
		User:       user,
		Session:    session,
		PolicyHash: req.PolicyHash,
		TermsHash:  req.TermsHash,
		AcceptedAt: now,
	}
	if err := req.Consent.Sign(priv); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	return req, nil
}

// NewHostReceipt builds and signs the receipt for a request the host has
// accepted (after HostPolicy.Check and its own single-use and slot checks).
func NewHostReceipt(priv crypto.PrivKey, req *Request, limits Limits, now time.Time) (*HostReceipt, error) {
	if req == nil {
		return nil, malformed("no request")
	}
	if priv == nil {
		return nil, fmt.Errorf("%w: nil private key", ErrWrongSigner)
	}
	host, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	r := &HostReceipt{
		Host:        host,
		Client:      req.Consent.User,
		Session:     req.Session,
		Service:     req.Service,
		PolicyHash:  req.PolicyHash,
		TermsHash:   req.TermsHash,
		ConsentHash: req.Consent.Hash(),
		Limits:      limits,
		AcceptedAt:  now,
	}
	if err := r.Sign(priv); err != nil {
		return nil, err
	}
	return r, nil
}

func checkSigner(priv crypto.PrivKey, want peer.ID) error {
	if priv == nil {
		return fmt.Errorf("%w: nil private key", ErrWrongSigner)
	}
	signer, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	if signer != want {
		return fmt.Errorf("%w: receipt names %s, key belongs to %s", ErrWrongSigner, peerText(want), signer)
	}
	// Keys too large to inline (RSA, ECDSA) are hashed into the ID; nobody
	// could verify a receipt signed with one.
	if _, err := signer.ExtractPublicKey(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnsupportedKey, signer, err)
	}
	return nil
}

// receiptWire is the wire form of a receipt, for the signing steps both
// receipt types share.
type receiptWire interface {
	check() error // structure only
	clearSignature()
}

func (w *wireConsent) check() error        { _, err := w.value(); return err }
func (w *wireConsent) clearSignature()     { w.Signature = nil }
func (w *wireHostReceipt) check() error    { _, err := w.value(); return err }
func (w *wireHostReceipt) clearSignature() { w.Signature = nil }

// signReceipt signs a receipt's wire form, without its signature, for the
// signer it names.
func signReceipt(priv crypto.PrivKey, signer peer.ID, domain string, w receiptWire) ([]byte, error) {
	if err := checkSigner(priv, signer); err != nil {
		return nil, err
	}
	w.clearSignature()
	if err := w.check(); err != nil {
		return nil, err
	}
	return sign(priv, domain, w)
}

// verifyReceipt checks a receipt's structure, signature included, then
// the signature over the rest.
func verifyReceipt(signer peer.ID, domain string, w receiptWire, sig []byte) error {
	if err := w.check(); err != nil {
		return err
	}
	w.clearSignature()
	return verify(signer, domain, w, sig)
}

func signedBytes(domain string, w any) []byte {
	return append([]byte(domain), mustMarshal(w)...)
}

func sign(priv crypto.PrivKey, domain string, w any) ([]byte, error) {
	sig, err := priv.Sign(signedBytes(domain, w))
	if err != nil {
		return nil, fmt.Errorf("sessions: signing: %w", err)
	}
	if len(sig) == 0 || len(sig) > MaxSignatureLen {
		return nil, fmt.Errorf("%w: %d-byte signature", ErrUnsupportedKey, len(sig))
	}
	return sig, nil
}

// verify checks sig over domain‖CBOR(w); w must have its signature cleared.
func verify(signer peer.ID, domain string, w any, sig []byte) error {
	if len(sig) == 0 {
		return fmt.Errorf("%w: not signed", ErrBadSignature)
	}
	pub, err := signer.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnsupportedKey, signer, err)
	}
	ok, err := pub.Verify(signedBytes(domain, w), sig)
	if err != nil || !ok {
		return fmt.Errorf("%w: by %s", ErrBadSignature, signer)
	}
	return nil
}

// JSON views: hashes as lowercase hex, signatures as standard base64, times
// as RFC 3339 UTC with nanoseconds (omitted when zero), peers as base58.

type hexHash [32]byte

func (h hexHash) MarshalText() ([]byte, error) { return hex.AppendEncode(nil, h[:]), nil }

func (h *hexHash) UnmarshalText(b []byte) error {
	if len(b) != 2*len(h) {
		return fmt.Errorf("sessions: hash: want %d hex digits, got %d", 2*len(h), len(b))
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return fmt.Errorf("sessions: hash: %w", err)
	}
	return nil
}

func peerText(id peer.ID) string {
	if id == "" {
		return ""
	}
	return id.String()
}

func parsePeerText(s string) (peer.ID, error) {
	if s == "" {
		return "", nil
	}
	return peer.Decode(s)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTimeText(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func sigText(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func parseSigText(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

type consentJSON struct {
	UserID     string  `json:"user_id"`
	SessionID  ID      `json:"session_id"`
	PolicyHash hexHash `json:"policy_hash"`
	TermsHash  hexHash `json:"terms_hash"`
	AcceptedAt string  `json:"accepted_at,omitempty"`
	Signature  string  `json:"signature"`
}

// MarshalJSON renders the receipt with the spec's snake_case names.
func (r ConsentReceipt) MarshalJSON() ([]byte, error) {
	return json.Marshal(consentJSON{
		UserID:     peerText(r.User),
		SessionID:  r.Session,
		PolicyHash: r.PolicyHash,
		TermsHash:  r.TermsHash,
		AcceptedAt: timeText(r.AcceptedAt),
		Signature:  sigText(r.Signature),
	})
}

// UnmarshalJSON is the inverse of MarshalJSON; it does not verify.
func (r *ConsentReceipt) UnmarshalJSON(b []byte) error {
	var j consentJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var out ConsentReceipt
	var err error
	if out.User, err = parsePeerText(j.UserID); err != nil {
		return fmt.Errorf("sessions: user_id: %w", err)
	}
	if out.AcceptedAt, err = parseTimeText(j.AcceptedAt); err != nil {
		return fmt.Errorf("sessions: accepted_at: %w", err)
	}
	if out.Signature, err = parseSigText(j.Signature); err != nil {
		return fmt.Errorf("sessions: signature: %w", err)
	}
	out.Session, out.PolicyHash, out.TermsHash = j.SessionID, j.PolicyHash, j.TermsHash
	*r = out
	return nil
}

type hostReceiptJSON struct {
	HostID      string  `json:"host_id"`
	ClientID    string  `json:"client_id"`
	SessionID   ID      `json:"session_id"`
	Service     string  `json:"service"`
	PolicyHash  hexHash `json:"policy_hash"`
	TermsHash   hexHash `json:"terms_hash"`
	ConsentHash hexHash `json:"consent_hash"`
	Limits      Limits  `json:"limits"`
	AcceptedAt  string  `json:"accepted_at,omitempty"`
	Signature   string  `json:"signature"`
}

// MarshalJSON renders the receipt with snake_case names.
func (r HostReceipt) MarshalJSON() ([]byte, error) {
	return json.Marshal(hostReceiptJSON{
		HostID:      peerText(r.Host),
		ClientID:    peerText(r.Client),
		SessionID:   r.Session,
		Service:     r.Service,
		PolicyHash:  r.PolicyHash,
		TermsHash:   r.TermsHash,
		ConsentHash: r.ConsentHash,
		Limits:      r.Limits,
		AcceptedAt:  timeText(r.AcceptedAt),
		Signature:   sigText(r.Signature),
	})
}

// UnmarshalJSON is the inverse of MarshalJSON; it does not verify.
func (r *HostReceipt) UnmarshalJSON(b []byte) error {
	var j hostReceiptJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := HostReceipt{
		Session:     j.SessionID,
		Service:     j.Service,
		PolicyHash:  j.PolicyHash,
		TermsHash:   j.TermsHash,
		ConsentHash: j.ConsentHash,
		Limits:      j.Limits,
	}
	var err error
	if out.Host, err = parsePeerText(j.HostID); err != nil {
		return fmt.Errorf("sessions: host_id: %w", err)
	}
	if out.Client, err = parsePeerText(j.ClientID); err != nil {
		return fmt.Errorf("sessions: client_id: %w", err)
	}
	if out.AcceptedAt, err = parseTimeText(j.AcceptedAt); err != nil {
		return fmt.Errorf("sessions: accepted_at: %w", err)
	}
	if out.Signature, err = parseSigText(j.Signature); err != nil {
		return fmt.Errorf("sessions: signature: %w", err)
	}
	*r = out
	return nil
}
