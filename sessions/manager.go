package sessions

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Event kinds that observers receive.
type EventKind string

const (
	EventStarted EventKind = "started"
	EventEnded   EventKind = "ended"
)

// Event is a lifecycle change of a session, with its counters at that
// moment: started when the host countersigned, ended with the reason and
// the bytes carried in each direction.
type Event struct {
	Kind EventKind
	At   time.Time
	Info Info
}

// Observer receives session events: the media pipeline and metadata
// replication subscribe here. It is called synchronously and must not block.
type Observer interface {
	SessionEvent(Event)
}

// Config sets up a Manager. Host fields are ignored when Hosting is false.
type Config struct {
	Host host.Host
	Key  crypto.PrivKey
	// Store keeps seen session IDs (forever) and session records. It
	// should be a namespace of the node's datastore.
	Store datastore.Datastore

	// Hosting enables the host side: this node accepts sessions.
	Hosting bool
	Policy  HostPolicy
	// Targets maps each offered service to the local address the host
	// forwards it to, e.g. "ssh" → "127.0.0.1:22".
	Targets map[string]string
	// Slots bounds concurrent hosted sessions.
	Slots  uint32
	Limits Limits

	// Reach connects to a peer by ID (through the DHT) before a session is
	// opened to it.
	Reach func(ctx context.Context, id peer.ID) error
	// DialTarget opens the connection to a host's local service; nil means
	// a TCP dial.
	DialTarget func(ctx context.Context, addr string) (net.Conn, error)

	Recorder Recorder
	Observer Observer
	// SlotsChanged is told the number of free slots whenever it changes.
	SlotsChanged func(free uint32)
	// Incident is told of policy violations (a counter, an alert).
	Incident func(kind string)

	// HandshakeTimeout bounds how long a peer may take to send its request
	// or tunnel header; zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	Log  *slog.Logger
	Now  func() time.Time
	Rand io.Reader
}

// DefaultHandshakeTimeout bounds how long a peer may take to send its
// request or tunnel header: a stalled peer holds a stream no longer.
const DefaultHandshakeTimeout = 10 * time.Second

// Manager runs the sessions of a node, as host and as client.
type Manager struct {
	cfg      Config
	self     peer.ID
	log      *slog.Logger
	now      func() time.Time
	recorder Recorder

	mu       sync.Mutex
	sessions map[ID]*session
	hosted   uint32 // active or starting hosted sessions (slots in use)
	closed   bool

	seenMu sync.Mutex // serialises the check-and-set of seen session IDs
	wg     sync.WaitGroup
}

// NewManager starts the session subsystem. With Hosting it registers the
// session and tunnel protocols on the host.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Host == nil || cfg.Key == nil || cfg.Store == nil {
		return nil, errors.New("sessions: host, key and store are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Recorder == nil {
		cfg.Recorder = NopRecorder{}
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.DialTarget == nil {
		var d net.Dialer
		cfg.DialTarget = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	if cfg.Hosting {
		if err := cfg.Policy.Validate(); err != nil {
			return nil, err
		}
		for svc := range cfg.Policy.Services {
			if cfg.Policy.Services[svc] && cfg.Targets[svc] == "" {
				return nil, fmt.Errorf("sessions: service %s is offered but has no target address", svc)
			}
		}
	}
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, self: self, log: cfg.Log, now: cfg.Now, recorder: cfg.Recorder, sessions: map[ID]*session{}}
	if err := m.failInterrupted(context.Background()); err != nil {
		return nil, err
	}
	if cfg.Hosting {
		cfg.Host.SetStreamHandler(ProtocolSession, m.handleSession)
		cfg.Host.SetStreamHandler(ProtocolTunnel, m.handleTunnel)
		m.slotsChanged()
	} else {
		cfg.Host.SetStreamHandler(ProtocolTunnel, func(s network.Stream) { _ = s.Reset() })
	}
	return m, nil
}

