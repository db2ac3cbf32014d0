// Package sessions implements Lucid remote sessions: a client dials a host
// by peer ID and tunnels RDP, VNC or SSH to it over libp2p.
//
// The package has two halves. The deterministic core has no clocks (time is
// an argument), no randomness except through an io.Reader, no network and no
// goroutines, so every decision can be tested exactly and fuzzed:
//
//   - id.go: session IDs (random UUIDv4, single use).
//   - params.go: ConnectionParams v1, the client's control policy, and its
//     policy hash (SHA-256 of the canonical CBOR encoding).
//   - terms.go: the embedded, versioned Terms of Connection and their hash.
//   - receipt.go: the client's signed ConsentReceipt and the host's signed
//     HostReceipt, which binds the consent, policy, terms and limits.
//   - wire.go: the framed, canonical-CBOR messages of /lucid/session/1.0.0
//     and 1.1.0 (which adds Response.Features and Metering, the carrier of
//     the client's signed metering receipts) and /lucid/tunnel/1.0.0.
//   - policy.go: HostPolicy.Check, the host's admission checks that need no
//     I/O, in a fixed order, with one RejectReason per outcome.
//   - lifecycle.go: the created → active → ended|failed state machine.
//   - bucket.go: the token bucket that paces bandwidth caps.
//   - info.go: Info, the per-session record that `lucid sessions ls/show`
//     print, persisted as CBOR and served as JSON.
//
// The I/O half drives the core: the host's stream handlers, which also
// enforce single-use session IDs against the datastore and free slots
// against live counters (host.go); the client that dials, sends the Request,
// verifies the receipt and listens on a local port (client.go); the tunnel
// that copies bytes between a TCP connection and a stream, with half-close
// and a recorder hook that sees every byte (tunnel.go); and the manager
// that tracks sessions, limits, metering receipts and persistence
// (manager*.go).
//
// The protocol is specified in docs/session-protocol.md.
package sessions
