// Package tor is a libp2p transport that carries node connections over Tor
// onion services, addressed as /onion3/<56-char id>:<port>.
//
// # Why
//
// A node reachable only as a v3 onion service publishes no IP address:
// peers learn where to reach it, but not where it is, and an operator can
// run it behind NAT or a firewall with no open port. Dialing out through
// tor likewise hides the dialer's address from the peer.
//
// # What it does
//
//   - Start runs and owns a tor process (DataDir in the node home, network
//     enabled only once we watch bootstrap, tor exits with the node), or
//     attaches to a running tor through its control port. It waits for
//     100 % bootstrap and reports ErrTorMissing or a *BootstrapError
//     (errors.Is ErrBootstrap) with the last progress tor reported.
//     Progress feeds health checks.
//   - Listen publishes the node's v3 onion service with ADD_ONION (through
//     bine) and waits for the descriptor upload. tor forwards the virtual
//     port to a listener on 127.0.0.1 with an ephemeral port; nothing else
//     is opened.
//   - Dial connects through tor's SOCKS5 port, handing tor the onion name
//     (no local DNS). The SOCKS username is the remote peer ID, so tor's
//     IsolateSOCKSAuth puts every peer on its own circuits.
//   - The raw stream is upgraded by the host's upgrader: Noise for security
//     and peer authentication, yamux for streams. Tor's own end-to-end
//     encryption is kept; Noise is what binds the connection to a peer ID.
//   - The onion key (LoadOrCreateKey, PKCS#8 PEM, mode 0600) lives in the
//     node home, so OnionAddr gives the same address after every restart.
//     It is separate from the libp2p identity key.
//
// # What it does not do
//
//   - No UDP: tor carries TCP streams only, so QUIC and WebRTC cannot run
//     over it. A Tor-only node lists only this transport.
//   - No DNS and no clearnet: CanDial accepts only well-formed /onion3
//     addresses (checksum and version checked, see ParseOnion). /ip4, /dns
//     and old v2 /onion addresses are not dialed through tor; whether they
//     are dialed at all depends on the other transports in the host.
//   - No exits: connections never leave the Tor network to the clearnet.
//   - No client authorization, vanguards tuning or bridges; put such torrc
//     lines in Config.Torrc.
//
// Onion connections are slow to set up (first dial to a service needs a
// descriptor fetch and a rendezvous: seconds on the real network) and their
// throughput is a few MiB/s at best; hosts should allow dial timeouts of a
// minute and not expect bulk-transfer speed.
package tor
