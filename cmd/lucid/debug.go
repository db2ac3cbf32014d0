package main

import (
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"

	"github.com/lucidnet/lucid/media"
	"github.com/lucidnet/lucid/node"
	"github.com/lucidnet/lucid/p2p"
	"github.com/lucidnet/lucid/sessions"
)

// newDebugCmd holds tools for measuring the node, hidden from help.
func newDebugCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "debug", Hidden: true, Short: "Measurement tools"}
	cmd.AddCommand(newBareHostCmd(), newDebugRecordCmd())
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

// newDebugRecordCmd records a synthetic hosted session into a directory
// until killed: the subject of the crash-safety test, which kills it with
// SIGKILL at random moments and then recovers the recording. The client
// identity and the stream come from the seed, so the test can recompute
// both.
func newDebugRecordCmd() *cobra.Command {
	var (
		dir  string
		seed uint64
	)
	cmd := &cobra.Command{
		Use:    "record",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := media.OpenFileStore(dir)
			if err != nil {
				return err
			}
			info, err := syntheticSession(seed)
			if err != nil {
				return err
			}
			p, err := media.NewPipeline(media.PipelineConfig{Store: st, MaxChunkPlaintext: 64 << 10, RecorderVersion: node.Software()})
			if err != nil {
				return err
			}
			p.SessionEvent(sessions.Event{Kind: sessions.EventStarted, Info: info})
			fmt.Fprintln(cmd.OutOrStdout(), info.ID)
			stream := syntheticStream(seed)
			buf := make([]byte, 32<<10)
			at := time.Now()
			for cmd.Context().Err() == nil {
				_, _ = stream.Read(buf)
				at = at.Add(time.Millisecond)
				p.Record(info.ID, sessions.ClientToHost, at, buf)
			}
			return p.Close()
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "recordings directory")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the client identity and the stream")
	return cmd
}

// syntheticKey is the client identity of a synthetic session, from its
// seed (key generators may ignore a custom random source; seeds are exact).
func syntheticKey(seed uint64) (crypto.PrivKey, error) {
	var s [ed25519.SeedSize]byte
	_, _ = syntheticStream(seed ^ 0x5eed).Read(s[:])
	return crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(s[:]))
}

// syntheticStream is the deterministic byte stream of a synthetic session.
func syntheticStream(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return mrand.NewChaCha8(s)
}

// syntheticSession is a hosted session with real receipts between the
// seed's client identity and a fresh host key.
func syntheticSession(seed uint64) (sessions.Info, error) {
	clientKey, err := syntheticKey(seed)
	if err != nil {
		return sessions.Info{}, err
	}
	hostKey, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		return sessions.Info{}, err
	}
	client, err := peer.IDFromPrivateKey(clientKey)
	if err != nil {
		return sessions.Info{}, err
	}
	id, err := sessions.NewID(crand.Reader)
	if err != nil {
		return sessions.Info{}, err
	}
	now := time.Now().Truncate(time.Millisecond)
	params := sessions.ParamsForService(sessions.ServiceRDP)
	req, err := sessions.NewRequest(clientKey, id, sessions.ServiceRDP, params, now)
	if err != nil {
		return sessions.Info{}, err
	}
	receipt, err := sessions.NewHostReceipt(hostKey, req, sessions.Limits{}, now)
	if err != nil {
		return sessions.Info{}, err
	}
	return sessions.Info{ID: id, Role: sessions.RoleHost, Peer: client, Service: sessions.ServiceRDP, State: sessions.StateActive,
		CreatedAt: now, StartedAt: now, PolicyHash: params.Hash(), Params: params, Consent: req.Consent, Receipt: receipt}, nil
}
