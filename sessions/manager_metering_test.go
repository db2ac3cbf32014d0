package sessions

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/stretchr/testify/require"
)

// Metering on real libp2p hosts. The node signs consensus.MeteringReceipt;
// these tests sign a stand-in with the client's key, so the host side can
// check that what arrives is exactly what the client signed.

// meterSigner is a client's Config.Meter. fail, if set, can make a call
// fail or return something unsendable.
type meterSigner struct {
	p    testPeer
	fail func(call int) ([]byte, error)

	mu    sync.Mutex
	calls []uint64
	infos []Info
}

func testMeterMessage(id ID, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte("test metering\n"), id[:]...), n)
}

func (s *meterSigner) sign(info Info, n uint64) ([]byte, error) {
	s.mu.Lock()
	s.calls = append(s.calls, n)
	s.infos = append(s.infos, info)
	call := len(s.calls)
	s.mu.Unlock()
	if s.fail != nil {
		if blob, err := s.fail(call); blob != nil || err != nil {
			return blob, err
		}
	}
	return s.p.key.Sign(testMeterMessage(info.ID, n))
}

func (s *meterSigner) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func (s *meterSigner) verify(t testing.TB, id ID, n uint64, blob []byte) {
	t.Helper()
	ok, err := s.p.key.GetPublic().Verify(testMeterMessage(id, n), blob)
	require.NoError(t, err)
	require.True(t, ok, "receipt for %d bytes does not verify", n)
}

type hostReceipt struct {
	bytes uint64
	blob  []byte
	info  Info
}

// meterLog is a host's Config.OnMetering.
type meterLog struct {
	mu  sync.Mutex
	got []hostReceipt
}

func (l *meterLog) add(info Info, blob []byte, n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, hostReceipt{bytes: n, blob: bytes.Clone(blob), info: info})
}

func (l *meterLog) all() []hostReceipt {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]hostReceipt(nil), l.got...)
}

func (l *meterLog) last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.got) == 0 {
		return 0
	}
	return l.got[len(l.got)-1].bytes
}

type incidentLog struct {
	mu    sync.Mutex
	kinds []string
}

func (l *incidentLog) add(kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kinds = append(l.kinds, kind)
}

func (l *incidentLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.kinds...)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// waitBytesIn waits until the client has counted n bytes from the host:
// the count is taken after the local write, so it may trail the echo the
// test already read by a moment.
func waitBytesIn(t testing.TB, m *Manager, id ID, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		info, err := m.Get(context.Background(), id)
		return err == nil && info.BytesIn == uint64(n)
	}, 20*time.Second, 5*time.Millisecond)
}

func TestMeteringReceiptsFollowTheData(t *testing.T) {
	var hostLog meterLog
	var inc incidentLog
	hostP, hostM := startHost(t, hostOpts{onMetering: hostLog.add, incident: inc.add})
	signer := &meterSigner{}
	clientP, clientM := startClientWith(t, hostP, func(p testPeer, c *Config) {
		signer.p = p
		c.Meter = signer.sign
		c.MeterInterval = 20 * time.Millisecond
	})
	info := connect(t, clientM, hostP.id, ServiceRDP)

	total := 0
	for _, size := range []int{200 << 10, 700 << 10, 1 << 20} {
		roundTrip(t, info.LocalAddr, randomBytes(size))
		total += size
		// A periodic receipt catches up with everything received.
		require.Eventually(t, func() bool { return hostLog.last() == uint64(total) }, 20*time.Second, 5*time.Millisecond,
			"host's last receipt: %d, want %d", hostLog.last(), total)
	}
	live, err := hostM.Get(context.Background(), info.ID)
	require.NoError(t, err)
	require.EqualValues(t, total, live.Metered)
	signer.verify(t, info.ID, live.Metered, live.MeterReceipt)

	_, err = clientM.Kill(context.Background(), info.ID)
	require.NoError(t, err)
	hostEnd := waitState(t, hostM, info.ID, StateEnded)
	clientEnd, err := clientM.Get(context.Background(), info.ID)
	require.NoError(t, err)

	got := hostLog.all()
	require.GreaterOrEqual(t, len(got), 3)
	var prev uint64
	for i, r := range got {
		require.Greater(t, r.bytes, prev, "receipt %d: counts only grow", i)
		prev = r.bytes
		signer.verify(t, info.ID, r.bytes, r.blob)
		require.Equal(t, r.bytes, r.info.Metered, "the hook's info already carries the receipt")
		require.Equal(t, r.blob, r.info.MeterReceipt)
		require.Equal(t, clientP.id, r.info.Peer)
		require.LessOrEqual(t, r.bytes, hostEnd.BytesOut, "never more than the host sent")
	}
	signer.mu.Lock()
	sent := append([]uint64(nil), signer.calls...)
	for _, i := range signer.infos {
		require.Equal(t, info.ID, i.ID)
		require.Equal(t, hostP.id, i.Peer)
	}
	signer.mu.Unlock()
	hostSaw := make([]uint64, len(got))
	for i, r := range got {
		hostSaw[i] = r.bytes
	}
	require.Equal(t, sent, hostSaw, "every receipt the client signed reached the host, in order")
	require.Empty(t, inc.list())

	require.EqualValues(t, total, hostEnd.Metered, "the stored record keeps the last receipt")
	signer.verify(t, info.ID, hostEnd.Metered, hostEnd.MeterReceipt)
	require.EqualValues(t, total, clientEnd.Metered)
	require.Equal(t, hostEnd.MeterReceipt, clientEnd.MeterReceipt)
}

