package sessions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ConnectOptions is what a client asks of a host.
type ConnectOptions struct {
	Service string
	// Params is the client's control policy; zero means ParamsForService.
	Params *ConnectionParams
	// Listen is the local address for the user's desktop client; empty
	// means 127.0.0.1 on a free port.
	Listen string
}

// RejectedError is a host's refusal, with its reason code.
type RejectedError struct {
	Host   peer.ID
	Reason RejectReason
	Detail string
}

func (e *RejectedError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("host %s refused the session: %s", e.Host, e.Reason)
	}
	return fmt.Sprintf("host %s refused the session: %s (%s)", e.Host, e.Reason, e.Detail)
}

// Connect opens a session to a host known only by its peer ID: it reaches
// the host, sends a signed request, checks the host's countersignature
// against what was asked, and listens locally for the user's desktop
// client. The session lives until either side ends it.
func (m *Manager) Connect(ctx context.Context, hostID peer.ID, opts ConnectOptions) (Info, error) {
	params := ParamsForService(opts.Service)
	if opts.Params != nil {
		params = *opts.Params
	}
	if err := params.Validate(); err != nil {
		return Info{}, err
	}
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	id, err := NewID(m.cfg.Rand)
	if err != nil {
		return Info{}, err
	}
	// NewRequest refuses locally what the host would refuse: a service
	// the client's own policy forbids.
	req, err := NewRequest(m.cfg.Key, id, opts.Service, params, m.now())
	if err != nil {
		return Info{}, fmt.Errorf("session request: %w", err)
	}

	if m.cfg.Reach != nil {
		if err := m.cfg.Reach(ctx, hostID); err != nil {
			return Info{}, fmt.Errorf("reach host %s: %w", hostID, err)
		}
	}
	// Newest first: a host that predates 1.1.0 answers on 1.0.0.
	st, err := m.cfg.Host.NewStream(ctx, hostID, ProtocolSession11, ProtocolSession)
	if err != nil {
		return Info{}, fmt.Errorf("open session stream to %s: %w", hostID, err)
	}
	_ = st.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	resp, err := exchange(st, req)
	if err != nil {
		_ = st.Reset()
		return Info{}, fmt.Errorf("session handshake with %s: %w", hostID, err)
	}
	if !resp.Accepted {
		_ = st.Close()
		return Info{}, &RejectedError{Host: hostID, Reason: resp.Reason, Detail: resp.Detail}
	}

	s := m.newSession(id, RoleClient, hostID, opts.Service, params, resp.Receipt.Limits)
	s.consent, s.receipt, s.control = req.Consent, resp.Receipt, st
	// Features mean something only on 1.1.0; an old host sends none, and
	// is never sent a message it does not know.
	s.metering = m.cfg.Meter != nil && st.Protocol() == ProtocolSession11 && resp.Features.Has(FeatureMetering)
	if err := resp.Receipt.VerifyFor(hostID, req); err != nil {
		// The host signed something other than what we agreed to: the
		// session is void, and the evidence is logged.
		m.incident("receipt", s, err.Error())
		s.end(EndPolicyViolation, err.Error())
		return s.snapshot(), err
	}
	_ = st.SetDeadline(time.Time{})

	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		s.end(EndError, "cannot listen locally: "+err.Error())
		return s.snapshot(), fmt.Errorf("listen on %s: %w", opts.Listen, err)
	}
	s.listener = ln
	s.mu.Lock()
	s.localAddr = ln.Addr().String()
	s.mu.Unlock()

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		s.end(EndError, "client shutting down")
		return s.snapshot(), errors.New("sessions: manager closed")
	}
	m.sessions[id] = s
	m.mu.Unlock()
	if err := s.activate(); err != nil {
		s.end(EndError, err.Error())
		return s.snapshot(), err
	}
	m.wg.Add(2)
	go func() { defer m.wg.Done(); s.watchControl() }()
	go func() { defer m.wg.Done(); s.acceptLocal() }()
	if s.metering {
		m.wg.Go(s.meterLoop)
	}
	return s.snapshot(), nil
}

func exchange(st network.Stream, req *Request) (*Response, error) {
	if err := WriteMessage(st, req); err != nil {
		return nil, err
	}
	msg, err := ReadMessage(st)
	if err != nil {
		return nil, err
	}
	resp, ok := msg.(*Response)
	if !ok {
		return nil, fmt.Errorf("expected a session response, got %T", msg)
	}
	if resp.Accepted && resp.Receipt == nil {
		return nil, errors.New("host accepted without a receipt")
	}
	return resp, nil
}

// acceptLocal carries each connection of the user's desktop client over a
// tunnel stream of its own.
func (s *session) acceptLocal() {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := s.listener.Accept()
		if err != nil {
			if s.ctx.Err() == nil {
				s.end(EndError, "local listener failed: "+err.Error())
			}
			return
		}
		conns.Go(func() { s.tunnelOut(c) })
	}
}

func (s *session) tunnelOut(c net.Conn) {
	local, ok := c.(halfCloser)
	if !ok {
		_ = c.Close()
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.m.cfg.HandshakeTimeout)
	st, err := s.m.cfg.Host.NewStream(ctx, s.peer, ProtocolTunnel)
	cancel()
	if err != nil {
		s.m.log.Warn("cannot open tunnel stream", "session", s.id, "err", err)
		_ = c.Close()
		return
	}
	_ = st.SetDeadline(time.Now().Add(s.m.cfg.HandshakeTimeout))
	if err := WriteMessage(st, &TunnelOpen{Session: s.id}); err != nil {
		_ = st.Reset()
		_ = c.Close()
		return
	}
	msg, err := ReadMessage(st)
	reply, ok := msg.(*TunnelReply)
	if err != nil || !ok || !reply.OK {
		detail := "no reply"
		if ok {
			detail = fmt.Sprintf("%s: %s", reply.Reason, reply.Detail)
		} else if err != nil {
			detail = err.Error()
		}
		s.m.log.Warn("host refused a tunnel stream", "session", s.id, "detail", detail)
		_ = st.Reset()
		_ = c.Close()
		return
	}
	_ = st.SetDeadline(time.Time{})
	s.streams.Add(1)
	s.splice(s.ctx, local, st, ClientToHost)
}
