package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/p2p"
)

func newInitCmd(g *globals) *cobra.Command {
	var (
		profile   string
		listen    []string
		apiListen string
		transport string
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a node home: identity key, commented config.toml, data directory",
		Long: `Create a node home: an Ed25519 libp2p identity (identity.key, mode 0600), a
commented config.toml, an API token (api.token, mode 0600) and the data
directory. An existing identity or config is never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := g.resolveHome()
			if err != nil {
				return err
			}
			cfg := node.DefaultConfig(p2p.Profile(profile))
			// The production choice for a Pi is Tor-only; servers and
			// development machines choose it with --transport tor.
			if transport == "" {
				transport = "tcp"
				if p2p.Profile(profile) == p2p.ProfilePi {
					transport = "tor"
				}
			}
			if cfg, err = cfg.WithTransport(transport); err != nil {
				return err
			}
			if cmd.Flags().Changed("listen") {
				cfg.P2P.Listen = listen
			}
			if apiListen != "" {
				cfg.API.Listen = apiListen
			}
			cfg.P2P.Bootstrap = g.bootstrap
			res, err := node.Init(home, cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			state := func(created bool) string {
				if created {
					return "created"
				}
				return "kept existing"
			}
			fmt.Fprintf(out, "home      %s\n", home.Dir)
			fmt.Fprintf(out, "peer id   %s\n", res.Peer)
			fmt.Fprintf(out, "identity  %s (%s)\n", home.IdentityPath(), state(res.CreatedKey))
			fmt.Fprintf(out, "config    %s (%s)\n", home.ConfigPath(), state(res.CreatedConfig))
			if res.CreatedConfig && cfg.UsesTor() {
				fmt.Fprintf(out, "transport %s: the node needs tor (apt-get install tor); lucid init --transport tcp for a node without Tor\n", transport)
			}
			fmt.Fprintf(out, "\nStart the node with: lucid node run --home %s\n", home.Dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", string(p2p.ProfilePi), "resource profile: pi or server")
	cmd.Flags().StringSliceVar(&listen, "listen", nil, "libp2p listen multiaddrs (default tcp and quic on port 4710)")
	cmd.Flags().StringVar(&transport, "transport", "", "tor (onion only; the default with --profile pi), mixed (onion and TCP) or tcp (TCP and QUIC; the default with --profile server, for tests and local testnets)")
	cmd.Flags().StringVar(&apiListen, "api-listen", "", "loopback host:port of the local API (default "+node.DefaultAPIAddr+")")
	return cmd
}
