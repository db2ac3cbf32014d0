// Command lucid runs and operates a Lucid node: init a home, run the
// daemon, find hosts and reach peers by ID, and start local testnets.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/node/rpc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "lucid:", userMessage(err))
		os.Exit(1)
	}
}

// userMessage drops the JSON-RPC framing ("json-rpc error -32010: ") from
// an API error: the person at the terminal needs the words, not the code.
func userMessage(err error) string {
	msg := err.Error()
	var rerr *rpc.Error
	if errors.As(err, &rerr) {
		msg = strings.Replace(msg, rerr.Error(), rerr.Message, 1)
	}
	return msg
}

// globals are the flags every command shares.
type globals struct {
	home      string
	bootstrap []string
	timeout   time.Duration
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "lucid",
		Short:         "Lucid: a peer-to-peer network of nodes that host remote-desktop sessions",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       node.Version,
	}
	root.PersistentFlags().StringVar(&g.home, "home", "", "node home directory (default $"+node.HomeEnv+" or ~/.lucid)")
	root.PersistentFlags().StringSliceVar(&g.bootstrap, "bootstrap", nil, "bootstrap peer multiaddr(s) ending in /p2p/<peer-id>; used when no node runs in the home")
	root.PersistentFlags().DurationVar(&g.timeout, "timeout", time.Minute, "how long a network command may take")
	root.AddCommand(
		newInitCmd(g),
		newIDCmd(g),
		newNodeCmd(g),
		newRunCmd(g, "join", "Join the network as a node (alias of `lucid node run`)"),
		newNodesCmd(g),
		newPeerCmd(g),
		newConnectCmd(g),
		newSessionsCmd(g),
		newRecordingsCmd(g),
		newMetaCmd(g),
		newPootCmd(g),
		newChainCmd(g),
		newTestnetCmd(g),
		newDebugCmd(),
	)
	return root
}

func (g *globals) resolveHome() (node.Home, error) {
	if g.home != "" {
		return node.Home{Dir: g.home}, nil
	}
	return node.DefaultHome()
}

// withAPI runs fn against the node running in the home when there is one,
// and otherwise against a short-lived client that joins the network through
// the bootstrap peers (from --bootstrap or the home's config).
func (g *globals) withAPI(cmd *cobra.Command, fn func(ctx context.Context, api node.API) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	defer cancel()
	home, err := g.resolveHome()
	if err != nil {
		return err
	}
	if len(g.bootstrap) == 0 {
		if client, _, err := runningNode(ctx, home); err == nil {
			return fn(ctx, client)
		}
	}
	cfg, err := home.LoadConfig()
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && len(g.bootstrap) > 0:
		cfg = clientDefaults()
	default:
		return fmt.Errorf("no node is running in %s and no network to join: %w", home.Dir, err)
	}
	if len(g.bootstrap) > 0 {
		cfg.P2P.Bootstrap = g.bootstrap
	}
	light, err := node.StartLight(ctx, cfg, node.Options{})
	if err != nil {
		return err
	}
	defer light.Close()
	return fn(ctx, light)
}

// clientDefaults is the config of a client with no home: default
// transports, nothing else.
func clientDefaults() node.Config {
	cfg := node.DefaultConfig("pi")
	cfg.P2P.Listen = nil
	return cfg
}

// runningNode is a client of the node (or `lucid connect`) running in the
// home, with its info, if one answers.
func runningNode(ctx context.Context, home node.Home) (*node.Client, node.Info, error) {
	client, err := node.DialHome(home)
	if err != nil {
		return nil, node.Info{}, err
	}
	info, err := client.NodeInfo(ctx)
	if err != nil {
		return nil, node.Info{}, err
	}
	return client, info, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
