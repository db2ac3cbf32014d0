package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/node/rpc"
)

func TestClientRoundTrip(t *testing.T) {
	const token = "t0ken"
	f := newFixture(t, rpc.WithBearerToken(token))
	c := rpc.NewClient(f.hs.URL, token, nil)

	tests := []struct {
		name     string
		method   string
		params   any
		want     any // expected decoded result; nil skips the check
		wantCode int // expected *Error code; 0 means success
		wantMsg  string
	}{
		{name: "typed params", method: "test_echo", params: echoParams{Name: "a", N: 7}, want: echoParams{Name: "a", N: 7}},
		{name: "positional params", method: "test_echo", params: []any{echoParams{Name: "p"}}, want: echoParams{Name: "p"}},
		{name: "map params", method: "test_echo", params: map[string]any{"name": "m"}, want: echoParams{Name: "m"}},
		{name: "no params", method: "test_echo", want: echoParams{}},
		{name: "null result", method: "test_ptr"},
		{name: "not found keeps data", method: "test_notFound", wantCode: rpc.CodeResourceNotFound, wantMsg: "peer abc not found"},
		{name: "wrapped error", method: "test_wrapped", wantCode: rpc.CodeResourceUnavailable, wantMsg: "peer unreachable"},
		{name: "plain error", method: "test_plainErr", wantCode: rpc.CodeInternalError, wantMsg: "disk on fire"},
		{name: "panic", method: "test_panic", wantCode: rpc.CodeInternalError, wantMsg: "internal error"},
		{name: "unknown method", method: "nope", wantCode: rpc.CodeMethodNotFound, wantMsg: `method "nope" not found`},
		{name: "invalid params", method: "test_echo", params: map[string]any{"bogus": 1}, wantCode: rpc.CodeInvalidParams, wantMsg: `json: unknown field "bogus"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got echoParams
			err := c.Call(t.Context(), tt.method, tt.params, &got)
			if tt.wantCode != 0 {
				var rerr *rpc.Error
				require.ErrorAs(t, err, &rerr)
				assert.Equal(t, tt.wantCode, rerr.Code)
				assert.Equal(t, tt.wantMsg, rerr.Message)
				return
			}
			require.NoError(t, err)
			if tt.want != nil {
				assert.Equal(t, tt.want, got)
			}
		})
	}

	t.Run("error data decoded", func(t *testing.T) {
		err := c.Call(t.Context(), "test_notFound", nil, nil)
		var rerr *rpc.Error
		require.ErrorAs(t, err, &rerr)
		assert.Equal(t, map[string]any{"peer": "abc"}, rerr.Data)
	})
	t.Run("nil result discards", func(t *testing.T) {
		require.NoError(t, c.Call(t.Context(), "test_echo", echoParams{Name: "x"}, nil))
	})
	t.Run("rpc_methods", func(t *testing.T) {
		var methods []string
		require.NoError(t, c.Call(t.Context(), "rpc_methods", nil, &methods))
		assert.Equal(t, f.srv.Methods(), methods)
	})
	t.Run("result type mismatch", func(t *testing.T) {
		var n int
		err := c.Call(t.Context(), "test_echo", nil, &n)
		require.Error(t, err)
		assert.False(t, rpc.IsCode(err, rpc.CodeInternalError), "decode failures are not RPC errors")
		assert.Contains(t, err.Error(), "decoding result")
	})
	t.Run("concurrent calls", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				var got echoParams
				assert.NoError(t, c.Call(t.Context(), "test_echo", echoParams{N: i}, &got))
				assert.Equal(t, i, got.N)
			})
		}
		wg.Wait()
	})
}

func TestClientErrors(t *testing.T) {
	f := newFixture(t, rpc.WithBearerToken("right"), rpc.WithLimits(256, 0))

	// fake answers every request with a fixed status and body.
	fake := func(status int, contentType, body string) string {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}))
		t.Cleanup(hs.Close)
		return hs.URL
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name     string
		url      string
		token    string
		params   any
		wantCode int    // *Error code expected; 0 means a plain Go error
		wantMsg  string // substring of err.Error()
		wantIs   error
	}{
		{name: "wrong token", url: f.hs.URL, token: "wrong", wantCode: rpc.CodeUnauthorized, wantMsg: "unauthorized"},
		{name: "no token", url: f.hs.URL, wantCode: rpc.CodeUnauthorized, wantMsg: "unauthorized"},
		{name: "bare 401", url: fake(401, "text/plain", "go away"), wantCode: rpc.CodeUnauthorized, wantMsg: "unauthorized"},
		{
			name: "body over server limit", url: f.hs.URL, token: "right",
			params:   map[string]string{"name": string(make([]byte, 300))},
			wantCode: rpc.CodeLimitExceeded, wantMsg: "exceeds the limit of 256 bytes",
		},
		{name: "non-JSON error body", url: fake(502, "text/html", "<h1>Bad Gateway</h1>"), wantMsg: "HTTP 502 Bad Gateway"},
		{name: "empty 204", url: fake(204, "", ""), wantMsg: "decoding response"},
		{name: "garbage 200", url: fake(200, "application/json", "nope"), wantMsg: "decoding response"},
		{name: "neither result nor error", url: fake(200, "application/json", `{"jsonrpc":"2.0","id":1}`), wantMsg: "neither result nor error"},
		{name: "id mismatch", url: fake(200, "application/json", `{"jsonrpc":"2.0","id":999,"result":1}`), wantMsg: "does not match request id"},
		{name: "null id on success", url: fake(200, "application/json", `{"jsonrpc":"2.0","id":null,"result":1}`), wantMsg: "does not match request id"},
		{name: "connection refused", url: closed.URL, wantMsg: "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rpc.NewClient(tt.url, tt.token, nil)
			err := c.Call(t.Context(), "test_echo", tt.params, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantMsg)
			var rerr *rpc.Error
			if tt.wantCode == 0 {
				assert.False(t, errors.As(err, &rerr), "want a plain Go error, got %#v", err)
				return
			}
			require.ErrorAs(t, err, &rerr)
			assert.Equal(t, tt.wantCode, rerr.Code)
		})
	}
}

func TestClientIDsIncrease(t *testing.T) {
	var (
		mu  sync.Mutex
		ids []uint64
	)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      uint64          `json:"id"`
			Params  json.RawMessage `json:"params"`
		}
		if !assert.NoError(t, json.NewDecoder(r.Body).Decode(&req)) {
			return
		}
		assert.Equal(t, "2.0", req.JSONRPC)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		assert.Equal(t, "Bearer tok", r.Header.Get("Authorization"))
		assert.Nil(t, req.Params, "nil params must be omitted")
		mu.Lock()
		ids = append(ids, req.ID)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": true})
	}))
	t.Cleanup(hs.Close)

	c := rpc.NewClient(hs.URL, "tok", hs.Client())
	for range 3 {
		var ok bool
		require.NoError(t, c.Call(context.Background(), "x", nil, &ok))
		assert.True(t, ok)
	}
	assert.Equal(t, []uint64{1, 2, 3}, ids)
}
