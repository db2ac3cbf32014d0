package p2p

import (
	"context"
	"errors"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TorTransport is the name of the onion transport in a config's transport
// list. Package p2p/tor implements it; the node passes it to
// ResolveTransports once its tor runs.
const TorTransport = "tor"

// ErrClearnet is what a Tor-only host answers to any attempt to use a
// clearnet address: dialling, resolving or advertising it.
var ErrClearnet = errors.New("p2p: Tor-only mode: clearnet address refused")

// IsOnion reports whether m is an onion address (/onion3/…).
func IsOnion(m ma.Multiaddr) bool {
	_, err := m.ValueForProtocol(ma.P_ONION3)
	return err == nil
}

// OnlyOnion keeps the onion addresses of as.
func OnlyOnion(as []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range as {
		if IsOnion(a) {
			out = append(out, a)
		}
	}
	return out
}

// onionGater is the connection gater of a Tor-only host: it lets no
// connection be dialled to anything but an onion address. Inbound
// connections can only come through the onion listener (a Tor-only host
// has no other listener or transport; NewHost checks), where tor hands
// them over on loopback.
type onionGater struct{}

func (onionGater) InterceptPeerDial(peer.ID) bool { return true }

func (onionGater) InterceptAddrDial(_ peer.ID, a ma.Multiaddr) bool { return IsOnion(a) }

func (onionGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (onionGater) InterceptSecured(network.Direction, peer.ID, network.ConnMultiaddrs) bool {
	return true
}

func (onionGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// noDNS is the multiaddr resolver of a Tor-only host: a DNS lookup would
// leave the machine outside Tor and reveal what the node looks for.
type noDNS struct{}

func (noDNS) ResolveDNSAddr(context.Context, peer.ID, ma.Multiaddr, int, int) ([]ma.Multiaddr, error) {
	return nil, ErrClearnet
}

func (noDNS) ResolveDNSComponent(context.Context, ma.Multiaddr, int) ([]ma.Multiaddr, error) {
	return nil, ErrClearnet
}
