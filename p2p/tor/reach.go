package tor

import (
	"context"
	"fmt"
	"net"
	"strconv"

	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/net/proxy"
)

// CheckReachable opens a stream to an onion address through tor and closes
// it: the onion service is published and reachable from the Tor network.
// A node runs it on its own address before advertising it; the stream
// goes out through a rendezvous point and back, like any peer's would.
func (t *Tor) CheckReachable(ctx context.Context, addr ma.Multiaddr) error {
	id, port, err := ParseOnion(addr)
	if err != nil {
		return err
	}
	ctx, cancel := mergeCancel(ctx, t.ctx)
	defer cancel()
	// Its own isolation: the check must not reuse a peer's circuit.
	d, err := proxy.SOCKS5(t.socksNet, t.socksAddr, &proxy.Auth{User: "lucid-self-check", Password: socksPassword}, &net.Dialer{})
	if err != nil {
		return fmt.Errorf("tor SOCKS dialer: %w", err)
	}
	cd, ok := d.(proxy.ContextDialer)
	if !ok {
		return fmt.Errorf("tor SOCKS dialer %T has no DialContext", d)
	}
	c, err := cd.DialContext(ctx, "tcp", net.JoinHostPort(id+".onion", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("onion %s not reachable: %w", addr, err)
	}
	return c.Close()
}
