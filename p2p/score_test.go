package p2p

import (
	"context"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
)

// A peer whose messages a topic's validator rejects loses score at every
// receiver, and gets it back as it decays.
func TestInvalidMessagesLowerTheSendersScore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b := newTestNetwork(t), newTestNetwork(t)
	require.NoError(t, b.Host.Connect(ctx, peer.AddrInfo{ID: a.Host.ID(), Addrs: a.Host.Addrs()}))
	const topic = "/lucid/test-score/1"
	require.NoError(t, a.PubSub.RegisterTopicValidator(topic, func(context.Context, peer.ID, *pubsub.Message) pubsub.ValidationResult {
		return pubsub.ValidationReject
	}))
	ta, err := a.PubSub.Join(topic)
	require.NoError(t, err)
	require.NoError(t, ta.SetScoreParams(TopicScoreParams()))
	sub, err := ta.Subscribe()
	require.NoError(t, err)
	defer sub.Cancel()
	tb, err := b.PubSub.Join(topic)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(tb.ListPeers()) > 0 }, 10*time.Second, 20*time.Millisecond)

	for i := range 3 {
		require.NoError(t, tb.Publish(ctx, []byte{byte(i)}))
	}
	require.Eventually(t, func() bool { return a.PeerScores()[b.Host.ID()] <= -10 }, 10*time.Second, 50*time.Millisecond,
		"scores: %v", a.PeerScores())
}
