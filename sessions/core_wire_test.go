package sessions

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/stretchr/testify/require"
)

// coreMessages returns one valid value of every message shape.
func coreMessages(tb testing.TB) map[string]Message {
	tb.Helper()
	req := coreRequest(tb, ServiceSSH)
	full := coreSignedRequest(tb, mustCoreKey(tb, "client"), coreID(tb, "full"), ServiceRDP, coreFullParams(), TermsVersion, TermsHash(), coreT0)
	return map[string]Message{
		"request":            req,
		"request full":       full,
		"response accepted":  &Response{Accepted: true, Receipt: coreHostReceipt(tb, req)},
		"response with note": &Response{Accepted: true, Detail: "welcome, Zoë", Receipt: coreHostReceipt(tb, req)},
		"response rejected":  &Response{Reason: ReasonAccessDenied, Detail: "not on the allowlist"},
		"response unknown":   &Response{Reason: 999},
		"end":                &End{Reason: EndClientClosed},
		"end with detail":    &End{Reason: EndPolicyViolation, Detail: "clipboard write of 70000 bytes"},
		"tunnel open":        &TunnelOpen{Session: req.Session},
		"tunnel reply ok":    &TunnelReply{OK: true},
		"tunnel reply no":    &TunnelReply{Reason: ReasonSessionReused, Detail: "session ended"},
		"response features":  &Response{Accepted: true, Receipt: coreHostReceipt(tb, req), Features: FeatureMetering | 1<<40},
		"metering":           &Metering{Bytes: 1, Receipt: []byte{0x00}},
		"metering max":       &Metering{Bytes: math.MaxUint64, Receipt: bytes.Repeat([]byte{0xa5}, MaxMeteringReceiptLen)},
	}
}

func mustCoreKey(tb testing.TB, name string) crypto.PrivKey {
	priv, _ := coreKey(tb, name)
	return priv
}

// nonByteReader hides io.ByteReader so ReadMessage takes its fallback path.
type nonByteReader struct{ r io.Reader }

func (n nonByteReader) Read(p []byte) (int, error) { return n.r.Read(p) }

func TestWireRoundTrip(t *testing.T) {
	for name, m := range coreMessages(t) {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, WriteMessage(&buf, m))
			frame := bytes.Clone(buf.Bytes())

			readers := map[string]io.Reader{
				"bytes.Reader":   bytes.NewReader(frame),
				"one byte":       iotest.OneByteReader(bytes.NewReader(frame)),
				"half":           iotest.HalfReader(bytes.NewReader(frame)),
				"non-ByteReader": nonByteReader{bytes.NewReader(frame)},
				"bufio":          bufio.NewReader(bytes.NewReader(frame)),
			}
			for rname, r := range readers {
				got, err := ReadMessage(r)
				require.NoError(t, err, rname)
				require.Equal(t, m, got, rname)
				_, err = ReadMessage(r)
				require.Equal(t, io.EOF, err, "%s: clean EOF after the frame", rname)
			}
		})
	}
}

func TestWireFrameLayout(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteMessage(&buf, &End{Reason: EndIdleTimeout}))
	// uvarint(4) | type 3 | {1: 5}
	require.Equal(t, []byte{0x04, 0x03, 0xa1, 0x01, 0x05}, buf.Bytes())

	buf.Reset()
	require.NoError(t, WriteMessage(&buf, &TunnelReply{OK: true}))
	require.Equal(t, []byte{0x04, 0x05, 0xa1, 0x01, 0xf5}, buf.Bytes())
}

