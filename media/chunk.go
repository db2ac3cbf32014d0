package media

import (
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
	"lukechampine.com/blake3"

	"github.com/lucidnet/lucid/sessions"
)

// Chunk format version 1 (docs/recording-format.md, "Chunk format"):
//
//	off len field
//	  0   4 magic "LCHK"
//	  4   1 format version (1)
//	  5   1 codec (1 = zstd-3)
//	  6   2 flags, big-endian (reserved, 0)
//	  8  16 session ID
//	 24   8 chunk index, big-endian
//	 32   4 plaintext length, big-endian
//	 36   4 compressed length, big-endian
//	 40  24 XChaCha20-Poly1305 nonce
//	 64   … ciphertext of the compressed bytes (compressed length) and the
//	        16-byte Poly1305 tag
//
// The whole 64-byte header is the AEAD's associated data, so every field is
// authenticated and a header cannot be moved onto another chunk's body.
const (
	ChunkVersion   = 1
	CodecZstd3     = "zstd-3"
	ChunkHeaderLen = 64
	ChunkTagLen    = chacha20poly1305.Overhead
	// ChunkOverhead is what a sealed chunk adds to its compressed bytes.
	ChunkOverhead = ChunkHeaderLen + ChunkTagLen
	SessionKeyLen = 32

	chunkMagic   = "LCHK"
	codecIDZstd3 = 1
	// headerNonceOff: the nonce is derived from the header before it.
	headerNonceOff = 40

	// ChunkKeyInfo starts the HKDF info of every chunk key.
	ChunkKeyInfo = "lucid/chunk-key/1"
)

// maxCompressedLen bounds the compressed length a header may state for p
// plaintext bytes. Incompressible input costs Zstd a 3-byte header per
// 128 KiB block plus at most 18 frame bytes; the bound is loose so that an
// encoder upgrade cannot produce chunks this package refuses, and tight
// enough that the length fields cannot describe a huge body.
func maxCompressedLen(p int) int { return p + p>>8 + 64 }

// ChunkHeader is the parsed, unauthenticated header of a sealed chunk.
// Without the key it tells which chunk the bytes claim to be and how big
// they must be; OpenChunk authenticates it.
type ChunkHeader struct {
	Version       uint8
	Codec         string
	Flags         uint16
	Session       sessions.ID
	Index         uint64
	PlaintextLen  uint32
	CompressedLen uint32
	Nonce         [24]byte
}

// SealedLen is the exact length of the sealed chunk the header describes.
func (h ChunkHeader) SealedLen() int { return ChunkOverhead + int(h.CompressedLen) }

// putFixed writes the fields before the nonce.
func (h *ChunkHeader) putFixed(b []byte) {
	copy(b[0:4], chunkMagic)
	b[4] = h.Version
	b[5] = codecIDZstd3
	binary.BigEndian.PutUint16(b[6:8], h.Flags)
	copy(b[8:24], h.Session[:])
	binary.BigEndian.PutUint64(b[24:32], h.Index)
	binary.BigEndian.PutUint32(b[32:36], h.PlaintextLen)
	binary.BigEndian.PutUint32(b[36:40], h.CompressedLen)
}

