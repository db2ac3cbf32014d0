package sessions

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// coreInfos returns a host-side Info with everything set and a client-side
// Info from before the host answered.
func coreInfos(tb testing.TB) (host, client Info) {
	tb.Helper()
	req := coreRequest(tb, ServiceSSH)
	receipt := coreHostReceipt(tb, req)
	host = Info{
		ID:         req.Session,
		Role:       RoleHost,
		Peer:       req.Consent.User,
		Service:    ServiceSSH,
		State:      StateEnded,
		Reason:     "maximum duration reached",
		CreatedAt:  coreT0,
		StartedAt:  coreT0.Add(1500 * time.Millisecond),
		EndedAt:    coreT0.Add(2 * time.Hour),
		BytesIn:    123456789,
		BytesOut:   987654321012,
		Streams:    3,
		Limits:     receipt.Limits,
		PolicyHash: req.PolicyHash,
		Params:     req.Params,
		Consent:    req.Consent,
		Receipt:    receipt,
	}
	_, hostID := coreKey(tb, "host")
	client = Info{
		ID:         req.Session,
		Role:       RoleClient,
		Peer:       hostID,
		Service:    ServiceSSH,
		State:      StateCreated,
		CreatedAt:  coreT0,
		LocalAddr:  "127.0.0.1:53389",
		PolicyHash: req.PolicyHash,
		Params:     req.Params,
	}
	return host, client
}

// coreMetered is the host Info with a metering receipt accepted.
func coreMetered(tb testing.TB) Info {
	host, _ := coreInfos(tb)
	host.Metered = 987654321000
	host.MeterReceipt = bytes.Repeat([]byte{0x5a}, 200)
	return host
}

func TestInfoCBORRoundTrip(t *testing.T) {
	host, client := coreInfos(t)
	for name, i := range map[string]Info{"host": host, "client": client, "metered": coreMetered(t)} {
		t.Run(name, func(t *testing.T) {
			b, err := i.Encode()
			require.NoError(t, err)
			back, err := DecodeInfo(b)
			require.NoError(t, err)
			require.Equal(t, i, back)
			again, err := back.Encode()
			require.NoError(t, err)
			require.Equal(t, b, again)
		})
	}
}

func TestInfoEncodeTruncatesToMillis(t *testing.T) {
	_, i := coreInfos(t)
	i.CreatedAt = coreT0.Add(1234567 * time.Nanosecond).In(time.FixedZone("X", 3600))
	b, err := i.Encode()
	require.NoError(t, err)
	back, err := DecodeInfo(b)
	require.NoError(t, err)
	require.Equal(t, coreT0.Add(time.Millisecond), back.CreatedAt)
}

func TestInfoEncodeRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(i *Info)
		want   error
	}{
		{"zero id", func(i *Info) { i.ID = ID{} }, ErrMalformed},
		{"bad role", func(i *Info) { i.Role = "observer" }, ErrMalformed},
		{"no peer", func(i *Info) { i.Peer = "" }, ErrMalformed},
		{"bad service", func(i *Info) { i.Service = "" }, ErrMalformed},
		{"zero state", func(i *Info) { i.State = 0 }, ErrMalformed},
		{"unknown state", func(i *Info) { i.State = 7 }, ErrMalformed},
		{"reason with newline", func(i *Info) { i.Reason = "a\nb" }, ErrMalformed},
		{"reason too long", func(i *Info) { i.Reason = strings.Repeat("x", MaxReasonLen+1) }, ErrMalformed},
		{"time before 1970", func(i *Info) { i.EndedAt = time.Unix(-1, 0) }, ErrMalformed},
		{"sub-second limit", func(i *Info) { i.Limits.MaxDuration = time.Millisecond }, ErrMalformed},
		{"local addr with space", func(i *Info) { i.LocalAddr = "127.0.0.1: 5" }, ErrMalformed},
		{"local addr too long", func(i *Info) { i.LocalAddr = strings.Repeat("1", MaxLocalAddrLen+1) }, ErrMalformed},
		{"bad consent", func(i *Info) { i.Consent.AcceptedAt = time.Time{} }, ErrMalformed},
		{"bad receipt", func(i *Info) { r := *i.Receipt; r.Service = "X"; i.Receipt = &r }, ErrMalformed},
		{"metered without receipt", func(i *Info) { i.Metered = 1 }, ErrMalformed},
		{"meter receipt without bytes", func(i *Info) { i.MeterReceipt = []byte{1} }, ErrMalformed},
		{"meter receipt too long", func(i *Info) { i.Metered, i.MeterReceipt = 1, make([]byte, MaxMeteringReceiptLen+1) }, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i, _ := coreInfos(t)
			tt.mutate(&i)
			_, err := i.Encode()
			require.ErrorIs(t, err, tt.want)
			coreRequireSentinel(t, err, allSentinels...)
		})
	}
}

