package main

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/node"
)

// idReport is `lucid id --json`.
type idReport struct {
	PeerID string   `json:"peer_id"`
	Addrs  []string `json:"addrs"`
	// Running says whether Addrs are the live addresses of a running node
	// (true) or the configured listen addresses (false).
	Running bool   `json:"running"`
	Home    string `json:"home"`
	API     string `json:"api,omitempty"`
	// Tor is the running node's Tor state: bootstrap progress and whether
	// its onion service answered its own dial through Tor.
	Tor *node.TorStatus `json:"tor,omitempty"`
}

func newIDCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "id",
		Short: "Print this node's peer ID and listen addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := g.resolveHome()
			if err != nil {
				return err
			}
			key, err := home.LoadIdentity()
			if err != nil {
				return fmt.Errorf("no identity in %s (run `lucid init`): %w", home.Dir, err)
			}
			id, err := peer.IDFromPrivateKey(key)
			if err != nil {
				return err
			}
			rep := idReport{PeerID: id.String(), Home: home.Dir, Addrs: []string{}}
			ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
			defer cancel()
			if _, info, err := runningNode(ctx, home); err == nil && info.PeerID == rep.PeerID {
				rep.Running, rep.Addrs, rep.Tor = true, info.Addrs, info.Tor
				rep.API, _ = home.RunningAPI()
			}
			if !rep.Running {
				cfg, err := home.LoadConfig()
				if err != nil {
					return err
				}
				rep.Addrs = append(rep.Addrs, cfg.P2P.Listen...)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, rep.PeerID)
			label := "configured (node not running)"
			if rep.Running {
				label = "listening"
			}
			fmt.Fprintf(out, "%s:\n", label)
			for _, a := range rep.Addrs {
				fmt.Fprintf(out, "  %s/p2p/%s\n", a, rep.PeerID)
			}
			if t := rep.Tor; t != nil {
				fmt.Fprintf(out, "tor (%s): bootstrapped %d%% (%s)\n", t.Mode, t.Bootstrap, t.Summary)
				if t.Onion != "" {
					state := "reachable through Tor, advertised"
					if !t.Reachable {
						state = "not reachable yet, not advertised"
						if t.LastError != "" {
							state += ": " + t.LastError
						}
					}
					fmt.Fprintf(out, "  onion %s: %s\n", t.Onion, state)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
