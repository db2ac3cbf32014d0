package p2p

import (
	"maps"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Peer scoring. Every Lucid topic has a validator; a message it rejects
// (bad signature, a write its author may not make, oversize) counts as an
// invalid delivery against the peer that sent it, which lowers its
// GossipSub score: below GossipThreshold the peer gets no gossip, below
// PublishThreshold none of our messages, below GraylistThreshold its
// messages are dropped unread. The score decays back, so a peer that
// stops misbehaving recovers. IP colocation is not scored: many honest
// nodes share addresses behind NAT, and testnets share loopback.
var scoreThresholds = pubsub.PeerScoreThresholds{
	GossipThreshold:   -10,
	PublishThreshold:  -50,
	GraylistThreshold: -80,
	// Peer exchange and opportunistic grafting only from peers in good
	// standing.
	AcceptPXThreshold:           0,
	OpportunisticGraftThreshold: 1,
}

// scoreDecayInterval is how often scores decay; InvalidMessageDecay is
// per interval.
const scoreDecayInterval = time.Second

func peerScoreParams() *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		SkipAtomicValidation: true,
		Topics:               map[string]*pubsub.TopicScoreParams{},
		AppSpecificScore:     func(peer.ID) float64 { return 0 },
		DecayInterval:        scoreDecayInterval,
		DecayToZero:          0.01,
		RetainScore:          10 * time.Minute,
	}
}

// TopicScoreParams are what a Lucid topic scores: only invalid messages.
// GossipSub squares the decaying count of invalid deliveries and weighs
// it, so one invalid message costs -10 and a burst of three -90 (past the
// graylist); the count decays by a tenth a second. Topics set it with
// Topic.SetScoreParams.
func TopicScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		SkipAtomicValidation: true,
		TopicWeight:          1,
		// Not scored, but GossipSub divides by it for peers in the mesh.
		TimeInMeshQuantum:              time.Second,
		InvalidMessageDeliveriesWeight: -10,
		InvalidMessageDeliveriesDecay:  0.9,
	}
}

// scores keeps the latest peer-score snapshot pubsub reports.
type scores struct {
	mu   sync.RWMutex
	last map[peer.ID]float64
}

func (s *scores) inspect(snap map[peer.ID]*pubsub.PeerScoreSnapshot) {
	m := make(map[peer.ID]float64, len(snap))
	for p, sc := range snap {
		m[p] = sc.Score
	}
	s.mu.Lock()
	s.last = m
	s.mu.Unlock()
}

// PeerScores returns the GossipSub score of each known peer, as of the
// last inspection (every scoreInspectInterval).
func (n *Network) PeerScores() map[peer.ID]float64 {
	n.scores.mu.RLock()
	defer n.scores.mu.RUnlock()
	return maps.Clone(n.scores.last)
}

const scoreInspectInterval = 500 * time.Millisecond
