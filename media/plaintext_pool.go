package media

import "sync/atomic"

// plainPoolMin is the most a chunk buffer the pipeline's chunkers ask for
// is made afresh instead of coming from the pool of full-size buffers;
// see plainBufPool.
const plainPoolMin = 256 << 10

// plainPoolIdleTicks is how many pipeline ticks (seconds) without a
// full-size buffer taken empty the pool, so an idle node gives the memory
// back.
const plainPoolIdleTicks = 10

// plainBufPool supplies the chunkers of a pipeline with plaintext
// buffers (it is their alloc) and takes them back once the chunk is
// sealed. A chunk that outgrows a little (plainPoolMin, or an eighth of
// the chunk size if less) gets a buffer of the full chunk size, reused,
// so a busy chunk is neither zeroed nor copied as it grows: the frame
// copy into it is its only cost. Smaller requests are made afresh, so a
// quiet session holds kilobytes, not a whole chunk.
//
// The pool is a free list of at most keep buffers; what comes back beyond
// that is left to the garbage collector, so the memory it holds is
// bounded whatever the load. Buffers are handed out dirty: the chunker
// only appends to them.
type plainBufPool struct {
	size  int // capacity of a pooled buffer: the largest chunk
	small int // requests up to this are made afresh
	free  chan []byte

	taken atomic.Bool  // a full-size buffer was asked for since the last trim
	idle  int          // trims in a row that found it so; only trim uses it
	fresh atomic.Int64 // full-size buffers made because the pool was empty
}

func newPlainBufPool(maxPlaintext, keep int) *plainBufPool {
	return &plainBufPool{size: maxPlaintext, small: min(plainPoolMin, maxPlaintext/8), free: make(chan []byte, keep)}
}

// get returns an empty buffer with room for n bytes: a pooled one of the
// full size when n is more than a little.
func (p *plainBufPool) get(n int) []byte {
	if n <= p.small {
		return make([]byte, 0, n)
	}
	p.taken.Store(true)
	select {
	case b := <-p.free:
		return b
	default:
		p.fresh.Add(1)
		return make([]byte, 0, p.size)
	}
}

// put takes back a chunk's plaintext once nothing refers to it any more.
// Buffers that did not come from the pool (small ones) are dropped, and
// so is anything beyond what the pool keeps.
func (p *plainBufPool) put(b []byte) {
	if cap(b) != p.size {
		return
	}
	select {
	case p.free <- b[:0]:
	default:
	}
}

// trim empties the pool once no buffer has been taken from it for
// plainPoolIdleTicks calls in a row. Only the pipeline's ticker calls it.
func (p *plainBufPool) trim() {
	if p.taken.Swap(false) {
		p.idle = 0
		return
	}
	if p.idle++; p.idle < plainPoolIdleTicks {
		return
	}
	for {
		select {
		case <-p.free:
		default:
			return
		}
	}
}
