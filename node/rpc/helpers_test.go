package rpc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/node/rpc"
)

type echoParams struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

// fixture is a server with a fixed set of test methods behind a real
// loopback listener.
type fixture struct {
	srv      *rpc.Server
	hs       *httptest.Server
	logs     *syncBuffer
	notified atomic.Int64
	// blockStarted receives once test_block is running; blockDone receives
	// the context error test_block observed.
	blockStarted chan struct{}
	blockDone    chan error
}

// syncBuffer lets the server log from handler goroutines while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newFixture(t testing.TB, opts ...rpc.ServerOption) *fixture {
	t.Helper()
	f := &fixture{
		logs:         &syncBuffer{},
		blockStarted: make(chan struct{}, 1),
		blockDone:    make(chan error, 1),
	}
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.srv = rpc.NewServer(append([]rpc.ServerOption{rpc.WithLogger(logger)}, opts...)...)
	registerTestMethods(f.srv, f)
	f.hs = httptest.NewServer(f.srv)
	t.Cleanup(f.hs.Close)
	return f
}

func registerTestMethods(s *rpc.Server, f *fixture) {
	s.Register("test_echo", rpc.Method(func(_ context.Context, p echoParams) (echoParams, error) {
		return p, nil
	}))
	s.Register("test_ptr", rpc.Method(func(_ context.Context, p *echoParams) (*echoParams, error) {
		return p, nil // nil params must come back as a null result
	}))
	s.Register("test_panic", func(context.Context, json.RawMessage) (any, error) {
		panic("boom")
	})
	s.Register("test_notFound", func(context.Context, json.RawMessage) (any, error) {
		return nil, rpc.NotFound("peer %s not found", "abc").WithData(map[string]any{"peer": "abc"})
	})
	s.Register("test_wrapped", func(context.Context, json.RawMessage) (any, error) {
		return nil, fmt.Errorf("dialing: %w", rpc.Unavailable("peer unreachable"))
	})
	s.Register("test_plainErr", func(context.Context, json.RawMessage) (any, error) {
		return nil, errors.New("disk on fire")
	})
	s.Register("test_badResult", func(context.Context, json.RawMessage) (any, error) {
		return func() {}, nil
	})
	s.Register("test_raw", func(_ context.Context, p json.RawMessage) (any, error) {
		if p == nil {
			return "nil", nil
		}
		return string(p), nil
	})
	s.Register("test_html", func(context.Context, json.RawMessage) (any, error) {
		return "<a&b>", nil
	})
	if f == nil {
		return
	}
	s.Register("test_count", func(context.Context, json.RawMessage) (any, error) {
		f.notified.Add(1)
		return nil, nil
	})
	s.Register("test_block", func(ctx context.Context, _ json.RawMessage) (any, error) {
		f.blockStarted <- struct{}{}
		<-ctx.Done()
		f.blockDone <- ctx.Err()
		return nil, ctx.Err()
	})
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// post sends a raw request. Pass a nil headers map for the defaults
// (Content-Type: application/json).
func post(t testing.TB, url, method, body string, headers map[string]string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if headers == nil {
		headers = map[string]string{"Content-Type": "application/json"}
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}
