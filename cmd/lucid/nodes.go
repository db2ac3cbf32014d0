package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/p2p/capacity"
)

func newNodesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "nodes", Short: "Find hosts and read their capacity records"}
	cmd.AddCommand(newNodesFindCmd(g), newNodesShowCmd(g))
	return cmd
}

func newNodesFindCmd(g *globals) *cobra.Command {
	var (
		p      node.FindNodesParams
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "find",
		Short: "List hosts found through the DHT, with their verified capacity records",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withAPI(cmd, func(ctx context.Context, api node.API) error {
				res, err := api.FindNodes(ctx, p)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), res)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "PEER ID\tSERVICES\tSLOTS FREE\tBANDWIDTH\tARCH\tREGION\tEXPIRES")
				for _, r := range res.Nodes {
					fmt.Fprintf(w, "%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", r.Peer, strings.Join(r.Services, ","),
						r.SlotsFree, r.SlotsTotal, bandwidth(r.BandwidthBps), r.Arch, dash(r.Region), r.Expires.Format("15:04:05Z07:00"))
				}
				if err := w.Flush(); err != nil {
					return err
				}
				for _, f := range res.Failed {
					fmt.Fprintf(cmd.ErrOrStderr(), "skipped %s: %s\n", f.PeerID, f.Error)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%d host(s)\n", len(res.Nodes))
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Service, "service", "", "only hosts offering this service: rdp, vnc or ssh")
	f.Uint32Var(&p.MinFreeSlots, "min-free-slots", 0, "only hosts with at least this many free session slots")
	f.IntVar(&p.Limit, "limit", 0, "at most this many hosts (0: all)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newNodesShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show <peer-id>",
		Short: "Fetch one node's capacity record from the DHT and verify it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withAPI(cmd, func(ctx context.Context, api node.API) error {
				rec, err := api.GetNode(ctx, node.GetNodeParams{PeerID: args[0]})
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), rec)
				}
				printRecord(cmd, rec)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printRecord(cmd *cobra.Command, r *capacity.Record) {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(w, "%s\t%v\n", k, v) }
	row("peer id", r.Peer)
	row("signature", "valid (signed by the peer it names)")
	row("software", r.Software)
	row("arch", r.Arch)
	row("cpu cores", r.CPUCores)
	row("memory", bytesIEC(r.MemoryBytes))
	row("disk free", bytesIEC(r.DiskFreeBytes))
	row("session slots", fmt.Sprintf("%d free of %d", r.SlotsFree, r.SlotsTotal))
	row("bandwidth cap", bandwidth(r.BandwidthBps))
	row("services", strings.Join(r.Services, ", "))
	row("region", dash(r.Region))
	row("sequence", r.Seq)
	row("issued", r.IssuedAt.UTC().Format("2006-01-02 15:04:05Z"))
	row("expires", r.Expires.UTC().Format("2006-01-02 15:04:05Z"))
	for i, a := range r.Addrs {
		k := ""
		if i == 0 {
			k = "addresses"
		}
		row(k, a)
	}
	_ = w.Flush()
}

func bandwidth(bps uint64) string {
	if bps == 0 {
		return "uncapped"
	}
	return fmt.Sprintf("%g Mbit/s", float64(bps)/1e6)
}

func bytesIEC(b uint64) string {
	if b == 0 {
		return "unknown"
	}
	const unit = 1024
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(b), 0
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
