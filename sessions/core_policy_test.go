package sessions

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
)

func coreHostPolicy() HostPolicy {
	return HostPolicy{
		Services: map[string]bool{ServiceRDP: true, ServiceSSH: true, ServiceVNC: false},
		Access:   AccessAllowAll,
	}
}

func TestHostPolicyCheck(t *testing.T) {
	clientPriv, client := coreKey(t, "client")
	_, mallory := coreKey(t, "mallory")
	malloryPriv, _ := coreKey(t, "mallory")
	session := coreID(t, "session")
	ssh := ParamsForService(ServiceSSH)
	signed := func(service string, p ConnectionParams, at time.Time) *Request {
		return coreSignedRequest(t, clientPriv, session, service, p, TermsVersion, TermsHash(), at)
	}
	resign := func(r *Request) *Request {
		require.NoError(t, r.Consent.Sign(clientPriv))
		return r
	}

	tests := []struct {
		name   string
		policy func(h *HostPolicy)
		req    func() *Request
		remote peer.ID
		now    time.Time
		want   RejectReason // 0 = accepted
	}{
		{name: "valid rdp", req: func() *Request { return coreRequest(t, ServiceRDP) }},
		{name: "valid ssh with shell channels", req: func() *Request { return coreRequest(t, ServiceSSH) }},
		{name: "full params", req: func() *Request { return signed(ServiceSSH, coreFullParams(), coreT0) }},

		{name: "invalid host policy", policy: func(h *HostPolicy) { h.Access = "" }, req: func() *Request { return coreRequest(t, ServiceRDP) }, want: ReasonInternal},
		{name: "nil request", req: func() *Request { return nil }, want: ReasonMalformed},
		{name: "version 2", req: func() *Request { r := coreRequest(t, ServiceRDP); r.Version = 2; return r }, want: ReasonUnsupportedVersion},
		{name: "version 0", req: func() *Request { r := coreRequest(t, ServiceRDP); r.Version = 0; return r }, want: ReasonUnsupportedVersion},
		{name: "zero session id", req: func() *Request {
			r := signed(ServiceRDP, StrictParams(), coreT0)
			r.Session, r.Consent.Session = ID{}, ID{}
			return r
		}, want: ReasonMalformed},
		{name: "malformed session id", req: func() *Request { r := coreRequest(t, ServiceRDP); r.Session = ID{}; return r }, want: ReasonMalformed},
		{name: "malformed service", req: func() *Request { r := coreRequest(t, ServiceRDP); r.Service = "RDP!"; return r }, want: ReasonMalformed},

		{name: "consent signed by another peer than the remote", req: func() *Request { return coreRequest(t, ServiceRDP) }, remote: mallory, want: ReasonWrongPeer},
		{name: "consent names the remote but another key signed", req: func() *Request {
			r := coreRequest(t, ServiceRDP)
			r.Consent.User = mallory // claims to be mallory, signature is the client's
			return r
		}, remote: mallory, want: ReasonBadSignature},
		{name: "mallory relays the client's request", req: func() *Request {
			r := coreRequest(t, ServiceRDP)
			r.Consent.User = mallory
			require.ErrorIs(t, r.Consent.Sign(clientPriv), ErrWrongSigner)
			require.NoError(t, r.Consent.Sign(malloryPriv))
			return r
		}, remote: client, want: ReasonWrongPeer},
		{name: "flipped signature", req: func() *Request {
			r := coreRequest(t, ServiceRDP)
			r.Consent.Signature = bytes.Clone(r.Consent.Signature)
			r.Consent.Signature[7] ^= 4
			return r
		}, want: ReasonBadSignature},
		{name: "unsigned consent", req: func() *Request { r := coreRequest(t, ServiceRDP); r.Consent.Signature = nil; return r }, want: ReasonBadSignature},

		{name: "consent for another session", req: func() *Request {
			r := coreRequest(t, ServiceRDP)
			r.Consent.Session = coreID(t, "earlier")
			return resign(r)
		}, want: ReasonMalformed},
		{name: "consent for another policy", req: func() *Request {
			r := coreRequest(t, ServiceRDP)
			r.Consent.PolicyHash = coreFullParams().Hash()
			return resign(r)
		}, want: ReasonPolicyMismatch},
		{name: "consent for other terms", req: func() *Request {
			r := coreRequest(t, ServiceRDP)
			r.Consent.TermsHash = [32]byte{1}
			return resign(r)
		}, want: ReasonTermsMismatch},

		{name: "params changed after hashing", req: func() *Request {
			r := coreRequest(t, ServiceRDP)
			r.Params.Clipboard.HostToClient = true // hash and consent still for strict
			return r
		}, want: ReasonPolicyMismatch},
		{name: "forged hash for other params", req: func() *Request {
			// Request and consent agree with each other, and are signed,
			// but the hash is not the hash of the params sent.
			r := coreRequest(t, ServiceRDP)
			r.Params = coreFullParams()
			return r
		}, want: ReasonPolicyMismatch},
		{name: "params out of bounds", req: func() *Request {
			p := StrictParams()
			p.Input.MouseRateLimitHz = 1000
			return signed(ServiceRDP, p, coreT0)
		}, want: ReasonPolicyMismatch},
		{name: "params unsorted list", req: func() *Request {
			p := StrictParams()
			p.Input.KeyBlocklist = []string{"PrintScreen", "F1"}
			return signed(ServiceRDP, p, coreT0)
		}, want: ReasonPolicyMismatch},

		{name: "unknown terms version", req: func() *Request {
			return coreSignedRequest(t, clientPriv, session, ServiceRDP, StrictParams(), "toc-0", TermsHash(), coreT0)
		}, want: ReasonTermsMismatch},
		{name: "terms hash not toc-1's", req: func() *Request {
			return coreSignedRequest(t, clientPriv, session, ServiceRDP, StrictParams(), TermsVersion, [32]byte{9}, coreT0)
		}, want: ReasonTermsMismatch},

		{name: "consent 5 min old", req: func() *Request { return signed(ServiceRDP, StrictParams(), coreT0.Add(-5*time.Minute)) }},
		{name: "consent 5 min ahead", req: func() *Request { return signed(ServiceRDP, StrictParams(), coreT0.Add(5*time.Minute)) }},
		{name: "consent too old", req: func() *Request {
			return signed(ServiceRDP, StrictParams(), coreT0.Add(-5*time.Minute-time.Millisecond))
		}, want: ReasonClockSkew},
		{name: "consent from the future", req: func() *Request { return signed(ServiceRDP, StrictParams(), coreT0.Add(5*time.Minute+time.Millisecond)) }, want: ReasonClockSkew},
		{name: "custom skew", policy: func(h *HostPolicy) { h.MaxClockSkew = time.Minute }, req: func() *Request { return signed(ServiceRDP, StrictParams(), coreT0.Add(-2*time.Minute)) }, want: ReasonClockSkew},
		{name: "host clock far ahead", req: func() *Request { return coreRequest(t, ServiceRDP) }, now: coreT0.AddDate(1, 0, 0), want: ReasonClockSkew},

		{name: "service not offered", req: func() *Request { return coreRequest(t, ServiceVNC) }, want: ReasonServiceNotOffered},
		{name: "service unknown", req: func() *Request { return signed("telnet", StrictParams(), coreT0) }, want: ReasonServiceNotOffered},
		{name: "no services", policy: func(h *HostPolicy) { h.Services = nil }, req: func() *Request { return coreRequest(t, ServiceRDP) }, want: ReasonServiceNotOffered},
		{name: "ssh without shell channels", req: func() *Request { return signed(ServiceSSH, StrictParams(), coreT0) }, want: ReasonPolicyForbidsService},
		{name: "ssh with shell channels", req: func() *Request { return signed(ServiceSSH, ssh, coreT0) }},

		{name: "denied peer", policy: func(h *HostPolicy) { h.Access, h.Peers = AccessDenylist, []peer.ID{mallory, client} }, req: func() *Request { return coreRequest(t, ServiceRDP) }, want: ReasonAccessDenied},
		{name: "denylist miss", policy: func(h *HostPolicy) { h.Access, h.Peers = AccessDenylist, []peer.ID{mallory} }, req: func() *Request { return coreRequest(t, ServiceRDP) }},
		{name: "allowlist miss", policy: func(h *HostPolicy) { h.Access, h.Peers = AccessAllowlist, []peer.ID{mallory} }, req: func() *Request { return coreRequest(t, ServiceRDP) }, want: ReasonAccessDenied},
		{name: "empty allowlist", policy: func(h *HostPolicy) { h.Access = AccessAllowlist }, req: func() *Request { return coreRequest(t, ServiceRDP) }, want: ReasonAccessDenied},
		{name: "allowlist hit", policy: func(h *HostPolicy) { h.Access, h.Peers = AccessAllowlist, []peer.ID{mallory, client} }, req: func() *Request { return coreRequest(t, ServiceRDP) }},

		// Order: the first failing check decides.
		{name: "wrong peer before bad signature", req: func() *Request { r := coreRequest(t, ServiceRDP); r.Consent.Signature = nil; return r }, remote: mallory, want: ReasonWrongPeer},
		{name: "policy mismatch before clock skew", req: func() *Request {
			r := signed(ServiceRDP, StrictParams(), coreT0.Add(time.Hour))
			r.Params.System.Camera = true
			return r
		}, want: ReasonPolicyMismatch},
		{name: "service before access", policy: func(h *HostPolicy) { h.Access = AccessAllowlist }, req: func() *Request { return coreRequest(t, ServiceVNC) }, want: ReasonServiceNotOffered},
	}
	// One row at least per reason Check can give: all but the two the host
	// decides after Check with its datastore and counters.
	covered := map[RejectReason]bool{}
	for _, tt := range tests {
		covered[tt.want] = true
	}
	for r := ReasonMalformed; r <= ReasonInternal; r++ {
		if r != ReasonSessionReused && r != ReasonHostFull {
			require.True(t, covered[r], "no Check row for %s", r.Code())
		}
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := coreHostPolicy()
			if tt.policy != nil {
				tt.policy(&h)
			}
			remote := tt.remote
			if remote == "" {
				remote = client
			}
			now := tt.now
			if now.IsZero() {
				now = coreT0
			}
			err := h.Check(tt.req(), remote, now)
			if tt.want == 0 {
				require.NoError(t, err)
				return
			}
			rej, ok := err.(*Rejection)
			require.True(t, ok, "Check must return a *Rejection, got %T: %v", err, err)
			require.Equal(t, tt.want, rej.Reason, "detail: %s", rej.Detail)
			require.NoError(t, checkDetail(rej.Detail), "detail must be sendable")
			var buf bytes.Buffer
			require.NoError(t, WriteMessage(&buf, rej.Response()))
			require.NoError(t, WriteMessage(&buf, rej.TunnelReply()))
		})
	}
}