// TestWireMeteringGolden pins the Metering frame and the Response features
// key byte for byte.
func TestWireMeteringGolden(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteMessage(&buf, &Metering{Bytes: 1000, Receipt: []byte{0xde, 0xad}}))
	// uvarint(12) | type 6 | {1: 1, 2: 1000, 3: h'dead'}
	require.Equal(t, "0c06a30101021903e803 42dead", hex.EncodeToString(buf.Bytes()[:10])+" "+hex.EncodeToString(buf.Bytes()[10:]))

	// The largest Metering fits the 1 KiB limit with room to spare.
	buf.Reset()
	require.NoError(t, WriteMessage(&buf, &Metering{Bytes: math.MaxUint64, Receipt: make([]byte, MaxMeteringReceiptLen)}))
	require.LessOrEqual(t, buf.Len()-2, MaxMeteringFrameSize) // 2-byte prefix

	// Features are key 5, after the receipt; zero features are omitted,
	// so a 1.0.0 Response is byte for byte what it was.
	req := coreRequest(t, ServiceRDP)
	receipt := coreHostReceipt(t, req)
	var plain, featured bytes.Buffer
	require.NoError(t, WriteMessage(&plain, &Response{Accepted: true, Receipt: receipt}))
	require.NoError(t, WriteMessage(&featured, &Response{Accepted: true, Receipt: receipt, Features: FeatureMetering}))
	rw := wireResponse{Accepted: true, Receipt: func() *wireHostReceipt { w := receipt.wire(); return &w }()}
	require.Equal(t, coreFrame(typeResponse, coreCBOR(&rw)), plain.Bytes())
	p, f := plain.Bytes()[3:], featured.Bytes()[3:] // 2-byte prefix, type
	require.Equal(t, byte(0xa2), p[0])
	require.Equal(t, byte(0xa3), f[0])
	require.Equal(t, append(append([]byte{0xa3}, p[1:]...), 0x05, 0x01), f)
}

// countingWriter records each Write call.
type countingWriter struct{ calls [][]byte }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.calls = append(c.calls, bytes.Clone(p))
	return len(p), nil
}

func TestWriteMessageSingleWrite(t *testing.T) {
	var w countingWriter
	require.NoError(t, WriteMessage(&w, coreRequest(t, ServiceRDP)))
	require.Len(t, w.calls, 1, "a frame must go out in one Write")
	m, err := ReadMessage(bytes.NewReader(w.calls[0]))
	require.NoError(t, err)
	require.IsType(t, &Request{}, m)
}

func TestWriteMessageWriterError(t *testing.T) {
	boom := errors.New("boom")
	err := WriteMessage(iotest.TruncateWriter(errWriter{boom}, 0), &End{Reason: EndError})
	require.NoError(t, err, "TruncateWriter swallows")
	err = WriteMessage(errWriter{boom}, &End{Reason: EndError})
	require.ErrorIs(t, err, boom)
}

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }

func TestWireBackToBack(t *testing.T) {
	msgs := []Message{
		coreRequest(t, ServiceRDP),
		&Response{Reason: ReasonHostFull},
		&End{Reason: EndHostShutdown, Detail: "bye"},
		&TunnelReply{OK: true},
	}
	var buf bytes.Buffer
	for _, m := range msgs {
		require.NoError(t, WriteMessage(&buf, m))
	}
	trailer := []byte("\x00\x01raw bytes that are not a frame")
	buf.Write(trailer)
	r := iotest.OneByteReader(bytes.NewReader(buf.Bytes()))
	for i, want := range msgs {
		got, err := ReadMessage(r)
		require.NoError(t, err, "frame %d", i)
		require.Equal(t, want, got, "frame %d", i)
	}
	rest, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, trailer, rest, "ReadMessage must not consume bytes after the last frame")
}

