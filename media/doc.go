// Package media records hosted sessions: it frames the bytes that pass
// through a session, cuts them into deterministic chunks, compresses each
// with Zstd (level 3), encrypts it with XChaCha20-Poly1305 under a key
// derived for that chunk alone, commits to the sealed chunks with a
// domain-separated BLAKE3 Merkle tree, and describes the recording in a
// canonical CBOR manifest whose hash can be anchored. It also wraps the
// session key to its recipients, verifies recordings and turns them back
// into byte streams.
//
// This is the deterministic core. It has no clocks (time is an argument),
// no randomness except through an io.Reader, no files, no network and no
// goroutines, so every output is reproducible and can be pinned by golden
// vectors:
//
//   - frame.go: the frame encoding {direction, time, data}.
//   - chunker.go: Chunker, the size and age rules that cut chunks.
//   - chunk.go: SealChunk, OpenChunk and ParseChunkHeader: the versioned
//     chunk format, HKDF-BLAKE2b chunk keys and synthetic nonces.
//   - merkle.go: leaf and node hashing, roots, proofs and their encoding.
//   - keys.go: session keys, X25519 key wrapping for owner, auditor and
//     recovery recipients, and the text form of their keys.
//   - manifest.go: Manifest, its canonical encoding, hash and JSON view.
//   - verify.go: VerifyRecording and VerifyWithKey, which name every
//     missing, altered, swapped or truncated chunk.
//   - export.go: Reassemble and Reassembler, back to the byte streams.
//
// The pipeline that feeds the core from the recorder hook, the store that
// writes chunks and manifests, and the journal that survives crashes live
// beside it. The format is specified in docs/recording-format.md.
package media
