package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/node"
)

func newPootCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "poot",
		Short: "Proof of Operational Tasks: this node's work, credits, rank and leader slots",
	}
	cmd.AddCommand(newPootStatusCmd(g), newPootScheduleCmd(g))
	return cmd
}

func newPootStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Proofs sent and accepted, credits by type, uptime score and rank",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withNode(cmd, func(ctx context.Context, api node.API) error {
				st, err := api.PootStatus(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), st)
				}
				rank := "not ranked (needs credits and an uptime score of at least D_min)"
				if st.Rank > 0 {
					rank = fmt.Sprintf("%d of %d eligible", st.Rank, st.Eligibles)
				}
				fmt.Fprintf(cmd.OutOrStdout(), `entity:        %s
slot:          %d (started %s)
this slot:     sent %s; accepted back %s
window:        %d slots ending at slot %d; sent %s
credits:       relay %.2f, storage %.2f, validation %.2f, total %.2f
uptime score:  %.3f
live score:    %.3f (eligible: %v)
rank:          %s
`, st.Entity, st.Slot, stamp(st.SlotStart), counts(st.SentSlot), counts(st.SeenSlot), st.WindowSlots, st.TallySlot, counts(st.SentWindow),
					st.Credits.Relay, st.Credits.Storage, st.Credits.Validation, st.Credits.Total,
					float64(st.UptimeScore)/1e6, float64(st.LiveScore)/1e6, st.Eligible, rank)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func newPootScheduleCmd(g *globals) *cobra.Command {
	var (
		p      node.PootScheduleParams
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Leaders of the coming slots, marking this node",
		Long: `Schedule lists the primary and fallbacks of the coming slots. A slot is
final once its seed is fixed (Lookahead slots ahead); later slots are
projected from the current tally and seed and may change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withNode(cmd, func(ctx context.Context, api node.API) error {
				slots, err := api.PootSchedule(ctx, p)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), slots)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "SLOT\tSTART\tPRIMARY\tFALLBACKS\tYOU\tFINAL")
				for _, s := range slots {
					you := "-"
					switch {
					case s.Mine:
						you = "LEADER"
					case s.MyRank > 0:
						you = fmt.Sprintf("fallback %d", s.MyRank-1)
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\t%v\n", s.Slot, stamp(s.Start), dash(shortPeer(s.Primary)), len(s.Fallbacks), you, s.Final)
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().IntVar(&p.Slots, "slots", 10, "how many slots, from the current one")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