func TestWireTunnelStream(t *testing.T) {
	// A tunnel stream: TunnelOpen, then the client's TCP bytes immediately.
	// On the host side the same for TunnelReply. The payload starts with
	// bytes that look like a frame length and type, to catch over-reads.
	session := coreID(t, "tunnel")
	payload := append([]byte{0x02, 0x04, 0x00}, []byte("SSH-2.0-OpenSSH_9.6\r\n")...)

	var stream bytes.Buffer
	require.NoError(t, WriteMessage(&stream, &TunnelOpen{Session: session}))
	stream.Write(payload)
	wire := stream.Bytes()

	for name, mk := range map[string]func([]byte) io.Reader{
		"non-ByteReader": func(b []byte) io.Reader { return nonByteReader{bytes.NewReader(b)} },
		"one byte":       func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"bytes.Reader":   func(b []byte) io.Reader { return bytes.NewReader(b) },
	} {
		t.Run(name, func(t *testing.T) {
			r := mk(wire)
			m, err := ReadMessage(r)
			require.NoError(t, err)
			require.Equal(t, &TunnelOpen{Session: session}, m)
			rest, err := io.ReadAll(r)
			require.NoError(t, err)
			require.Equal(t, payload, rest)
		})
	}

	t.Run("caller's bufio.Reader", func(t *testing.T) {
		br := bufio.NewReader(bytes.NewReader(wire))
		m, err := ReadMessage(br)
		require.NoError(t, err)
		require.Equal(t, &TunnelOpen{Session: session}, m)
		rest, err := io.ReadAll(br)
		require.NoError(t, err)
		require.Equal(t, payload, rest)
	})
}

