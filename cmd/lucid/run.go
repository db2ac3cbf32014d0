package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/node"
)

// shutdownGrace is how long a node may take to stop after SIGINT/SIGTERM.
const shutdownGrace = 5 * time.Second

func newNodeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Run the node daemon"}
	cmd.AddCommand(newRunCmd(g, "run", "Run the node: join the network, publish capacity, serve the local API"))
	return cmd
}

func newRunCmd(g *globals, use, short string) *cobra.Command {
	var (
		profile, apiListen, logLevel, logFormat, mongoURI string
		listen                                            []string
	)
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

Runs until SIGINT or SIGTERM, then stops within 5 s, flushing the datastore.
Flags override config.toml for this run only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			home, err := g.resolveHome()
			if err != nil {
				return err
			}
			cfg, err := home.LoadConfig()
			if err != nil {
				return err
			}
			if profile != "" {
				cfg.Node.Profile = profile
			}
			if len(listen) > 0 {
				cfg.P2P.Listen = listen
			}
			if len(g.bootstrap) > 0 {
				cfg.P2P.Bootstrap = append(cfg.P2P.Bootstrap, g.bootstrap...)
			}
			if apiListen != "" {
				cfg.API.Listen = apiListen
			}
			if logLevel != "" {
				cfg.Log.Level = logLevel
			}
			if logFormat != "" {
				cfg.Log.Format = logFormat
			}
			if mongoURI != "" {
				cfg.Recording.MongoURI = mongoURI
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			log, err := node.NewLogger(cfg.Log, os.Stderr)
			if err != nil {
				return err
			}
			node.RouteLibraryLogs(log)
			n, err := node.Start(cmd.Context(), home, cfg, node.Options{Logger: log})
			if err != nil {
				return err
			}
			<-cmd.Context().Done()
			log.Info("shutting down", "grace", shutdownGrace.String())
			ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			defer cancel()
			if err := n.Close(ctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&profile, "profile", "", "resource profile for this run: pi or server")
	f.StringSliceVar(&listen, "listen", nil, "libp2p listen multiaddrs for this run")
	f.StringVar(&apiListen, "api-listen", "", "loopback host:port of the local API for this run")
	f.StringVar(&logLevel, "log-level", "", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "", "text or json")
	f.StringVar(&mongoURI, "mongo-uri", "", "also catalog recordings in this MongoDB (mongodb://host:27017/lucid), which then computes recording statistics")
	return cmd
}
