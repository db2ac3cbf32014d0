package rpc

import (
	"errors"
	"fmt"
)

// Error codes. The -327xx/-326xx range is fixed by JSON-RPC 2.0; the -3200x
// range follows EIP-1474 so that Ethereum wallet libraries, which this API will
// serve later, interpret them correctly; 4100 is the EIP-1193 "unauthorized"
// code, which those libraries already surface as an authorization failure.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603

	CodeInvalidInput        = -32000
	CodeResourceNotFound    = -32001
	CodeResourceUnavailable = -32002
	CodeTransactionRejected = -32003
	CodeMethodNotSupported  = -32004
	CodeLimitExceeded       = -32005

	CodeUnauthorized = 4100
)

// Error is a JSON-RPC error object. Handlers return it (possibly wrapped) to
// control the code the caller sees; the Client returns it for error responses.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("json-rpc error %d: %s", e.Code, e.Message)
}

// WithData returns a copy of e carrying data, so that shared error values are
// never mutated by the handlers that decorate them.
func (e *Error) WithData(data any) *Error {
	c := *e
	c.Data = data
	return &c
}

// Errorf builds an *Error with a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidParams reports params that do not fit the method (-32602).
func InvalidParams(format string, args ...any) *Error {
	return Errorf(CodeInvalidParams, format, args...)
}

// InvalidInput reports params that decode fine but are semantically wrong (-32000).
func InvalidInput(format string, args ...any) *Error {
	return Errorf(CodeInvalidInput, format, args...)
}

// NotFound reports that the requested resource does not exist (-32001).
func NotFound(format string, args ...any) *Error {
	return Errorf(CodeResourceNotFound, format, args...)
}

// Unavailable reports a resource that exists but cannot be used right now,
// e.g. the node is still starting or a peer is unreachable (-32002).
func Unavailable(format string, args ...any) *Error {
	return Errorf(CodeResourceUnavailable, format, args...)
}

// LimitExceeded reports a request beyond a configured limit (-32005).
func LimitExceeded(format string, args ...any) *Error {
	return Errorf(CodeLimitExceeded, format, args...)
}

// IsCode reports whether err is, or wraps, an *Error with the given code.
func IsCode(err error, code int) bool {
	var e *Error
	return errors.As(err, &e) && e != nil && e.Code == code
}
