package sessions

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// AccessMode says how HostPolicy.Peers is read.
type AccessMode string

// Access modes.
const (
	AccessAllowAll  AccessMode = "allow-all" // Peers must be empty
	AccessAllowlist AccessMode = "allowlist" // only Peers may connect
	AccessDenylist  AccessMode = "denylist"  // everyone but Peers may connect
)

// Clock skew bounds for HostPolicy.MaxClockSkew.
const (
	DefaultMaxClockSkew = 5 * time.Minute
	// MaxMaxClockSkew caps the setting: consent freshness is what stops an
	// old consent from being reused with a new session ID, and a day is
	// already generous for a machine without NTP.
	MaxMaxClockSkew = 24 * time.Hour
)

// HostPolicy is the part of a host's admission decision that needs no I/O.
// Single use of session IDs and free slots need the datastore and live
// counters; the host checks them after Check (ReasonSessionReused,
// ReasonHostFull).
type HostPolicy struct {
	Services     map[string]bool // offered services (true = offered)
	Access       AccessMode
	Peers        []peer.ID     // the allow- or deny-list
	MaxClockSkew time.Duration // consent AcceptedAt must be within ±skew of now; 0 = DefaultMaxClockSkew
}

// Validate checks the policy. An empty Access is an error rather than a
// default: whether strangers may connect to a desktop must be said out loud.
// Errors wrap ErrInvalidHostPolicy.
func (h HostPolicy) Validate() error {
	for s := range h.Services {
		if !KnownService(s) {
			return fmt.Errorf("%w: unknown service %q (known: %v)", ErrInvalidHostPolicy, s, Services)
		}
	}
	switch h.Access {
	case AccessAllowAll:
		if len(h.Peers) > 0 {
			// Almost certainly a list meant as an allowlist; refusing beats
			// silently letting everyone in.
			return fmt.Errorf("%w: %d peers listed with access %q", ErrInvalidHostPolicy, len(h.Peers), h.Access)
		}
	case AccessAllowlist, AccessDenylist:
	default:
		return fmt.Errorf("%w: access %q, want %q, %q or %q", ErrInvalidHostPolicy, h.Access, AccessAllowAll, AccessAllowlist, AccessDenylist)
	}
	for i, p := range h.Peers {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("%w: peers[%d]: %v", ErrInvalidHostPolicy, i, err)
		}
	}
	if h.MaxClockSkew < 0 || h.MaxClockSkew > MaxMaxClockSkew {
		return fmt.Errorf("%w: max clock skew %s, want 0..%s", ErrInvalidHostPolicy, h.MaxClockSkew, MaxMaxClockSkew)
	}
	return nil
}

func (h HostPolicy) skew() time.Duration {
	if h.MaxClockSkew == 0 {
		return DefaultMaxClockSkew
	}
	return h.MaxClockSkew
}

// Rejection is a refusal with its wire reason. Check returns it as an error;
// the host sends it with Response.
type Rejection struct {
	Reason RejectReason
	Detail string
}

func (r *Rejection) Error() string {
	if r.Detail == "" {
		return "sessions: rejected: " + r.Reason.String()
	}
	return "sessions: rejected: " + r.Reason.String() + ": " + r.Detail
}

// Response is the rejection as a message.
func (r *Rejection) Response() *Response {
	return &Response{Reason: r.Reason, Detail: SanitizeDetail(r.Detail)}
}

// TunnelReply is the rejection as a tunnel reply.
func (r *Rejection) TunnelReply() *TunnelReply {
	return &TunnelReply{Reason: r.Reason, Detail: SanitizeDetail(r.Detail)}
}

func reject(reason RejectReason, format string, args ...any) *Rejection {
	return &Rejection{Reason: reason, Detail: SanitizeDetail(fmt.Sprintf(format, args...))}
}

// RejectionFor maps an error from ReadMessage or Check to what the host
// tells the peer: a *Rejection as is, version errors as
// ReasonUnsupportedVersion, framing and decoding errors as ReasonMalformed,
// and anything else as ReasonInternal without detail, because internal
// errors may describe the host. io.EOF (the peer half-closed without
// sending) counts as malformed. nil gives nil.
func RejectionFor(err error) *Rejection {
	var rej *Rejection
	switch {
	case err == nil:
		return nil
	case errors.As(err, &rej):
		return rej
	case errors.Is(err, ErrUnsupportedVersion):
		return reject(ReasonUnsupportedVersion, "%v", err)
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrFrameTooLarge),
		errors.Is(err, ErrUnknownMessage), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF): // the peer closed instead of sending a request
		return reject(ReasonMalformed, "%v", err)
	}
	return &Rejection{Reason: ReasonInternal}
}