// With a long interval no periodic receipt is due: the one receipt is the
// final one, sent before End, and it covers every byte received.
func TestMeteringFinalReceiptAtEnd(t *testing.T) {
	var hostLog meterLog
	var inc incidentLog
	hostP, hostM := startHost(t, hostOpts{onMetering: hostLog.add, incident: inc.add})
	signer := &meterSigner{}
	_, clientM := startClientWith(t, hostP, func(p testPeer, c *Config) {
		signer.p = p
		c.Meter = signer.sign
		c.MeterInterval = time.Hour
	})
	info := connect(t, clientM, hostP.id, ServiceSSH)
	const n = 300 << 10
	roundTrip(t, info.LocalAddr, randomBytes(n))
	waitBytesIn(t, clientM, info.ID, n)
	require.Empty(t, hostLog.all())

	clientEnd, err := clientM.Kill(context.Background(), info.ID)
	require.NoError(t, err)
	hostEnd := waitState(t, hostM, info.ID, StateEnded)
	require.Contains(t, hostEnd.Reason, EndClientClosed.String())

	got := hostLog.all()
	require.Len(t, got, 1)
	require.EqualValues(t, n, got[0].bytes)
	require.Equal(t, clientEnd.BytesIn, got[0].bytes, "the final receipt covers all that was received")
	signer.verify(t, info.ID, n, got[0].blob)
	require.EqualValues(t, n, hostEnd.Metered)
	require.EqualValues(t, n, clientEnd.Metered)
	require.Empty(t, inc.list())
}

// A Meter hook that fails, or returns what cannot be sent, costs that one
// receipt: the session goes on and a later receipt gets through.
func TestMeteringHookFailuresAreSkipped(t *testing.T) {
	var hostLog meterLog
	var inc incidentLog
	hostP, hostM := startHost(t, hostOpts{onMetering: hostLog.add, incident: inc.add})
	signer := &meterSigner{fail: func(call int) ([]byte, error) {
		switch call {
		case 1:
			return nil, errors.New("no key today")
		case 2:
			return make([]byte, MaxMeteringReceiptLen+1), nil
		case 3:
			return []byte{}, nil
		}
		return nil, nil
	}}
	_, clientM := startClientWith(t, hostP, func(p testPeer, c *Config) {
		signer.p = p
		c.Meter = signer.sign
		c.MeterInterval = 10 * time.Millisecond
	})
	info := connect(t, clientM, hostP.id, ServiceRDP)
	const n = 64 << 10
	roundTrip(t, info.LocalAddr, randomBytes(n))
	require.Eventually(t, func() bool { return hostLog.last() == n }, 20*time.Second, 5*time.Millisecond)
	require.GreaterOrEqual(t, signer.count(), 4)
	for _, r := range hostLog.all() {
		signer.verify(t, info.ID, r.bytes, r.blob)
	}
	hostInfo, err := hostM.Get(context.Background(), info.ID)
	require.NoError(t, err)
	require.Equal(t, StateActive, hostInfo.State)
	roundTrip(t, info.LocalAddr, []byte("still works"))
	require.Empty(t, inc.list(), "nothing bad reached the host")
}

// rawSession opens a session by hand on proto and returns its control
// stream.
func rawSession(t testing.TB, client, hostP testPeer, proto protocol.ID) (network.Stream, ID, *Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, client.host.Connect(ctx, peer.AddrInfo{ID: hostP.id, Addrs: hostP.host.Addrs()}))
	st, err := client.host.NewStream(ctx, hostP.id, proto)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Reset() })
	id, err := NewID(rand.Reader)
	require.NoError(t, err)
	resp, err := exchange(st, signedRequest(t, client, id, ServiceRDP, ParamsForService(ServiceRDP), time.Now()))
	require.NoError(t, err)
	require.True(t, resp.Accepted, "%s: %s", resp.Reason, resp.Detail)
	return st, id, resp
}