// ParseChunkHeader reads and checks the header of a sealed chunk without a
// key: magic, version and codec (ErrUnsupportedVersion for newer ones),
// reserved flags, a version 4 session ID, lengths within bounds, and that
// sealed is exactly as long as the header says (truncated or padded chunks
// fail). Errors wrap ErrMalformed or ErrUnsupportedVersion.
func ParseChunkHeader(sealed []byte) (ChunkHeader, error) {
	if len(sealed) < ChunkHeaderLen {
		return ChunkHeader{}, malformed("chunk truncated to %d bytes, header is %d", len(sealed), ChunkHeaderLen)
	}
	if string(sealed[0:4]) != chunkMagic {
		return ChunkHeader{}, malformed("not a chunk: magic %q", sealed[0:4])
	}
	if sealed[4] != ChunkVersion {
		return ChunkHeader{}, fmt.Errorf("%w: chunk version %d, want %d", ErrUnsupportedVersion, sealed[4], ChunkVersion)
	}
	if sealed[5] != codecIDZstd3 {
		return ChunkHeader{}, fmt.Errorf("%w: chunk codec %d", ErrUnsupportedVersion, sealed[5])
	}
	h := ChunkHeader{
		Version:       sealed[4],
		Codec:         CodecZstd3,
		Flags:         binary.BigEndian.Uint16(sealed[6:8]),
		Index:         binary.BigEndian.Uint64(sealed[24:32]),
		PlaintextLen:  binary.BigEndian.Uint32(sealed[32:36]),
		CompressedLen: binary.BigEndian.Uint32(sealed[36:40]),
	}
	if h.Flags != 0 {
		return ChunkHeader{}, malformed("chunk flags %#04x: no flags are defined", h.Flags)
	}
	var err error
	if h.Session, err = idFromWire(sealed[8:24], "chunk session"); err != nil {
		return ChunkHeader{}, err
	}
	if h.PlaintextLen > MaxChunkPlaintext {
		return ChunkHeader{}, malformed("chunk plaintext length %d exceeds %d", h.PlaintextLen, MaxChunkPlaintext)
	}
	if int(h.CompressedLen) > maxCompressedLen(int(h.PlaintextLen)) {
		return ChunkHeader{}, malformed("chunk compressed length %d exceeds the bound %d for %d plaintext bytes",
			h.CompressedLen, maxCompressedLen(int(h.PlaintextLen)), h.PlaintextLen)
	}
	switch want := h.SealedLen(); {
	case len(sealed) < want:
		return ChunkHeader{}, malformed("chunk truncated: %d bytes, header says %d", len(sealed), want)
	case len(sealed) > want:
		return ChunkHeader{}, malformed("chunk has %d bytes after its end", len(sealed)-want)
	}
	copy(h.Nonce[:], sealed[headerNonceOff:ChunkHeaderLen])
	return h, nil
}

// chunkKeys are the per-chunk secrets: the AEAD key and the key of the
// nonce PRF.
type chunkKeys struct {
	aead, nonce [32]byte
}

func newBLAKE2b512() hash.Hash {
	h, err := blake2b.New512(nil)
	if err != nil {
		panic(err) // only for keys over 64 bytes
	}
	return h
}

// deriveChunkKeys is HKDF (RFC 5869) with BLAKE2b-512: no salt (HashLen
// zero bytes), the session key as input keying material, and info =
// ChunkKeyInfo ‖ session ID (16) ‖ index (8, big-endian), fixed-width
// fields so no two (session, index) pairs share an info string. The
// 64 output bytes are the AEAD key and the nonce key. Keys come from the
// session key, never from per-chunk random salts (the original's mistake):
// nothing needs storing per chunk, and the holder of the session key can
// rederive any chunk's key.
func deriveChunkKeys(sessionKey []byte, session sessions.ID, index uint64) chunkKeys {
	info := make([]byte, 0, len(ChunkKeyInfo)+len(session)+8)
	info = append(info, ChunkKeyInfo...)
	info = append(info, session[:]...)
	info = binary.BigEndian.AppendUint64(info, index)
	var okm [64]byte
	if _, err := io.ReadFull(hkdf.New(newBLAKE2b512, sessionKey, nil, info), okm[:]); err != nil {
		panic(err) // HKDF-BLAKE2b-512 yields up to 255*64 bytes
	}
	var k chunkKeys
	copy(k.aead[:], okm[:32])
	copy(k.nonce[:], okm[32:])
	return k
}

// chunkNonce is the synthetic nonce: keyed BLAKE3 (key = the chunk's nonce
// key) over the header fields before the nonce and the compressed bytes,
// truncated to XChaCha20's 24 bytes.
//
// Why not a constant or a per-index nonce, which a unique key would
// permit: the key is unique per (session key, session, index), but an
// index can be sealed twice, e.g. when recovery after a crash reseals a
// chunk from the journal with slightly different content. With a nonce
// that depends only on the index, those two seals would reuse (key, nonce)
// with different plaintexts and leak their XOR and the Poly1305 key. With
// this nonce, a repeat needs identical header and compressed bytes (then
// the ciphertext is identical too and nothing leaks) or a 192-bit BLAKE3
// collision. It costs one BLAKE3 pass over the compressed bytes and keeps
// sealing deterministic.
func chunkNonce(key *[32]byte, fixedHeader, compressed []byte) [24]byte {
	h := blake3.New(24, key[:])
	h.Write(fixedHeader)
	h.Write(compressed)
	var n [24]byte
	h.Sum(n[:0])
	return n
}