func TestReadMessageErrors(t *testing.T) {
	var endFrame bytes.Buffer
	require.NoError(t, WriteMessage(&endFrame, &End{Reason: EndClientClosed}))
	var reqFrame bytes.Buffer
	req := coreRequest(t, ServiceRDP)
	require.NoError(t, WriteMessage(&reqFrame, req))
	reqBody := reqFrame.Bytes()[3:] // 2-byte prefix + type
	require.Equal(t, byte(typeRequest), reqFrame.Bytes()[2])

	reqW := req.wire()
	withVersion := func(v uint64) []byte {
		w := reqW
		w.Version = v
		return coreCBOR(&w)
	}
	paramsV2 := func() []byte {
		w := reqW
		w.Params.Version = 2
		return coreCBOR(&w)
	}()
	receipt := coreHostReceipt(t, req).wire()
	meterW := (&Metering{Bytes: 7, Receipt: []byte("signed")}).wire()
	meterWith := func(f func(w *wireMetering)) []byte { w := meterW; f(&w); return coreCBOR(&w) }

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"truncated prefix", []byte{0x80}, io.ErrUnexpectedEOF},
		{"truncated body", endFrame.Bytes()[:3], io.ErrUnexpectedEOF},
		{"truncated after type", endFrame.Bytes()[:2], io.ErrUnexpectedEOF},
		{"truncated request", reqFrame.Bytes()[:100], io.ErrUnexpectedEOF},
		{"length 16385", []byte{0x81, 0x80, 0x01}, ErrFrameTooLarge},
		{"length 2^21 in 4 bytes", []byte{0x80, 0x80, 0x80, 0x01}, ErrFrameTooLarge},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrFrameTooLarge},
		{"padded length", []byte{0x84, 0x80, 0x80, 0x00}, ErrFrameTooLarge},
		{"non-minimal length", append([]byte{0x84, 0x00}, endFrame.Bytes()[1:]...), ErrMalformed},
		{"zero length", []byte{0x00, 0x03}, ErrMalformed},
		{"unknown type 0", coreFrame(0, []byte{0xa0}), ErrUnknownMessage},
		{"unknown type 9", coreFrame(9, []byte{0xa0}), ErrUnknownMessage},
		{"type only", []byte{0x01, 0x03}, ErrMalformed},
		{"trailing byte in frame", coreFrame(typeEnd, []byte{0xa1, 0x01, 0x01, 0x00}), ErrMalformed},
		{"second item in frame", coreFrame(typeEnd, []byte{0xa1, 0x01, 0x01, 0xa0}), ErrMalformed},
		{"non-shortest integer", coreFrame(typeEnd, []byte{0xa1, 0x01, 0x19, 0x00, 0x01}), ErrMalformed},
		{"non-shortest key", coreFrame(typeEnd, []byte{0xa1, 0x18, 0x01, 0x01}), ErrMalformed},
		{"explicit empty detail", coreFrame(typeEnd, coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreCBOR("")})), ErrMalformed},
		{"keys out of order", coreFrame(typeEnd, coreMap(coreKV{2, coreCBOR("x")}, coreKV{1, coreCBOR(1)})), ErrMalformed},
		{"duplicate key", coreFrame(typeEnd, coreMap(coreKV{1, coreCBOR(1)}, coreKV{1, coreCBOR(2)})), ErrMalformed},
		{"unknown key", coreFrame(typeEnd, coreMap(coreKV{1, coreCBOR(1)}, coreKV{3, coreCBOR(1)})), ErrMalformed},
		{"text key", coreFrame(typeEnd, []byte{0xa1, 0x61, '1', 0x01}), ErrMalformed},
		{"negative key", coreFrame(typeEnd, []byte{0xa1, 0x20, 0x01}), ErrMalformed},
		{"indefinite map", coreFrame(typeEnd, []byte{0xbf, 0x01, 0x01, 0xff}), ErrMalformed},
		{"indefinite string", coreFrame(typeEnd, []byte{0xa2, 0x01, 0x01, 0x02, 0x7f, 0x61, 'x', 0xff}), ErrMalformed},
		{"tag", coreFrame(typeEnd, []byte{0xa1, 0x01, 0xc1, 0x01}), ErrMalformed},
		{"float reason", coreFrame(typeEnd, []byte{0xa1, 0x01, 0xf9, 0x3c, 0x00}), ErrMalformed},
		{"reason overflows uint16", coreFrame(typeEnd, coreMap(coreKV{1, coreCBOR(70000)})), ErrMalformed},
		{"array body", coreFrame(typeEnd, []byte{0x81, 0x01}), ErrMalformed},
		{"empty body", coreFrame(typeEnd, nil), ErrMalformed},
		{"end without reason", coreFrame(typeEnd, []byte{0xa0}), ErrMalformed},
		{"detail with escape", coreFrame(typeEnd, coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreCBOR("\x1b[2J")})), ErrMalformed},
		{"detail invalid UTF-8", coreFrame(typeEnd, coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, []byte{0x61, 0xff}})), ErrMalformed},
		{"detail too long", coreFrame(typeEnd, coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreCBOR(strings.Repeat("x", MaxDetailLen+1))})), ErrMalformed},
		{"accepted without receipt", coreFrame(typeResponse, coreMap(coreKV{1, coreCBOR(true)})), ErrMalformed},
		{"accepted with reason", coreFrame(typeResponse, coreMap(coreKV{1, coreCBOR(true)}, coreKV{2, coreCBOR(1)}, coreKV{4, coreCBOR(&receipt)})), ErrMalformed},
		{"rejected without reason", coreFrame(typeResponse, []byte{0xa0}), ErrMalformed},
		{"rejected with receipt", coreFrame(typeResponse, coreMap(coreKV{2, coreCBOR(1)}, coreKV{4, coreCBOR(&receipt)})), ErrMalformed},
		{"tunnel reply ok with reason", coreFrame(typeTunnelReply, coreMap(coreKV{1, coreCBOR(true)}, coreKV{2, coreCBOR(1)})), ErrMalformed},
		{"tunnel reply no reason", coreFrame(typeTunnelReply, []byte{0xa0}), ErrMalformed},
		{"tunnel open short id", coreFrame(typeTunnelOpen, coreMap(coreKV{1, coreCBOR(make([]byte, 15))})), ErrMalformed},
		{"tunnel open v1 uuid", coreFrame(typeTunnelOpen, coreMap(coreKV{1, coreCBOR(bytes.Repeat([]byte{0x11}, 16))})), ErrMalformed},
		{"request version 2", coreFrame(typeRequest, withVersion(2)), ErrUnsupportedVersion},
		{"request version 0", coreFrame(typeRequest, withVersion(0)), ErrMalformed}, // absent = no version
		{"request params version 2", coreFrame(typeRequest, paramsV2), ErrUnsupportedVersion},
		{"request without params", coreFrame(typeRequest, func() []byte { w := reqW; w.Params = wireParams{}; return coreCBOR(&w) }()), ErrMalformed},
		{"request with unknown key", coreFrame(typeRequest, append([]byte{reqBody[0] + 1}, append(reqBody[1:], 0x09, 0x01)...)), ErrMalformed},
		{"request bad service", coreFrame(typeRequest, func() []byte { w := reqW; w.Service = "Rdp"; return coreCBOR(&w) }()), ErrMalformed},
		{"request short hash", coreFrame(typeRequest, func() []byte { w := reqW; w.PolicyHash = w.PolicyHash[:31]; return coreCBOR(&w) }()), ErrMalformed},
		{"request bad peer", coreFrame(typeRequest, func() []byte { w := reqW; w.Consent.User = []byte{0x11, 0x02, 1, 2}; return coreCBOR(&w) }()), ErrMalformed},
		{"request terms version", coreFrame(typeRequest, func() []byte { w := reqW; w.TermsVersion = "toc\n1"; return coreCBOR(&w) }()), ErrMalformed},
		{"request no consent", coreFrame(typeRequest, func() []byte { w := reqW; w.Consent = wireConsent{}; return coreCBOR(&w) }()), ErrMalformed},
		{"rejection with features", coreFrame(typeResponse, coreMap(coreKV{2, coreCBOR(1)}, coreKV{5, coreCBOR(1)})), ErrMalformed},
		{"response explicit zero features", coreFrame(typeResponse, coreMap(coreKV{1, coreCBOR(true)}, coreKV{4, coreCBOR(&receipt)}, coreKV{5, coreCBOR(0)})), ErrMalformed},
		{"metering version 2", coreFrame(typeMetering, meterWith(func(w *wireMetering) { w.Version = 2 })), ErrUnsupportedVersion},
		{"metering version 2 else garbage", coreFrame(typeMetering, coreMap(coreKV{1, coreCBOR(2)}, coreKV{9, coreCBOR("?")})), ErrUnsupportedVersion},
		{"metering no version", coreFrame(typeMetering, meterWith(func(w *wireMetering) { w.Version = 0 })), ErrMalformed},
		{"metering zero bytes", coreFrame(typeMetering, meterWith(func(w *wireMetering) { w.Bytes = 0 })), ErrMalformed},
		{"metering explicit zero bytes", coreFrame(typeMetering, coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreCBOR(0)}, coreKV{3, coreCBOR([]byte{1})})), ErrMalformed},
		{"metering no receipt", coreFrame(typeMetering, meterWith(func(w *wireMetering) { w.Receipt = nil })), ErrMalformed},
		{"metering receipt too long", coreFrame(typeMetering, meterWith(func(w *wireMetering) { w.Receipt = make([]byte, MaxMeteringReceiptLen+1) })), ErrMalformed},
		{"metering frame over 1 KiB", coreFrame(typeMetering, meterWith(func(w *wireMetering) { w.Receipt = make([]byte, MaxMeteringFrameSize) })), ErrFrameTooLarge},
		{"metering unknown key", coreFrame(typeMetering, coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreCBOR(7)}, coreKV{3, coreCBOR([]byte{1})}, coreKV{4, coreCBOR(1)})), ErrMalformed},
		{"metering text receipt", coreFrame(typeMetering, coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreCBOR(7)}, coreKV{3, coreCBOR("signed")})), ErrMalformed},
		{"metering keys out of order", coreFrame(typeMetering, coreMap(coreKV{1, coreCBOR(1)}, coreKV{3, coreCBOR([]byte{1})}, coreKV{2, coreCBOR(7)})), ErrMalformed},
		{"metering non-shortest bytes", coreFrame(typeMetering, coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, []byte{0x18, 0x07}}, coreKV{3, coreCBOR([]byte{1})})), ErrMalformed},
		{"metering not a map", coreFrame(typeMetering, []byte{0x81, 0x01}), ErrMalformed},
		{"metering empty body", coreFrame(typeMetering, nil), ErrMalformed},
	}
	sentinels := []error{ErrMalformed, ErrUnsupportedVersion, ErrFrameTooLarge, ErrUnknownMessage, io.ErrUnexpectedEOF}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{bytes.NewReader(tt.in), nonByteReader{bytes.NewReader(tt.in)}} {
				m, err := ReadMessage(r)
				require.Nil(t, m)
				require.ErrorIs(t, err, tt.want)
				coreRequireSentinel(t, err, sentinels...)
			}
		})
	}

	_, err := ReadMessage(bytes.NewReader(nil))
	require.Equal(t, io.EOF, err, "io.EOF unwrapped at a frame boundary")

	boom := errors.New("boom")
	_, err = ReadMessage(iotest.ErrReader(boom))
	require.ErrorIs(t, err, boom)
	_, err = ReadMessage(io.MultiReader(bytes.NewReader(endFrame.Bytes()[:2]), iotest.ErrReader(boom)))
	require.ErrorIs(t, err, boom)
}

