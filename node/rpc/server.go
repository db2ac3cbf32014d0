package rpc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults for WithLimits. A megabyte is far above any request the CLI or a
// wallet sends, yet small enough that an authenticated but buggy client cannot
// make the node buffer unbounded input.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxBatch     = 100
)

// MethodsMethod is the built-in method that lists the registered methods.
const MethodsMethod = "rpc_methods"

// Handler runs one method. params is the raw "params" member (may be nil).
type Handler func(ctx context.Context, params json.RawMessage) (any, error)

// Method adapts a typed function: params decode into P from either a JSON
// object or a one-element array holding that object (wallet libraries send
// positional arrays); absent params, null and [] yield the zero P. Unknown
// fields are rejected so that a misspelt option fails loudly instead of being
// silently ignored. Decode failures become InvalidParams carrying the
// decoder's message.
func Method[P, R any](fn func(ctx context.Context, p P) (R, error)) Handler {
	return func(ctx context.Context, params json.RawMessage) (any, error) {
		var p P
		if err := decodeParams(params, &p); err != nil {
			return nil, err
		}
		r, err := fn(ctx, p)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
}

func decodeParams(raw json.RawMessage, dst any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(raw, &arr); err != nil {
			return InvalidParams("%v", err)
		}
		switch len(arr) {
		case 0:
			return nil
		case 1:
			raw = bytes.TrimSpace(arr[0])
			if string(raw) == "null" {
				return nil
			}
		default:
			return InvalidParams("expected at most one positional parameter, got %d", len(arr))
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return InvalidParams("%v", err)
	}
	// The server hands over a single validated value, but Handlers are also
	// callable directly, so guard against trailing data here too.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return InvalidParams("unexpected data after params")
	}
	return nil
}

// Server is a JSON-RPC 2.0 over HTTP endpoint. It is an http.Handler; the
// caller mounts it on whatever path and listener it likes.
type Server struct {
	tokenHash    [sha256.Size]byte
	auth         bool
	log          *slog.Logger
	maxBodyBytes int64
	maxBatch     int

	mu      sync.RWMutex
	methods map[string]Handler
	names   []string // sorted keys of methods, kept in step by Register
}

var _ http.Handler = (*Server)(nil)

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithBearerToken requires "Authorization: Bearer <token>" on every request.
// An empty token disables authentication, which only tests should do.
func WithBearerToken(token string) ServerOption {
	return func(s *Server) {
		s.auth = token != ""
		// Comparing digests keeps the comparison constant-time even in the
		// token's length, which subtle.ConstantTimeCompare alone would leak.
		s.tokenHash = sha256.Sum256([]byte(token))
	}
}

// WithLogger sets the logger; the default is slog.Default().
func WithLogger(l *slog.Logger) ServerOption {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithLimits bounds the request body size and the number of calls in one
// batch. Non-positive values keep the defaults (1 MiB, 100).
func WithLimits(maxBodyBytes int64, maxBatch int) ServerOption {
	return func(s *Server) {
		if maxBodyBytes > 0 {
			s.maxBodyBytes = maxBodyBytes
		}
		if maxBatch > 0 {
			s.maxBatch = maxBatch
		}
	}
}

// NewServer returns a Server with only the built-in rpc_methods registered.
func NewServer(opts ...ServerOption) *Server {
	s := &Server{
		log:          slog.Default(),
		maxBodyBytes: DefaultMaxBodyBytes,
		maxBatch:     DefaultMaxBatch,
		methods:      make(map[string]Handler),
	}
	for _, o := range opts {
		o(s)
	}
	s.Register(MethodsMethod, Method(func(context.Context, struct{}) ([]string, error) {
		return s.Methods(), nil
	}))
	return s
}

// Register adds a method. Registering a name twice, an empty name or a nil
// handler is a wiring bug, so it panics rather than returning an error nobody
// would check.
func (s *Server) Register(name string, h Handler) {
	if name == "" {
		panic("rpc: Register with empty method name")
	}
	if h == nil {
		panic("rpc: Register " + name + " with nil handler")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.methods[name]; dup {
		panic("rpc: method " + name + " registered twice")
	}
	s.methods[name] = h
	i, _ := slices.BinarySearch(s.names, name)
	s.names = slices.Insert(s.names, i, name)
}

// Methods returns the registered method names, sorted.
func (s *Server) Methods() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.names)
}

func (s *Server) handler(name string) Handler {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.methods[name]
}

