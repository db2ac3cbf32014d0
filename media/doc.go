// Package media will hold the recording pipeline: frame the session stream,
// cut deterministic chunks, compress with Zstd, encrypt each chunk with
// XChaCha20-Poly1305 under a per-chunk key, build a domain-separated BLAKE3
// Merkle tree and a canonical manifest, and verify and play recordings back.
// Its codecs are deterministic cores; storage is done by the node.
package media