func TestHostPolicyValidate(t *testing.T) {
	_, p := coreKey(t, "p")
	tests := []struct {
		name   string
		mutate func(h *HostPolicy)
		ok     bool
	}{
		{"default", func(*HostPolicy) {}, true},
		{"allowlist", func(h *HostPolicy) { h.Access, h.Peers = AccessAllowlist, []peer.ID{p} }, true},
		{"denylist", func(h *HostPolicy) { h.Access, h.Peers = AccessDenylist, []peer.ID{p} }, true},
		{"no services", func(h *HostPolicy) { h.Services = nil }, true},
		{"skew 24h", func(h *HostPolicy) { h.MaxClockSkew = MaxMaxClockSkew }, true},
		{"unknown service", func(h *HostPolicy) { h.Services["telnet"] = true }, false},
		{"unknown service not offered", func(h *HostPolicy) { h.Services["telnet"] = false }, false},
		{"empty access", func(h *HostPolicy) { h.Access = "" }, false},
		{"bad access", func(h *HostPolicy) { h.Access = "allow_all" }, false},
		{"allow-all with peers", func(h *HostPolicy) { h.Peers = []peer.ID{p} }, false},
		{"empty peer ID", func(h *HostPolicy) { h.Access, h.Peers = AccessDenylist, []peer.ID{""} }, false},
		{"negative skew", func(h *HostPolicy) { h.MaxClockSkew = -time.Second }, false},
		{"skew over 24h", func(h *HostPolicy) { h.MaxClockSkew = MaxMaxClockSkew + time.Second }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := coreHostPolicy()
			tt.mutate(&h)
			err := h.Validate()
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidHostPolicy)
			coreRequireSentinel(t, err, allSentinels...)
		})
	}
}

