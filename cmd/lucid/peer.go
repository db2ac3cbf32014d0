package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/node"
)

func newPeerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "peer", Short: "Reach peers by their ID"}
	cmd.AddCommand(newPingCmd(g), newPeerLsCmd(g))
	return cmd
}

func newPeerLsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the peers the node is connected to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withAPI(cmd, func(ctx context.Context, api node.API) error {
				peers, err := api.Peers(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					if peers == nil {
						peers = []node.PeerInfo{}
					}
					return printJSON(cmd.OutOrStdout(), peers)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "PEER ID\tDIRECTION\tLATENCY\tADDRESS")
				for _, p := range peers {
					fmt.Fprintf(w, "%s\t%s\t%.2f ms\t%s\n", p.PeerID, p.Direction, p.LatencyMs, strings.Join(p.Addrs, " "))
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPingCmd(g *globals) *cobra.Command {
	var (
		p      node.PingParams
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "ping <peer-id>",
		Short: "Resolve a peer through the DHT by its ID alone, connect, and measure round trips",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.PeerID = args[0]
			return g.withAPI(cmd, func(ctx context.Context, api node.API) error {
				res, err := api.Ping(ctx, p)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), res)
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "PING %s (resolved via %s", res.PeerID, res.ResolvedVia)
				if res.Remote != "" {
					fmt.Fprintf(out, ", connected to %s", res.Remote)
				}
				fmt.Fprintln(out, ")")
				for i, rtt := range res.RTTMs {
					fmt.Fprintf(out, "seq=%d time=%.3f ms\n", i+1, rtt)
				}
				fmt.Fprintf(out, "%d pings: min/avg/max = %.3f/%.3f/%.3f ms\n", len(res.RTTMs), res.MinMs, res.AvgMs, res.MaxMs)
				return nil
			})
		},
	}
	cmd.Flags().IntVarP(&p.Count, "count", "c", 3, "number of pings")
	cmd.Flags().IntVar(&p.IntervalMs, "interval-ms", 1000, "milliseconds between pings")
	cmd.Flags().BoolVar(&p.Fresh, "fresh", false, "close any open connection first, so the peer is looked up in the DHT and dialled anew")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