// Close ends every session (host shutdown) and waits for their goroutines.
func (m *Manager) Close() error {
	m.cfg.Host.RemoveStreamHandler(ProtocolSession)
	m.cfg.Host.RemoveStreamHandler(ProtocolTunnel)
	m.mu.Lock()
	m.closed = true
	live := make([]*session, 0, len(m.sessions))
	for _, s := range m.sessions {
		live = append(live, s)
	}
	m.mu.Unlock()
	for _, s := range live {
		s.end(EndHostShutdown, "node shutting down")
	}
	m.wg.Wait()
	return nil
}

// ErrNotFound means no session has that ID.
var ErrNotFound = errors.New("sessions: no such session")

// List returns every session this node knows, live and past, newest first.
func (m *Manager) List(ctx context.Context) ([]Info, error) {
	byID := map[ID]Info{}
	res, err := m.cfg.Store.Query(ctx, query.Query{Prefix: infoPrefix})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return nil, r.Error
		}
		info, err := DecodeInfo(r.Value)
		if err != nil {
			m.log.Warn("skipping unreadable session record", "key", r.Key, "err", err)
			continue
		}
		byID[info.ID] = info
	}
	m.mu.Lock()
	for id, s := range m.sessions {
		byID[id] = s.snapshot()
	}
	m.mu.Unlock()
	out := make([]Info, 0, len(byID))
	for _, info := range byID {
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
	return out, nil
}

