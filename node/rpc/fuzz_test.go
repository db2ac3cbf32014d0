package rpc_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lucidnet/lucid/node/rpc"
)

func FuzzServeHTTP(f *testing.F) {
	seeds := []string{
		``,
		` `,
		`{`,
		`[]`,
		`[[]]`,
		`null`,
		`"x"`,
		`{"jsonrpc":"2.0","id":1,"method":"test_echo","params":{"name":"a","n":1}}`,
		`{"jsonrpc":"2.0","id":"x","method":"test_echo","params":[{"name":"a"}]}`,
		`{"jsonrpc":"2.0","id":null,"method":"test_ptr","params":null}`,
		`{"jsonrpc":"2.0","method":"test_echo"}`,
		`{"jsonrpc":"2.0","id":1e400,"method":"test_panic"}`,
		`{"jsonrpc":"2.0","id":1,"method":"test_notFound"}`,
		`{"jsonrpc":"2.0","id":1,"method":"test_badResult"}`,
		`{"jsonrpc":"2.0","id":1,"method":"test_raw","params":[1,{"a":[]}]}`,
		`{"jsonrpc":"2.0","id":1,"method":"rpc_methods","params":{"x":1}}`,
		`{"jsonrpc":"2.0","id":true,"method":"test_echo"}`,
		`{"jsonrpc":2,"id":1,"method":"test_echo"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"test_echo"},{"jsonrpc":"2.0","method":"test_echo"},1,"a",null]`,
		`[{"jsonrpc":"2.0","method":"test_echo"}]`,
		`[{},{},{},{},{},{},{},{},{}]`,
		"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"test_echo\"}",
		`{"jsonrpc":"2.0","id":"\u0000<>&","method":"test_echo","params":{"name":"\ud800"}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}

	srv := rpc.NewServer(
		rpc.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		rpc.WithLimits(4096, 8),
	)
	registerTestMethods(srv, nil)

	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)

		switch rec.Code {
		case http.StatusNoContent:
			if rec.Body.Len() != 0 {
				t.Fatalf("204 with body %q", rec.Body.Bytes())
			}
			return
		case http.StatusOK, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("unexpected status %d", rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		if err := checkReply(rec.Body.Bytes()); err != nil {
			t.Fatalf("request %q: reply %q: %v", body, rec.Body.Bytes(), err)
		}
	})
}

// checkReply verifies that b is one JSON-RPC response object or a non-empty
// array of them.
func checkReply(b []byte) error {
	if !json.Valid(b) {
		return fmt.Errorf("invalid JSON")
	}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(b, &arr); err != nil {
			return err
		}
		if len(arr) == 0 {
			return fmt.Errorf("empty batch reply")
		}
		for i, r := range arr {
			if err := checkResponse(r); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return nil
	}
	return checkResponse(b)
}

func checkResponse(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return fmt.Errorf("not an object")
	}
	for k := range m {
		switch k {
		case "jsonrpc", "id", "result", "error":
		default:
			return fmt.Errorf("unexpected member %q", k)
		}
	}
	if string(m["jsonrpc"]) != `"2.0"` {
		return fmt.Errorf("jsonrpc is %s", m["jsonrpc"])
	}
	id, ok := m["id"]
	if !ok {
		return fmt.Errorf("missing id")
	}
	var idVal any
	_ = json.Unmarshal(id, &idVal)
	switch idVal.(type) {
	case nil, string, float64:
	default:
		if id[0] != '-' && (id[0] < '0' || id[0] > '9') { // numbers beyond float64 fail to decode
			return fmt.Errorf("id %s is not a string, number or null", id)
		}
	}
	_, hasResult := m["result"]
	e, hasError := m["error"]
	if hasResult == hasError {
		return fmt.Errorf("want exactly one of result and error")
	}
	if hasError {
		var ee struct {
			Code    *int    `json:"code"`
			Message *string `json:"message"`
		}
		if err := json.Unmarshal(e, &ee); err != nil || ee.Code == nil || ee.Message == nil {
			return fmt.Errorf("malformed error object %s", e)
		}
	}
	return nil
}
