package meta

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/sessions"
)

// SyncProtocol is the anti-entropy and catch-up stream.
const SyncProtocol = "/lucid/crdt/sync/1.0.0"

// Frames on the sync stream: a type byte, a uvarint length, the payload.
const (
	frameSync     = 1 // a crdt.SyncMsg
	frameEnvelope = 2 // a signed envelope
	frameEnd      = 3 // end of this side's round
	frameSnapshot = 4 // "send me everything" (catch-up)
)

// Bounds of one exchange.
const (
	syncTimeout   = time.Minute
	maxSyncRounds = 64
)

// ErrProtocol is a sync peer breaking the stream protocol.
var ErrProtocol = errors.New("meta: sync protocol violation")

type syncConn struct {
	r        *Replica
	s        network.Stream
	br       *bufio.Reader
	bw       *bufio.Writer
	res      PeerSync
	received int
}

func (r *Replica) newSyncConn(s network.Stream) *syncConn {
	// Real time: Config.Now is the map's clock and may be a test's.
	_ = s.SetDeadline(time.Now().Add(syncTimeout))
	return &syncConn{r: r, s: s, br: bufio.NewReader(s), bw: bufio.NewWriter(s), res: PeerSync{Peer: s.Conn().RemotePeer().String()}}
}

func (c *syncConn) write(typ byte, payload []byte) error {
	var hdr [1 + binary.MaxVarintLen64]byte
	hdr[0] = typ
	n := 1 + binary.PutUvarint(hdr[1:], uint64(len(payload)))
	if _, err := c.bw.Write(hdr[:n]); err != nil {
		return err
	}
	_, err := c.bw.Write(payload)
	c.res.Bytes += int64(n + len(payload))
	c.r.met.bytesOut.WithLabelValues("sync").Add(float64(n + len(payload)))
	return err
}

func (c *syncConn) read() (byte, []byte, error) {
	typ, err := c.br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(c.br)
	if err != nil {
		return 0, nil, err
	}
	limit := uint64(MaxEnvelopeSize)
	if typ == frameSync {
		limit = crdt.MaxSyncMsgSize
	}
	if n > limit {
		return 0, nil, fmt.Errorf("%w: frame of %d bytes", ErrProtocol, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.br, b); err != nil {
		return 0, nil, err
	}
	c.r.met.bytesIn.WithLabelValues("sync").Add(float64(1 + n))
	c.res.Bytes += int64(1 + n)
	return typ, b, nil
}

// round is one side's turn: sync messages and envelopes, then End.
type round struct {
	msgs     []crdt.SyncMsg
	envs     int
	snapshot bool
}

// readRound reads frames up to End, merging envelopes as they come.
func (c *syncConn) readRound(ctx context.Context) (round, error) {
	var rd round
	for {
		typ, b, err := c.read()
		if err != nil {
			return rd, err
		}
		switch typ {
		case frameEnd:
			return rd, nil
		case frameSnapshot:
			rd.snapshot = true
		case frameSync:
			m, err := crdt.DecodeSyncMsg(b)
			if err != nil {
				return rd, err
			}
			rd.msgs = append(rd.msgs, m)
		case frameEnvelope:
			rd.envs++
			env, err := OpenEnvelope(b)
			if err != nil {
				c.r.met.rejected.WithLabelValues(Reason(err)).Inc()
				return rd, err
			}
			changed, err := c.r.accept(ctx, env, "sync")
			if err != nil {
				c.r.met.rejected.WithLabelValues(Reason(err)).Inc()
				continue
			}
			if changed {
				c.received++
				c.r.met.received.WithLabelValues("sync").Inc()
			}
		default:
			return rd, fmt.Errorf("%w: frame type %d", ErrProtocol, typ)
		}
	}
}

// writeRound sends messages, the envelopes of ids, and End.
func (c *syncConn) writeRound(msgs []crdt.SyncMsg, ids []sessions.ID) error {
	for _, m := range msgs {
		if err := c.write(frameSync, m.Encode()); err != nil {
			return err
		}
	}
	for _, e := range c.r.envelopesFor(ids) {
		if err := c.write(frameEnvelope, e.raw); err != nil {
			return err
		}
		c.res.Sent++
		c.r.met.sent.WithLabelValues("sync").Inc()
	}
	if err := c.write(frameEnd, nil); err != nil {
		return err
	}
	return c.bw.Flush()
}

// answer runs the crdt reconciliation on a round's messages.
func (c *syncConn) answer(msgs []crdt.SyncMsg) ([]crdt.SyncMsg, []sessions.ID) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	var out []crdt.SyncMsg
	var send []sessions.ID
	seen := map[sessions.ID]bool{}
	for _, m := range msgs {
		o, s := c.r.m.SyncStep(m)
		out = append(out, o...)
		for _, id := range s {
			if !seen[id] {
				seen[id] = true
				send = append(send, id)
			}
		}
	}
	return out, send
}