// Get returns one session.
func (m *Manager) Get(ctx context.Context, id ID) (Info, error) {
	m.mu.Lock()
	s, live := m.sessions[id]
	m.mu.Unlock()
	if live {
		return s.snapshot(), nil
	}
	b, err := m.cfg.Store.Get(ctx, infoKey(id))
	if errors.Is(err, datastore.ErrNotFound) {
		return Info{}, fmt.Errorf("%s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Info{}, err
	}
	return DecodeInfo(b)
}

// Kill ends a live session: on a host with EndKilled, on a client as if
// the user closed it.
func (m *Manager) Kill(ctx context.Context, id ID) (Info, error) {
	m.mu.Lock()
	s, live := m.sessions[id]
	m.mu.Unlock()
	if !live {
		info, err := m.Get(ctx, id)
		if err != nil {
			return Info{}, err
		}
		return info, fmt.Errorf("session %s is already %s", id, info.State)
	}
	reason := EndKilled
	if s.role == RoleClient {
		reason = EndClientClosed
	}
	s.end(reason, "")
	<-s.done
	return s.snapshot(), nil
}

// Datastore layout under the manager's namespace.
const (
	seenPrefix = "/seen"
	infoPrefix = "/info"
)

func seenKey(id ID) datastore.Key { return datastore.NewKey(seenPrefix + "/" + id.String()) }
func infoKey(id ID) datastore.Key { return datastore.NewKey(infoPrefix + "/" + id.String()) }

// markSeen records a session ID as used, durably, or reports that it was
// used before. A crash after this point burns the ID, never reuses it.
func (m *Manager) markSeen(ctx context.Context, id ID) (fresh bool, err error) {
	m.seenMu.Lock()
	defer m.seenMu.Unlock()
	key := seenKey(id)
	if ok, err := m.cfg.Store.Has(ctx, key); err != nil || ok {
		return false, err
	}
	if err := m.cfg.Store.Put(ctx, key, nil); err != nil {
		return false, err
	}
	return true, m.cfg.Store.Sync(ctx, key)
}

// persist writes a session's record; ended sessions are kept for listing.
func (m *Manager) persist(s *session) {
	info := s.snapshot()
	b, err := info.Encode()
	if err == nil {
		err = m.cfg.Store.Put(context.Background(), infoKey(s.id), b)
	}
	if err != nil {
		m.log.Error("cannot store session record", "session", s.id, "err", err)
	}
}

// failInterrupted marks sessions that were live when the node stopped
// without ending them (a crash) as failed.
func (m *Manager) failInterrupted(ctx context.Context) error {
	infos, err := m.List(ctx)
	if err != nil {
		return err
	}
	now := m.now()
	for _, info := range infos {
		if info.State != StateCreated && info.State != StateActive {
			continue
		}
		info.State, info.Reason, info.EndedAt = StateFailed, "node stopped while the session was live", now
		b, err := info.Encode()
		if err != nil {
			return err
		}
		if err := m.cfg.Store.Put(ctx, infoKey(info.ID), b); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) emit(kind EventKind, s *session) {
	if m.cfg.Observer != nil {
		m.cfg.Observer.SessionEvent(Event{Kind: kind, At: m.now(), Info: s.snapshot()})
	}
}

func (m *Manager) incident(kind string, s *session, detail string) {
	m.log.Warn("session incident", "incident", kind, "session", s.id, "peer", s.peer, "detail", detail)
	if m.cfg.Incident != nil {
		m.cfg.Incident(kind)
	}
}

func (m *Manager) slotsChanged() {
	if m.cfg.SlotsChanged == nil {
		return
	}
	m.mu.Lock()
	free := m.cfg.Slots - min(m.hosted, m.cfg.Slots)
	m.mu.Unlock()
	m.cfg.SlotsChanged(free)
}

// session is one live session, either role.
type session struct {
	m       *Manager
	id      ID
	role    Role
	peer    peer.ID
	service string
	params  ConnectionParams
	limits  Limits
	target  string // host: the local service address

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when end has finished

	control  network.Stream
	listener net.Listener // client

	bytesIn, bytesOut atomic.Uint64
	streams           atomic.Uint32
	lastActive        atomic.Int64 // unix nanoseconds
	up, down          *pacer

	mu        sync.Mutex
	lc        Lifecycle
	localAddr string
	consent   ConsentReceipt
	receipt   *HostReceipt
	endOnce   sync.Once
}

func (m *Manager) newSession(id ID, role Role, remote peer.ID, service string, params ConnectionParams, limits Limits) *session {
	ctx, cancel := context.WithCancel(context.Background())
	now := m.now()
	s := &session{
		m: m, id: id, role: role, peer: remote, service: service, params: params, limits: limits,
		ctx: ctx, cancel: cancel, done: make(chan struct{}), lc: NewLifecycle(now),
	}
	if limits.BandwidthBps > 0 {
		bytesPerSec := limits.BandwidthBps / 8
		burst := max(bytesPerSec/4, tunnelBufSize)
		s.up = &pacer{bucket: NewTokenBucket(bytesPerSec, burst, now)}
		s.down = &pacer{bucket: NewTokenBucket(bytesPerSec, burst, now)}
	}
	s.lastActive.Store(now.UnixNano())
	return s
}

func (s *session) pacerFor(dir Direction) *pacer {
	if dir == ClientToHost {
		return s.up
	}
	return s.down
}

func (s *session) protectTag() string { return "lucid-session:" + s.id.String() }

func (s *session) touch(now time.Time) { s.lastActive.Store(now.UnixNano()) }

// count adds n bytes to the counter of this side's point of view.
func (s *session) count(dir Direction, n int) {
	inbound := (dir == ClientToHost) == (s.role == RoleHost)
	if inbound {
		s.bytesIn.Add(uint64(n))
	} else {
		s.bytesOut.Add(uint64(n))
	}
}

func (s *session) snapshot() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Info{
		ID: s.id, Role: s.role, Peer: s.peer, Service: s.service,
		State: s.lc.State, Reason: s.lc.Reason,
		CreatedAt: s.lc.CreatedAt, StartedAt: s.lc.StartedAt, EndedAt: s.lc.EndedAt,
		BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(), Streams: s.streams.Load(),
		Limits: s.limits, LocalAddr: s.localAddr,
		PolicyHash: s.params.Hash(), Params: s.params,
		Consent: s.consent, Receipt: s.receipt,
	}
}

func (s *session) activate() error {
	s.mu.Lock()
	err := s.lc.Activate(s.m.now())
	s.mu.Unlock()
	if err != nil {
		return err
	}
	// The connection manager must not trim a connection that carries a
	// session, however many peers the node has.
	s.m.cfg.Host.ConnManager().Protect(s.peer, s.protectTag())
	s.m.persist(s)
	s.m.emit(EventStarted, s)
	s.m.log.Info("session started", "session", s.id, "role", s.role, "peer", s.peer, "service", s.service)
	return nil
}

// end stops the session once, from any goroutine: it records the reason,
// tells the other side, closes every tunnel stream and frees the slot.
func (s *session) end(reason EndReason, detail string) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		if err := s.lc.End(reason, detail, s.m.now()); err != nil {
			_ = s.lc.Fail(fmt.Sprintf("%s: %s", reason, detail), s.m.now())
		}
		s.mu.Unlock()
		s.cancel()
		s.m.cfg.Host.ConnManager().Unprotect(s.peer, s.protectTag())
		if s.listener != nil {
			_ = s.listener.Close()
		}
		if s.control != nil {
			_ = s.control.SetWriteDeadline(time.Now().Add(2 * time.Second))
			_ = WriteMessage(s.control, &End{Reason: reason, Detail: detail})
			_ = s.control.Close()
		}
		s.m.mu.Lock()
		delete(s.m.sessions, s.id)
		if s.role == RoleHost {
			s.m.hosted--
		}
		s.m.mu.Unlock()
		if s.role == RoleHost {
			s.m.slotsChanged()
		}
		s.m.persist(s)
		s.m.emit(EventEnded, s)
		info := s.snapshot()
		s.m.log.Info("session ended", "session", s.id, "role", s.role, "reason", reason.String(), "detail", detail,
			"bytes_in", info.BytesIn, "bytes_out", info.BytesOut, "streams", info.Streams)
		close(s.done)
	})
}

