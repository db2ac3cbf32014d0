package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/sessions"
)

// forger writes deltas as author on a scratch map of its own, so it can
// sign what the network's map would never let it write.
type forger struct {
	author crdt.ReplicaID
	key    crypto.PrivKey
	m      *crdt.Map
	clock  *crdt.Clock
}

func newForger(nd *testNode) *forger {
	return &forger{author: nd.rid(), key: nd.key, m: crdt.NewMap(crdt.Params{}), clock: crdt.NewClock(nd.rid(), 0)}
}

func (f *forger) delta(t testing.TB, id sessions.ID, changes ...crdt.Change) crdt.Delta {
	t.Helper()
	d, err := f.m.Update(f.author, f.clock, time.Now(), id, changes...)
	require.NoError(t, err)
	return d
}

func seal(t testing.TB, key crypto.PrivKey, d crdt.Delta) []byte {
	t.Helper()
	env, err := Seal(key, d)
	require.NoError(t, err)
	return env.Bytes()
}

// forgeries are signed or unsigned deltas about session id (hosted by
// host) that the rogue may not write, with the rejection reason each must
// be counted under and whether gossip penalizes its sender (Reject) or
// only drops it as "not yet" (Ignore).
type forgery struct {
	name   string
	raw    []byte
	reason string
	result pubsub.ValidationResult
}

func forgeries(t testing.TB, rogue, host *testNode, id sessions.ID) []forgery {
	t.Helper()
	// The host's write, as the rogue would like it: authored by the host,
	// signed by the rogue.
	asHost := &forger{author: host.rid(), key: rogue.key, m: crdt.NewMap(crdt.Params{}), clock: crdt.NewClock(host.rid(), 0)}
	asHost.delta(t, id, crdt.Create(host.rid(), "ssh", time.Now()))
	wrongSigner := seal(t, rogue.key, asHost.delta(t, id, crdt.SetPhase(sessions.StateFailed, time.Now())))

	// The rogue's own writes to the host's session, validly signed.
	f := newForger(rogue)
	conflict := seal(t, rogue.key, f.delta(t, id, crdt.Create(rogue.rid(), "ssh", time.Now())))
	hostField := seal(t, rogue.key, f.delta(t, id, crdt.SetPhase(sessions.StateFailed, time.Now())))
	counters := seal(t, rogue.key, f.delta(t, id, crdt.AddCounters(1<<40, 1<<40, 1)))

	// A validly signed delta too large for the network: the join of
	// deltas of the rogue's own sessions with 4 KiB private blobs.
	var big []crdt.Delta
	for range 20 {
		s := newSession(t)
		big = append(big, f.delta(t, s, crdt.Create(rogue.rid(), "ssh", time.Now()), crdt.SetPrivate(bytes.Repeat([]byte{7}, crdt.MaxPrivateSize))))
	}
	joined, err := crdt.JoinDeltas(big...)
	require.NoError(t, err)
	require.Greater(t, joined.Size(), crdt.MaxDeltaSize)
	oversize := seal(t, rogue.key, joined)

	// Over the envelope limit before anything is decoded.
	huge := append([]byte{envelopeVersion}, binary.AppendUvarint(nil, MaxEnvelopeSize)...)
	huge = append(huge, make([]byte, MaxEnvelopeSize)...)

	// A valid envelope with one bit of its signature flipped.
	flipped := bytes.Clone(seal(t, host.key, newForgerFor(host, id).delta(t, id, crdt.SetPhase(sessions.StateEnded, time.Now()))))
	flipped[len(flipped)-1] ^= 1

	return []forgery{
		{"wrong signer", wrongSigner, "bad_signature", pubsub.ValidationReject},
		{"flipped signature", flipped, "bad_signature", pubsub.ValidationReject},
		{"client writes host field", hostField, "not_host", pubsub.ValidationReject},
		{"client re-creates session", conflict, "host_conflict", pubsub.ValidationReject},
		{"client counts without being relay", counters, "not_relay", pubsub.ValidationIgnore},
		{"oversize delta", oversize, "too_large", pubsub.ValidationReject},
		{"oversize envelope", huge, "too_large", pubsub.ValidationReject},
		{"garbage", []byte{envelopeVersion, 3, 1, 2, 3, 4}, "malformed", pubsub.ValidationReject},
		{"unknown version", []byte{9, 1, 2}, "bad_envelope", pubsub.ValidationReject},
	}
}

// TestValidatorRejectsForgeries runs the gossip validator on each forgery
// and checks its verdict and the rejection counter, by reason.
func TestValidatorRejectsForgeries(t *testing.T) {
	nodes := startNodes(t, 2, func(_ int, c *Config) { c.SyncInterval = time.Hour })
	host, rogue := nodes[0], nodes[1]
	id := newSession(t)
	host.host(t, id, time.Now())
	// Gossip may precede the mesh: sync explicitly.
	_, err := rogue.r.Sync(context.Background(), host.id())
	require.NoError(t, err)
	converged(t, nodes, 1, 10*time.Second)
	want := map[string]float64{}
	for _, f := range forgeries(t, rogue, host, id) {
		msg := &pubsub.Message{Message: &pb.Message{Data: f.raw}, ReceivedFrom: rogue.id()}
		got := host.r.validate(context.Background(), rogue.id(), msg)
		require.Equal(t, f.result, got, f.name)
		want[f.reason]++
		require.Equal(t, want[f.reason], metric(t, host.reg, "lucid_meta_deltas_rejected_total", map[string]string{"reason": f.reason}), f.name)
	}
	// A genuine delta passes and carries the decoded envelope.
	genuine := seal(t, host.key, newForgerFor(host, id).delta(t, id, crdt.AddCounters(1, 2, 3)))
	msg := &pubsub.Message{Message: &pb.Message{Data: genuine}, ReceivedFrom: rogue.id()}
	require.Equal(t, pubsub.ValidationAccept, rogue.r.validate(context.Background(), host.id(), msg))
	// Merged by the validator itself, in arrival order.
	require.IsType(t, mergedMarker{}, msg.ValidatorData)
	rec, ok := rogue.r.Get(id)
	require.True(t, ok)
	require.Equal(t, uint64(3), rec.Totals.Chunks)
}

