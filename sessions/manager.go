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
	// Incident is told of policy violations (a counter, an alert). Kinds:
	// "protocol" (a message other than End on the control stream),
	// "policy" (a service the params no longer permit), "receipt" (a host
	// receipt that does not bind the request) and "metering" (a Metering
	// message the host refused and ignored).
	Incident func(kind string)

	// Meter (client) signs a metering receipt: a cumulative statement that
	// the client has received bytesReceived bytes from the host in the
	// session info describes. The node signs a consensus.MeteringReceipt
	// with the client's key. It is called at most every MeterInterval
	// while the count changes, and once more when this side ends the
	// session, and only for sessions whose host offered FeatureMetering.
	// The blob must be 1..MaxMeteringReceiptLen bytes; an error, or a blob
	// that cannot be sent, is logged and that receipt skipped, and a failed
	// write stops receipts for the session. The session goes on either
	// way. It must not call Kill or Close. nil sends no receipts.
	Meter func(info Info, bytesReceived uint64) ([]byte, error)
	// MeterInterval is the least time between two periodic receipts; zero
	// means DefaultMeterInterval.
	MeterInterval time.Duration
	// OnMetering (host) is given each receipt the host accepts: bytes
	// never decrease within a session and never exceed what the host has
	// sent. info already carries it as Metered and MeterReceipt. It is
	// called synchronously from the session's control reader, so it must
	// not block, and it must not modify receipt. A host offers
	// FeatureMetering, and so receives receipts, only when this is set.
	OnMetering func(info Info, receipt []byte, bytes uint64)

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

