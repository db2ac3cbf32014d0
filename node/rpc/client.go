package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// DefaultClientTimeout bounds a call when NewClient builds the http.Client.
const DefaultClientTimeout = 60 * time.Second

// maxResponseBytes caps what the client buffers from the node. It is far
// beyond any legitimate reply and only protects the CLI from a runaway or
// impostor server on the configured address.
const maxResponseBytes = 64 << 20

// Client calls a Lucid node over JSON-RPC 2.0. It is safe for concurrent use.
type Client struct {
	endpoint string
	token    string
	hc       *http.Client
	nextID   atomic.Uint64
}

// NewClient returns a client for endpoint (e.g. "http://127.0.0.1:8645/").
// An empty token sends no Authorization header. A nil hc gets a client with
// a 60 s timeout, so a wedged node cannot hang the CLI forever.
func NewClient(endpoint, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultClientTimeout}
	}
	return &Client{endpoint: endpoint, token: token, hc: hc}
}

type clientRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params,omitempty"`
}

type clientResponse struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *Error          `json:"error"`
}

// Call invokes method with params (nil for none) and decodes the result into
// result (a pointer, or nil to discard it). Error responses come back as
// *Error, HTTP 401 as an *Error with CodeUnauthorized; transport and decoding
// failures are wrapped Go errors.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	id := c.nextID.Add(1)
	reqBody, err := json.Marshal(clientRequest{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("rpc: %s: encoding params: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(reqBody))
	if err != nil {
		return fmt.Errorf("rpc: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("rpc: %s: %w", method, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("rpc: %s: reading response: %w", method, err)
	}
	if len(body) > maxResponseBytes {
		return fmt.Errorf("rpc: %s: response exceeds %d bytes", method, maxResponseBytes)
	}

	var rr clientResponse
	decodeErr := json.Unmarshal(body, &rr)

	if resp.StatusCode == http.StatusUnauthorized {
		e := &Error{Code: CodeUnauthorized, Message: "unauthorized"}
		if decodeErr == nil && rr.Error != nil && rr.Error.Message != "" {
			e.Message = rr.Error.Message
		}
		return e
	}
	if decodeErr != nil || (rr.Error == nil && rr.Result == nil) {
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("rpc: %s: HTTP %s: %s", method, resp.Status, snippet(body))
		}
		if decodeErr != nil {
			return fmt.Errorf("rpc: %s: decoding response: %w", method, decodeErr)
		}
		return fmt.Errorf("rpc: %s: response has neither result nor error", method)
	}

	// A server that could not read the request (parse error, body too large)
	// answers with a null id, so only a non-null id must match ours.
	if !(rr.Error != nil && isNull(rr.ID)) {
		got, err := strconv.ParseUint(string(bytes.TrimSpace(rr.ID)), 10, 64)
		if err != nil || got != id {
			return fmt.Errorf("rpc: %s: response id %s does not match request id %d", method, snippet(rr.ID), id)
		}
	}
	if rr.Error != nil {
		return rr.Error
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(rr.Result, result); err != nil {
		return fmt.Errorf("rpc: %s: decoding result: %w", method, err)
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// snippet keeps error messages readable when a proxy or impostor answers
// with a large HTML page.
func snippet(b []byte) string {
	const limit = 200
	b = bytes.TrimSpace(b)
	if len(b) > limit {
		return strconv.Quote(string(b[:limit])) + "..."
	}
	return strconv.Quote(string(b))
}