// newForgerFor is a forger for nd that knows session id as nd's own.
func newForgerFor(nd *testNode, id sessions.ID) *forger {
	f := newForger(nd)
	rec, _ := nd.r.Get(id)
	_, _ = f.m.Update(f.author, f.clock, time.Now(), id, crdt.Create(nd.rid(), rec.Service, rec.CreatedAt))
	return f
}

// TestForgedDeltasRejected: forgeries published on the topic and pushed
// over the sync stream by a connected rogue are counted by reason on the
// honest nodes and change nothing there; honest replication goes on.
func TestForgedDeltasRejected(t *testing.T) {
	nodes := startNodes(t, 3, nil)
	host, honest, rogue := nodes[0], nodes[1], nodes[2]
	ctx := context.Background()
	id := newSession(t)
	host.host(t, id, time.Now())
	converged(t, nodes, 1, 10*time.Second)
	before := host.r.Digest()
	victims := []*testNode{host, honest}

	eventually(t, 10*time.Second, "the rogue to see the honest nodes on the topic", func() bool {
		return len(rogue.r.gossip.topic.ListPeers()) >= 2
	})
	fs := forgeries(t, rogue, host, id)
	// Rejected messages cost the rogue GossipSub score at every victim
	// (p2p.TopicScoreParams): after a few it is graylisted and its
	// messages are dropped unread, so only the first forgeries are
	// counted by reason. The one that is only ignored ("not yet") costs
	// nothing; it goes first.
	slices.SortStableFunc(fs, func(a, b forgery) int {
		if a.result == pubsub.ValidationIgnore && b.result != pubsub.ValidationIgnore {
			return -1
		}
		if b.result == pubsub.ValidationIgnore && a.result != pubsub.ValidationIgnore {
			return 1
		}
		return 0
	})
	for _, f := range fs {
		// The rogue's own validator accepts what it publishes itself.
		require.NoError(t, rogue.r.gossip.topic.Publish(ctx, f.raw), f.name)
	}
	for _, reason := range []string{fs[0].reason, fs[1].reason} {
		eventually(t, 10*time.Second, "rejections: "+reason, func() bool {
			for _, v := range victims {
				if metric(t, v.reg, "lucid_meta_deltas_rejected_total", map[string]string{"reason": reason}) < 1 {
					return false
				}
			}
			return true
		})
	}
	eventually(t, 10*time.Second, "the rogue's score to drop at both victims", func() bool {
		for _, v := range victims {
			if v.net.PeerScores()[rogue.id()] >= 0 {
				return false
			}
		}
		return true
	})
	// Over the sync stream: the server counts and skips a delta its
	// sender may not write, and drops the exchange on a bad signature.
	byReason := map[string]forgery{}
	for _, f := range fs {
		if _, ok := byReason[f.reason]; !ok {
			byReason[f.reason] = f
		}
	}
	for _, f := range []forgery{byReason["not_host"], byReason["bad_signature"]} {
		before := metric(t, honest.reg, "lucid_meta_deltas_rejected_total", map[string]string{"reason": f.reason})
		s, err := rogue.net.Host.NewStream(ctx, honest.id(), SyncProtocol)
		require.NoError(t, err)
		frame := append([]byte{frameEnvelope}, binary.AppendUvarint(nil, uint64(len(f.raw)))...)
		frame = append(frame, f.raw...)
		_, err = s.Write(append(frame, frameEnd, 0))
		require.NoError(t, err)
		require.NoError(t, s.CloseWrite())
		eventually(t, 10*time.Second, "sync rejection: "+f.reason, func() bool {
			return metric(t, honest.reg, "lucid_meta_deltas_rejected_total", map[string]string{"reason": f.reason}) >= before+1
		})
		_ = s.Close()
	}

	for _, v := range victims {
		require.Equal(t, before, v.r.Digest())
		rec, ok := v.r.Get(id)
		require.True(t, ok)
		require.Equal(t, host.rid(), rec.Host)
		require.Equal(t, sessions.StateActive, rec.Phase)
		require.Zero(t, rec.Totals)
		require.Equal(t, 1, v.r.Status().Keys)
	}
	// The network still works.
	require.NoError(t, host.r.Update(ctx, id, crdt.AddCounters(1, 2, 3)))
	eventually(t, 10*time.Second, "the honest update", func() bool {
		rec, _ := honest.r.Get(id)
		return rec.Totals == crdt.Counts{BytesIn: 1, BytesOut: 2, Chunks: 3}
	})
}
