package sessions

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	badger4 "github.com/ipfs/go-ds-badger4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/p2p"
)

// echoServer is a desktop service stand-in: it echoes what it reads and
// half-closes when the client does.
func echoServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return l.Addr().String()
}

type testPeer struct {
	host host.Host
	key  crypto.PrivKey
	id   peer.ID
}

func newPeer(t testing.TB) testPeer {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	require.NoError(t, err)
	h, err := p2p.NewHost(p2p.HostConfig{
		Identity:           key,
		Listen:             []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Transports:         []p2p.Transport{p2p.TCP()},
		Profile:            p2p.ProfilePi,
		ProtocolPeerLimits: InboundStreamLimits,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return testPeer{host: h, key: key, id: h.ID()}
}

type hostOpts struct {
	handshake time.Duration
	slots     uint32
	limits    Limits
	policy    HostPolicy
	target    string
	store     datastore.Batching
	recorder  Recorder
	observer  Observer
	// metering tests
	onMetering func(Info, []byte, uint64)
	incident   func(string)
}

func startHost(t testing.TB, o hostOpts) (testPeer, *Manager) {
	t.Helper()
	p := newPeer(t)
	if o.slots == 0 {
		o.slots = 4
	}
	if o.policy.Access == "" {
		o.policy.Access = "allow-all"
	}
	if o.policy.Services == nil {
		o.policy.Services = map[string]bool{ServiceRDP: true, ServiceSSH: true, ServiceVNC: true}
	}
	if o.store == nil {
		o.store = dssync.MutexWrap(datastore.NewMapDatastore())
	}
	if o.target == "" {
		o.target = echoServer(t)
	}
	m, err := NewManager(Config{
		Host: p.host, Key: p.key, Store: o.store, Hosting: true, Policy: o.policy,
		Targets: map[string]string{ServiceRDP: o.target, ServiceSSH: o.target, ServiceVNC: o.target},
		Slots:   o.slots, Limits: o.limits, Recorder: o.recorder, Observer: o.observer,
		HandshakeTimeout: o.handshake, OnMetering: o.onMetering, Incident: o.incident,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return p, m
}

func startClient(t testing.TB, hostPeer testPeer) (testPeer, *Manager) {
	t.Helper()
	return startClientWith(t, hostPeer, nil)
}

// startClientWith is startClient with a chance to adjust the config, e.g.
// to set Meter; tweak may use the client's peer.
func startClientWith(t testing.TB, hostPeer testPeer, tweak func(p testPeer, c *Config)) (testPeer, *Manager) {
	t.Helper()
	p := newPeer(t)
	cfg := Config{
		Host: p.host, Key: p.key, Store: dssync.MutexWrap(datastore.NewMapDatastore()),
		Reach: func(ctx context.Context, id peer.ID) error {
			return p.host.Connect(ctx, peer.AddrInfo{ID: hostPeer.id, Addrs: hostPeer.host.Addrs()})
		},
	}
	if tweak != nil {
		tweak(p, &cfg)
	}
	m, err := NewManager(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return p, m
}

func connect(t testing.TB, m *Manager, hostID peer.ID, service string) Info {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := m.Connect(ctx, hostID, ConnectOptions{Service: service})
	require.NoError(t, err)
	return info
}

// roundTrip sends data through the tunnel and checks the echo.
func roundTrip(t testing.TB, addr string, data []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.Equal(t, sha256.Sum256(data), sha256.Sum256(got), "echo of %d bytes came back as %d", len(data), len(got))
}

func waitState(t testing.TB, m *Manager, id ID, want State) Info {
	t.Helper()
	var info Info
	require.Eventually(t, func() bool {
		var err error
		info, err = m.Get(context.Background(), id)
		return err == nil && info.State == want
	}, 20*time.Second, 10*time.Millisecond, "session %s never reached %s (last: %+v)", id, want, info.State)
	return info
}

type recorded struct {
	mu    sync.Mutex
	bytes map[Direction]int
}

func (r *recorded) Record(_ ID, dir Direction, _ time.Time, p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bytes[dir] += len(p)
}

type events struct {
	mu   sync.Mutex
	list []EventKind
}

func (e *events) SessionEvent(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev.Kind)
}

func (e *events) kinds() []EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]EventKind(nil), e.list...)
}

func TestSessionCarriesBytesBothWaysWithReceipts(t *testing.T) {
	rec := &recorded{bytes: map[Direction]int{}}
	ev := &events{}
	hostP, hostM := startHost(t, hostOpts{recorder: rec, observer: ev})
	clientP, clientM := startClient(t, hostP)
	info := connect(t, clientM, hostP.id, ServiceRDP)

	require.Equal(t, StateActive, info.State)
	require.Equal(t, RoleClient, info.Role)
	require.NotEmpty(t, info.LocalAddr)
	require.NoError(t, info.Consent.Verify())
	require.NotNil(t, info.Receipt)
	require.NoError(t, info.Receipt.Verify())
	require.Equal(t, hostP.id, info.Receipt.Host)
	require.Equal(t, clientP.id, info.Receipt.Client)
	require.Equal(t, info.Consent.Hash(), info.Receipt.ConsentHash)

	data := make([]byte, 3<<20)
	_, _ = rand.Read(data)
	roundTrip(t, info.LocalAddr, data)

	hostInfo, err := hostM.Get(context.Background(), info.ID)
	require.NoError(t, err)
	require.Equal(t, RoleHost, hostInfo.Role)
	require.Equal(t, clientP.id, hostInfo.Peer)
	require.EqualValues(t, len(data), hostInfo.BytesIn)
	require.EqualValues(t, len(data), hostInfo.BytesOut)
	require.EqualValues(t, 1, hostInfo.Streams)
	rec.mu.Lock()
	require.Equal(t, len(data), rec.bytes[ClientToHost], "the recorder saw every byte up")
	require.Equal(t, len(data), rec.bytes[HostToClient], "and every byte down")
	rec.mu.Unlock()

	killed, err := hostM.Kill(context.Background(), info.ID)
	require.NoError(t, err)
	require.Equal(t, StateEnded, killed.State)
	clientEnd := waitState(t, clientM, info.ID, StateEnded)
	require.Contains(t, clientEnd.Reason, EndKilled.String())
	require.EqualValues(t, len(data), clientEnd.BytesIn)
	require.Equal(t, []EventKind{EventStarted, EventEnded}, ev.kinds())

	// The listener is gone with the session.
	_, err = net.DialTimeout("tcp", info.LocalAddr, time.Second)
	require.Error(t, err)
}

func TestHalfCloseReachesTheService(t *testing.T) {
	// A service that answers only after the client has finished sending,
	// as `ssh host cmd < input` needs.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				fmt.Fprintf(c, "got %d bytes", n)
			}()
		}
	}()
	hostP, _ := startHost(t, hostOpts{target: l.Addr().String()})
	_, clientM := startClient(t, hostP)
	info := connect(t, clientM, hostP.id, ServiceRDP)

	c, err := net.Dial("tcp", info.LocalAddr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(bytes.Repeat([]byte("x"), 100000))
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	reply, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "got 100000 bytes", string(reply))
}

