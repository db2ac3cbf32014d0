package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/node"
)

func newMetaCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "meta",
		Short: "The network's replicated session metadata, as this node sees it",
		Long: `Every node keeps a replica of the network's session metadata: which
sessions exist, who hosts them, their state, byte and chunk counts, manifest
hash and anchor status. Who the client is stays sealed to the session's
participants; a node that took part shows it.`,
	}
	cmd.AddCommand(newMetaSessionsCmd(g), newMetaStatusCmd(g))
	return cmd
}

func newMetaSessionsCmd(g *globals) *cobra.Command {
	var (
		p      node.MetaSessionsParams
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List the sessions of the whole network",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withNode(cmd, func(ctx context.Context, api node.API) error {
				list, err := api.MetaSessions(ctx, p)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), list)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "SESSION\tHOST\tSERVICE\tSTATE\tCLIENT\tIN\tOUT\tCHUNKS\tMANIFEST\tANCHOR\tSTARTED")
				for _, s := range list {
					client := s.Client
					if client == "" && s.Sealed {
						client = "(sealed)"
					}
					manifest := s.ManifestHash
					if len(manifest) > 12 {
						manifest = manifest[:12]
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", s.ID, shortPeer(s.Host), dash(s.Service), dash(s.State),
						shortPeer(dash(client)), byteCount(s.BytesIn), byteCount(s.BytesOut), s.Chunks, dash(manifest), s.Anchor, stamp(s.StartedAt))
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&p.State, "state", "", "only sessions in this state: created, active, ended or failed")
	cmd.Flags().StringVar(&p.Host, "host", "", "only sessions hosted by this peer ID")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newMetaStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Replication state: digest, keys, last sync per peer, whether in sync",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withNode(cmd, func(ctx context.Context, api node.API) error {
				st, err := api.MetaStatus(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), st)
				}
				out := cmd.OutOrStdout()
				inSync := "no (no recent anti-entropy round found a peer with the same digest)"
				if st.InSync {
					inSync = "yes"
				}
				fmt.Fprintf(out, "digest:     %s\nsessions:   %d\nin sync:    %s\nlast sync:  %s\nenvelopes:  %d (%s)\nretention:  %s (horizon %s), anti-entropy every %s\n",
					st.Digest, st.Keys, inSync, stamp(st.LastSync), st.Envelope.Count, byteCount(uint64(st.Envelope.Bytes)), st.Params.Retention, st.Params.Horizon, st.Params.SyncInterval)
				if len(st.Peers) == 0 {
					return nil
				}
				w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "\nPEER\tLAST SYNC\tIN SYNC\tSENT\tRECEIVED\tBYTES\tERROR")
				for _, p := range st.Peers {
					fmt.Fprintf(w, "%s\t%s\t%v\t%d\t%d\t%s\t%s\n", shortPeer(p.Peer), stamp(p.At), p.InSync, p.Sent, p.Received, byteCount(uint64(p.Bytes)), dash(p.Err))
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