func TestDecodeInfoRejects(t *testing.T) {
	host, _ := coreInfos(t)
	b, err := host.Encode()
	require.NoError(t, err)
	w := host.wire()
	v2 := w
	v2.Version = 2
	withState := func(s uint8) []byte { x := w; x.State = s; return coreCBOR(&x) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"trailing byte", append(append([]byte{}, b...), 0), ErrMalformed},
		{"truncated", b[:len(b)-1], ErrMalformed},
		{"version 2", coreCBOR(&v2), ErrUnsupportedVersion},
		{"no version", coreMap(coreKV{2, coreCBOR(host.ID[:])}), ErrMalformed},
		{"bad state", withState(5), ErrMalformed},
		{"no params", func() []byte { x := w; x.Params = wireParams{}; return coreCBOR(&x) }(), ErrMalformed},
		{"unknown key", append([]byte{b[0] + 1}, append(b[1:], 0x18, 0x20, 0x01)...), ErrMalformed},
		{"explicit zero", append([]byte{b[0] + 1}, append(b[1:], 0x18, 0x20, 0x00)...), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeInfo(tt.in)
			require.ErrorIs(t, err, tt.want)
			coreRequireSentinel(t, err, allSentinels...)
		})
	}
}

// Records without metering encode exactly as before metering existed: the
// digests below were taken from the encoder that predates keys 20 and 21.
func TestInfoEncodingWithoutMeteringIsUnchanged(t *testing.T) {
	host, client := coreInfos(t)
	for _, tt := range []struct {
		name       string
		i          Info
		cbor, json string
	}{
		{"host", host, "98cbf740c6d89454156af6f28f7cc7b986eb0b24b59073ea43c54e573756ce32", "acd705891f67f21554e549620bf3861a5d7848d140a175c69a4ed8d87a8ac10c"},
		{"client", client, "0a909d6e5ea59d3821cd3ce12f9b374645011f1ab7cd8943fbafd26365a24af4", "95e856b520f1307e60262e9f9c2b2d864001b121b815f98a8d890bf9c41d4c98"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.i.Encode()
			require.NoError(t, err)
			sum := sha256.Sum256(b)
			require.Equal(t, tt.cbor, hex.EncodeToString(sum[:]))
			js, err := json.Marshal(tt.i)
			require.NoError(t, err)
			sum = sha256.Sum256(js)
			require.Equal(t, tt.json, hex.EncodeToString(sum[:]))
		})
	}
}

func TestInfoMeteringFields(t *testing.T) {
	m := coreMetered(t)
	b, err := m.Encode()
	require.NoError(t, err)
	plain, _ := coreInfos(t)
	pb, err := plain.Encode()
	require.NoError(t, err)
	// Two more keys at the end: 20 = metered, 21 = meter receipt.
	require.Equal(t, pb[0]+2, b[0])
	tail := append([]byte{0x14, 0x1b, 0x00, 0x00, 0x00, 0xe5, 0xf4, 0xc8, 0xf3, 0x68, 0x15, 0x58, 200}, m.MeterReceipt...)
	require.Equal(t, tail, b[len(b)-len(tail):])

	js, err := json.Marshal(m)
	require.NoError(t, err)
	var j map[string]any
	require.NoError(t, json.Unmarshal(js, &j))
	require.Equal(t, 987654321000.0, j["metered"])
	require.Equal(t, "WlpaWlpa", j["meter_receipt"].(string)[:8], "base64")
}

func TestInfoJSON(t *testing.T) {
	host, client := coreInfos(t)
	for name, i := range map[string]Info{"host": host, "client": client, "metered": coreMetered(t)} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(i)
			require.NoError(t, err)
			var back Info
			require.NoError(t, json.Unmarshal(b, &back))
			require.Equal(t, i, back)
		})
	}

	b, err := json.Marshal(host)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.Equal(t, host.ID.String(), m["id"])
	require.Equal(t, "host", m["role"])
	require.Equal(t, host.Peer.String(), m["peer"])
	require.Equal(t, "ended", m["state"])
	require.Equal(t, "2026-03-01T12:00:01.5Z", m["started_at"])
	require.Equal(t, 987654321012.0, m["bytes_out"])
	require.Equal(t, hex.EncodeToString(host.PolicyHash[:]), m["policy_hash"])
	require.Contains(t, m, "params")
	require.Contains(t, m, "consent")
	require.Contains(t, m, "receipt")
	require.NotContains(t, m, "local_addr")
	require.NotContains(t, m, "metered", "no metering, no keys")
	require.NotContains(t, m, "meter_receipt")

	b, err = json.Marshal(client)
	require.NoError(t, err)
	m = nil
	require.NoError(t, json.Unmarshal(b, &m))
	require.NotContains(t, m, "started_at", "zero times are omitted")
	require.NotContains(t, m, "ended_at")
	require.NotContains(t, m, "consent")
	require.NotContains(t, m, "receipt")
	require.Equal(t, "127.0.0.1:53389", m["local_addr"])
	require.Equal(t, map[string]any{"max_duration_s": 0.0, "idle_timeout_s": 0.0, "bandwidth_bps": 0.0}, m["limits"])
}