func TestReadMessageStopsAtOversizePrefix(t *testing.T) {
	// The prefix reader must give up as soon as the length is known to be
	// too large, without reading the following bytes.
	in := append([]byte{0x81, 0x80, 0x01}, "payload"...)
	r := bytes.NewReader(in)
	_, err := ReadMessage(r)
	require.ErrorIs(t, err, ErrFrameTooLarge)
	require.Equal(t, len("payload"), r.Len())
}

func TestWriteMessageRejects(t *testing.T) {
	req := coreRequest(t, ServiceRDP)
	big := StrictParams()
	for i := range 200 {
		big.File.AllowedDirs = append(big.File.AllowedDirs, fmt.Sprintf("/%03d/%s", i, strings.Repeat("d", 100)))
	}
	oversize := coreSignedRequest(t, mustCoreKey(t, "client"), coreID(t, "big"), ServiceRDP, big, TermsVersion, TermsHash(), coreT0)
	tests := []struct {
		name string
		m    Message
		want error
	}{
		{"nil", nil, ErrMalformed},
		{"nil end", (*End)(nil), ErrMalformed},
		{"nil request", (*Request)(nil), ErrMalformed},
		{"end without reason", &End{}, ErrMalformed},
		{"response accepted without receipt", &Response{Accepted: true}, ErrMalformed},
		{"response rejected without reason", &Response{}, ErrMalformed},
		{"response with invalid receipt", &Response{Accepted: true, Receipt: &HostReceipt{}}, ErrMalformed},
		{"tunnel open zero id", &TunnelOpen{}, ErrMalformed},
		{"tunnel reply ok with reason", &TunnelReply{OK: true, Reason: ReasonInternal}, ErrMalformed},
		{"request version 0", func() Message { r := *req; r.Version = 0; return &r }(), ErrUnsupportedVersion},
		{"request version 2", func() Message { r := *req; r.Version = 2; return &r }(), ErrUnsupportedVersion},
		{"request zero session", func() Message { r := *req; r.Session = ID{}; return &r }(), ErrMalformed},
		{"request empty service", func() Message { r := *req; r.Service = ""; return &r }(), ErrMalformed},
		{"request no terms version", func() Message { r := *req; r.TermsVersion = ""; return &r }(), ErrMalformed},
		{"request unsigned consent time", func() Message { r := *req; r.Consent.AcceptedAt = coreT0.AddDate(-100, 0, 0); return &r }(), ErrMalformed},
		{"request over 16 KiB", oversize, ErrFrameTooLarge},
		{"nil metering", (*Metering)(nil), ErrMalformed},
		{"metering zero bytes", &Metering{Receipt: []byte{1}}, ErrMalformed},
		{"metering no receipt", &Metering{Bytes: 1}, ErrMalformed},
		{"metering empty receipt", &Metering{Bytes: 1, Receipt: []byte{}}, ErrMalformed},
		{"metering receipt too long", &Metering{Bytes: 1, Receipt: make([]byte, MaxMeteringReceiptLen+1)}, ErrMalformed},
		{"rejection with features", &Response{Reason: ReasonHostFull, Features: FeatureMetering}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := WriteMessage(&buf, tt.m)
			require.ErrorIs(t, err, tt.want)
			coreRequireSentinel(t, err, allSentinels...)
			require.Zero(t, buf.Len(), "nothing written on error")
		})
	}
}

