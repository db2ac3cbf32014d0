package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lucidnet/lucid/node/rpc"
)

// serveAPI starts the local HTTP endpoint: JSON-RPC at /, Prometheus at
// /metrics and a health report at /healthz. The address it bound is written
// to the home so the CLI can find it.
func (n *Node) serveAPI(token string) error {
	ln, err := net.Listen("tcp", n.cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("api listen %s: %w", n.cfg.API.Listen, err)
	}
	srv := rpc.NewServer(rpc.WithBearerToken(token), rpc.WithLogger(n.log))
	n.svc.Register(srv)

	mux := http.NewServeMux()
	mux.Handle("POST /{$}", srv)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.reg, promhttp.HandlerOpts{Registry: n.reg}))
	mux.HandleFunc("GET /healthz", n.healthz)

	n.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	n.apiAddr = ln.Addr()
	go func() {
		if err := n.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("api server stopped", "err", err)
		}
	}()
	if err := writeReplace(n.home.APIAddrPath(), []byte(n.apiAddr.String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write api address: %w", err)
	}
	return nil
}

// Health is the /healthz body.
type Health struct {
	Status            string    `json:"status"` // "ok", or "degraded" while the node has no peers
	PeerID            string    `json:"peer_id"`
	UptimeSeconds     float64   `json:"uptime_seconds"`
	ConnectedPeers    int       `json:"connected_peers"`
	RoutingTableSize  int       `json:"routing_table_size"`
	CapacityPublished bool      `json:"capacity_published"`
	CapacityExpires   time.Time `json:"capacity_expires,omitzero"`
	LastPublishError  string    `json:"last_publish_error,omitempty"`
	SessionsHosted    int       `json:"sessions_hosted"`
	SessionsClient    int       `json:"sessions_client"`
	// Tor: bootstrap progress and whether the onion service answered the
	// node's own dial through Tor (the answer to "why is my node
	// unreachable?").
	Tor    *TorStatus `json:"tor,omitempty"`
	Reason string     `json:"reason,omitempty"` // why the status is degraded
}

// healthz answers 200 while the node serves. "degraded" tells the operator
// the node is up but cannot reach the network, with the reason.
func (n *Node) healthz(w http.ResponseWriter, _ *http.Request) {
	h := Health{
		Status:           "ok",
		PeerID:           n.net.Host.ID().String(),
		UptimeSeconds:    n.now().Sub(n.started).Seconds(),
		ConnectedPeers:   len(n.net.Host.Network().Peers()),
		RoutingTableSize: n.net.DHT.RoutingTable().Size(),
	}
	if n.pub != nil {
		if rec := n.pub.Last(); rec != nil {
			h.CapacityPublished, h.CapacityExpires = true, rec.Expires
		}
		if err := n.pub.lastError(); err != nil && h.CapacityPublished {
			h.LastPublishError = err.Error()
		}
	}
	h.SessionsHosted, h.SessionsClient = n.sess.Active()
	if len(n.cfg.P2P.Bootstrap) > 0 && h.RoutingTableSize == 0 {
		h.Status, h.Reason = "degraded", "no peers in the routing table"
	}
	if h.Tor = n.tor.status(); h.Tor != nil && h.Tor.Onion != "" && !h.Tor.Reachable {
		h.Status, h.Reason = "degraded", "onion service not reachable through Tor yet"
		if h.Tor.LastError != "" {
			h.Reason += ": " + h.Tor.LastError
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(h)
}

// writeReplace replaces a small file atomically.
func writeReplace(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
