package media

import (
	"sync"
	"unsafe"
)

// directAlign is the alignment that direct I/O asks of a buffer's address
// and length: the largest logical block size in common use.
const directAlign = 4096

// sealBufPool keeps buffers for the sealed chunks of a pipeline, each big
// enough for the largest chunk, starting on a directAlign boundary and
// with room to pad the chunk to a multiple of directAlign, so the store
// can write it with direct I/O. Reusing them spares allocating and
// zeroing 8 MiB per chunk; a sync.Pool lets the garbage collector take
// them back when the pipeline is idle.
type sealBufPool struct {
	size int
	pool sync.Pool
}

func newSealBufPool(maxPlaintext int) *sealBufPool {
	return &sealBufPool{size: alignUp(sealedBufLen(maxPlaintext))}
}

func alignUp(n int) int { return (n + directAlign - 1) &^ (directAlign - 1) }

// get returns an empty buffer with capacity for the largest sealed chunk,
// padded.
func (p *sealBufPool) get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	raw := make([]byte, p.size+directAlign)
	off := int(-uintptr(unsafe.Pointer(unsafe.SliceData(raw))) & (directAlign - 1))
	b := raw[off : off : off+p.size]
	return &b
}

func (p *sealBufPool) put(b *[]byte) {
	*b = (*b)[:0]
	p.pool.Put(b)
}

// directWritable reports whether b can be written with direct I/O as the
// store does it: it starts on a directAlign boundary and its capacity
// holds it padded to a multiple of directAlign. Only buffers the caller
// owns qualify, since the padding is overwritten.
func directWritable(b []byte) bool {
	return len(b) > 0 && uintptr(unsafe.Pointer(unsafe.SliceData(b)))&(directAlign-1) == 0 && cap(b) >= alignUp(len(b))
}
