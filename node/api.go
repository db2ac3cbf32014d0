package node

import (
	"context"
	"crypto/ecdh"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/lucidnet/lucid/media/catalog"
	nodechain "github.com/lucidnet/lucid/node/chain"
	"github.com/lucidnet/lucid/node/meta"
	"github.com/lucidnet/lucid/node/poot"
	"github.com/lucidnet/lucid/node/rpc"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/p2p/capacity"
	"github.com/lucidnet/lucid/sessions"
)

// API is the node's JSON-RPC surface. Service implements it in-process and
// Client over HTTP, so the CLI and tests run the same calls either way.
// Method names on the wire are in MethodNames.
type API interface {
	NodeInfo(ctx context.Context) (Info, error)
	Peers(ctx context.Context) ([]PeerInfo, error)
	FindNodes(ctx context.Context, p FindNodesParams) (FindNodesResult, error)
	GetNode(ctx context.Context, p GetNodeParams) (*capacity.Record, error)
	Ping(ctx context.Context, p PingParams) (PingResult, error)
	Connect(ctx context.Context, p ConnectParams) (sessions.Info, error)
	Sessions(ctx context.Context, p SessionsParams) ([]sessions.Info, error)
	Session(ctx context.Context, p SessionParams) (sessions.Info, error)
	KillSession(ctx context.Context, p SessionParams) (sessions.Info, error)
	RecordingStats(ctx context.Context, p RecordingStatsParams) (RecordingStats, error)
	MetaSessions(ctx context.Context, p MetaSessionsParams) ([]MetaSession, error)
	MetaStatus(ctx context.Context) (meta.Status, error)
	PootStatus(ctx context.Context) (poot.Status, error)
	PootSchedule(ctx context.Context, p PootScheduleParams) ([]poot.ScheduledSlot, error)
	ChainHead(ctx context.Context) (nodechain.HeadInfo, error)
	ChainBlock(ctx context.Context, p ChainBlockParams) (nodechain.BlockInfo, error)
	ChainTx(ctx context.Context, p ChainTxParams) (nodechain.TxInfo, error)
	ChainProof(ctx context.Context, p ChainProofParams) (nodechain.SessionProofInfo, error)
	ChainParams(ctx context.Context) (nodechain.ParamsInfo, error)
	ChainProposeParam(ctx context.Context, p ChainProposeParams) (nodechain.TxInfo, error)
	ChainVote(ctx context.Context, p ChainVoteParams) (nodechain.TxInfo, error)
	ChainSubmitTx(ctx context.Context, p ChainSubmitParams) (nodechain.TxInfo, error)
}

// JSON-RPC method names.
const (
	MethodNodeInfo  = "lucid_nodeInfo"
	MethodPeers     = "lucid_peers"
	MethodFindNodes = "lucid_findNodes"
	MethodGetNode   = "lucid_getNode"
	MethodPing      = "lucid_ping"
	MethodConnect   = "lucid_connect"
	MethodSessions  = "lucid_sessions"
	MethodSession   = "lucid_session"
	MethodKill      = "lucid_killSession"
	MethodRecStats  = "lucid_recordingStats"
	MethodMetaList  = "lucid_metaSessions"
	MethodMetaStat  = "lucid_metaStatus"
	MethodPootStat  = "lucid_pootStatus"
	MethodPootSched = "lucid_pootSchedule"

	MethodChainHead    = "lucid_chainHead"
	MethodChainBlock   = "lucid_chainBlock"
	MethodChainTx      = "lucid_chainTx"
	MethodChainProof   = "lucid_chainProof"
	MethodChainParams  = "lucid_chainParams"
	MethodChainPropose = "lucid_chainProposeParam"
	MethodChainVote    = "lucid_chainVote"
	MethodChainSubmit  = "lucid_chainSubmitTx"
)

// RecordingStatsParams groups the statistics: "day", "session", "peer"
// or "" (one total).
type RecordingStatsParams struct {
	By string `json:"by,omitempty"`
}

// RecordingStats is the node's recording storage, aggregated by its
// catalog: "mongo" when one is configured, else "embedded".
type RecordingStats struct {
	Catalog string `json:"catalog"`
	catalog.Stats
}

