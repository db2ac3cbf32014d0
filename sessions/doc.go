// Package sessions will hold the remote-desktop session lifecycle: the
// /lucid/session/1.0.0 protocol a client dials by peer ID, signed consent
// and host receipts, host policy (access lists, slots, limits), and the
// tunnel from the client's local port to the host's RDP, VNC or SSH service,
// with a recorder hook that sees every byte.
package sessions