func TestManyConcurrentConnectionsInOneSession(t *testing.T) {
	hostP, hostM := startHost(t, hostOpts{})
	_, clientM := startClient(t, hostP)
	info := connect(t, clientM, hostP.id, ServiceVNC)
	const conns = 64
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			data := make([]byte, 64<<10+i)
			_, _ = rand.Read(data)
			roundTrip(t, info.LocalAddr, data)
		})
	}
	wg.Wait()
	hostInfo, err := hostM.Get(context.Background(), info.ID)
	require.NoError(t, err)
	require.EqualValues(t, conns, hostInfo.Streams)
}

func TestHostEndsSessionAtMaxDuration(t *testing.T) {
	hostP, hostM := startHost(t, hostOpts{limits: Limits{MaxDuration: time.Second}})
	_, clientM := startClient(t, hostP)
	info := connect(t, clientM, hostP.id, ServiceRDP)
	hostEnd := waitState(t, hostM, info.ID, StateEnded)
	require.Contains(t, hostEnd.Reason, "maximum duration")
	clientEnd := waitState(t, clientM, info.ID, StateEnded)
	require.Contains(t, clientEnd.Reason, EndMaxDuration.String())
}

func TestHostEndsIdleSession(t *testing.T) {
	hostP, hostM := startHost(t, hostOpts{limits: Limits{IdleTimeout: time.Second}})
	_, clientM := startClient(t, hostP)
	info := connect(t, clientM, hostP.id, ServiceRDP)
	hostEnd := waitState(t, hostM, info.ID, StateEnded)
	require.Contains(t, hostEnd.Reason, "no traffic")
}

