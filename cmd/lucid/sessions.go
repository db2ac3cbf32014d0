package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/sessions"
)

// withNode runs fn against the node (or `lucid connect` client) running in
// the home: sessions live there, not in a short-lived lookup client.
func (g *globals) withNode(cmd *cobra.Command, fn func(ctx context.Context, api node.API) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), g.timeout)
	defer cancel()
	home, err := g.resolveHome()
	if err != nil {
		return err
	}
	client, _, err := runningNode(ctx, home)
	if err == nil {
		return fn(ctx, client)
	}
	return fmt.Errorf("no node or `lucid connect` is running in %s (%v); sessions are kept by the running process", home.Dir, err)
}

func newSessionsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "sessions", Short: "List, inspect and end remote-desktop sessions"}
	cmd.AddCommand(newSessionsLsCmd(g), newSessionsShowCmd(g), newSessionsKillCmd(g))
	return cmd
}

func newSessionsLsCmd(g *globals) *cobra.Command {
	var (
		p      node.SessionsParams
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List sessions, hosted and opened, live and past",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withNode(cmd, func(ctx context.Context, api node.API) error {
				list, err := api.Sessions(ctx, p)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), list)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "SESSION\tROLE\tPEER\tSERVICE\tSTATE\tSTARTED\tIN\tOUT\tREASON")
				for _, s := range list {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Role, shortPeer(s.Peer.String()), s.Service, s.State,
						clock(s.StartedAt), byteCount(s.BytesIn), byteCount(s.BytesOut), dash(s.Reason))
				}
				return w.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&p.State, "state", "", "only sessions in this state: created, active, ended, failed")
	cmd.Flags().StringVar(&p.Role, "role", "", "only sessions of this role: host, client")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newSessionsShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show <session-id>",
		Short: "Show one session with its signed receipts",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withNode(cmd, func(ctx context.Context, api node.API) error {
				s, err := api.Session(ctx, node.SessionParams{SessionID: args[0]})
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(cmd.OutOrStdout(), s)
				}
				printSession(cmd.OutOrStdout(), s)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newSessionsKillCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "kill <session-id>",
		Short: "End a live session now (on the host: the client is disconnected)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withNode(cmd, func(ctx context.Context, api node.API) error {
				s, err := api.KillSession(ctx, node.SessionParams{SessionID: args[0]})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "session %s %s: %s\n", s.ID, s.State, s.Reason)
				return nil
			})
		},
	}
}

func printSession(out io.Writer, s sessions.Info) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(w, "%s\t%v\n", k, v) }
	row("session", s.ID)
	row("role", s.Role)
	row("peer", s.Peer)
	row("service", s.Service)
	row("state", s.State)
	if s.Reason != "" {
		row("reason", s.Reason)
	}
	row("created", stamp(s.CreatedAt))
	row("started", stamp(s.StartedAt))
	row("ended", stamp(s.EndedAt))
	if s.LocalAddr != "" {
		row("listening", s.LocalAddr)
	}
	row("bytes in/out", fmt.Sprintf("%d / %d", s.BytesIn, s.BytesOut))
	row("connections", s.Streams)
	row("limits", limitsText(s.Limits))
	row("policy hash", fmt.Sprintf("%x", s.PolicyHash))
	row("consent", fmt.Sprintf("signed by %s at %s", s.Consent.User, stamp(s.Consent.AcceptedAt)))
	if s.Receipt != nil {
		row("host receipt", fmt.Sprintf("signed by %s at %s", s.Receipt.Host, stamp(s.Receipt.AcceptedAt)))
	}
	_ = w.Flush()
}

func byteCount(n uint64) string {
	if n == 0 {
		return "0 B"
	}
	return bytesIEC(n)
}

func limitsText(l sessions.Limits) string {
	parts := []string{}
	if l.MaxDuration > 0 {
		parts = append(parts, "max "+l.MaxDuration.String())
	}
	if l.IdleTimeout > 0 {
		parts = append(parts, "idle "+l.IdleTimeout.String())
	}
	parts = append(parts, bandwidth(l.BandwidthBps))
	return strings.Join(parts, ", ")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("15:04:05")
}

func shortPeer(id string) string {
	if len(id) <= 16 {
		return id
	}
	return id[:8] + "…" + id[len(id)-6:]
}