// response is a JSON-RPC response object. Result is pre-encoded so that a
// result that fails to encode turns into an error for that call alone instead
// of breaking the whole batch; "null" is a valid result and is kept because
// omitempty only drops a nil RawMessage.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

func errorResponse(id json.RawMessage, e *Error) *response {
	return &response{JSONRPC: "2.0", ID: id, Error: e}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, http.StatusMethodNotAllowed,
			Errorf(CodeInvalidRequest, "HTTP method %s not allowed; use POST", r.Method))
		return
	}
	// Authenticate before touching the body so that unauthenticated callers
	// cannot make the node buffer or parse anything.
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		s.writeError(w, http.StatusUnauthorized, &Error{Code: CodeUnauthorized, Message: "unauthorized"})
		return
	}
	// Insisting on application/json also means a browser cannot reach us with
	// a CORS "simple request" (text/plain, form encodings) without a preflight.
	if e := checkContentType(r.Header.Get("Content-Type")); e != nil {
		s.writeError(w, http.StatusUnsupportedMediaType, e)
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			s.writeError(w, http.StatusRequestEntityTooLarge,
				LimitExceeded("request body exceeds the limit of %d bytes", s.maxBodyBytes))
			return
		}
		// The client went away mid-request; there is nobody to answer.
		s.log.DebugContext(r.Context(), "rpc: reading request body", "err", err)
		return
	}

	out, status := s.handleBody(r.Context(), body)
	if status == http.StatusNoContent {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeBody(w, status, out)
}