// Check decides whether the host accepts req, which arrived on a stream
// from remote, at time now. It returns nil or a *Rejection. The order is
// fixed (docs/session-protocol.md) so that a request with several faults
// always gets the same answer:
//
//  1. host policy valid (else ReasonInternal)
//  2. request version (ReasonUnsupportedVersion), then structure (ReasonMalformed)
//  3. remote is the consent's signer (ReasonWrongPeer)
//  4. consent signature (ReasonBadSignature)
//  5. consent covers this request: session (ReasonMalformed), policy hash
//     (ReasonPolicyMismatch), terms hash (ReasonTermsMismatch)
//  6. PolicyHash == Params.Hash() and Params valid (ReasonPolicyMismatch)
//  7. terms version known and hash matching it (ReasonTermsMismatch)
//  8. consent time within ±MaxClockSkew of now (ReasonClockSkew)
//  9. service offered (ReasonServiceNotOffered)
//  10. Params.Permits(service) (ReasonPolicyForbidsService)
//  11. access list (ReasonAccessDenied)
//
// The access list comes last even though it is cheap: everything before it
// is about the request's integrity, and a peer learns nothing from the
// earlier answers that capacity records do not already publish.
func (h HostPolicy) Check(req *Request, remote peer.ID, now time.Time) error {
	if err := h.Validate(); err != nil {
		return reject(ReasonInternal, "host policy is invalid")
	}
	if req == nil {
		return reject(ReasonMalformed, "no request")
	}
	if req.Version != RequestVersion {
		return reject(ReasonUnsupportedVersion, "request version %d, want %d", req.Version, RequestVersion)
	}
	if err := req.validate(); err != nil {
		if errors.Is(err, ErrUnsupportedVersion) {
			return reject(ReasonUnsupportedVersion, "%v", err)
		}
		return reject(ReasonMalformed, "%v", err)
	}
	c := &req.Consent
	if c.User != remote {
		return reject(ReasonWrongPeer, "consent signed for %s, stream from %s", c.User, remote)
	}
	if err := c.Verify(); err != nil {
		return reject(ReasonBadSignature, "%v", err)
	}
	switch {
	case c.Session != req.Session:
		return reject(ReasonMalformed, "consent is for session %s, request for %s", c.Session, req.Session)
	case c.PolicyHash != req.PolicyHash:
		return reject(ReasonPolicyMismatch, "consent policy hash differs from the request's")
	case c.TermsHash != req.TermsHash:
		return reject(ReasonTermsMismatch, "consent terms hash differs from the request's")
	}
	if req.Params.Hash() != req.PolicyHash {
		return reject(ReasonPolicyMismatch, "policy hash does not match the params")
	}
	if err := req.Params.Validate(); err != nil {
		return reject(ReasonPolicyMismatch, "%v", err)
	}
	if want, ok := TermsHashFor(req.TermsVersion); !ok {
		return reject(ReasonTermsMismatch, "unknown terms version %q", req.TermsVersion)
	} else if want != req.TermsHash {
		return reject(ReasonTermsMismatch, "terms hash does not match %s", req.TermsVersion)
	}
	skew := h.skew()
	if at := c.AcceptedAt; at.Before(now.Add(-skew)) || at.After(now.Add(skew)) {
		return reject(ReasonClockSkew, "consent time %s is more than %s from host time %s",
			at.UTC().Format(time.RFC3339), skew, now.UTC().Format(time.RFC3339))
	}
	if !h.Services[req.Service] {
		return reject(ReasonServiceNotOffered, "service %q", req.Service)
	}
	if err := req.Params.Permits(req.Service); err != nil {
		return reject(ReasonPolicyForbidsService, "%v", err)
	}
	listed := slices.Contains(h.Peers, remote)
	if (h.Access == AccessAllowlist && !listed) || (h.Access == AccessDenylist && listed) {
		return reject(ReasonAccessDenied, "")
	}
	return nil
}