// newConnectCmd opens a session and keeps it open until Ctrl-C or until the
// host ends it.
func newConnectCmd(g *globals) *cobra.Command {
	var (
		service string
		listen  string
		port    int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "connect <peer-id>",
		Short: "Open a remote-desktop session to a host by its peer ID and listen locally for your desktop client",
		Long: `Open a session to a host known only by its peer ID. The host is found through
the DHT; the request carries your signed consent to the Terms of Connection
and to a control policy (the strict profile plus what the service needs). The
host countersigns or refuses with a reason. Then point your ordinary client
(mstsc, FreeRDP, Remmina, a VNC viewer, ssh) at the local address printed.

Uses the node running in the home if there is one; otherwise runs as a
client in this process (creating the home on first use).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(sessions.Services, service) {
				return fmt.Errorf("unknown service %q: use one of %s", service, strings.Join(sessions.Services, ", "))
			}
			if port != 0 {
				listen = fmt.Sprintf("127.0.0.1:%d", port)
			}
			return g.withSessionNode(cmd, func(ctx context.Context, api node.API) error {
				dialCtx, cancel := context.WithTimeout(ctx, g.timeout)
				info, err := api.Connect(dialCtx, node.ConnectParams{PeerID: args[0], Service: service, Listen: listen})
				cancel()
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if asJSON {
					if err := printJSON(out, info); err != nil {
						return err
					}
				} else {
					printConnected(out, info)
				}
				end := waitEnd(ctx, api, info.ID)
				if end.State == sessions.StateActive {
					// Interrupted: end the session ourselves.
					killCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					if k, err := api.KillSession(killCtx, node.SessionParams{SessionID: info.ID.String()}); err == nil {
						end = k
					}
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "session %s %s: %s\n", end.ID, end.State, end.Reason)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&service, "service", sessions.ServiceRDP, "service to reach on the host: rdp, vnc or ssh")
	f.StringVar(&listen, "listen", "", "local address for your desktop client (default 127.0.0.1 on a free port)")
	f.IntVar(&port, "port", 0, "local port on 127.0.0.1 (shorthand for --listen)")
	f.BoolVar(&asJSON, "json", false, "print the session as JSON")
	return cmd
}

func printConnected(out io.Writer, s sessions.Info) {
	fmt.Fprintf(out, "session %s: %s on %s\n", s.ID, s.Service, s.Peer)
	fmt.Fprintf(out, "  host receipt verified; terms %s; policy %x\n", sessions.TermsVersion, s.PolicyHash[:8])
	fmt.Fprintf(out, "  limits: %s\n", limitsText(s.Limits))
	_, port, _ := strings.Cut(s.LocalAddr, ":")
	fmt.Fprintf(out, "listening on %s; point your client at it:\n", s.LocalAddr)
	switch s.Service {
	case sessions.ServiceSSH:
		fmt.Fprintf(out, "  ssh -p %s <user>@127.0.0.1\n", port)
	case sessions.ServiceVNC:
		fmt.Fprintf(out, "  vncviewer 127.0.0.1::%s\n", port)
	default:
		fmt.Fprintf(out, "  xfreerdp /v:%s    (or mstsc /v:%s)\n", s.LocalAddr, s.LocalAddr)
	}
	fmt.Fprintln(out, "press Ctrl-C to end the session")
}

// waitEnd returns when the session is no longer active or ctx is done
// (the user pressed Ctrl-C).
func waitEnd(ctx context.Context, api node.API, id sessions.ID) sessions.Info {
	last := sessions.Info{ID: id, State: sessions.StateActive}
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return last
		case <-t.C:
		}
		info, err := api.Session(ctx, node.SessionParams{SessionID: id.String()})
		if err != nil {
			continue
		}
		last = info
		if info.State != sessions.StateActive {
			return info
		}
	}
}

// withSessionNode runs fn against the home's running node, or else starts
// a client-role node in this process from the home (created if missing).
func (g *globals) withSessionNode(cmd *cobra.Command, fn func(ctx context.Context, api node.API) error) error {
	ctx := cmd.Context()
	home, err := g.resolveHome()
	if err != nil {
		return err
	}
	if len(g.bootstrap) == 0 {
		probe, cancel := context.WithTimeout(ctx, 5*time.Second)
		client, _, err := runningNode(probe, home)
		cancel()
		if err == nil {
			return fn(ctx, client)
		}
	}
	cfg, err := home.LoadConfig()
	if errors.Is(err, fs.ErrNotExist) {
		cfg = node.DefaultConfig(p2p.ProfilePi)
		cfg.P2P.Bootstrap = g.bootstrap
		if _, err := node.Init(home, cfg); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "created %s for your identity\n", home.Dir)
	} else if err != nil {
		return err
	}
	if len(g.bootstrap) > 0 {
		cfg.P2P.Bootstrap = g.bootstrap
	}
	// The client's API serves `lucid sessions` from another terminal; a
	// free port keeps it clear of a node's default port.
	cfg.API.Listen = "127.0.0.1:0"
	log, err := node.NewLogger(node.LogConfig{Level: "warn", Format: "text"}, os.Stderr)
	if err != nil {
		return err
	}
	n, err := node.Start(ctx, home, cfg, node.Options{Role: node.RoleClient, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		_ = n.Close(closeCtx)
	}()
	joinCtx, cancel := context.WithTimeout(ctx, g.timeout)
	err = n.Network().Bootstrap(joinCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("join network: %w", err)
	}
	return fn(ctx, n.Service())
}
