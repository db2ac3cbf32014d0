package rpc_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/node/rpc"
)

// errJSON builds the expected error response for table cases.
func errJSON(id string, code int, msg string) string {
	b, _ := json.Marshal(msg)
	return `{"jsonrpc":"2.0","id":` + id + `,"error":{"code":` + itoa(code) + `,"message":` + string(b) + `}}`
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestServeHTTP(t *testing.T) {
	f := newFixture(t, rpc.WithLimits(512, 5))
	big := `{"jsonrpc":"2.0","id":1,"method":"test_echo","params":{"name":"` + strings.Repeat("x", 600) + `"}}`

	tests := []struct {
		name   string
		body   string
		status int
		// want is compared with JSONEq; empty means "no body".
		want string
		// code, when set, checks only the error code of a single response,
		// for messages that come from encoding/json.
		code int
	}{
		{
			name:   "valid call with params object",
			body:   `{"jsonrpc":"2.0","id":1,"method":"test_echo","params":{"name":"a","n":2}}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":1,"result":{"name":"a","n":2}}`,
		},
		{
			name:   "one-element params array",
			body:   `{"jsonrpc":"2.0","id":2,"method":"test_echo","params":[{"name":"b"}]}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":2,"result":{"name":"b","n":0}}`,
		},
		{
			name:   "absent params",
			body:   `{"jsonrpc":"2.0","id":3,"method":"test_echo"}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":3,"result":{"name":"","n":0}}`,
		},
		{
			name:   "empty params array",
			body:   `{"jsonrpc":"2.0","id":3,"method":"test_echo","params":[]}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":3,"result":{"name":"","n":0}}`,
		},
		{
			name:   "null params treated as absent",
			body:   `{"jsonrpc":"2.0","id":3,"method":"test_raw","params":null}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":3,"result":"nil"}`,
		},
		{
			name:   "raw handler gets params verbatim",
			body:   `{"jsonrpc":"2.0","id":3,"method":"test_raw","params":[1,2]}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":3,"result":"[1,2]"}`,
		},
		{
			name:   "nil pointer result is null",
			body:   `{"jsonrpc":"2.0","id":3,"method":"test_ptr"}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":3,"result":null}`,
		},
		{
			name:   "string id echoed verbatim without HTML escaping",
			body:   `{"jsonrpc":"2.0","id":"<a&b>","method":"test_html"}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":"<a&b>","result":"<a&b>"}`,
		},
		{
			name:   "fractional id echoed verbatim",
			body:   `{"jsonrpc":"2.0","id":1.50e3,"method":"test_ptr"}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":1.50e3,"result":null}`,
		},
		{
			name:   "null id is a call, not a notification",
			body:   `{"jsonrpc":"2.0","id":null,"method":"test_ptr"}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":null,"result":null}`,
		},
		{
			name:   "unknown members ignored",
			body:   `{"jsonrpc":"2.0","id":1,"method":"test_ptr","extra":{"x":1}}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":1,"result":null}`,
		},
		{
			name:   "unknown method",
			body:   `{"jsonrpc":"2.0","id":4,"method":"nope"}`,
			status: 200,
			want:   errJSON("4", rpc.CodeMethodNotFound, `method "nope" not found`),
		},
		{
			name:   "member names are case-sensitive",
			body:   `{"jsonrpc":"2.0","id":4,"Method":"test_echo"}`,
			status: 200,
			want:   errJSON("4", rpc.CodeInvalidRequest, `invalid request: "method" must be a string`),
		},
		{
			name:   "unknown param field",
			body:   `{"jsonrpc":"2.0","id":5,"method":"test_echo","params":{"nam":"a"}}`,
			status: 200,
			want:   errJSON("5", rpc.CodeInvalidParams, `json: unknown field "nam"`),
		},
		{
			name:   "param of wrong type",
			body:   `{"jsonrpc":"2.0","id":5,"method":"test_echo","params":{"n":"two"}}`,
			status: 200,
			code:   rpc.CodeInvalidParams,
		},
		{
			name:   "two positional params",
			body:   `{"jsonrpc":"2.0","id":5,"method":"test_echo","params":[{},{}]}`,
			status: 200,
			want:   errJSON("5", rpc.CodeInvalidParams, "expected at most one positional parameter, got 2"),
		},
		{
			name:   "scalar params",
			body:   `{"jsonrpc":"2.0","id":5,"method":"test_echo","params":"a"}`,
			status: 200,
			want:   errJSON("5", rpc.CodeInvalidRequest, `invalid request: "params" must be an object or array`),
		},
		{
			name:   "bad JSON",
			body:   `{"jsonrpc":"2.0","id":6,"method":`,
			status: 200,
			want:   errJSON("null", rpc.CodeParseError, "parse error: invalid JSON"),
		},
		{
			name:   "invalid UTF-8",
			body:   "{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"test_echo\"}",
			status: 200,
			want:   errJSON("null", rpc.CodeParseError, "parse error: request is not valid UTF-8"),
		},
		{
			name:   "bad jsonrpc version",
			body:   `{"jsonrpc":"1.0","id":7,"method":"test_echo"}`,
			status: 200,
			want:   errJSON("7", rpc.CodeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`),
		},
		{
			name:   "missing jsonrpc without id is still answered",
			body:   `{"method":"test_echo"}`,
			status: 200,
			want:   errJSON("null", rpc.CodeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`),
		},
		{
			name:   "non-string method",
			body:   `{"jsonrpc":"2.0","id":8,"method":1}`,
			status: 200,
			want:   errJSON("8", rpc.CodeInvalidRequest, `invalid request: "method" must be a string`),
		},
		{
			name:   "null method",
			body:   `{"jsonrpc":"2.0","id":8,"method":null}`,
			status: 200,
			want:   errJSON("8", rpc.CodeInvalidRequest, `invalid request: "method" must be a string`),
		},
		{
			name:   "object id",
			body:   `{"jsonrpc":"2.0","id":{},"method":"test_echo"}`,
			status: 200,
			want:   errJSON("null", rpc.CodeInvalidRequest, "invalid request: id must be a string, number or null"),
		},
		{
			name:   "scalar body",
			body:   `42`,
			status: 200,
			want:   errJSON("null", rpc.CodeInvalidRequest, "invalid request: not a JSON object"),
		},
		{
			name:   "null body",
			body:   `null`,
			status: 200,
			want:   errJSON("null", rpc.CodeInvalidRequest, "invalid request: not a JSON object"),
		},
		{
			name: "batch mixed with notifications",
			body: `[
				{"jsonrpc":"2.0","id":1,"method":"test_echo","params":{"name":"x"}},
				{"jsonrpc":"2.0","method":"test_count"},
				{"jsonrpc":"2.0","id":"b","method":"nope"},
				1,
				{"jsonrpc":"2.0","method":"nope"}
			]`,
			status: 200,
			want: `[
				{"jsonrpc":"2.0","id":1,"result":{"name":"x","n":0}},
				` + errJSON(`"b"`, rpc.CodeMethodNotFound, `method "nope" not found`) + `,
				` + errJSON("null", rpc.CodeInvalidRequest, "invalid request: not a JSON object") + `
			]`,
		},
		{
			name:   "all-notification batch",
			body:   `[{"jsonrpc":"2.0","method":"test_count"},{"jsonrpc":"2.0","method":"test_count","params":{}}]`,
			status: http.StatusNoContent,
		},
		{
			name:   "single notification",
			body:   `{"jsonrpc":"2.0","method":"test_count"}`,
			status: http.StatusNoContent,
		},
		{
			name:   "failing notification is silent",
			body:   `{"jsonrpc":"2.0","method":"test_plainErr"}`,
			status: http.StatusNoContent,
		},
		{
			name:   "empty batch",
			body:   ` [ ] `,
			status: 200,
			want:   errJSON("null", rpc.CodeInvalidRequest, "empty batch"),
		},
		{
			name:   "oversize batch",
			body:   `[{},{},{},{},{},{}]`,
			status: 200,
			want:   errJSON("null", rpc.CodeLimitExceeded, "batch of 6 calls exceeds the limit of 5"),
		},
		{
			name:   "batch of non-objects",
			body:   `[1,"x",null]`,
			status: 200,
			want: "[" + errJSON("null", rpc.CodeInvalidRequest, "invalid request: not a JSON object") +
				"," + errJSON("null", rpc.CodeInvalidRequest, "invalid request: not a JSON object") +
				"," + errJSON("null", rpc.CodeInvalidRequest, "invalid request: not a JSON object") + "]",
		},
		{
			name: "batch at the limit",
			body: `[{"jsonrpc":"2.0","method":"test_count"},{"jsonrpc":"2.0","method":"test_count"},` +
				`{"jsonrpc":"2.0","method":"test_count"},{"jsonrpc":"2.0","method":"test_count"},` +
				`{"jsonrpc":"2.0","method":"test_count"}]`,
			status: http.StatusNoContent,
		},
		{
			name:   "oversize body",
			body:   big,
			status: http.StatusRequestEntityTooLarge,
			want:   errJSON("null", rpc.CodeLimitExceeded, "request body exceeds the limit of 512 bytes"),
		},
		{
			name:   "panic recovered",
			body:   `{"jsonrpc":"2.0","id":9,"method":"test_panic"}`,
			status: 200,
			want:   errJSON("9", rpc.CodeInternalError, "internal error"),
		},
		{
			name:   "handler *Error passes through with data",
			body:   `{"jsonrpc":"2.0","id":10,"method":"test_notFound"}`,
			status: 200,
			want:   `{"jsonrpc":"2.0","id":10,"error":{"code":-32001,"message":"peer abc not found","data":{"peer":"abc"}}}`,
		},
		{
			name:   "wrapped *Error keeps its code",
			body:   `{"jsonrpc":"2.0","id":11,"method":"test_wrapped"}`,
			status: 200,
			want:   errJSON("11", rpc.CodeResourceUnavailable, "peer unreachable"),
		},
		{
			name:   "plain error becomes internal error with its message",
			body:   `{"jsonrpc":"2.0","id":12,"method":"test_plainErr"}`,
			status: 200,
			want:   errJSON("12", rpc.CodeInternalError, "disk on fire"),
		},
		{
			name:   "unencodable result",
			body:   `{"jsonrpc":"2.0","id":13,"method":"test_badResult"}`,
			status: 200,
			code:   rpc.CodeInternalError,
		},
		{
			name:   "rpc_methods",
			body:   `{"jsonrpc":"2.0","id":14,"method":"rpc_methods"}`,
			status: 200,
			want: `{"jsonrpc":"2.0","id":14,"result":["rpc_methods","test_badResult","test_block","test_count",` +
				`"test_echo","test_html","test_notFound","test_panic","test_plainErr","test_ptr","test_raw","test_wrapped"]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := post(t, f.hs.URL, http.MethodPost, tt.body, nil)
			require.Equal(t, tt.status, res.status, "body: %s", res.body)
			if tt.status == http.StatusNoContent {
				assert.Empty(t, res.body)
				return
			}
			assert.Equal(t, "application/json", res.header.Get("Content-Type"))
			switch {
			case tt.code != 0:
				var r struct{ Error *rpc.Error }
				require.NoError(t, json.Unmarshal(res.body, &r), "body: %s", res.body)
				require.NotNil(t, r.Error, "body: %s", res.body)
				assert.Equal(t, tt.code, r.Error.Code)
				assert.NotEmpty(t, r.Error.Message)
			default:
				assert.JSONEq(t, tt.want, string(res.body))
			}
		})
	}

	// Notifications ran: one in the mixed batch, two in the all-notification
	// batch, one alone, five in the batch at the limit.
	assert.EqualValues(t, 9, f.notified.Load())
	assert.Contains(t, f.logs.String(), "handler panicked")
	assert.Contains(t, f.logs.String(), "goroutine", "panic log must carry the stack")
}

func TestServeHTTPTransport(t *testing.T) {
	const token = "s3cret"
	f := newFixture(t, rpc.WithBearerToken(token))
	call := `{"jsonrpc":"2.0","id":1,"method":"test_ptr"}`
	unauthorized := errJSON("null", rpc.CodeUnauthorized, "unauthorized")

	tests := []struct {
		name    string
		method  string
		body    string
		headers map[string]string
		status  int
		want    string
	}{
		{
			name:    "auth missing",
			body:    call,
			headers: map[string]string{"Content-Type": "application/json"},
			status:  http.StatusUnauthorized,
			want:    unauthorized,
		},
		{
			name:    "auth wrong",
			body:    call,
			headers: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer nope"},
			status:  http.StatusUnauthorized,
			want:    unauthorized,
		},
		{
			name:    "auth token prefix",
			body:    call,
			headers: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer s3cre"},
			status:  http.StatusUnauthorized,
			want:    unauthorized,
		},
		{
			name:    "auth wrong scheme",
			body:    call,
			headers: map[string]string{"Content-Type": "application/json", "Authorization": "Basic " + token},
			status:  http.StatusUnauthorized,
			want:    unauthorized,
		},
		{
			name:    "auth checked before body is parsed",
			body:    `{not json`,
			headers: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer nope"},
			status:  http.StatusUnauthorized,
			want:    unauthorized,
		},
		{
			name:    "auth right",
			body:    call,
			headers: map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token},
			status:  http.StatusOK,
			want:    `{"jsonrpc":"2.0","id":1,"result":null}`,
		},
		{
			name:    "auth scheme is case-insensitive",
			body:    call,
			headers: map[string]string{"Content-Type": "application/json", "Authorization": "bearer " + token},
			status:  http.StatusOK,
			want:    `{"jsonrpc":"2.0","id":1,"result":null}`,
		},
		{
			name:    "content type with charset",
			body:    call,
			headers: map[string]string{"Content-Type": "application/json; charset=UTF-8", "Authorization": "Bearer " + token},
			status:  http.StatusOK,
			want:    `{"jsonrpc":"2.0","id":1,"result":null}`,
		},
		{
			name:    "GET",
			method:  http.MethodGet,
			headers: map[string]string{"Authorization": "Bearer " + token},
			status:  http.StatusMethodNotAllowed,
			want:    errJSON("null", rpc.CodeInvalidRequest, "HTTP method GET not allowed; use POST"),
		},
		{
			name:    "wrong content type",
			body:    call,
			headers: map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer " + token},
			status:  http.StatusUnsupportedMediaType,
			want:    errJSON("null", rpc.CodeInvalidRequest, `unsupported Content-Type "text/plain"; use application/json`),
		},
		{
			name:    "missing content type",
			body:    call,
			headers: map[string]string{"Authorization": "Bearer " + token},
			status:  http.StatusUnsupportedMediaType,
			want:    errJSON("null", rpc.CodeInvalidRequest, "missing Content-Type; use application/json"),
		},
		{
			name:    "non-UTF-8 charset",
			body:    call,
			headers: map[string]string{"Content-Type": "application/json; charset=latin1", "Authorization": "Bearer " + token},
			status:  http.StatusUnsupportedMediaType,
			want:    errJSON("null", rpc.CodeInvalidRequest, `unsupported charset "latin1"; use utf-8`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			res := post(t, f.hs.URL, method, tt.body, tt.headers)
			require.Equal(t, tt.status, res.status, "body: %s", res.body)
			assert.Equal(t, "application/json", res.header.Get("Content-Type"))
			assert.JSONEq(t, tt.want, string(res.body))
			switch tt.status {
			case http.StatusUnauthorized:
				assert.Equal(t, "Bearer", res.header.Get("WWW-Authenticate"))
			case http.StatusMethodNotAllowed:
				assert.Equal(t, "POST", res.header.Get("Allow"))
			}
		})
	}
}

func TestHandlerContextCanceledOnDisconnect(t *testing.T) {
	f := newFixture(t)
	c := rpc.NewClient(f.hs.URL, "", nil)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- c.Call(ctx, "test_block", nil, nil) }()

	select {
	case <-f.blockStarted:
	case <-time.After(5 * time.Second):
		t.Fatal("handler never started")
	}
	cancel()
	select {
	case err := <-f.blockDone:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("handler context was not canceled after the client went away")
	}
	assert.ErrorIs(t, <-errc, context.Canceled)
}

func TestRegister(t *testing.T) {
	s := rpc.NewServer()
	h := func(context.Context, json.RawMessage) (any, error) { return nil, nil }
	s.Register("b_method", h)
	s.Register("a_method", h)
	assert.Equal(t, []string{"a_method", "b_method", "rpc_methods"}, s.Methods())

	assert.PanicsWithValue(t, "rpc: method a_method registered twice", func() { s.Register("a_method", h) })
	assert.PanicsWithValue(t, "rpc: method rpc_methods registered twice", func() { s.Register("rpc_methods", h) })
	assert.Panics(t, func() { s.Register("", h) })
	assert.Panics(t, func() { s.Register("c_method", nil) })
}

func TestMethodDecoding(t *testing.T) {
	h := rpc.Method(func(_ context.Context, p echoParams) (echoParams, error) { return p, nil })
	tests := []struct {
		name    string
		params  string
		want    echoParams
		wantErr string
	}{
		{name: "nil", params: "", want: echoParams{}},
		{name: "null", params: "null", want: echoParams{}},
		{name: "object", params: `{"name":"a","n":1}`, want: echoParams{Name: "a", N: 1}},
		{name: "array", params: `[{"name":"a"}]`, want: echoParams{Name: "a"}},
		{name: "array of null", params: `[null]`, want: echoParams{}},
		{name: "empty array", params: `[]`, want: echoParams{}},
		{name: "unknown field", params: `{"x":1}`, wantErr: `json: unknown field "x"`},
		{name: "trailing data", params: `{} {}`, wantErr: "unexpected data after params"},
		{name: "scalar element", params: `["a"]`, wantErr: "json: cannot unmarshal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw json.RawMessage
			if tt.params != "" {
				raw = json.RawMessage(tt.params)
			}
			got, err := h(t.Context(), raw)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.True(t, rpc.IsCode(err, rpc.CodeInvalidParams), "%v", err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestErrorHelpers(t *testing.T) {
	tests := []struct {
		err  *rpc.Error
		code int
	}{
		{rpc.Errorf(rpc.CodeTransactionRejected, "x %d", 1), rpc.CodeTransactionRejected},
		{rpc.InvalidParams("x"), rpc.CodeInvalidParams},
		{rpc.InvalidInput("x"), rpc.CodeInvalidInput},
		{rpc.NotFound("x"), rpc.CodeResourceNotFound},
		{rpc.Unavailable("x"), rpc.CodeResourceUnavailable},
		{rpc.LimitExceeded("x"), rpc.CodeLimitExceeded},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.code, tt.err.Code)
		assert.True(t, rpc.IsCode(tt.err, tt.code))
	}
	assert.Equal(t, "json-rpc error -32001: peer gone", rpc.NotFound("peer %s", "gone").Error())

	base := rpc.NotFound("x")
	withData := base.WithData(1)
	assert.Nil(t, base.Data, "WithData must not mutate the receiver")
	assert.Equal(t, 1, withData.Data)
	assert.False(t, rpc.IsCode(nil, rpc.CodeResourceNotFound))
}