// DefaultMeterInterval is how often a client sends a metering receipt while
// bytes arrive, unless Config.MeterInterval says otherwise.
const DefaultMeterInterval = 10 * time.Second

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
	if cfg.MeterInterval <= 0 {
		cfg.MeterInterval = DefaultMeterInterval
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
		cfg.Host.SetStreamHandler(ProtocolSession11, m.handleSession)
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
	m.cfg.Host.RemoveStreamHandler(ProtocolSession11)
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
	// metering: the host offered FeatureMetering on this session's stream
	// (host: and has OnMetering; client: and this side has Meter).
	metering bool

	bytesIn, bytesOut atomic.Uint64
	// handedOut counts outbound bytes before they are written, so that it
	// is never below what the peer can have received (BytesOut is counted
	// after the write returns). The host checks receipts against it.
	handedOut  atomic.Uint64
	streams    atomic.Uint32
	lastActive atomic.Int64 // unix nanoseconds
	up, down   *pacer
	// peerGone: the peer ended the session or its stream broke, so there
	// is no one left to send a final receipt to.
	peerGone atomic.Bool

	// ctlMu serialises writes to control (End, Metering) and, on a
	// client, orders receipts: the count is read, signed and sent under it.
	ctlMu sync.Mutex
	// meterStopped (under ctlMu): a receipt write failed, so the stream
	// may hold part of a frame; no more receipts are sent on it.
	meterStopped bool

	mu           sync.Mutex
	lc           Lifecycle
	localAddr    string
	consent      ConsentReceipt
	receipt      *HostReceipt
	metered      uint64 // latest receipt sent (client) or accepted (host)
	meterReceipt []byte
	endOnce      sync.Once
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

// handOut adds n bytes about to be written to the handed-out counter if
// they leave this side.
func (s *session) handOut(dir Direction, n int) {
	if (dir == ClientToHost) == (s.role == RoleClient) {
		s.handedOut.Add(uint64(n))
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
		Metered: s.metered, MeterReceipt: s.meterReceipt,
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
			s.ctlMu.Lock()
			_ = s.control.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if s.role == RoleClient && s.metering && !s.peerGone.Load() {
				// The final receipt, so the host is paid up to the end.
				s.sendMeteringLocked()
			}
			_ = WriteMessage(s.control, &End{Reason: reason, Detail: detail})
			_ = s.control.Close()
			s.ctlMu.Unlock()
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
// session or the stream breaks. A host also takes Metering messages here.
func (s *session) watchControl() {
	for {
		t, body, err := readFrame(s.control)
		var msg Message
		if err == nil {
			msg, err = decodeFrame(t, body)
			if err != nil && t == typeMetering && s.role == RoleHost {
				// The frame was read whole, so the stream is still in
				// step: a bad receipt costs the client that receipt only.
				s.m.incident("metering", s, "unreadable metering message: "+err.Error())
				continue
			}
		}
		switch v := msg.(type) {
		case nil:
			s.peerGone.Store(true)
			if s.ctx.Err() == nil {
				reason := EndClientClosed
				if s.role == RoleClient {
					reason = EndHostClosed
				}
				s.end(reason, "the connection to the peer was lost")
			}
			return
		case *End:
			s.peerGone.Store(true)
			s.end(v.Reason, v.Detail)
			return
		case *Metering:
			if s.role == RoleHost {
				s.acceptMetering(v)
				continue
			}
		}
		// Nothing but End (and, to a host, Metering) may follow the
		// handshake; a peer that sends anything else cannot be trusted to
		// keep to the agreement.
		s.m.incident("protocol", s, fmt.Sprintf("unexpected %T on control stream", msg))
		s.end(EndPolicyViolation, "unexpected message on the control stream")
		return
	}
}

// acceptMetering keeps a client's receipt if it is consistent: offered,
// not below the last one, and not above what the host has handed out. A
// refused receipt is an incident and is otherwise ignored.
func (s *session) acceptMetering(mt *Metering) {
	if !s.metering {
		s.m.incident("metering", s, "metering message, but metering was not offered")
		return
	}
	// Loaded before the lock, as the bound: handedOut only grows.
	sent := s.handedOut.Load()
	s.mu.Lock()
	last := s.metered
	var refused string
	switch {
	case mt.Bytes > sent:
		refused = fmt.Sprintf("receipt claims %d bytes, the host sent at most %d", mt.Bytes, sent)
	case mt.Bytes < last:
		refused = fmt.Sprintf("receipt claims %d bytes, below the %d already attested", mt.Bytes, last)
	default:
		s.metered, s.meterReceipt = mt.Bytes, mt.Receipt
	}
	s.mu.Unlock()
	if refused != "" {
		s.m.incident("metering", s, refused)
		return
	}
	if s.m.cfg.OnMetering != nil {
		s.m.cfg.OnMetering(s.snapshot(), mt.Receipt, mt.Bytes)
	}
}

// meterLoop sends a client's periodic receipts while the session lives.
func (s *session) meterLoop() {
	t := time.NewTicker(s.m.cfg.MeterInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.ctlMu.Lock()
			if s.ctx.Err() == nil { // end sends the final receipt itself
				_ = s.control.SetWriteDeadline(time.Now().Add(s.m.cfg.HandshakeTimeout))
				s.sendMeteringLocked()
				_ = s.control.SetWriteDeadline(time.Time{})
			}
			s.ctlMu.Unlock()
		}
	}
}

// sendMeteringLocked signs and sends a receipt for the bytes received so
// far, if they changed since the last one. The caller holds ctlMu, so
// receipts leave in the order of their counts.
func (s *session) sendMeteringLocked() {
	if s.meterStopped {
		return
	}
	n := s.bytesIn.Load()
	s.mu.Lock()
	last := s.metered
	s.mu.Unlock()
	if n == last {
		return
	}
	blob, err := s.m.cfg.Meter(s.snapshot(), n)
	if err != nil {
		s.m.log.Warn("cannot sign metering receipt", "session", s.id, "bytes", n, "err", err)
		return
	}
	m := &Metering{Bytes: n, Receipt: blob}
	if err := m.validate(); err != nil {
		s.m.log.Warn("metering receipt cannot be sent", "session", s.id, "bytes", n, "err", err)
		return
	}
	if err := WriteMessage(s.control, m); err != nil {
		s.meterStopped = true
		s.m.log.Warn("cannot send metering receipt; no more receipts for this session", "session", s.id, "bytes", n, "err", err)
		return
	}
	s.mu.Lock()
	s.metered, s.meterReceipt = n, blob
	s.mu.Unlock()
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
	ProtocolSession:   8,
	ProtocolSession11: 8,
	ProtocolTunnel:    256,
}