// rawEcho sends data through one tunnel stream of session id and returns
// what comes back.
func rawEcho(t testing.TB, client, hostP testPeer, id ID, data []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := client.host.NewStream(ctx, hostP.id, ProtocolTunnel)
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, WriteMessage(st, &TunnelOpen{Session: id}))
	msg, err := ReadMessage(st)
	require.NoError(t, err)
	require.Equal(t, &TunnelReply{OK: true}, msg)
	_, err = st.Write(data)
	require.NoError(t, err)
	require.NoError(t, st.CloseWrite())
	back, err := io.ReadAll(st)
	require.NoError(t, err)
	return back
}

func meteringFrame(t testing.TB, m *Metering) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, WriteMessage(&buf, m))
	return buf.Bytes()
}

// A client that over-claims, goes back, or sends garbage of type Metering
// is refused, counted as a "metering" incident each time, and otherwise
// ignored: the session goes on and later valid receipts are accepted. The
// old rule for any other message stays.
func TestMeteringRefusesBadReceipts(t *testing.T) {
	var hostLog meterLog
	var inc incidentLog
	hostP, hostM := startHost(t, hostOpts{onMetering: hostLog.add, incident: inc.add})
	client := newPeer(t)
	st, id, resp := rawSession(t, client, hostP, ProtocolSession11)
	require.True(t, resp.Features.Has(FeatureMetering))

	data := []byte("eleven byte")
	require.Equal(t, data, rawEcho(t, client, hostP, id, data))
	send := func(frame []byte) { _, err := st.Write(frame); require.NoError(t, err) }

	send(meteringFrame(t, &Metering{Bytes: 12, Receipt: []byte("over-claim")}))
	send(meteringFrame(t, &Metering{Bytes: 11, Receipt: []byte("good")}))
	send(meteringFrame(t, &Metering{Bytes: 5, Receipt: []byte("going back")}))
	send(coreFrame(typeMetering, []byte{0xff}))                                                                // not CBOR
	send(coreFrame(typeMetering, coreMap(coreKV{1, coreCBOR(2)}, coreKV{2, coreCBOR(11)})))                    // version 2
	send(coreFrame(typeMetering, coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreCBOR(11)})))                    // no receipt
	send(coreFrame(typeMetering, coreCBOR(&wireMetering{Version: 1, Bytes: 11, Receipt: make([]byte, 2000)}))) // over 1 KiB
	send(meteringFrame(t, &Metering{Bytes: 11, Receipt: []byte("same count, new receipt")}))

	// The host reads in order: once the last receipt is in, so is every
	// refusal before it.
	require.Eventually(t, func() bool { return len(hostLog.all()) == 2 }, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"metering", "metering", "metering", "metering", "metering", "metering"}, inc.list())
	got := hostLog.all()
	require.Equal(t, []uint64{11, 11}, []uint64{got[0].bytes, got[1].bytes})
	require.Equal(t, []byte("good"), got[0].blob)
	require.Equal(t, []byte("same count, new receipt"), got[1].blob)

	live, err := hostM.Get(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, StateActive, live.State, "bad receipts do not end the session")
	require.EqualValues(t, 11, live.Metered)
	require.Equal(t, []byte("same count, new receipt"), live.MeterReceipt)
	require.Equal(t, []byte("more"), rawEcho(t, client, hostP, id, []byte("more")))

	// Anything else on the control stream still ends the session.
	send(meteringFrame(t, &Metering{Bytes: 15, Receipt: []byte("all of it")}))
	require.NoError(t, WriteMessage(st, &TunnelOpen{Session: id}))
	end := waitState(t, hostM, id, StateEnded)
	require.Contains(t, end.Reason, EndPolicyViolation.String())
	require.Equal(t, "protocol", inc.list()[len(inc.list())-1])
	require.EqualValues(t, 15, end.Metered)
	require.Len(t, hostLog.all(), 3)
}

