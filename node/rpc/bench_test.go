package rpc_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lucidnet/lucid/node/rpc"
)

// BenchmarkCall measures a full Client.Call round trip over loopback and
// reports it against a bare net/http POST that echoes its body, measured in
// the same run, so the ratio is comparable across machines: it is the cost
// the JSON-RPC layer (encoding, auth, dispatch, decoding) adds to HTTP.
func BenchmarkCall(b *testing.B) {
	const token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	// Production log level: per-call debug records are disabled.
	srv := rpc.NewServer(rpc.WithBearerToken(token),
		rpc.WithLogger(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	registerTestMethods(srv, nil)
	hs := httptest.NewServer(srv)
	b.Cleanup(hs.Close)
	c := rpc.NewClient(hs.URL, token, hs.Client())
	params := echoParams{Name: "benchmark", N: 42}

	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.Copy(w, r.Body)
	}))
	b.Cleanup(bare.Close)
	bareClient := bare.Client()
	// Same size as the RPC request so only the protocol work differs.
	payload := []byte(`{"jsonrpc":"2.0","id":1,"method":"test_echo","params":{"name":"benchmark","n":42}}`)
	barePost := func() {
		resp, err := bareClient.Post(bare.URL, "application/json", bytes.NewReader(payload))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	call := func() {
		var got echoParams
		if err := c.Call(b.Context(), "test_echo", params, &got); err != nil {
			b.Fatal(err)
		}
	}
	// Warm both connection pools so neither loop pays for a dial.
	barePost()
	call()

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		barePost()
	}
	bareDur := time.Since(start)

	// Restart the timer so ns/op and allocs/op describe Call alone.
	b.ResetTimer()
	start = time.Now()
	for range b.N {
		call()
	}
	callDur := time.Since(start)
	b.StopTimer()

	b.ReportMetric(float64(bareDur.Nanoseconds())/float64(b.N), "bare-ns/op")
	b.ReportMetric(float64(callDur)/float64(bareDur), "x-vs-bare-http")
}