func TestFreeSlotsFollowSessions(t *testing.T) {
	var mu sync.Mutex
	var seen []uint32
	p := newPeer(t)
	target := echoServer(t)
	hostM, err := NewManager(Config{
		Host: p.host, Key: p.key, Store: dssync.MutexWrap(datastore.NewMapDatastore()), Hosting: true,
		Policy:  HostPolicy{Access: "allow-all", Services: map[string]bool{ServiceRDP: true}},
		Targets: map[string]string{ServiceRDP: target}, Slots: 2,
		SlotsChanged: func(free uint32) { mu.Lock(); seen = append(seen, free); mu.Unlock() },
	})
	require.NoError(t, err)
	defer hostM.Close()
	_, clientM := startClient(t, p)
	a := connect(t, clientM, p.id, ServiceRDP)
	b := connect(t, clientM, p.id, ServiceRDP)
	_, err = clientM.Connect(context.Background(), p.id, ConnectOptions{Service: ServiceRDP})
	var rej *RejectedError
	require.ErrorAs(t, err, &rej)
	require.Equal(t, ReasonHostFull, rej.Reason)
	_, err = hostM.Kill(context.Background(), a.ID)
	require.NoError(t, err)
	_, err = hostM.Kill(context.Background(), b.ID)
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []uint32{2, 1, 0, 1, 2}, seen)
}

// rawRequest sends a hand-made request on the session protocol and
// returns the host's answer.
func rawRequest(t testing.TB, from testPeer, to testPeer, req *Request) *Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, from.host.Connect(ctx, peer.AddrInfo{ID: to.id, Addrs: to.host.Addrs()}))
	st, err := from.host.NewStream(ctx, to.id, ProtocolSession)
	require.NoError(t, err)
	defer st.Close()
	resp, err := exchange(st, req)
	require.NoError(t, err)
	return resp
}

func signedRequest(t testing.TB, p testPeer, id ID, service string, params ConnectionParams, at time.Time) *Request {
	t.Helper()
	req := &Request{
		Version: 1, Session: id, Service: service, Params: params, PolicyHash: params.Hash(),
		TermsVersion: TermsVersion, TermsHash: TermsHash(),
		Consent: ConsentReceipt{User: p.id, Session: id, PolicyHash: params.Hash(), TermsHash: TermsHash(), AcceptedAt: at},
	}
	require.NoError(t, req.Consent.Sign(p.key))
	return req
}

func TestRefusalsEachHaveTheirOwnReason(t *testing.T) {
	denied := newPeer(t)
	hostP, _ := startHost(t, hostOpts{policy: HostPolicy{
		Access: "denylist", Peers: []peer.ID{denied.id},
		Services: map[string]bool{ServiceRDP: true, ServiceSSH: true},
	}})
	client := newPeer(t)
	newID := func() ID { id, err := NewID(rand.Reader); require.NoError(t, err); return id }
	now := time.Now()

	reused := newID()
	require.True(t, rawRequest(t, client, hostP, signedRequest(t, client, reused, ServiceRDP, ParamsForService(ServiceRDP), now)).Accepted)

	badSig := signedRequest(t, client, newID(), ServiceRDP, ParamsForService(ServiceRDP), now)
	badSig.Consent.Signature[0] ^= 0xff

	noShell := ParamsForService(ServiceSSH)
	noShell.System.ShellChannels = false

	tests := []struct {
		name string
		from testPeer
		req  *Request
		want RejectReason
	}{
		{"reused session id", client, signedRequest(t, client, reused, ServiceRDP, ParamsForService(ServiceRDP), now), ReasonSessionReused},
		{"denied peer", denied, signedRequest(t, denied, newID(), ServiceRDP, ParamsForService(ServiceRDP), now), ReasonAccessDenied},
		{"bad signature", client, badSig, ReasonBadSignature},
		{"consent of another peer", denied, signedRequest(t, client, newID(), ServiceRDP, ParamsForService(ServiceRDP), now), ReasonWrongPeer},
		{"service not offered", client, signedRequest(t, client, newID(), ServiceVNC, ParamsForService(ServiceVNC), now), ReasonServiceNotOffered},
		{"policy forbids ssh", client, signedRequest(t, client, newID(), ServiceSSH, noShell, now), ReasonPolicyForbidsService},
		{"stale consent", client, signedRequest(t, client, newID(), ServiceRDP, ParamsForService(ServiceRDP), now.Add(-time.Hour)), ReasonClockSkew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := rawRequest(t, tt.from, hostP, tt.req)
			require.False(t, resp.Accepted)
			require.Equal(t, tt.want, resp.Reason, "%s: %s", resp.Reason, resp.Detail)
			require.NotEmpty(t, resp.Reason.String())
		})
	}
}