func TestWriteMessageSanitizesDetails(t *testing.T) {
	raw := "read: \x1b[31mboom\n" + strings.Repeat("é", 200)
	want := SanitizeDetail(raw)
	require.Equal(t, "read: ?[31mboom?", want[:16])
	for _, tt := range []struct {
		m      Message
		detail func(Message) string
	}{
		{&End{Reason: EndError, Detail: raw}, func(m Message) string { return m.(*End).Detail }},
		{&Response{Reason: ReasonInternal, Detail: raw}, func(m Message) string { return m.(*Response).Detail }},
		{&TunnelReply{Reason: ReasonInternal, Detail: raw}, func(m Message) string { return m.(*TunnelReply).Detail }},
	} {
		var buf bytes.Buffer
		require.NoError(t, WriteMessage(&buf, tt.m))
		require.Equal(t, raw, tt.detail(tt.m), "the caller's message is not modified")
		got, err := ReadMessage(&buf)
		require.NoError(t, err)
		require.Equal(t, want, tt.detail(got))
	}
}

func TestWireLargestValidRequestFits(t *testing.T) {
	p := coreFullParams()
	fill := func(prefix string) []string {
		l := make([]string, MaxParamsListLen)
		for i := range l {
			s := fmt.Sprintf("%s%02d", prefix, i)
			l[i] = s + strings.Repeat("é", (MaxParamsStringLen-len(s))/2)
		}
		return l
	}
	p.Input.KeyBlocklist = fill("k")
	p.File.AllowedDirs = fill("/d")
	p.File.AllowedExtensions = fill("*.")
	require.NoError(t, p.Validate())
	req := coreSignedRequest(t, mustCoreKey(t, "client"), coreID(t, "max"), ServiceSSH, p, TermsVersion, TermsHash(), coreT0)
	var buf bytes.Buffer
	require.NoError(t, WriteMessage(&buf, req))
	require.Less(t, buf.Len(), MaxFrameSize)
	t.Logf("largest valid request: %d bytes", buf.Len())
	got, err := ReadMessage(&buf)
	require.NoError(t, err)
	require.Equal(t, req, got)
}

