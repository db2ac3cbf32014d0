package node

import (
	"context"
	"net/http"

	nodechain "github.com/lucidnet/lucid/node/chain"
	"github.com/lucidnet/lucid/node/meta"
	"github.com/lucidnet/lucid/node/poot"
	"github.com/lucidnet/lucid/node/rpc"
	"github.com/lucidnet/lucid/p2p/capacity"
	"github.com/lucidnet/lucid/sessions"
)

// Client calls a running node's API over JSON-RPC.
type Client struct{ rpc *rpc.Client }

var _ API = (*Client)(nil)

// NewClient talks to the node API at addr (host:port) with a bearer token.
func NewClient(addr, token string, hc *http.Client) *Client {
	return &Client{rpc: rpc.NewClient("http://"+addr+"/", token, hc)}
}

// DialHome connects to the node running in home, if one is.
func DialHome(home Home) (*Client, error) {
	addr, err := home.RunningAPI()
	if err != nil {
		return nil, err
	}
	token, err := rpc.ReadToken(home.TokenPath())
	if err != nil {
		return nil, err
	}
	return NewClient(addr, token, nil), nil
}

func (c *Client) NodeInfo(ctx context.Context) (Info, error) {
	return call[Info](ctx, c, MethodNodeInfo, nil)
}

func (c *Client) Peers(ctx context.Context) ([]PeerInfo, error) {
	return call[[]PeerInfo](ctx, c, MethodPeers, nil)
}

func (c *Client) FindNodes(ctx context.Context, p FindNodesParams) (FindNodesResult, error) {
	return call[FindNodesResult](ctx, c, MethodFindNodes, p)
}

func (c *Client) GetNode(ctx context.Context, p GetNodeParams) (*capacity.Record, error) {
	return call[*capacity.Record](ctx, c, MethodGetNode, p)
}

func (c *Client) Ping(ctx context.Context, p PingParams) (PingResult, error) {
	return call[PingResult](ctx, c, MethodPing, p)
}

func (c *Client) Connect(ctx context.Context, p ConnectParams) (sessions.Info, error) {
	return call[sessions.Info](ctx, c, MethodConnect, p)
}

func (c *Client) Sessions(ctx context.Context, p SessionsParams) ([]sessions.Info, error) {
	return call[[]sessions.Info](ctx, c, MethodSessions, p)
}

func (c *Client) Session(ctx context.Context, p SessionParams) (sessions.Info, error) {
	return call[sessions.Info](ctx, c, MethodSession, p)
}

func (c *Client) KillSession(ctx context.Context, p SessionParams) (sessions.Info, error) {
	return call[sessions.Info](ctx, c, MethodKill, p)
}

func (c *Client) MetaSessions(ctx context.Context, p MetaSessionsParams) ([]MetaSession, error) {
	return call[[]MetaSession](ctx, c, MethodMetaList, p)
}

func (c *Client) MetaStatus(ctx context.Context) (meta.Status, error) {
	return call[meta.Status](ctx, c, MethodMetaStat, nil)
}

func (c *Client) PootStatus(ctx context.Context) (poot.Status, error) {
	return call[poot.Status](ctx, c, MethodPootStat, nil)
}

func (c *Client) PootSchedule(ctx context.Context, p PootScheduleParams) ([]poot.ScheduledSlot, error) {
	return call[[]poot.ScheduledSlot](ctx, c, MethodPootSched, p)
}

func (c *Client) RecordingStats(ctx context.Context, p RecordingStatsParams) (RecordingStats, error) {
	return call[RecordingStats](ctx, c, MethodRecStats, p)
}

func (c *Client) ChainHead(ctx context.Context) (nodechain.HeadInfo, error) {
	return call[nodechain.HeadInfo](ctx, c, MethodChainHead, nil)
}

func (c *Client) ChainBlock(ctx context.Context, p ChainBlockParams) (nodechain.BlockInfo, error) {
	return call[nodechain.BlockInfo](ctx, c, MethodChainBlock, p)
}

func (c *Client) ChainTx(ctx context.Context, p ChainTxParams) (nodechain.TxInfo, error) {
	return call[nodechain.TxInfo](ctx, c, MethodChainTx, p)
}

func (c *Client) ChainProof(ctx context.Context, p ChainProofParams) (nodechain.SessionProofInfo, error) {
	return call[nodechain.SessionProofInfo](ctx, c, MethodChainProof, p)
}

func (c *Client) ChainParams(ctx context.Context) (nodechain.ParamsInfo, error) {
	return call[nodechain.ParamsInfo](ctx, c, MethodChainParams, nil)
}

func (c *Client) ChainProposeParam(ctx context.Context, p ChainProposeParams) (nodechain.TxInfo, error) {
	return call[nodechain.TxInfo](ctx, c, MethodChainPropose, p)
}

func (c *Client) ChainVote(ctx context.Context, p ChainVoteParams) (nodechain.TxInfo, error) {
	return call[nodechain.TxInfo](ctx, c, MethodChainVote, p)
}

func (c *Client) ChainSubmitTx(ctx context.Context, p ChainSubmitParams) (nodechain.TxInfo, error) {
	return call[nodechain.TxInfo](ctx, c, MethodChainSubmit, p)
}

func call[T any](ctx context.Context, c *Client, method string, params any) (T, error) {
	var out T
	err := c.rpc.Call(ctx, method, params, &out)
	return out, err
}