// watchControl reads the control stream until the other side ends the
// session or the stream breaks.
func (s *session) watchControl() {
	msg, err := ReadMessage(s.control)
	switch e, isEnd := msg.(*End); {
	case err != nil:
		if s.ctx.Err() == nil {
			reason := EndClientClosed
			if s.role == RoleClient {
				reason = EndHostClosed
			}
			s.end(reason, "the connection to the peer was lost")
		}
	case isEnd:
		s.end(e.Reason, e.Detail)
	default:
		// Nothing but End may follow the handshake; a peer that sends
		// anything else cannot be trusted to keep to the agreement.
		s.m.incident("protocol", s, fmt.Sprintf("unexpected %T on control stream", msg))
		s.end(EndPolicyViolation, "unexpected message on the control stream")
	}
}

// enforceLimits ends the session at its maximum duration or after it has
// been idle for the idle timeout.
func (s *session) enforceLimits() {
	var maxTimer <-chan time.Time
	if s.limits.MaxDuration > 0 {
		t := time.NewTimer(s.limits.MaxDuration)
		defer t.Stop()
		maxTimer = t.C
	}
	var idleTick <-chan time.Time
	if s.limits.IdleTimeout > 0 {
		t := time.NewTicker(min(s.limits.IdleTimeout/4, time.Second))
		defer t.Stop()
		idleTick = t.C
	}
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-maxTimer:
			s.end(EndMaxDuration, fmt.Sprintf("reached the maximum duration of %s", s.limits.MaxDuration))
			return
		case <-idleTick:
			idle := s.m.now().Sub(time.Unix(0, s.lastActive.Load()))
			if idle >= s.limits.IdleTimeout {
				s.end(EndIdleTimeout, fmt.Sprintf("no traffic for %s", idle.Round(time.Second)))
				return
			}
		}
	}
}

// Active counts live sessions by role.
func (m *Manager) Active() (hosted, client int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sessions {
		if s.role == RoleHost {
			hosted++
		} else {
			client++
		}
	}
	return hosted, client
}

// InboundStreamLimits caps what one peer may hold open on a host: a few
// session handshakes at a time, and tunnel streams for many desktop
// connections. The node passes them to the libp2p resource manager.
var InboundStreamLimits = map[protocol.ID]int{
	ProtocolSession: 8,
	ProtocolTunnel:  256,
}
