package media

import (
	"encoding/binary"
	"fmt"
	"iter"
	"time"

	"github.com/lucidnet/lucid/sessions"
)

// Frame is what one recorder call saw: bytes that passed in one direction
// at one time.
type Frame struct {
	Dir  sessions.Direction
	At   time.Time
	Data []byte
}

// Frame encoding (see docs/recording-format.md):
//
//	dir   1 byte   1 = client-to-host, 2 = host-to-client
//	at    8 bytes  Unix nanoseconds, big-endian signed, > 0
//	len   uvarint  minimal encoding, 1..MaxChunkPlaintext
//	data  len bytes
//
// The time is absolute and fixed-width rather than a varint delta: a chunk
// then parses on its own (no state from the previous chunk), a frame's
// header length depends only on its data length (which keeps the chunker's
// split arithmetic exact), and Zstd removes the repeated high bytes of
// neighbouring timestamps anyway. A varint of today's nanoseconds would be
// 9 bytes, longer than the fixed 8.
// A length up to MaxChunkPlaintext (2^24) takes at most 4 uvarint bytes,
// so a frame header is 10..13 bytes.
const frameFixedLen = 1 + 8

// FrameLen is the encoded length of a frame carrying n data bytes.
func FrameLen(n int) int { return frameFixedLen + uvarintLen(uint64(n)) + n }

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// validFrameTime reports whether t is representable in a frame: after the
// Unix epoch (a manifest stores frame times as unsigned nanoseconds) and
// before int64 nanoseconds run out in 2262.
func validFrameTime(t time.Time) bool {
	return t.After(time.Unix(0, 0)) && !t.After(maxNanoTime)
}

func validDirection(d sessions.Direction) bool {
	return d == sessions.ClientToHost || d == sessions.HostToClient
}

// AppendFrame appends the encoding of f to dst. It does not validate f; a
// frame with an unknown direction, empty data or a time outside
// 1970..2262 encodes to bytes that ParseFrames rejects. Chunker.Add
// validates before encoding.
func AppendFrame(dst []byte, f Frame) []byte {
	dst = append(dst, byte(f.Dir))
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.At.UnixNano()))
	dst = binary.AppendUvarint(dst, uint64(len(f.Data)))
	return append(dst, f.Data...)
}

// Frames iterates over the frames encoded in b, strictly: every frame must
// have a known direction, a time after the epoch, a minimal length prefix
// and 1..MaxChunkPlaintext data bytes, and b must end exactly after the
// last frame. On the first problem it yields a zero Frame and an error
// wrapping ErrMalformed, then stops. Frame.Data aliases b.
func Frames(b []byte) iter.Seq2[Frame, error] {
	return func(yield func(Frame, error) bool) {
		off := 0
		for off < len(b) {
			f, n, err := parseFrame(b[off:])
			if err != nil {
				yield(Frame{}, fmt.Errorf("frame at offset %d: %w", off, err))
				return
			}
			if !yield(f, nil) {
				return
			}
			off += n
		}
	}
}

// ParseFrames decodes every frame in b (see Frames). Frame.Data aliases b.
// An empty b holds no frames.
func ParseFrames(b []byte) ([]Frame, error) {
	var out []Frame
	for f, err := range Frames(b) {
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func parseFrame(b []byte) (Frame, int, error) {
	if len(b) < frameFixedLen+1 {
		return Frame{}, 0, malformed("truncated header: %d bytes", len(b))
	}
	dir := sessions.Direction(b[0])
	if !validDirection(dir) {
		return Frame{}, 0, malformed("direction %d", b[0])
	}
	at := int64(binary.BigEndian.Uint64(b[1:9]))
	if at <= 0 {
		return Frame{}, 0, malformed("time %d ns is not after the epoch", at)
	}
	n, k := binary.Uvarint(b[frameFixedLen:])
	switch {
	case k <= 0:
		return Frame{}, 0, malformed("bad length prefix")
	case k != uvarintLen(n):
		return Frame{}, 0, malformed("length prefix is not minimal")
	case n == 0:
		return Frame{}, 0, malformed("empty frame")
	case n > MaxChunkPlaintext:
		return Frame{}, 0, malformed("length %d exceeds %d", n, MaxChunkPlaintext)
	}
	start := frameFixedLen + k
	if uint64(len(b)-start) < n {
		return Frame{}, 0, malformed("truncated data: %d of %d bytes", len(b)-start, n)
	}
	end := start + int(n)
	return Frame{Dir: dir, At: time.Unix(0, at).UTC(), Data: b[start:end:end]}, end, nil
}
