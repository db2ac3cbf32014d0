package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/testnet"
)

func newTestnetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "testnet", Short: "Run a local multi-node network on loopback"}
	cmd.AddCommand(newTestnetUpCmd())
	return cmd
}

func newTestnetUpCmd() *cobra.Command {
	var (
		nodes      int
		dir        string
		transports []string
		noCheck    bool
		noChain    bool
		withTor    bool
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start N nodes as separate processes, show them finding and dialling each other, run until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bin, err := os.Executable()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			ctx := cmd.Context()
			fmt.Fprintf(out, "starting %d nodes...\n", nodes)
			c, err := testnet.Up(ctx, testnet.UpConfig{Binary: bin, Nodes: nodes, Dir: dir, Transports: transports, Chain: !noChain,
				Tor: withTor, Log: out})
			if err != nil {
				return err
			}
			defer func() {
				fmt.Fprintln(out, "\nstopping...")
				if err := c.Stop(10 * time.Second); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "lucid:", err)
				}
				fmt.Fprintf(out, "stopped %d nodes\n", len(c.Nodes))
			}()

			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NODE\tPEER ID\tAPI\tPID\tHOME")
			for _, n := range c.Nodes {
				fmt.Fprintf(w, "%d\t%s\t%s\t%d\t%s\n", n.Index, n.PeerID, n.APIAddr, n.PID, n.Home.Dir)
			}
			_ = w.Flush()
			fmt.Fprintf(out, "\nbootstrap: %s\n", c.Bootstrap[0])

			if !noCheck {
				if err := checkCluster(ctx, cmd, c); err != nil {
					return err
				}
			}
			last := c.Nodes[len(c.Nodes)-1]
			fmt.Fprintf(out, "\nTry, from another terminal:\n")
			if c.Tor != nil {
				// A desktop client of this network needs Tor with the
				// private network's settings: a home of its own.
				client := node.Home{Dir: filepath.Join(c.Dir, "client")}
				if _, err := node.Init(client, testnet.TorNodeConfig(testnet.NodeConfig(nil, c.Bootstrap), c.Tor)); err != nil {
					return err
				}
				fmt.Fprintf(out, "  %s --home %s nodes find\n", bin, c.Nodes[0].Home.Dir)
				fmt.Fprintf(out, "  %s --home %s peer ping %s\n", bin, c.Nodes[0].Home.Dir, last.PeerID)
				fmt.Fprintf(out, "  %s --home %s connect %s --service ssh    # a client with its own tor\n", bin, client.Dir, last.PeerID)
				fmt.Fprintf(out, "  %s --home %s id    # Tor bootstrap and onion reachability\n", bin, c.Nodes[0].Home.Dir)
			} else {
				fmt.Fprintf(out, "  %s nodes find --bootstrap %s\n", bin, c.Bootstrap[0])
				fmt.Fprintf(out, "  %s --home %s peer ping %s\n", bin, c.Nodes[0].Home.Dir, last.PeerID)
				fmt.Fprintf(out, "  %s --bootstrap %s connect %s --service ssh\n", bin, c.Bootstrap[0], last.PeerID)
			}
			fmt.Fprintf(out, "  curl -s http://%s/metrics | grep ^lucid_\n", c.Nodes[0].APIAddr)
			if c.Genesis != nil {
				fmt.Fprintf(out, "  %s --home %s chain head\n", bin, c.Nodes[0].Home.Dir)
			}
			fmt.Fprintf(out, "\nrunning; logs in each home's node.log; press Ctrl-C to stop\n")
			select {
			case <-ctx.Done():
				return nil
			case pn := <-c.Exited():
				return fmt.Errorf("node %d exited unexpectedly; see %s", pn.Index, pn.LogPath)
			}
		},
	}
	f := cmd.Flags()
	f.IntVarP(&nodes, "nodes", "n", 5, "number of nodes")
	f.StringVar(&dir, "dir", "", "directory for the node homes (default: a temporary directory removed on exit)")
	f.StringSliceVar(&transports, "transports", nil, "transports: tcp, quic (default both)")
	f.BoolVar(&noCheck, "no-check", false, "skip the discovery and dial check")
	f.BoolVar(&withTor, "tor", false, "start a private Tor network on loopback (needs the tor package) and make every node onion-only on it")
	f.BoolVar(&noChain, "no-chain", false, "run no data chain (default: a development chain with one-second slots, node 0 bootstrapping it)")
	return cmd
}

// checkCluster has every node find all capacity records through the DHT
// and ping its neighbour by peer ID, and prints what each saw.
func checkCluster(ctx context.Context, cmd *cobra.Command, c *testnet.Cluster) error {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "\nchecking: each node finds every capacity record through the DHT and pings its neighbour by peer ID...\n")
	apis := make([]node.API, len(c.Nodes))
	ids := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		client, err := node.DialHome(n.Home)
		if err != nil {
			return err
		}
		apis[i], ids[i] = client, n.PeerID
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	results := testnet.Check(ctx, apis, ids, len(c.Nodes))
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tRECORDS FOUND\tFIND TIME\tPING NODE\tRESOLVED VIA\tRTT")
	failed := 0
	for _, r := range results {
		next := (r.Index + 1) % len(c.Nodes)
		if r.Err != nil {
			failed++
			fmt.Fprintf(w, "%d\t%d/%d\t-\t%d\t-\tERROR: %v\n", r.Index, r.Found, len(c.Nodes), next, r.Err)
			continue
		}
		fmt.Fprintf(w, "%d\t%d/%d\t%s\t%d\t%s\t%.2f ms\n", r.Index, r.Found, len(c.Nodes), r.FindTime.Round(time.Millisecond), next, r.PingVia, r.PingRTTMs)
	}
	_ = w.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d nodes failed the check", failed, len(c.Nodes))
	}
	fmt.Fprintln(out, "ok: every node found every capacity record and reached its neighbour by peer ID")
	return nil
}
