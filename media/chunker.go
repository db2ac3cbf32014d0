package media

import (
	"fmt"
	"time"

	"github.com/lucidnet/lucid/sessions"
)

// Chunk limits. The spec asks for 8–16 MB chunks before compression; the
// lower bound here only keeps every chunk able to hold a frame header plus
// data (a header is at most 13 bytes), so that tests can use small chunks.
const (
	DefaultChunkPlaintext = 8 << 20
	MaxChunkPlaintext     = 16 << 20
	MinChunkPlaintext     = 64
	DefaultChunkAge       = 60 * time.Second
	MaxChunkAge           = 24 * time.Hour
)

// Chunk is the plaintext of one completed chunk, ready for SealChunk, with
// what the manifest records about it.
type Chunk struct {
	Index     uint64
	Plaintext []byte // encoded frames; owned by the caller
	First     time.Time
	Last      time.Time // time of the last frame added, not the latest time
	Frames    int       // frames in Plaintext (a split frame counts once per piece)
}

// Chunker cuts the recorded frame stream into chunk plaintexts. Boundaries
// depend only on the frames, their order and Tick calls, never on a clock:
//
//  1. A frame whose time is maxAge or more after the open chunk's first
//     frame completes the open chunk first.
//  2. A frame that does not fit in what is left of the open chunk
//     completes the open chunk first.
//  3. A frame whose encoding alone exceeds maxPlaintext is split: pieces
//     with the same direction and time, each filling a chunk exactly,
//     and the remainder stays in the open chunk.
//  4. Tick(now) completes the open chunk if now is maxAge or more after
//     its first frame, so a quiet session still seals its data.
//
// No chunk is ever empty and none exceeds maxPlaintext. A Chunker is not
// safe for concurrent use; the pipeline owns one per session.
type Chunker struct {
	max    int
	maxAge time.Duration
	next   uint64

	// alloc, if set, supplies the open chunk's buffer: alloc(n) returns an
	// empty slice with room for n bytes (more is fine, less is replaced
	// by a new one), whose old contents are never read: frames are
	// appended to it. The chunker asks when it opens a chunk and when the
	// open chunk outgrows its buffer, which it then drops; it never asks
	// for more than maxPlaintext. The buffer goes out as the completed
	// chunk's Plaintext and the chunker keeps no reference to it, so the
	// caller may hand it back to alloc once done with the chunk. Where the
	// bytes live changes neither the boundaries nor the bytes. nil means
	// make. The pipeline sets it to a pool of plaintext buffers.
	alloc func(n int) []byte

	buf         []byte
	first, last time.Time
	frames      int
}

// NewChunker returns a chunker for chunks of at most maxPlaintext bytes
// (0 means DefaultChunkPlaintext; otherwise MinChunkPlaintext..
// MaxChunkPlaintext) held open at most maxAge (0 means DefaultChunkAge;
// otherwise whole milliseconds up to MaxChunkAge, what a manifest
// records). Errors wrap ErrInvalidArgument. Out-of-range values
// are refused rather than clamped so that a misconfiguration shows up
// instead of silently changing the chunk boundaries, which the manifest
// records.
func NewChunker(maxPlaintext int, maxAge time.Duration) (*Chunker, error) {
	if maxPlaintext == 0 {
		maxPlaintext = DefaultChunkPlaintext
	}
	if maxPlaintext < MinChunkPlaintext || maxPlaintext > MaxChunkPlaintext {
		return nil, fmt.Errorf("%w: max chunk plaintext %d, want %d..%d", ErrInvalidArgument, maxPlaintext, MinChunkPlaintext, MaxChunkPlaintext)
	}
	if maxAge == 0 {
		maxAge = DefaultChunkAge
	}
	if maxAge < time.Millisecond || maxAge > MaxChunkAge || maxAge%time.Millisecond != 0 {
		return nil, fmt.Errorf("%w: max chunk age %s, want whole milliseconds in 1ms..%s", ErrInvalidArgument, maxAge, MaxChunkAge)
	}
	return &Chunker{max: maxPlaintext, maxAge: maxAge}, nil
}

// MaxPlaintext is the chunk size limit in effect.
func (c *Chunker) MaxPlaintext() int { return c.max }

// MaxAge is the chunk age limit in effect.
func (c *Chunker) MaxAge() time.Duration { return c.maxAge }

// NextIndex is the index the next completed chunk will get.
func (c *Chunker) NextIndex() uint64 { return c.next }