// The Zstd coder. SpeedDefault is klauspost's equivalent of Zstandard
// level 3 (zstd.EncoderLevelFromZstd(3) returns it; a test checks), hence
// the codec name "zstd-3"; the output is a standard Zstandard frame any
// decoder reads, though not byte-identical to libzstd's level 3. Single-
// segment frames always state their content size, which OpenChunk
// requires. EncodeAll and DecodeAll run on the calling goroutine and are
// safe for concurrent use.
var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderCRC(true),
			zstd.WithSingleSegment(true),
			zstd.WithZeroFrames(true),
		)
		if err != nil {
			panic(err)
		}
		return e
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxChunkPlaintext),
			zstd.WithDecoderMaxWindow(MaxChunkPlaintext),
			zstd.WithDecodeAllCapLimit(true),
		)
		if err != nil {
			panic(err)
		}
		return d
	})
)

// SealChunk compresses plaintext with Zstd (level 3) and encrypts it with
// XChaCha20-Poly1305 under the chunk's own key, returning the sealed chunk.
// The output is a deterministic function of the arguments (for a given
// Zstd library version), so sealing the same chunk twice gives the same
// bytes. Errors wrap ErrBadKey (key not SessionKeyLen bytes),
// ErrInvalidArgument (session ID not a version 4 UUID) or ErrTooLarge
// (plaintext over MaxChunkPlaintext).
func SealChunk(sessionKey []byte, session sessions.ID, index uint64, plaintext []byte) ([]byte, error) {
	return sealChunk(nil, sessionKey, session, index, plaintext)
}

// sealedBufLen is the capacity sealChunk needs for plaintextLen bytes.
func sealedBufLen(plaintextLen int) int {
	return ChunkHeaderLen + maxCompressedLen(plaintextLen) + ChunkTagLen
}

// sealChunk is SealChunk building the sealed chunk in buf when its capacity
// is at least sealedBufLen(len(plaintext)) (the pipeline's workers reuse
// buffers), and in a new buffer otherwise. The result aliases buf then;
// its bytes do not depend on what buf held.
func sealChunk(buf, sessionKey []byte, session sessions.ID, index uint64, plaintext []byte) ([]byte, error) {
	if len(sessionKey) != SessionKeyLen {
		return nil, fmt.Errorf("%w: session key is %d bytes, want %d", ErrBadKey, len(sessionKey), SessionKeyLen)
	}
	if !session.Valid() {
		return nil, fmt.Errorf("%w: session ID %s is not a version 4 UUID", ErrInvalidArgument, session)
	}
	if len(plaintext) > MaxChunkPlaintext {
		return nil, fmt.Errorf("%w: chunk plaintext %d bytes, limit %d", ErrTooLarge, len(plaintext), MaxChunkPlaintext)
	}
	bound := maxCompressedLen(len(plaintext))
	// One buffer for header, compressed bytes and tag: compress into it,
	// then encrypt in place. Every byte of it is written below.
	if cap(buf) < sealedBufLen(len(plaintext)) {
		buf = make([]byte, 0, sealedBufLen(len(plaintext)))
	}
	out := buf[:ChunkHeaderLen]
	compressed := zstdEncoder().EncodeAll(plaintext, out[ChunkHeaderLen:ChunkHeaderLen])
	if len(compressed) > bound {
		return nil, fmt.Errorf("%w: zstd produced %d bytes for %d, above the format's bound %d", ErrMalformed, len(compressed), len(plaintext), bound)
	}
	// EncodeAll wrote in place unless it had to reallocate; avoid copying
	// 8 MiB onto itself.
	out = out[:ChunkHeaderLen+len(compressed)]
	if len(compressed) > 0 && &out[ChunkHeaderLen] != &compressed[0] {
		copy(out[ChunkHeaderLen:], compressed)
	}
	h := ChunkHeader{
		Version:       ChunkVersion,
		Session:       session,
		Index:         index,
		PlaintextLen:  uint32(len(plaintext)),
		CompressedLen: uint32(len(compressed)),
	}
	h.putFixed(out[:headerNonceOff])
	k := deriveChunkKeys(sessionKey, session, index)
	nonce := chunkNonce(&k.nonce, out[:headerNonceOff], out[ChunkHeaderLen:])
	copy(out[headerNonceOff:ChunkHeaderLen], nonce[:])
	aead, err := chacha20poly1305.NewX(k.aead[:])
	if err != nil {
		return nil, fmt.Errorf("media: chunk cipher: %w", err)
	}
	return aead.Seal(out[:ChunkHeaderLen], nonce[:], out[ChunkHeaderLen:], out[:ChunkHeaderLen]), nil
}

