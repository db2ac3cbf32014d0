package sessions

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// handleSession runs the host side of a control stream: verify the
// request, reserve a slot, burn the session ID, countersign, then keep the
// stream as the session's lifeline.
func (m *Manager) handleSession(st network.Stream) {
	m.wg.Add(1)
	defer m.wg.Done()
	remote := st.Conn().RemotePeer()
	_ = st.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout))

	msg, err := ReadMessage(st)
	if err != nil {
		m.log.Debug("session request unreadable", "peer", remote, "err", err)
		m.refuse(st, RejectionFor(err).Response())
		return
	}
	req, ok := msg.(*Request)
	if !ok {
		m.reject(st, ReasonMalformed, fmt.Sprintf("expected a session request, got %T", msg))
		return
	}
	if err := m.cfg.Policy.Check(req, remote, m.now()); err != nil {
		rej := RejectionFor(err)
		m.log.Info("session refused", "session", req.Session, "peer", remote, "reason", rej.Reason.Code(), "detail", rej.Detail)
		m.refuse(st, rej.Response())
		return
	}

	s := m.newSession(req.Session, RoleHost, remote, req.Service, req.Params, m.cfg.Limits)
	// Everything end() reads is set before admit makes the session visible
	// to Kill and Close.
	s.target = m.cfg.Targets[req.Service]
	s.consent = req.Consent
	s.control = st
	// Features exist only on 1.1.0: a 1.0.0 client would refuse the key.
	var features Features
	if st.Protocol() == ProtocolSession11 && m.cfg.OnMetering != nil {
		features |= FeatureMetering
	}
	s.metering = features.Has(FeatureMetering)
	if reason, detail := m.admit(s); reason != 0 {
		m.log.Info("session refused", "session", req.Session, "peer", remote, "reason", reason.Code(), "detail", detail)
		m.reject(st, reason, detail)
		return
	}
	fresh, err := m.markSeen(context.Background(), req.Session)
	if err != nil || !fresh {
		m.release(s)
		if err != nil {
			m.log.Error("cannot record session id", "session", req.Session, "err", err)
			m.reject(st, ReasonInternal, "cannot record the session id")
			return
		}
		m.log.Info("session refused", "session", req.Session, "peer", remote, "reason", ReasonSessionReused.Code())
		m.reject(st, ReasonSessionReused, "this session id was used before")
		return
	}
	receipt, err := NewHostReceipt(m.cfg.Key, req, s.limits, m.now())
	if err != nil {
		m.release(s)
		m.log.Error("cannot sign host receipt", "session", req.Session, "err", err)
		m.reject(st, ReasonInternal, "cannot sign the host receipt")
		return
	}
	s.mu.Lock()
	s.receipt = receipt
	s.mu.Unlock()
	// The session is active on the host before the client hears so: by the
	// time the client can use it, the host lists, limits and can kill it.
	if err := s.activate(); err != nil {
		// Ended while starting (killed, or the node is closing).
		m.release(s)
		m.reject(st, ReasonInternal, "the session ended while starting")
		return
	}
	m.slotsChanged()
	if err := WriteMessage(st, &Response{Accepted: true, Receipt: receipt, Features: features}); err != nil {
		s.end(EndError, "could not send the host receipt")
		<-s.done
		return
	}
	_ = st.SetDeadline(time.Time{})
	go s.enforceLimits()
	s.watchControl()
	<-s.done
}

// admit reserves a hosted slot and registers the session.
func (m *Manager) admit(s *session) (RejectReason, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return ReasonHostFull, "host is shutting down"
	case m.hosted >= m.cfg.Slots:
		return ReasonHostFull, fmt.Sprintf("all %d session slots are in use", m.cfg.Slots)
	}
	if _, dup := m.sessions[s.id]; dup {
		return ReasonSessionReused, "this session id is in use"
	}
	m.hosted++
	m.sessions[s.id] = s
	return 0, ""
}

// release undoes admit for a session that never started.
func (m *Manager) release(s *session) {
	m.mu.Lock()
	if m.sessions[s.id] == s {
		delete(m.sessions, s.id)
		m.hosted--
	}
	m.mu.Unlock()
}

func (m *Manager) reject(st network.Stream, reason RejectReason, detail string) {
	m.refuse(st, &Response{Reason: reason, Detail: detail})
}

func (m *Manager) refuse(st network.Stream, resp *Response) {
	_ = WriteMessage(st, resp)
	_ = st.Close()
}

// handleTunnel runs the host side of one tunnel stream: it must name a
// live session of the same peer, and the agreed policy must still permit
// the service; then the stream is spliced to the local service.
func (m *Manager) handleTunnel(st network.Stream) {
	m.wg.Add(1)
	defer m.wg.Done()
	_ = st.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	refuse := func(reason RejectReason, detail string) {
		_ = WriteMessage(st, &TunnelReply{Reason: reason, Detail: detail})
		_ = st.Close()
	}
	msg, err := ReadMessage(st)
	if err != nil {
		rej := RejectionFor(err)
		refuse(rej.Reason, rej.Detail)
		return
	}
	open, ok := msg.(*TunnelOpen)
	if !ok {
		refuse(ReasonMalformed, fmt.Sprintf("expected a tunnel header, got %T", msg))
		return
	}
	m.mu.Lock()
	s := m.sessions[open.Session]
	m.mu.Unlock()
	if s == nil || s.role != RoleHost || s.ctx.Err() != nil {
		refuse(ReasonMalformed, "no live session with this id")
		return
	}
	if st.Conn().RemotePeer() != s.peer {
		refuse(ReasonWrongPeer, "the session belongs to another peer")
		return
	}
	if err := s.params.Permits(s.service); err != nil {
		m.incident("policy", s, err.Error())
		refuse(ReasonPolicyForbidsService, err.Error())
		s.end(EndPolicyViolation, err.Error())
		return
	}
	dialCtx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	conn, err := m.cfg.DialTarget(dialCtx, s.target)
	cancel()
	if err != nil {
		refuse(ReasonInternal, fmt.Sprintf("the host's %s service is not reachable", s.service))
		m.log.Warn("session target unreachable", "session", s.id, "service", s.service, "target", s.target, "err", err)
		return
	}
	local, ok := conn.(halfCloser)
	if !ok {
		_ = conn.Close()
		refuse(ReasonInternal, "target connection cannot half-close")
		return
	}
	if err := WriteMessage(st, &TunnelReply{OK: true}); err != nil {
		_ = conn.Close()
		_ = st.Reset()
		return
	}
	_ = st.SetDeadline(time.Time{})
	s.streams.Add(1)
	s.touch(m.now())
	s.splice(s.ctx, local, st, HostToClient)
}