func TestReasonWords(t *testing.T) {
	codes := map[string]bool{}
	for r := ReasonMalformed; r <= ReasonInternal; r++ {
		require.NotContains(t, r.String(), "unknown", r.Code())
		require.NotContains(t, r.Code(), "reason_")
		require.False(t, codes[r.Code()], "duplicate code %s", r.Code())
		codes[r.Code()] = true
	}
	require.Equal(t, "access_denied", ReasonAccessDenied.Code())
	require.Equal(t, "host has no free session slots", ReasonHostFull.String())
	require.Equal(t, "reason_0", RejectReason(0).Code())
	require.Equal(t, "unknown reason 14", RejectReason(14).String())
	require.Equal(t, RejectReason(13), ReasonInternal, "wire codes are fixed")

	for r := EndClientClosed; r <= EndError; r++ {
		require.NotContains(t, r.String(), "unknown")
		require.False(t, codes["end:"+r.Code()])
		codes["end:"+r.Code()] = true
	}
	require.Equal(t, EndReason(8), EndError, "wire codes are fixed")
	require.Equal(t, "max_duration", EndMaxDuration.Code())
	require.Equal(t, "end_99", EndReason(99).Code())
	require.Equal(t, "unknown end reason 0", EndReason(0).String())
}

func TestSanitizeDetail(t *testing.T) {
	require.Equal(t, "a?b?c", SanitizeDetail("a\nb\x1bc"))
	require.Equal(t, "bad?", SanitizeDetail("bad\xff"))
	long := SanitizeDetail(strings.Repeat("é", 200))
	require.Len(t, long, MaxDetailLen)
	require.NoError(t, checkDetail(long))
	require.NoError(t, checkDetail(SanitizeDetail(strings.Repeat("€", 100))))
}
