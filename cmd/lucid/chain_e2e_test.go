package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/chain"
	nodechain "github.com/lucidnet/lucid/node/chain"
	"github.com/lucidnet/lucid/testnet"
)

// lucidFails runs the CLI expecting a failure and returns what it printed.
func lucidFails(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(lucidBin, args...).CombinedOutput()
	require.Error(t, err, "lucid %s should fail; it printed %s", strings.Join(args, " "), out)
	return string(out)
}

// The chain commands against a three-node development chain: the head
// moves, blocks and parameters are described, a governance proposal and a
// vote are signed by the node, included and reported with their receipts,
// bad proposals are refused before anything is signed, and a genesis file
// is written without a node.
func TestChainCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a network")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nw, err := testnet.Start(ctx, testnet.Options{Nodes: 3, Chain: true})
	require.NoError(t, err)
	defer nw.Close()
	home := nw.Nodes[0].Home().Dir
	chainCmd := func(args ...string) []byte { return lucid(t, append([]string{"--home", home, "chain"}, args...)...) }

	var head nodechain.HeadInfo
	require.Eventually(t, func() bool {
		return json.Unmarshal(chainCmd("head", "--json"), &head) == nil && head.Height >= 3
	}, 20*time.Second, 250*time.Millisecond, "the chain grows to height 3")
	require.Equal(t, nw.Genesis.ChainID, head.ChainID)
	require.Contains(t, string(chainCmd("head")), "next leaders:")

	var b1, byHash nodechain.BlockInfo
	require.NoError(t, json.Unmarshal(chainCmd("block", "1", "--json"), &b1))
	require.EqualValues(t, 1, b1.Height)
	require.True(t, b1.Canonical)
	require.Len(t, b1.Hash, 64)
	require.NoError(t, json.Unmarshal(chainCmd("block", b1.Hash, "--json"), &byHash))
	require.Equal(t, b1.Hash, byHash.Hash)
	require.Contains(t, lucidFails(t, "--home", home, "chain", "block", "999999"), "not found")

	var params nodechain.ParamsInfo
	require.NoError(t, json.Unmarshal(chainCmd("params", "--json"), &params))
	var dMin *nodechain.ParamInfo
	for i := range params.Params {
		if params.Params[i].Name == "d_min" {
			dMin = &params.Params[i]
		}
	}
	require.NotNil(t, dMin, "d_min is listed")
	require.Less(t, dMin.Min, dMin.Max)
	require.True(t, dMin.Min <= dMin.Value && dMin.Value <= dMin.Max, "%+v", *dMin)
	require.Contains(t, string(chainCmd("params")), "d_min")

	// Refused before signing: unknown, immutable, out of bounds.
	require.Contains(t, lucidFails(t, "--home", home, "chain", "propose-param", "no_such_param", "1"), `unknown parameter "no_such_param"`)
	require.Contains(t, lucidFails(t, "--home", home, "chain", "propose-param", "slot_length_ms", "120000"), "fixed at genesis")
	require.Contains(t, lucidFails(t, "--home", home, "chain", "propose-param", "max_session_duration_s", "1"), "out of bounds")

	// A proposal: included with code 0. Only nodes eligible to lead may
	// propose (vm.ErrNotEligible); on a development chain the nodes are
	// after a few one-second slots.
	self := nw.Nodes[0].Network().Host.ID().String()
	require.Eventually(t, func() bool {
		return json.Unmarshal(chainCmd("params", "--json"), &params) == nil && slices.Contains(params.Voters, self)
	}, 20*time.Second, 250*time.Millisecond, "node 0 becomes eligible to govern")
	var prop nodechain.TxInfo
	require.NoError(t, json.Unmarshal(chainCmd("propose-param", "max_session_duration_s", "7200", "--wait", "--json"), &prop))
	require.Contains(t, []string{"included", "final"}, prop.Status)
	require.Equal(t, "propose_param", prop.Type)
	require.Equal(t, "max_session_duration_s", prop.Body["name"])
	require.NotEmpty(t, prop.Block)
	require.Zero(t, prop.Code, "receipt error: %s", prop.Error)
	require.NoError(t, json.Unmarshal(chainCmd("params", "--json"), &params))
	require.Len(t, params.Proposals, 1)
	require.Equal(t, "max_session_duration_s", params.Proposals[0].Name)
	require.EqualValues(t, 7200, params.Proposals[0].Value)
	require.EqualValues(t, 1, params.Proposals[0].ID)
	var found nodechain.TxInfo
	require.NoError(t, json.Unmarshal(chainCmd("tx", prop.Hash, "--json"), &found))
	require.Equal(t, prop.Hash, found.Hash)
	require.Equal(t, prop.Block, found.Block)
	require.Equal(t, prop.Code, found.Code)
	require.Contains(t, string(chainCmd("tx", prop.Hash)), "receipt:")

	// A vote: the command reports its receipt, whatever the VM made of it
	// (eligibility is the block's, not the one checked above).
	var vote nodechain.TxInfo
	require.NoError(t, json.Unmarshal(chainCmd("vote", "1", "yes", "--wait", "--json"), &vote))
	require.Equal(t, "vote", vote.Type)
	require.Contains(t, []string{"included", "final"}, vote.Status)
	require.Equal(t, true, vote.Body["yes"])
	if vote.Code == 0 {
		require.NoError(t, json.Unmarshal(chainCmd("params", "--json"), &params))
		require.EqualValues(t, 1, params.Proposals[0].Yes)
	} else {
		require.NotEmpty(t, vote.Error)
	}
	// Voting twice is refused in the receipt, not by the command.
	require.Contains(t, string(chainCmd("vote", "1", "no", "--wait")), "receipt:")
	require.Contains(t, lucidFails(t, "--home", home, "chain", "vote", "1", "maybe"), "yes or no")
	require.Contains(t, lucidFails(t, "--home", home, "chain", "tx", "abcd"), "64 hex")
	require.Contains(t, lucidFails(t, "--home", home, "chain", "submit", "00ff"), "rejected")

	// A genesis file, no node involved; bootstrap defaults to the home's
	// node; an existing file is kept unless --force.
	out := filepath.Join(t.TempDir(), "genesis.json")
	var rep genesisReport
	require.NoError(t, json.Unmarshal(chainCmd("genesis", "--dev", "--out", out, "--param", "d_min=200000", "--json"), &rep))
	g, err := chain.LoadGenesis(out)
	require.NoError(t, err)
	require.True(t, g.Dev)
	require.Equal(t, "lucid-dev", g.ChainID)
	require.Equal(t, nw.Nodes[0].Network().Host.ID(), g.Bootstrap)
	require.EqualValues(t, 200000, g.Params["d_min"])
	require.EqualValues(t, 1000, g.Params["slot_length_ms"])
	require.Equal(t, out, rep.Path)
	require.Contains(t, lucidFails(t, "--home", home, "chain", "genesis", "--dev", "--out", out), "--force")
	require.Contains(t, string(chainCmd("genesis", "--out", out, "--force", "--chain-id", "other", "--start", "2030-01-02T03:04:05Z")), "wrote:")
	g, err = chain.LoadGenesis(out)
	require.NoError(t, err)
	require.Equal(t, "other", g.ChainID)
	require.False(t, g.Dev)
	require.True(t, g.Time.Equal(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)))
	bad := filepath.Join(t.TempDir(), "bad.json")
	require.Contains(t, lucidFails(t, "--home", home, "chain", "genesis", "--out", bad, "--param", "d_min=1"), "not written")
	_, err = os.Stat(bad)
	require.ErrorIs(t, err, os.ErrNotExist, "an invalid genesis is not written")
}