func TestRejectionFor(t *testing.T) {
	rej := &Rejection{Reason: ReasonHostFull, Detail: "2/2 slots"}
	tests := []struct {
		name string
		err  error
		want RejectReason
	}{
		{"rejection", rej, ReasonHostFull},
		{"wrapped rejection", fmt.Errorf("handling: %w", rej), ReasonHostFull},
		{"malformed", fmt.Errorf("x: %w", ErrMalformed), ReasonMalformed},
		{"frame too large", ErrFrameTooLarge, ReasonMalformed},
		{"unknown message", ErrUnknownMessage, ReasonMalformed},
		{"truncated", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), ReasonMalformed},
		{"no request at all", io.EOF, ReasonMalformed},
		{"version", fmt.Errorf("x: %w", ErrUnsupportedVersion), ReasonUnsupportedVersion},
		{"anything else", fmt.Errorf("datastore: disk on fire at /var/lib/lucid"), ReasonInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RejectionFor(tt.err)
			require.Equal(t, tt.want, got.Reason)
			if tt.want == ReasonInternal {
				require.Empty(t, got.Detail, "internal errors must not leak")
			}
		})
	}
	require.Nil(t, RejectionFor(nil))
	require.Same(t, rej, RejectionFor(rej))

	// A ReadMessage error maps onto something the host can send back.
	_, err := ReadMessage(bytes.NewReader(coreFrame(typeEnd, []byte{0xa1, 0x01, 0x01, 0x00})))
	r := RejectionFor(err)
	require.Equal(t, ReasonMalformed, r.Reason)
	require.NoError(t, WriteMessage(io.Discard, r.Response()))
}

func TestRejectionError(t *testing.T) {
	require.Equal(t, "sessions: rejected: access denied", (&Rejection{Reason: ReasonAccessDenied}).Error())
	require.Equal(t, "sessions: rejected: host has no free session slots: 2/2", (&Rejection{Reason: ReasonHostFull, Detail: "2/2"}).Error())
	long := &Rejection{Reason: ReasonInternal, Detail: strings.Repeat("\x00", 1000)}
	require.NoError(t, WriteMessage(io.Discard, long.Response()), "Response sanitizes the detail")
}