func (s *Server) authorized(r *http.Request) bool {
	if !s.auth {
		return true
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1
}

func checkContentType(ct string) *Error {
	if ct == "" {
		return Errorf(CodeInvalidRequest, "missing Content-Type; use application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return Errorf(CodeInvalidRequest, "unsupported Content-Type %q; use application/json", ct)
	}
	// RFC 8259 makes UTF-8 the only encoding for JSON between systems.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return Errorf(CodeInvalidRequest, "unsupported charset %q; use utf-8", cs)
	}
	return nil
}

// handleBody dispatches a complete request body and returns the encoded reply
// and HTTP status; http.StatusNoContent means nothing is to be sent.
func (s *Server) handleBody(ctx context.Context, body []byte) ([]byte, int) {
	if !json.Valid(body) {
		return s.encode(errorResponse(nil, Errorf(CodeParseError, "parse error: invalid JSON"))), http.StatusOK
	}
	if !utf8.Valid(body) {
		return s.encode(errorResponse(nil, Errorf(CodeParseError, "parse error: request is not valid UTF-8"))), http.StatusOK
	}
	body = bytes.TrimSpace(body)
	if body[0] != '[' {
		resp := s.handleOne(ctx, body)
		if resp == nil {
			return nil, http.StatusNoContent
		}
		return s.encode(resp), http.StatusOK
	}

	var batch []json.RawMessage
	if err := json.Unmarshal(body, &batch); err != nil {
		// Unreachable after json.Valid, but never trust that to stay true.
		return s.encode(errorResponse(nil, Errorf(CodeParseError, "parse error: %v", err))), http.StatusOK
	}
	if len(batch) == 0 {
		return s.encode(errorResponse(nil, Errorf(CodeInvalidRequest, "empty batch"))), http.StatusOK
	}
	if len(batch) > s.maxBatch {
		return s.encode(errorResponse(nil, LimitExceeded("batch of %d calls exceeds the limit of %d", len(batch), s.maxBatch))), http.StatusOK
	}

	// Calls run in order, one at a time, so side effects happen in the order
	// the caller wrote them and one request never fans out into more
	// concurrent handler work than a single call would.
	var buf bytes.Buffer
	buf.WriteByte('[')
	n := 0
	for _, raw := range batch {
		resp := s.handleOne(ctx, raw)
		if resp == nil {
			continue
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.Write(s.encode(resp))
		n++
	}
	if n == 0 {
		return nil, http.StatusNoContent
	}
	buf.WriteByte(']')
	return buf.Bytes(), http.StatusOK
}

// request is a parsed request object. HasID separates notifications (no id
// member) from calls whose id is null.
type request struct {
	ID     json.RawMessage
	HasID  bool
	Method string
	Params json.RawMessage
}

// parseRequest validates one request object. It decodes into a map rather
// than a struct because encoding/json matches struct fields
// case-insensitively, and JSON-RPC member names are exact.
func parseRequest(raw json.RawMessage) (*request, *Error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return nil, Errorf(CodeInvalidRequest, "invalid request: not a JSON object")
	}
	req := &request{}
	if id, ok := members["id"]; ok {
		id = bytes.TrimSpace(id)
		switch id[0] {
		case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		default:
			return nil, Errorf(CodeInvalidRequest, "invalid request: id must be a string, number or null")
		}
		req.ID, req.HasID = id, true
	}
	var version string
	if err := json.Unmarshal(members["jsonrpc"], &version); err != nil || version != "2.0" {
		return req, Errorf(CodeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`)
	}
	m, ok := members["method"]
	if !ok || json.Unmarshal(m, &req.Method) != nil || bytes.TrimSpace(m)[0] != '"' {
		return req, Errorf(CodeInvalidRequest, `invalid request: "method" must be a string`)
	}
	if p, ok := members["params"]; ok {
		p = bytes.TrimSpace(p)
		switch p[0] {
		case '{', '[':
			req.Params = p
		case 'n':
			// Not allowed by the spec, but common in the wild and harmless:
			// treat it as absent.
		default:
			return req, Errorf(CodeInvalidRequest, `invalid request: "params" must be an object or array`)
		}
	}
	return req, nil
}

// handleOne runs a single request object and returns its response, or nil for
// a notification.
func (s *Server) handleOne(ctx context.Context, raw json.RawMessage) *response {
	req, perr := parseRequest(raw)
	if perr != nil {
		// An invalid request is answered even without an id (spec §5): only a
		// well-formed request can be a notification. The id is echoed when we
		// managed to read it.
		var id json.RawMessage
		if req != nil {
			id = req.ID
		}
		return errorResponse(id, perr)
	}

	result, rerr := s.call(ctx, req)
	if !req.HasID {
		if rerr != nil {
			s.log.DebugContext(ctx, "rpc: notification failed", "method", req.Method, "code", rerr.Code, "err", rerr.Message)
		}
		return nil
	}
	if rerr != nil {
		return errorResponse(req.ID, rerr)
	}
	return &response{JSONRPC: "2.0", ID: req.ID, Result: result}
}

// call runs the handler and encodes its result.
func (s *Server) call(ctx context.Context, req *request) (result json.RawMessage, rerr *Error) {
	h := s.handler(req.Method)
	if h == nil {
		return nil, Errorf(CodeMethodNotFound, "method %q not found", req.Method)
	}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			s.log.ErrorContext(ctx, "rpc: handler panicked", "method", req.Method, "panic", p, "stack", string(debug.Stack()))
			result, rerr = nil, Errorf(CodeInternalError, "internal error")
		}
		// Checked up front so the hot path does not box log attributes
		// that a production logger would discard anyway.
		if !s.log.Enabled(ctx, slog.LevelDebug) {
			return
		}
		if rerr != nil {
			s.log.DebugContext(ctx, "rpc: call failed", "method", req.Method, "code", rerr.Code, "err", rerr.Message, "took", time.Since(start))
		} else {
			s.log.DebugContext(ctx, "rpc: call", "method", req.Method, "took", time.Since(start))
		}
	}()

	v, err := h(ctx, req.Params)
	if err != nil {
		if e, ok := errors.AsType[*Error](err); ok && e != nil {
			return nil, e
		}
		// Handlers are our own code and the endpoint only serves the local
		// user holding the token, so the message is safe to pass on and far
		// more useful than a bare "internal error".
		return nil, Errorf(CodeInternalError, "%s", err.Error())
	}
	b, err := marshal(v)
	if err != nil {
		return nil, Errorf(CodeInternalError, "encoding result: %v", err)
	}
	return b, nil
}

// marshal encodes like json.Marshal without HTML escaping: the output is
// never embedded in HTML, and escaping would alter ids we promise to echo.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// encode serialises a response. Only Error.Data can still fail to encode
// (results are already encoded), in which case the data is dropped rather
// than losing the response.
func (s *Server) encode(resp *response) []byte {
	b, err := marshal(resp)
	if err == nil {
		return b
	}
	s.log.Warn("rpc: dropping unencodable error data", "err", err)
	if resp.Error != nil {
		resp.Error = &Error{Code: resp.Error.Code, Message: resp.Error.Message}
	}
	if b, err = marshal(resp); err == nil {
		return b
	}
	// Only reachable with an invalid id, which parseRequest rules out.
	b, _ = marshal(errorResponse(nil, Errorf(CodeInternalError, "internal error")))
	return b
}

func (s *Server) writeError(w http.ResponseWriter, status int, e *Error) {
	writeBody(w, status, s.encode(errorResponse(nil, e)))
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
