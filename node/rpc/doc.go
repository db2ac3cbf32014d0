// Package rpc is the JSON-RPC 2.0 over HTTP transport of the Lucid node: the
// Server the node mounts on its loopback listener, the Client the CLI uses,
// the bearer-token files that authenticate them, and the error codes
// (JSON-RPC 2.0 plus EIP-1474) shared with the future wallet API.
//
// Methods are registered by the packages that implement them, usually through
// Method, which gives them typed parameters. The wire format is documented in
// docs/json-rpc.md.
package rpc