// A session ID is refused forever, also after the host restarts on the
// same (real Badger) datastore.
func TestReusedSessionIDRefusedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() datastore.Batching {
		ds, err := badger4.NewDatastore(dir, nil)
		require.NoError(t, err)
		return ds
	}
	store := open()
	hostP, hostM := startHost(t, hostOpts{store: store})
	client := newPeer(t)
	id, err := NewID(rand.Reader)
	require.NoError(t, err)
	require.True(t, rawRequest(t, client, hostP, signedRequest(t, client, id, ServiceRDP, ParamsForService(ServiceRDP), time.Now())).Accepted)
	require.NoError(t, hostM.Close())
	require.NoError(t, store.Close())

	store = open()
	defer store.Close()
	hostP2, _ := startHost(t, hostOpts{store: store})
	resp := rawRequest(t, client, hostP2, signedRequest(t, client, id, ServiceRDP, ParamsForService(ServiceRDP), time.Now()))
	require.False(t, resp.Accepted)
	require.Equal(t, ReasonSessionReused, resp.Reason)
}

// A peer that sends garbage or stalls holds nothing: other sessions go on,
// and every goroutine it caused is gone once it is.
func TestGarbageAndStalledPeersDoNotHoldTheHost(t *testing.T) {
	hostP, _ := startHost(t, hostOpts{})
	_, clientM := startClient(t, hostP)
	// Warm up so the baseline includes connection goroutines.
	info := connect(t, clientM, hostP.id, ServiceRDP)
	roundTrip(t, info.LocalAddr, []byte("warm"))
	runtime.GC()
	baseline := runtime.NumGoroutine()

	bad := newPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, bad.host.Connect(ctx, peer.AddrInfo{ID: hostP.id, Addrs: hostP.host.Addrs()}))
	var stalled []io.Closer
	for i := range 8 {
		for _, proto := range []string{ProtocolSession, ProtocolTunnel} {
			st, err := bad.host.NewStream(ctx, hostP.id, protocol.ID(proto))
			if err != nil {
				continue // the resource manager may refuse more: that is the point
			}
			if i%2 == 0 {
				_, _ = st.Write(bytes.Repeat([]byte{0xff}, 100))
			}
			stalled = append(stalled, st)
		}
	}
	// Meanwhile a real session works.
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	roundTrip(t, info.LocalAddr, data)
	other := connect(t, clientM, hostP.id, ServiceRDP)
	roundTrip(t, other.LocalAddr, data)

	for _, c := range stalled {
		_ = c.Close()
	}
	_ = bad.host.Close()
	_, err := clientM.Kill(context.Background(), other.ID)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= baseline+5 }, 30*time.Second, 100*time.Millisecond,
		"goroutines: %d, baseline %d", runtime.NumGoroutine(), baseline)
}

func TestClientRefusesServiceItsPolicyForbids(t *testing.T) {
	hostP, _ := startHost(t, hostOpts{})
	_, clientM := startClient(t, hostP)
	params := ParamsForService(ServiceSSH)
	params.System.ShellChannels = false
	_, err := clientM.Connect(context.Background(), hostP.id, ConnectOptions{Service: ServiceSSH, Params: &params})
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrPolicyForbidsService), "%v", err)
}

