package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/media/catalog"
	"github.com/lucidnet/lucid/node"
)

func newRecStatsCmd(g *globals) *cobra.Command {
	var (
		by     string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Storage used by recordings, by day, session or peer",
		Long: `Stats aggregates the catalog of recorded chunks: sessions, chunks, stored
(sealed) bytes, original bytes and the compression ratio. The running node
answers when there is one (from MongoDB when recording.mongo_uri is set);
otherwise the home's store is read directly. A session counts once per
group it has chunks in, and once in the total.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			group, err := catalog.ParseBy(by)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
			defer cancel()
			home, err := g.resolveHome()
			if err != nil {
				return err
			}
			var st node.RecordingStats
			if client, _, err := runningNode(ctx, home); err == nil {
				st, err = client.RecordingStats(ctx, node.RecordingStatsParams{By: string(group)})
				if err != nil {
					return err
				}
			} else {
				cfg, err := home.LoadConfig()
				if err != nil {
					return err
				}
				if st, err = node.OfflineRecordingStats(ctx, home, cfg, group); err != nil {
					return err
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(w, "%s\tSESSIONS\tCHUNKS\tSTORED\tORIGINAL\tRATIO\t\n", statsHeading(group))
			row := func(key string, r catalog.Row) {
				fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%.2fx\t\n", key, r.Sessions, r.Chunks, byteCount(r.SealedBytes), byteCount(r.PlaintextBytes), r.Ratio())
			}
			if group != catalog.ByTotal {
				for _, r := range st.Rows {
					key := r.Key
					if group == catalog.ByPeer {
						key = shortPeer(key)
					}
					row(key, r)
				}
			}
			row("total", st.Total)
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "catalog: %s\n", st.Catalog)
			return nil
		},
	}
	cmd.Flags().StringVar(&by, "by", "", "group by day (UTC), session or peer (the session's owner); default: one total")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func statsHeading(by catalog.By) string {
	switch by {
	case catalog.ByDay:
		return "DAY (UTC)"
	case catalog.BySession:
		return "SESSION"
	case catalog.ByPeer:
		return "PEER"
	}
	return ""
}
