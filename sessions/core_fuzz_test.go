package sessions

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

var readSentinels = []error{ErrMalformed, ErrUnsupportedVersion, ErrFrameTooLarge, ErrUnknownMessage, io.ErrUnexpectedEOF}

// FuzzReadMessage feeds arbitrary bytes to ReadMessage. Properties: no
// panics; the ByteReader and plain-Reader paths agree; every error wraps
// exactly one sentinel (io.EOF only for empty input); a message read writes
// back to exactly the bytes consumed, and nothing after them is consumed;
// Check and the receipt methods accept whatever decodes without panicking.
func FuzzReadMessage(f *testing.F) {
	for _, m := range coreMessages(f) {
		var buf bytes.Buffer
		require.NoError(f, WriteMessage(&buf, m))
		frame := buf.Bytes()
		f.Add(bytes.Clone(frame))
		f.Add(append(bytes.Clone(frame), "raw tunnel bytes"...))
		f.Add(bytes.Clone(frame[:len(frame)/2]))
	}
	f.Add([]byte{})
	f.Add([]byte{0x81, 0x80, 0x01})
	f.Add(coreFrame(typeEnd, []byte{0xa1, 0x01, 0x19, 0x00, 0x01}))
	f.Add(coreFrame(9, []byte{0xa0}))
	f.Add(coreFrame(typeMetering, coreMap(coreKV{1, coreCBOR(2)})))

	policy := coreHostPolicy()
	_, client := coreKey(f, "client")

	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		m, err := ReadMessage(r)
		m2, err2 := ReadMessage(nonByteReader{bytes.NewReader(data)})
		if err != nil {
			require.Nil(t, m)
			require.Error(t, err2)
			require.Equal(t, err.Error(), err2.Error(), "both read paths must fail alike")
			if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				require.Empty(t, data)
				return
			}
			coreRequireSentinel(t, err, readSentinels...)
			return
		}
		require.NoError(t, err2)
		require.Equal(t, m, m2, "both read paths must agree")

		consumed := data[:len(data)-r.Len()]
		var buf bytes.Buffer
		require.NoError(t, WriteMessage(&buf, m), "a message that was read must be writable")
		require.Equal(t, consumed, buf.Bytes(), "decoding must be canonical")

		switch v := m.(type) {
		case *Request:
			if err := policy.Check(v, client, coreT0); err != nil {
				var rej *Rejection
				require.ErrorAs(t, err, &rej)
				require.NoError(t, WriteMessage(io.Discard, rej.Response()))
			}
			_ = v.Consent.Hash()
			_ = v.Params.Hash()
			_ = v.Params.Permits(v.Service)
			js, err := json.Marshal(v.Consent)
			require.NoError(t, err)
			var c ConsentReceipt
			require.NoError(t, json.Unmarshal(js, &c))
			require.Equal(t, v.Consent, c)
		case *Response:
			if v.Receipt != nil {
				_ = v.Receipt.Verify()
				js, err := json.Marshal(v.Receipt)
				require.NoError(t, err)
				var hr HostReceipt
				require.NoError(t, json.Unmarshal(js, &hr))
				require.Equal(t, *v.Receipt, hr)
			}
			_ = v.Reason.String()
		case *Metering:
			requireMeteringBounds(t, v)
		case *End:
			l := NewLifecycle(coreT0)
			require.NoError(t, l.Activate(coreT0))
			require.NoError(t, l.End(v.Reason, v.Detail, coreT0))
			require.True(t, isPrintable(l.Reason))
		}
	})
}

// FuzzDecodeParams: no panics; errors wrap one sentinel; accepted params
// are valid, re-encode to the same bytes, hash to SHA-256 of those bytes and
// survive a JSON round trip.
func FuzzDecodeParams(f *testing.F) {
	invalid := StrictParams()
	invalid.Input.MouseRateLimitHz = 0
	for _, p := range []ConnectionParams{StrictParams(), ParamsForService(ServiceSSH), coreFullParams(), {Input: InputParams{MouseRateLimitHz: 1}}, invalid} {
		f.Add(p.canonical())
	}
	f.Add([]byte{0xa0})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeParams(data)
		if err != nil {
			coreRequireSentinel(t, err, ErrMalformed, ErrUnsupportedVersion, ErrInvalidParams)
			return
		}
		require.NoError(t, p.Validate())
		enc, err := p.Encode()
		require.NoError(t, err)
		require.Equal(t, data, enc)
		require.Equal(t, sha256.Sum256(data), p.Hash())
		js, err := json.Marshal(p)
		require.NoError(t, err)
		var back ConnectionParams
		require.NoError(t, json.Unmarshal(js, &back))
		require.Equal(t, p, back)
		for _, s := range Services {
			_ = p.Permits(s)
		}
	})
}

// FuzzDecodeInfo: no panics; errors wrap one sentinel; accepted records
// re-encode to the same bytes and survive a JSON round trip.
func FuzzDecodeInfo(f *testing.F) {
	host, client := coreInfos(f)
	for _, i := range []Info{host, client, coreMetered(f)} {
		b, err := i.Encode()
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		i, err := DecodeInfo(data)
		if err != nil {
			coreRequireSentinel(t, err, ErrMalformed, ErrUnsupportedVersion)
			return
		}
		enc, err := i.Encode()
		require.NoError(t, err)
		require.Equal(t, data, enc)
		js, err := json.Marshal(i)
		require.NoError(t, err)
		var back Info
		require.NoError(t, json.Unmarshal(js, &back))
		require.Equal(t, i, back)
	})
}

func requireMeteringBounds(t *testing.T, m *Metering) {
	t.Helper()
	require.NotZero(t, m.Bytes)
	require.NotEmpty(t, m.Receipt)
	require.LessOrEqual(t, len(m.Receipt), MaxMeteringReceiptLen)
}

// FuzzDecodeMetering feeds arbitrary bodies to the Metering decoder, the
// one message a host reads from a live session and tolerates when it is
// bad. Properties: no panics; errors wrap exactly one sentinel; bodies that
// make the frame exceed 1 KiB are ErrFrameTooLarge before anything else;
// an accepted message is within bounds and re-encodes to the same frame.
func FuzzDecodeMetering(f *testing.F) {
	for _, m := range []*Metering{
		{Bytes: 1, Receipt: []byte{0}},
		{Bytes: 1 << 40, Receipt: []byte("a consensus.MeteringReceipt goes here")},
		{Bytes: math.MaxUint64, Receipt: bytes.Repeat([]byte{0xff}, MaxMeteringReceiptLen)},
	} {
		w := m.wire()
		f.Add(coreCBOR(&w))
	}
	f.Add(coreMap(coreKV{1, coreCBOR(2)}))
	f.Add(coreMap(coreKV{1, coreCBOR(1)}, coreKV{2, coreCBOR(0)}, coreKV{3, coreCBOR([]byte{1})}))
	f.Add([]byte{0xa0})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeFrame(typeMetering, body)
		if err != nil {
			require.Nil(t, m)
			coreRequireSentinel(t, err, ErrMalformed, ErrUnsupportedVersion, ErrFrameTooLarge)
			if 1+len(body) > MaxMeteringFrameSize {
				require.ErrorIs(t, err, ErrFrameTooLarge)
			}
			return
		}
		v, ok := m.(*Metering)
		require.True(t, ok, "%T", m)
		requireMeteringBounds(t, v)
		var buf bytes.Buffer
		require.NoError(t, WriteMessage(&buf, v))
		require.Equal(t, coreFrame(typeMetering, body), buf.Bytes())
	})
}