// CodeSessionRejected is the JSON-RPC error code of a host's refusal; its
// data carries the reason code and word.
const CodeSessionRejected = -32010

// ConnectParams asks for a session to a host known by its peer ID.
type ConnectParams struct {
	PeerID  string `json:"peer_id"`
	Service string `json:"service"`
	// Listen is the loopback address for the user's desktop client;
	// default 127.0.0.1 on a free port.
	Listen string `json:"listen,omitempty"`
	// Params is the client's control policy; default: the strict profile
	// plus what the service needs.
	Params *sessions.ConnectionParams `json:"params,omitempty"`
}

// SessionsParams filters the session list.
type SessionsParams struct {
	State string `json:"state,omitempty"` // created, active, ended, failed
	Role  string `json:"role,omitempty"`  // host, client
}

// SessionParams names one session.
type SessionParams struct {
	SessionID string `json:"session_id"`
}

// RejectionData is the data of a CodeSessionRejected error.
type RejectionData struct {
	Code   uint16 `json:"code"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// Info describes the answering node.
type Info struct {
	PeerID           string   `json:"peer_id"`
	Addrs            []string `json:"addrs"`
	Software         string   `json:"software"`
	Arch             string   `json:"arch"`
	Profile          string   `json:"profile"`
	Transports       []string `json:"transports"`
	Mode             string   `json:"mode"` // "server" (a node) or "client" (a CLI without a node)
	UptimeSeconds    float64  `json:"uptime_seconds"`
	ConnectedPeers   int      `json:"connected_peers"`
	RoutingTableSize int      `json:"routing_table_size"`
	// Capacity is the last record this node published; absent for clients
	// and before the first publication.
	Capacity *capacity.Record `json:"capacity,omitempty"`
	// Tor is the node's Tor state when it uses Tor.
	Tor *TorStatus `json:"tor,omitempty"`
}

// PeerInfo is one connected peer.
type PeerInfo struct {
	PeerID    string   `json:"peer_id"`
	Addrs     []string `json:"addrs"` // remote address of each open connection
	Direction string   `json:"direction"`
	LatencyMs float64  `json:"latency_ms,omitempty"`
}

// FindNodesParams selects hosts. An empty service lists every node.
type FindNodesParams struct {
	Service      string `json:"service,omitempty"`
	MinFreeSlots uint32 `json:"min_free_slots,omitempty"`
	Limit        int    `json:"limit,omitempty"`
}

// FindNodesResult lists verified capacity records, and the providers whose
// record could not be fetched or verified with the reason.
type FindNodesResult struct {
	Nodes  []*capacity.Record `json:"nodes"`
	Failed []LookupFailure    `json:"failed,omitempty"`
}

// LookupFailure is one provider whose record was unusable.
type LookupFailure struct {
	PeerID string `json:"peer_id"`
	Error  string `json:"error"`
}

// GetNodeParams names one peer.
type GetNodeParams struct {
	PeerID string `json:"peer_id"`
}

// PingParams asks for count pings, interval apart (default 1 and 1 s).
type PingParams struct {
	PeerID     string `json:"peer_id"`
	Count      int    `json:"count,omitempty"`
	IntervalMs int    `json:"interval_ms,omitempty"`
	// Fresh drops any open connection to the peer first, so the ping shows
	// a DHT lookup and a new dial rather than reusing a connection.
	Fresh bool `json:"fresh,omitempty"`
}

// PingResult reports how the peer was reached and its round-trip times.
type PingResult struct {
	PeerID string `json:"peer_id"`
	// ResolvedVia is "dht" when the addresses were looked up, "connected"
	// when a connection already existed.
	ResolvedVia   string    `json:"resolved_via"`
	ResolvedAddrs []string  `json:"resolved_addrs,omitempty"`
	Remote        string    `json:"remote,omitempty"`
	RTTMs         []float64 `json:"rtt_ms"`
	MinMs         float64   `json:"min_ms"`
	AvgMs         float64   `json:"avg_ms"`
	MaxMs         float64   `json:"max_ms"`
}

// Limits on what one API call may ask for.
const (
	maxPingCount    = 100
	maxFindLimit    = 1000
	defaultInterval = time.Second
)

// Service answers API calls from a node's or a client's network.
type Service struct {
	net        *p2p.Network
	started    time.Time
	now        func() time.Time
	profile    p2p.Profile
	transports []string
	client     bool
	capacity   func() *capacity.Record
	sessions   *sessions.Manager
	recordings *recorder
	meta       *meta.Replica
	identity   *ecdh.PrivateKey // opens sealed metadata fields sealed to this node
	poot       *poot.Service
	chain      *nodechain.Service
	tor        *torRuntime
}

var _ API = (*Service)(nil)

func (s *Service) NodeInfo(context.Context) (Info, error) {
	h := s.net.Host
	info := Info{
		PeerID:           h.ID().String(),
		Addrs:            addrStrings(h.Addrs()),
		Software:         Software(),
		Arch:             Arch(),
		Profile:          string(s.profile),
		Transports:       s.transports,
		Mode:             "server",
		UptimeSeconds:    s.now().Sub(s.started).Seconds(),
		ConnectedPeers:   len(h.Network().Peers()),
		RoutingTableSize: s.net.DHT.RoutingTable().Size(),
	}
	if s.client {
		info.Mode = "client"
	}
	if s.capacity != nil {
		info.Capacity = s.capacity()
	}
	info.Tor = s.tor.status()
	return info, nil
}

func (s *Service) Peers(context.Context) ([]PeerInfo, error) {
	h := s.net.Host
	var out []PeerInfo
	for _, id := range h.Network().Peers() {
		conns := h.Network().ConnsToPeer(id)
		if len(conns) == 0 {
			continue
		}
		pi := PeerInfo{PeerID: id.String(), Direction: conns[0].Stat().Direction.String()}
		for _, c := range conns {
			pi.Addrs = append(pi.Addrs, c.RemoteMultiaddr().String())
		}
		if l := h.Peerstore().LatencyEWMA(id); l > 0 {
			pi.LatencyMs = ms(l)
		}
		out = append(out, pi)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return strings.Compare(a.PeerID, b.PeerID) })
	return out, nil
}

func (s *Service) FindNodes(ctx context.Context, p FindNodesParams) (FindNodesResult, error) {
	if p.Service != "" && !slices.Contains(KnownServices, p.Service) {
		return FindNodesResult{}, rpc.InvalidParams("unknown service %q (known: %v)", p.Service, KnownServices)
	}
	if p.Limit < 0 || p.Limit > maxFindLimit {
		return FindNodesResult{}, rpc.InvalidParams("limit must be within 0..%d", maxFindLimit)
	}
	found, err := s.net.FindCapacity(ctx, p2p.FindQuery{Service: p.Service, MinFreeSlots: p.MinFreeSlots, Limit: p.Limit})
	if err != nil {
		return FindNodesResult{}, unavailable("find nodes", err)
	}
	res := FindNodesResult{Nodes: found.Records}
	if res.Nodes == nil {
		res.Nodes = []*capacity.Record{}
	}
	for id, err := range found.Failed {
		res.Failed = append(res.Failed, LookupFailure{PeerID: id.String(), Error: err.Error()})
	}
	slices.SortFunc(res.Failed, func(a, b LookupFailure) int { return strings.Compare(a.PeerID, b.PeerID) })
	return res, nil
}

func (s *Service) GetNode(ctx context.Context, p GetNodeParams) (*capacity.Record, error) {
	id, err := parsePeer(p.PeerID)
	if err != nil {
		return nil, err
	}
	rec, err := s.net.GetCapacity(ctx, id)
	if errors.Is(err, p2p.ErrNoRecord) {
		return nil, rpc.NotFound("%v", err)
	}
	if err != nil {
		return nil, unavailable("get node", err)
	}
	return rec, nil
}

func (s *Service) Ping(ctx context.Context, p PingParams) (PingResult, error) {
	id, err := parsePeer(p.PeerID)
	if err != nil {
		return PingResult{}, err
	}
	if p.Count == 0 {
		p.Count = 1
	}
	if p.Count < 1 || p.Count > maxPingCount {
		return PingResult{}, rpc.InvalidParams("count must be within 1..%d", maxPingCount)
	}
	interval := defaultInterval
	if p.IntervalMs > 0 {
		interval = time.Duration(p.IntervalMs) * time.Millisecond
	}
	res := PingResult{PeerID: id.String(), RTTMs: []float64{}}
	reach := func(fresh bool) error {
		how, err := s.net.Connect(ctx, id, fresh)
		res.ResolvedVia, res.ResolvedAddrs = how.Via, addrStrings(how.Addrs)
		if how.Remote != nil {
			res.Remote = how.Remote.String()
		}
		if err != nil {
			return unavailable("reach peer", err)
		}
		return nil
	}
	if err := reach(p.Fresh); err != nil {
		return res, err
	}
	rtts, err := s.net.Ping(ctx, id, p.Count, interval)
	if err != nil && len(rtts) == 0 && ctx.Err() == nil {
		// The connection can die under us (the peer closed it while we
		// reconnected: a QUIC stateless reset); one new dial settles it.
		if err := reach(true); err != nil {
			return res, err
		}
		rtts, err = s.net.Ping(ctx, id, p.Count, interval)
	}
	for _, d := range rtts {
		res.RTTMs = append(res.RTTMs, ms(d))
	}
	if len(rtts) > 0 {
		res.MinMs, res.MaxMs = ms(slices.Min(rtts)), ms(slices.Max(rtts))
		var sum time.Duration
		for _, d := range rtts {
			sum += d
		}
		res.AvgMs = ms(sum / time.Duration(len(rtts)))
	}
	if err != nil {
		return res, unavailable("ping", err)
	}
	return res, nil
}

// errNoSessions answers session calls on a short-lived lookup client.
var errNoSessions = rpc.Errorf(rpc.CodeMethodNotSupported, "sessions need a node or `lucid connect`, not a lookup client")

func (s *Service) Connect(ctx context.Context, p ConnectParams) (sessions.Info, error) {
	if s.sessions == nil {
		return sessions.Info{}, errNoSessions
	}
	id, err := parsePeer(p.PeerID)
	if err != nil {
		return sessions.Info{}, err
	}
	if !slices.Contains(KnownServices, p.Service) {
		return sessions.Info{}, rpc.InvalidParams("unknown service %q (known: %v)", p.Service, KnownServices)
	}
	if p.Listen != "" {
		if err := checkLoopback(p.Listen); err != nil {
			return sessions.Info{}, rpc.InvalidParams("listen: %v", err)
		}
	}
	info, err := s.sessions.Connect(ctx, id, sessions.ConnectOptions{Service: p.Service, Params: p.Params, Listen: p.Listen})
	var rej *sessions.RejectedError
	switch {
	case errors.As(err, &rej):
		return info, rpc.Errorf(CodeSessionRejected, "%v", err).WithData(RejectionData{Code: uint16(rej.Reason), Reason: rej.Reason.Code(), Detail: rej.Detail})
	case err != nil:
		return info, unavailable("connect", err)
	}
	return info, nil
}

func (s *Service) Sessions(ctx context.Context, p SessionsParams) ([]sessions.Info, error) {
	if s.sessions == nil {
		return nil, errNoSessions
	}
	all, err := s.sessions.List(ctx)
	if err != nil {
		return nil, err
	}
	out := []sessions.Info{}
	for _, info := range all {
		if (p.State == "" || info.State.String() == p.State) && (p.Role == "" || string(info.Role) == p.Role) {
			out = append(out, info)
		}
	}
	return out, nil
}

func (s *Service) Session(ctx context.Context, p SessionParams) (sessions.Info, error) {
	if s.sessions == nil {
		return sessions.Info{}, errNoSessions
	}
	id, err := parseSession(p.SessionID)
	if err != nil {
		return sessions.Info{}, err
	}
	info, err := s.sessions.Get(ctx, id)
	if errors.Is(err, sessions.ErrNotFound) {
		return info, rpc.NotFound("%v", err)
	}
	return info, err
}

func (s *Service) KillSession(ctx context.Context, p SessionParams) (sessions.Info, error) {
	if s.sessions == nil {
		return sessions.Info{}, errNoSessions
	}
	id, err := parseSession(p.SessionID)
	if err != nil {
		return sessions.Info{}, err
	}
	info, err := s.sessions.Kill(ctx, id)
	if errors.Is(err, sessions.ErrNotFound) {
		return info, rpc.NotFound("%v", err)
	}
	if err != nil {
		return info, rpc.InvalidInput("%v", err)
	}
	return info, nil
}

func parseSession(s string) (sessions.ID, error) {
	id, err := sessions.ParseID(s)
	if err != nil {
		return id, rpc.InvalidParams("session_id %q: %v", s, err)
	}
	return id, nil
}

func (s *Service) RecordingStats(ctx context.Context, p RecordingStatsParams) (RecordingStats, error) {
	if s.recordings == nil {
		return RecordingStats{}, rpc.Errorf(rpc.CodeMethodNotSupported, "this node does not record sessions (recording.enabled is off)")
	}
	by, err := catalog.ParseBy(p.By)
	if err != nil {
		return RecordingStats{}, rpc.InvalidParams("%v", err)
	}
	st, name, err := s.recordings.stats(ctx, by)
	if err != nil {
		return RecordingStats{}, unavailable("recording stats", err)
	}
	return RecordingStats{Catalog: name, Stats: st}, nil
}

// Register exposes the service's methods on a JSON-RPC server.
func (s *Service) Register(srv *rpc.Server) {
	srv.Register(MethodNodeInfo, rpc.Method(func(ctx context.Context, _ struct{}) (Info, error) { return s.NodeInfo(ctx) }))
	srv.Register(MethodPeers, rpc.Method(func(ctx context.Context, _ struct{}) ([]PeerInfo, error) { return s.Peers(ctx) }))
	srv.Register(MethodFindNodes, rpc.Method(s.FindNodes))
	srv.Register(MethodGetNode, rpc.Method(s.GetNode))
	srv.Register(MethodPing, rpc.Method(s.Ping))
	srv.Register(MethodConnect, rpc.Method(s.Connect))
	srv.Register(MethodSessions, rpc.Method(s.Sessions))
	srv.Register(MethodSession, rpc.Method(s.Session))
	srv.Register(MethodKill, rpc.Method(s.KillSession))
	srv.Register(MethodRecStats, rpc.Method(s.RecordingStats))
	srv.Register(MethodMetaList, rpc.Method(s.MetaSessions))
	srv.Register(MethodMetaStat, rpc.Method(func(ctx context.Context, _ struct{}) (meta.Status, error) { return s.MetaStatus(ctx) }))
	srv.Register(MethodPootStat, rpc.Method(func(ctx context.Context, _ struct{}) (poot.Status, error) { return s.PootStatus(ctx) }))
	srv.Register(MethodPootSched, rpc.Method(s.PootSchedule))
	srv.Register(MethodChainHead, rpc.Method(func(ctx context.Context, _ struct{}) (nodechain.HeadInfo, error) { return s.ChainHead(ctx) }))
	srv.Register(MethodChainBlock, rpc.Method(s.ChainBlock))
	srv.Register(MethodChainTx, rpc.Method(s.ChainTx))
	srv.Register(MethodChainProof, rpc.Method(s.ChainProof))
	srv.Register(MethodChainParams, rpc.Method(func(ctx context.Context, _ struct{}) (nodechain.ParamsInfo, error) { return s.ChainParams(ctx) }))
	srv.Register(MethodChainPropose, rpc.Method(s.ChainProposeParam))
	srv.Register(MethodChainVote, rpc.Method(s.ChainVote))
	srv.Register(MethodChainSubmit, rpc.Method(s.ChainSubmitTx))
}

func parsePeer(s string) (peer.ID, error) {
	if s == "" {
		return "", rpc.InvalidParams("peer_id is required")
	}
	id, err := peer.Decode(s)
	if err != nil {
		return "", rpc.InvalidParams("peer_id %q: %v", s, err)
	}
	return id, nil
}

// unavailable reports a network failure as EIP-1474's "resource
// unavailable", keeping a deadline distinguishable for the caller.
func unavailable(what string, err error) error {
	var rerr *rpc.Error
	if errors.As(err, &rerr) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return rpc.Unavailable("%s: timed out: %v", what, err)
	}
	return rpc.Unavailable("%s: %v", what, err)
}

func addrStrings(addrs []ma.Multiaddr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
