package media

import (
	"fmt"
	"io"
	"time"

	"github.com/lucidnet/lucid/sessions"
)

// Reassemble turns frames back into the byte streams they were cut from,
// one per direction, in frame order. Directions without data are absent.
// The result does not alias the frames.
func Reassemble(frames []Frame) map[sessions.Direction][]byte {
	out := make(map[sessions.Direction][]byte)
	for _, f := range frames {
		if len(f.Data) > 0 {
			out[f.Dir] = append(out[f.Dir], f.Data...)
		}
	}
	return out
}

// Segment is one entry of a recording's timeline: Len bytes at Offset of
// the Dir stream passed at At.
type Segment struct {
	Dir    sessions.Direction
	At     time.Time
	Offset uint64
	Len    uint64
}

// Reassembler is the streaming form of Reassemble for whole recordings:
// feed it each chunk's plaintext in index order and it writes the two
// streams to the caller's writers, optionally keeping the timeline.
type Reassembler struct {
	w        [3]io.Writer // by direction; nil discards
	off      [3]uint64
	keep     bool
	timeline []Segment
}

// NewReassembler writes the client-to-host stream to c2h and the
// host-to-client stream to h2c; a nil writer discards its stream. With
// keepTimeline it also records a Segment per frame (one per recorder call,
// since the pieces of a frame the chunker split are merged again).
func NewReassembler(c2h, h2c io.Writer, keepTimeline bool) *Reassembler {
	r := &Reassembler{keep: keepTimeline}
	r.w[sessions.ClientToHost], r.w[sessions.HostToClient] = c2h, h2c
	return r
}

// AddChunk parses one chunk's plaintext and writes its frames. The whole
// chunk is parsed before anything is written, so a malformed chunk
// (ErrMalformed) writes nothing; a writer's error is returned wrapped.
func (r *Reassembler) AddChunk(plaintext []byte) error {
	frames, err := ParseFrames(plaintext)
	if err != nil {
		return err
	}
	for _, f := range frames {
		if err := r.AddFrame(f); err != nil {
			return err
		}
	}
	return nil
}

// AddFrame writes one frame. Errors wrap ErrInvalidArgument (unknown
// direction) or the writer's error.
func (r *Reassembler) AddFrame(f Frame) error {
	if !validDirection(f.Dir) {
		return fmt.Errorf("%w: frame direction %d", ErrInvalidArgument, f.Dir)
	}
	if len(f.Data) == 0 {
		return nil
	}
	if w := r.w[f.Dir]; w != nil {
		if _, err := w.Write(f.Data); err != nil {
			return fmt.Errorf("media: writing %s stream: %w", f.Dir, err)
		}
	}
	off := r.off[f.Dir]
	r.off[f.Dir] += uint64(len(f.Data))
	if !r.keep {
		return nil
	}
	if n := len(r.timeline); n > 0 {
		last := &r.timeline[n-1]
		if last.Dir == f.Dir && last.At.Equal(f.At) && last.Offset+last.Len == off {
			last.Len += uint64(len(f.Data))
			return nil
		}
	}
	r.timeline = append(r.timeline, Segment{Dir: f.Dir, At: f.At, Offset: off, Len: uint64(len(f.Data))})
	return nil
}

// Written is the number of bytes of dir's stream so far.
func (r *Reassembler) Written(dir sessions.Direction) uint64 {
	if !validDirection(dir) {
		return 0
	}
	return r.off[dir]
}

// Timeline returns the segments so far (nil without keepTimeline). Frames
// in a row with the same direction and time, which is what a split frame
// becomes, form one segment.
func (r *Reassembler) Timeline() []Segment { return r.timeline }