// SetNextIndex sets the index of the next chunk, for a pipeline that
// resumes a recording after a crash. It fails (ErrInvalidArgument) while a
// chunk is open, because that chunk would change its index.
func (c *Chunker) SetNextIndex(i uint64) error {
	if len(c.buf) > 0 {
		return fmt.Errorf("%w: cannot renumber while chunk %d is open", ErrInvalidArgument, c.next)
	}
	c.next = i
	return nil
}

// Pending is the number of plaintext bytes in the open chunk.
func (c *Chunker) Pending() int { return len(c.buf) }

// Deadline is when Tick will complete the open chunk: its first frame's
// time plus maxAge. ok is false when no chunk is open.
func (c *Chunker) Deadline() (t time.Time, ok bool) {
	if len(c.buf) == 0 {
		return time.Time{}, false
	}
	return c.first.Add(c.maxAge), true
}

// Add appends f to the open chunk and returns the chunks that this
// completed, in index order (none, usually). The data is copied, so f.Data
// may be reused after the call, as the recorder hook requires. A frame
// without data is ignored. A frame with an unknown direction or a time
// outside 1970..2262 is refused with ErrInvalidArgument and changes
// nothing.
func (c *Chunker) Add(f Frame) ([]Chunk, error) {
	if !validDirection(f.Dir) {
		return nil, fmt.Errorf("%w: frame direction %d", ErrInvalidArgument, f.Dir)
	}
	if !validFrameTime(f.At) {
		return nil, fmt.Errorf("%w: frame time %s is outside 1970..2262", ErrInvalidArgument, f.At)
	}
	if len(f.Data) == 0 {
		return nil, nil
	}
	// Only the wall clock counts: a monotonic reading (time.Now's) is not
	// recorded, and the boundaries must follow from what is.
	f.At = f.At.Round(0)
	var out []Chunk
	if len(c.buf) > 0 && f.At.Sub(c.first) >= c.maxAge {
		out = append(out, c.seal())
	}
	if len(c.buf) > 0 && len(c.buf)+FrameLen(len(f.Data)) > c.max {
		out = append(out, c.seal())
	}
	data := f.Data
	// The open chunk is empty here whenever the frame does not fit, so each
	// piece fills a whole chunk.
	for FrameLen(len(data)) > c.max-len(c.buf) {
		n := fitData(c.max - len(c.buf))
		c.append(f.Dir, f.At, data[:n])
		data = data[n:]
		out = append(out, c.seal())
	}
	c.append(f.Dir, f.At, data)
	return out, nil
}

// Tick completes the open chunk if now is maxAge or more after its first
// frame.
func (c *Chunker) Tick(now time.Time) []Chunk {
	if len(c.buf) > 0 && now.Round(0).Sub(c.first) >= c.maxAge {
		return []Chunk{c.seal()}
	}
	return nil
}

// Flush completes the open chunk, if any: at the end of a session.
func (c *Chunker) Flush() []Chunk {
	if len(c.buf) == 0 {
		return nil
	}
	return []Chunk{c.seal()}
}

// fitData is the largest data length whose frame fits in room bytes
// (room >= MinChunkPlaintext, so the result is positive).
func fitData(room int) int {
	n := room - frameFixedLen - uvarintLen(uint64(room))
	for FrameLen(n+1) <= room {
		n++
	}
	return n
}

func (c *Chunker) append(dir sessions.Direction, at time.Time, data []byte) {
	if len(c.buf) == 0 {
		c.first = at
	}
	if n := FrameLen(len(data)); cap(c.buf)-len(c.buf) < n {
		c.grow(n)
	}
	c.buf = AppendFrame(c.buf, Frame{Dir: dir, At: at, Data: data})
	c.last = at
	c.frames++
}

// grow moves the open chunk into a buffer with room for n more bytes. It
// starts small, since a quiet session should not hold 8 MiB per chunk,
// and doubles up to the limit: append alone grows large slices by about
// 1.25x, which copies a busy chunk several times over. An alloc that
// hands out buffers of the full size once asked for more than a little
// (the pipeline's pool) ends the growing there.
func (c *Chunker) grow(n int) {
	size := min(c.max, max(4<<10, 2*cap(c.buf), len(c.buf)+n))
	var b []byte
	if c.alloc != nil {
		b = c.alloc(size)
	}
	if cap(b) < size {
		b = make([]byte, 0, size)
	}
	c.buf = append(b[:0], c.buf...)
}

func (c *Chunker) seal() Chunk {
	ch := Chunk{Index: c.next, Plaintext: c.buf, First: c.first, Last: c.last, Frames: c.frames}
	c.next++
	c.buf, c.first, c.last, c.frames = nil, time.Time{}, time.Time{}, 0
	return ch
}
