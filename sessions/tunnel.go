package sessions

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

// Direction is which way bytes travel through a session.
type Direction uint8

const (
	ClientToHost Direction = iota + 1
	HostToClient
)

func (d Direction) String() string {
	switch d {
	case ClientToHost:
		return "client-to-host"
	case HostToClient:
		return "host-to-client"
	}
	return "unknown"
}

// Recorder sees every byte of every session, in both directions, as it
// passes. The media pipeline implements it. p is the tunnel's own buffer:
// it is valid only during the call and must not be retained or modified,
// which is what keeps recording free of copies on the hot path.
type Recorder interface {
	Record(session ID, dir Direction, at time.Time, p []byte)
}

// NopRecorder records nothing.
type NopRecorder struct{}

func (NopRecorder) Record(ID, Direction, time.Time, []byte) {}

// halfCloser is a connection whose write side closes on its own: a TCP
// connection or a libp2p stream.
type halfCloser interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// tunnelBufSize is the copy buffer of one direction of one tunnel stream.
const tunnelBufSize = 32 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, tunnelBufSize); return &b }}

// pacer applies a session's bandwidth cap to one direction, shared by all
// of the session's tunnel streams.
type pacer struct {
	mu     sync.Mutex
	bucket *TokenBucket
}

func (p *pacer) wait(ctx context.Context, n int, now time.Time) error {
	if p == nil || p.bucket == nil {
		return nil
	}
	p.mu.Lock()
	d := p.bucket.Reserve(n, now)
	p.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// splice carries one TCP connection over one stream until both directions
// have finished. A FIN on one side becomes a CloseWrite on the other, so a
// client that half-closes (ssh sending EOF, then reading the output) works.
// When the session ends, ctx is cancelled and both ends are closed.
func (s *session) splice(ctx context.Context, local, remote halfCloser, localToRemote Direction) {
	stop := context.AfterFunc(ctx, func() {
		_ = local.Close()
		_ = remote.Close()
	})
	defer stop()

	done := make(chan error, 2)
	go func() { done <- s.copy(ctx, remote, local, localToRemote) }()
	go func() { done <- s.copy(ctx, local, remote, localToRemote.reverse()) }()
	var errs []error
	for range 2 {
		if err := <-done; err != nil {
			errs = append(errs, err)
			// A broken direction cannot be half-closed cleanly; tear the
			// pair down so the other copy returns too.
			_ = local.Close()
			_ = remote.Close()
		}
	}
	_ = local.Close()
	_ = remote.Close()
	if err := errors.Join(errs...); err != nil && ctx.Err() == nil {
		s.m.log.Debug("tunnel stream ended with error", "session", s.id, "err", err)
	}
}

func (d Direction) reverse() Direction {
	if d == ClientToHost {
		return HostToClient
	}
	return ClientToHost
}

// copy moves bytes src → dst, recording, metering and pacing them, and
// half-closes dst when src reaches EOF.
func (s *session) copy(ctx context.Context, dst, src halfCloser, dir Direction) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			now := s.m.now()
			s.m.recorder.Record(s.id, dir, now, buf[:n])
			s.touch(now)
			if perr := s.pacerFor(dir).wait(ctx, n, now); perr != nil {
				return perr
			}
			s.handOut(dir, n)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
			s.count(dir, n)
		}
		if errors.Is(err, io.EOF) {
			return dst.CloseWrite()
		}
		if err != nil {
			return err
		}
	}
}
