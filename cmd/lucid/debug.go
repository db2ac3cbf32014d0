package main

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/p2p"
)

// newDebugCmd holds tools for measuring the node, hidden from help.
func newDebugCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "debug", Hidden: true, Short: "Measurement tools"}
	cmd.AddCommand(newBareHostCmd())
	return cmd
}

// newBareHostCmd runs only a libp2p host (same transports and profile as a
// node, no DHT, GossipSub, datastore or API): the baseline that the node's
// memory benchmark is compared with.
func newBareHostCmd() *cobra.Command {
	var profile string
	cmd := &cobra.Command{
		Use:  "bare-host",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, _, err := crypto.GenerateEd25519Key(nil)
			if err != nil {
				return err
			}
			h, err := p2p.NewHost(p2p.HostConfig{
				Identity:   key,
				Listen:     []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0"), ma.StringCast("/ip4/127.0.0.1/udp/0/quic-v1")},
				Transports: p2p.BuiltinTransports(),
				Profile:    p2p.Profile(profile),
			})
			if err != nil {
				return err
			}
			defer h.Close()
			fmt.Fprintln(cmd.OutOrStdout(), h.ID())
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", string(p2p.ProfilePi), "resource profile")
	return cmd
}
