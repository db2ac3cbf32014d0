package meta

import (
	"context"
	"errors"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/p2p"
)

// Topic carries signed deltas.
const Topic = "/lucid/meta/deltas/1.0.0"

type gossip struct {
	r     *Replica
	topic *pubsub.Topic
	sub   *pubsub.Subscription
}

func (r *Replica) joinTopic(ctx context.Context) (*gossip, error) {
	ps := r.cfg.Network.PubSub
	// Inline: validated (and merged) in arrival order by the node's single
	// validation worker, so a host's follow-up delta finds its Create
	// already merged instead of being ignored as "unknown session".
	if err := ps.RegisterTopicValidator(Topic, r.validate, pubsub.WithValidatorInline(true)); err != nil {
		return nil, err
	}
	topic, err := ps.Join(Topic)
	if err != nil {
		_ = ps.UnregisterTopicValidator(Topic)
		return nil, err
	}
	if err := topic.SetScoreParams(p2p.TopicScoreParams()); err != nil {
		_ = topic.Close()
		_ = ps.UnregisterTopicValidator(Topic)
		return nil, err
	}
	sub, err := topic.Subscribe()
	if err != nil {
		_ = topic.Close()
		_ = ps.UnregisterTopicValidator(Topic)
		return nil, err
	}
	return &gossip{r: r, topic: topic, sub: sub}, nil
}

func (g *gossip) close() error {
	g.sub.Cancel()
	return errors.Join(g.r.cfg.Network.PubSub.UnregisterTopicValidator(Topic), g.topic.Close())
}

func (g *gossip) publish(ctx context.Context, env Envelope) {
	if err := g.topic.Publish(ctx, env.raw); err != nil {
		// Anti-entropy delivers what gossip could not.
		g.r.log.Debug("gossip publish failed", "err", err)
		return
	}
	g.r.met.sent.WithLabelValues("gossip").Inc()
	g.r.met.bytesOut.WithLabelValues("gossip").Add(float64(len(env.raw)))
}

// validate runs before GossipSub forwards a message: a bad signature, a
// delta its signer may not write, or an oversize one is rejected (and
// the sender penalized); one that may become valid later is ignored.
func (r *Replica) validate(ctx context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if from == r.cfg.Network.Host.ID() {
		return pubsub.ValidationAccept
	}
	if !r.cfg.Faults.reachable(msg.ReceivedFrom) {
		return pubsub.ValidationIgnore
	}
	r.met.bytesIn.WithLabelValues("gossip").Add(float64(len(msg.Data)))
	env, err := OpenEnvelope(msg.Data)
	if err == nil {
		if r.cfg.Faults == nil {
			var changed bool
			if changed, err = r.accept(ctx, env, "gossip"); err == nil {
				if changed {
					r.met.received.WithLabelValues("gossip").Inc()
				}
				msg.ValidatorData = mergedMarker{}
				return pubsub.ValidationAccept
			}
		} else {
			// Faults delay and duplicate deliveries after validation:
			// merge in receive.
			r.mu.Lock()
			err = r.m.Authorize(env.Delta, env.Delta.Author(), r.now())
			r.mu.Unlock()
		}
	}
	if err != nil {
		r.met.rejected.WithLabelValues(Reason(err)).Inc()
		if deferrable(err) {
			return pubsub.ValidationIgnore
		}
		r.log.Debug("rejected a metadata delta", "from", from, "err", err)
		return pubsub.ValidationReject
	}
	msg.ValidatorData = env
	return pubsub.ValidationAccept
}

// mergedMarker is the ValidatorData of a message the validator merged.
type mergedMarker struct{}

// receive merges what the validator accepted.
func (g *gossip) receive(ctx context.Context) {
	r := g.r
	for {
		msg, err := g.sub.Next(ctx)
		if err != nil {
			return
		}
		if msg.ReceivedFrom == r.cfg.Network.Host.ID() {
			continue
		}
		env, ok := msg.ValidatorData.(Envelope)
		if !ok {
			continue
		}
		for _, delay := range r.cfg.Faults.deliveries() {
			if delay == 0 {
				r.acceptCounted(ctx, env, "gossip")
				continue
			}
			r.wg.Go(func() {
				select {
				case <-time.After(delay):
					r.acceptCounted(ctx, env, "gossip")
				case <-ctx.Done():
				}
			})
		}
	}
}

// acceptCounted merges an envelope and counts the outcome.
func (r *Replica) acceptCounted(ctx context.Context, env Envelope, via string) {
	changed, err := r.accept(ctx, env, via)
	switch {
	case err != nil:
		r.met.rejected.WithLabelValues(Reason(err)).Inc()
	case changed:
		r.met.received.WithLabelValues(via).Inc()
	}
}