// exchange alternates rounds until one side sends a round without sync
// messages: the other side then has nothing left to answer.
func (c *syncConn) exchange(ctx context.Context, first bool) error {
	for i := 0; i < maxSyncRounds; i++ {
		rd, err := c.readRound(ctx)
		if err != nil {
			return err
		}
		if rd.snapshot {
			return c.writeRound(nil, c.r.allIDs())
		}
		if len(rd.msgs) == 0 {
			if first && i == 0 && rd.envs == 0 {
				c.res.InSync = true
			}
			return nil
		}
		out, send := c.answer(rd.msgs)
		if !first && i == 0 && len(out) == 0 && len(send) == 0 {
			c.res.InSync = true
		}
		if err := c.writeRound(out, send); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: more than %d rounds", ErrProtocol, maxSyncRounds)
}

func (r *Replica) allIDs() []sessions.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m.IDs()
}

// Sync runs one anti-entropy exchange with p and reports what it found.
func (r *Replica) Sync(ctx context.Context, p peer.ID) (PeerSync, error) {
	return r.initiate(ctx, p, false)
}

// CatchUp fetches p's whole state, as signed envelopes: what a new node
// does first, cheaper than walking the digest tree from an empty map.
func (r *Replica) CatchUp(ctx context.Context, p peer.ID) (PeerSync, error) {
	return r.initiate(ctx, p, true)
}

func (r *Replica) initiate(ctx context.Context, p peer.ID, snapshot bool) (PeerSync, error) {
	s, err := r.cfg.Network.Host.NewStream(ctx, p, SyncProtocol)
	if err != nil {
		return r.record(p, PeerSync{Peer: p.String()}, err)
	}
	defer s.Close()
	// Reads and writes do not watch ctx: reset the stream when it ends
	// (Close), or a stalled peer holds us until the deadline.
	defer context.AfterFunc(ctx, func() { _ = s.Reset() })()
	c := r.newSyncConn(s)
	if snapshot {
		r.mu.Lock()
		empty := r.m.Len() == 0
		r.mu.Unlock()
		err = c.write(frameSnapshot, nil)
		if err == nil {
			err = c.writeRound(nil, nil)
		}
		if err == nil {
			var rd round
			rd, err = c.readRound(ctx)
			// The peer sends every envelope it holds: none means its map
			// is as empty as ours, so the digests were equal.
			c.res.InSync = err == nil && empty && rd.envs == 0
		}
	} else {
		r.mu.Lock()
		start := r.m.SyncStart()
		r.mu.Unlock()
		err = c.writeRound([]crdt.SyncMsg{start}, nil)
		if err == nil {
			err = c.exchange(ctx, true)
		}
	}
	c.res.Received = c.received
	return r.record(p, c.res, err)
}

func (r *Replica) serveSync(s network.Stream) {
	// Close waits for exchanges being served: they merge into the map and
	// write to the store, which the caller closes after Close.
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = s.Reset()
		return
	}
	r.serving.Add(1)
	r.mu.Unlock()
	defer r.serving.Done()
	defer s.Close()
	p := s.Conn().RemotePeer()
	if !r.cfg.Faults.reachable(p) {
		_ = s.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, syncTimeout)
	defer cancel()
	defer context.AfterFunc(ctx, func() { _ = s.Reset() })()
	c := r.newSyncConn(s)
	if err := c.exchange(ctx, false); err != nil {
		r.log.Debug("serving sync failed", "peer", p, "err", err)
		_ = s.Reset()
	}
}

// record keeps the outcome of an exchange this node started.
func (r *Replica) record(p peer.ID, res PeerSync, err error) (PeerSync, error) {
	res.At = r.now()
	result := "repaired"
	switch {
	case err != nil:
		res.Err = err.Error()
		result = "failed"
	case res.InSync:
		result = "in_sync"
	}
	r.met.syncs.WithLabelValues(result).Inc()
	r.mu.Lock()
	r.peers[p] = &res
	if err == nil {
		r.lastSync = res.At
	}
	r.mu.Unlock()
	return res, err
}

// syncLoop runs anti-entropy with a random peer every interval (with
// jitter, so nodes do not all sync at once); a node with an empty map
// first catches up from a snapshot.
func (r *Replica) syncLoop(ctx context.Context) {
	wait := time.Duration(rand.Int64N(int64(r.cfg.SyncInterval)/4 + 1))
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = r.cfg.SyncInterval/2 + time.Duration(rand.Int64N(int64(r.cfg.SyncInterval)))
		p, ok := r.randomPeer()
		if !ok {
			wait = min(wait, time.Second)
			continue
		}
		r.mu.Lock()
		empty := r.m.Len() == 0
		r.mu.Unlock()
		var err error
		if empty {
			_, err = r.CatchUp(ctx, p)
		} else {
			_, err = r.Sync(ctx, p)
		}
		if err != nil && ctx.Err() == nil {
			r.log.Debug("anti-entropy failed", "peer", p, "err", err)
		}
	}
}