// Metering is opt-in on both sides and never reaches a host that did not
// offer it: without Meter, without OnMetering, or with a host that speaks
// only 1.0.0, sessions work and no receipt is signed or sent.
func TestMeteringIsOptIn(t *testing.T) {
	tests := []struct {
		name      string
		hostHook  bool
		clientFn  bool
		only10    bool
		wantCalls bool
	}{
		{name: "both sides", hostHook: true, clientFn: true, wantCalls: true},
		{name: "client without Meter", hostHook: true},
		{name: "host without OnMetering", clientFn: true},
		{name: "host that predates 1.1.0", hostHook: true, clientFn: true, only10: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hostLog meterLog
			var inc incidentLog
			o := hostOpts{incident: inc.add}
			if tt.hostHook {
				o.onMetering = hostLog.add
			}
			hostP, hostM := startHost(t, o)
			if tt.only10 {
				// Before any client connects, so identify never lists it.
				hostP.host.RemoveStreamHandler(ProtocolSession11)
			}
			signer := &meterSigner{}
			_, clientM := startClientWith(t, hostP, func(p testPeer, c *Config) {
				signer.p = p
				if tt.clientFn {
					c.Meter = signer.sign
				}
				c.MeterInterval = 10 * time.Millisecond
			})
			info := connect(t, clientM, hostP.id, ServiceRDP)
			const n = 100 << 10
			roundTrip(t, info.LocalAddr, randomBytes(n))
			waitBytesIn(t, clientM, info.ID, n)
			// Kill sends the final receipt, if any, before End, so once the
			// host has ended everything the client sent has been read.
			_, err := clientM.Kill(context.Background(), info.ID)
			require.NoError(t, err)
			hostEnd := waitState(t, hostM, info.ID, StateEnded)
			require.Empty(t, inc.list())
			if tt.wantCalls {
				require.NotZero(t, signer.count())
				require.EqualValues(t, n, hostLog.last())
				require.EqualValues(t, n, hostEnd.Metered)
				return
			}
			require.Zero(t, signer.count(), "no receipt is signed for a host that did not offer metering")
			require.Empty(t, hostLog.all())
			require.Zero(t, hostEnd.Metered)
			require.Nil(t, hostEnd.MeterReceipt)
		})
	}
}

// The host offers metering only on 1.1.0 and only with OnMetering; a
// Metering message it did not offer is an incident and is ignored.
func TestMeteringFeatureFlag(t *testing.T) {
	var inc incidentLog
	withHook, _ := startHost(t, hostOpts{onMetering: func(Info, []byte, uint64) {}})
	without, withoutM := startHost(t, hostOpts{incident: inc.add})
	client := newPeer(t)

	_, _, resp := rawSession(t, client, withHook, ProtocolSession11)
	require.Equal(t, FeatureMetering, resp.Features)
	_, _, resp = rawSession(t, client, withHook, ProtocolSession)
	require.Zero(t, resp.Features, "a 1.0.0 client would refuse the key")
	st, id, resp := rawSession(t, client, without, ProtocolSession11)
	require.Zero(t, resp.Features)

	require.Equal(t, []byte("x"), rawEcho(t, client, without, id, []byte("x")))
	require.NoError(t, WriteMessage(st, &Metering{Bytes: 1, Receipt: []byte("unasked")}))
	require.Eventually(t, func() bool { return len(inc.list()) == 1 }, 20*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"metering"}, inc.list())
	live, err := withoutM.Get(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, StateActive, live.State)
	require.Zero(t, live.Metered)
	require.NoError(t, WriteMessage(st, &End{Reason: EndClientClosed}))
	end := waitState(t, withoutM, id, StateEnded)
	require.Contains(t, end.Reason, EndClientClosed.String())
}

// A client keeps the old rule: a Metering message from the host is a
// protocol violation.
func TestClientRefusesMeteringFromHost(t *testing.T) {
	rogue := newPeer(t)
	rogue.host.SetStreamHandler(ProtocolSession11, func(st network.Stream) {
		defer st.Close()
		msg, err := ReadMessage(st)
		if err != nil {
			return
		}
		receipt, err := NewHostReceipt(rogue.key, msg.(*Request), Limits{}, time.Now())
		if err != nil {
			return
		}
		_ = WriteMessage(st, &Response{Accepted: true, Receipt: receipt, Features: FeatureMetering})
		_ = WriteMessage(st, &Metering{Bytes: 1, Receipt: []byte("backwards")})
		_, _ = io.Copy(io.Discard, st)
	})
	var inc incidentLog
	_, clientM := startClientWith(t, rogue, func(_ testPeer, c *Config) { c.Incident = inc.add })
	info := connect(t, clientM, rogue.id, ServiceRDP)
	end := waitState(t, clientM, info.ID, StateEnded)
	require.Contains(t, end.Reason, EndPolicyViolation.String())
	require.Equal(t, []string{"protocol"}, inc.list())
}