func TestBandwidthCapPacesTransfers(t *testing.T) {
	const bps = 8 << 20 // 1 MiB/s
	hostP, _ := startHost(t, hostOpts{limits: Limits{BandwidthBps: bps}})
	_, clientM := startClient(t, hostP)
	info := connect(t, clientM, hostP.id, ServiceRDP)
	data := make([]byte, 2<<20)
	_, _ = rand.Read(data)
	start := time.Now()
	roundTrip(t, info.LocalAddr, data)
	// A lower bound only: a slow machine can take longer, never shorter.
	// 2 MiB each way at 1 MiB/s, less the initial burst, is over a second.
	require.Greater(t, time.Since(start), time.Second)
}

// A peer that opens a stream and sends nothing is cut off after the
// handshake timeout, without the client closing anything.
func TestStalledHandshakeIsCutOff(t *testing.T) {
	hostP, _ := startHost(t, hostOpts{handshake: 300 * time.Millisecond})
	stalled := newPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, stalled.host.Connect(ctx, peer.AddrInfo{ID: hostP.id, Addrs: hostP.host.Addrs()}))
	for _, proto := range []protocol.ID{ProtocolSession, ProtocolTunnel} {
		st, err := stalled.host.NewStream(ctx, hostP.id, proto)
		require.NoError(t, err)
		_ = st.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err = io.ReadAll(st)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "%s: the host never closed the stalled stream", proto)
	}
}

// A host that countersigns something other than what the client asked for
// voids the session: the client refuses it, ends it as a policy violation
// and reports an incident.
func TestClientRejectsReceiptThatDoesNotBindItsRequest(t *testing.T) {
	rogue := newPeer(t)
	rogue.host.SetStreamHandler(ProtocolSession, func(st network.Stream) {
		defer st.Close()
		msg, err := ReadMessage(st)
		if err != nil {
			return
		}
		req := msg.(*Request)
		altered := *req
		altered.PolicyHash[0] ^= 0xff // claims a different agreed policy
		receipt, err := NewHostReceipt(rogue.key, &altered, Limits{}, time.Now())
		if err != nil {
			return
		}
		_ = WriteMessage(st, &Response{Accepted: true, Receipt: receipt})
		_, _ = io.Copy(io.Discard, st)
	})
	clientP := newPeer(t)
	var incidents []string
	clientM, err := NewManager(Config{
		Host: clientP.host, Key: clientP.key, Store: dssync.MutexWrap(datastore.NewMapDatastore()),
		Reach: func(ctx context.Context, id peer.ID) error {
			return clientP.host.Connect(ctx, peer.AddrInfo{ID: rogue.id, Addrs: rogue.host.Addrs()})
		},
		Incident: func(kind string) { incidents = append(incidents, kind) },
	})
	require.NoError(t, err)
	defer clientM.Close()

	info, err := clientM.Connect(context.Background(), rogue.id, ConnectOptions{Service: ServiceRDP})
	require.ErrorIs(t, err, ErrReceiptMismatch)
	require.Equal(t, StateFailed, info.State, "the session never became active")
	require.Contains(t, info.Reason, EndPolicyViolation.String())
	require.Equal(t, []string{"receipt"}, incidents)
	require.Empty(t, info.LocalAddr, "no local port was opened for a void session")
}

// After the handshake only End may travel on the control stream; anything
// else ends the session as a policy violation on the host.
func TestUnexpectedControlMessageEndsSession(t *testing.T) {
	hostP, hostM := startHost(t, hostOpts{})
	client := newPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, client.host.Connect(ctx, peer.AddrInfo{ID: hostP.id, Addrs: hostP.host.Addrs()}))
	st, err := client.host.NewStream(ctx, hostP.id, ProtocolSession)
	require.NoError(t, err)
	id, err := NewID(rand.Reader)
	require.NoError(t, err)
	resp, err := exchange(st, signedRequest(t, client, id, ServiceRDP, ParamsForService(ServiceRDP), time.Now()))
	require.NoError(t, err)
	require.True(t, resp.Accepted)
	require.NoError(t, WriteMessage(st, &TunnelOpen{Session: id}))
	info := waitState(t, hostM, id, StateEnded)
	require.Contains(t, info.Reason, EndPolicyViolation.String())
}