// OpenChunk authenticates, decrypts and decompresses a sealed chunk that
// must be chunk index of session. Checks, in order: the header
// (ParseChunkHeader); that it names session and index (ErrWrongChunk); the
// tag (ErrTampered); that the nonce is the one SealChunk derives and the
// Zstd payload is one frame stating exactly the header's plaintext length
// and decoding to it (ErrMalformed). For its output, decompression never
// allocates more than the header's plaintext length (at most
// MaxChunkPlaintext) plus one Zstd block (128 KiB), whatever the payload
// claims; besides that there is the decrypted payload (at most the
// compressed length) and each pooled decoder's fixed working set,
// allocated once.
func OpenChunk(sessionKey []byte, session sessions.ID, index uint64, sealed []byte) ([]byte, error) {
	if len(sessionKey) != SessionKeyLen {
		return nil, fmt.Errorf("%w: session key is %d bytes, want %d", ErrBadKey, len(sessionKey), SessionKeyLen)
	}
	h, err := ParseChunkHeader(sealed)
	if err != nil {
		return nil, err
	}
	if h.Session != session || h.Index != index {
		return nil, fmt.Errorf("%w: header names session %s chunk %d, want session %s chunk %d", ErrWrongChunk, h.Session, h.Index, session, index)
	}
	k := deriveChunkKeys(sessionKey, session, index)
	aead, err := chacha20poly1305.NewX(k.aead[:])
	if err != nil {
		return nil, fmt.Errorf("media: chunk cipher: %w", err)
	}
	compressed, err := aead.Open(nil, h.Nonce[:], sealed[ChunkHeaderLen:], sealed[:ChunkHeaderLen])
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d of session %s", ErrTampered, index, session)
	}
	// Only a key holder can get here with a foreign nonce; refusing it
	// keeps one sealed form per chunk.
	if chunkNonce(&k.nonce, sealed[:headerNonceOff], compressed) != h.Nonce {
		return nil, malformed("chunk %d: nonce is not derived from its content", index)
	}
	return decompress(compressed, int(h.PlaintextLen))
}

// maxZstdBlock is the largest Zstd block (RFC 8878 Block_Maximum_Size);
// decodeSlack lets the decoder overrun the stated size by one block
// without reallocating, before it notices and fails.
const (
	maxZstdBlock = 128 << 10
	decodeSlack  = maxZstdBlock + 64
)

// decompress decodes a Zstd payload that must be exactly one frame of
// exactly n bytes.
func decompress(compressed []byte, n int) ([]byte, error) {
	if err := checkZstdFrame(compressed, n); err != nil {
		return nil, err
	}
	out, err := zstdDecoder().DecodeAll(compressed, make([]byte, 0, n+decodeSlack))
	if err != nil {
		return nil, malformed("zstd: %v", err)
	}
	if len(out) != n {
		return nil, malformed("zstd: decoded %d bytes, header says %d", len(out), n)
	}
	return out[:n:n], nil
}

// checkZstdFrame walks the frame structure without decoding: one frame, no
// dictionary, content size stated and equal to n, block headers in bounds,
// and nothing after the frame. Requiring exactly one frame with the right
// size is what bounds the decoder's output allocation: DecodeAll otherwise
// goes on to decode whatever frames follow.
func checkZstdFrame(b []byte, n int) error {
	var h zstd.Header
	if err := h.Decode(b); err != nil {
		return malformed("zstd frame header: %v", err)
	}
	switch {
	case h.Skippable:
		return malformed("zstd: skippable frame")
	case !h.HasFCS:
		return malformed("zstd frame does not state its content size")
	case h.FrameContentSize != uint64(n):
		return malformed("zstd frame content size %d, header says %d", h.FrameContentSize, n)
	case h.DictionaryID != 0:
		return malformed("zstd frame needs dictionary %d", h.DictionaryID)
	}
	off := h.HeaderSize
	for {
		if len(b)-off < 3 {
			return malformed("zstd: truncated block header at %d", off)
		}
		bh := uint32(b[off]) | uint32(b[off+1])<<8 | uint32(b[off+2])<<16
		off += 3
		size := int(bh >> 3)
		if size > maxZstdBlock {
			return malformed("zstd: block of %d bytes", size)
		}
		switch bh >> 1 & 3 {
		case 0, 2: // raw, compressed
		case 1: // RLE: one byte repeated size times
			size = 1
		default:
			return malformed("zstd: reserved block type")
		}
		if len(b)-off < size {
			return malformed("zstd: truncated block at %d", off)
		}
		off += size
		if bh&1 == 1 {
			break
		}
	}
	if h.HasCheckSum {
		off += 4
	}
	switch {
	case off > len(b):
		return malformed("zstd: truncated checksum")
	case off < len(b):
		return malformed("zstd: %d bytes after the frame", len(b)-off)
	}
	return nil
}
