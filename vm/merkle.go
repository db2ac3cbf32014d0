package vm

import "math/bits"

// The state root is an RFC 9162 (Certificate Transparency v2) Merkle tree
// hash over the state's entries sorted by key, with BLAKE3 and Lucid's own
// domain tags in place of the 0x00/0x01 prefixes:
//
//	leaf(k, v) = BLAKE3(LeafDomain ‖ be32(len k) ‖ k ‖ v)
//	node(l, r) = BLAKE3(NodeDomain ‖ l ‖ r)
//	MTH([])    = BLAKE3(EmptyDomain)
//	MTH([x])   = x
//	MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
const (
	LeafDomain  = "lucid/vm/state-leaf/1\n"
	NodeDomain  = "lucid/vm/state-node/1\n"
	EmptyDomain = "lucid/vm/state-empty/1\n"
)

func leafHash(k, v []byte) [32]byte {
	return domainHash(LeafDomain, be32(uint32(len(k))), k, v)
}

func nodeHash(l, r [32]byte) [32]byte { return domainHash(NodeDomain, l[:], r[:]) }

// split returns the largest power of two below n (n ≥ 2).
func split(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

func merkleRoot(leaves [][32]byte) [32]byte {
	if len(leaves) == 0 {
		return domainHash(EmptyDomain)
	}
	return mth(leaves)
}

func mth(d [][32]byte) [32]byte {
	if len(d) == 1 {
		return d[0]
	}
	k := split(len(d))
	return nodeHash(mth(d[:k]), mth(d[k:]))
}

// auditPath returns the sibling hashes from leaf m up to the root.
func auditPath(m int, d [][32]byte) [][32]byte {
	if len(d) <= 1 {
		return nil
	}
	k := split(len(d))
	if m < k {
		return append(auditPath(m, d[:k]), mth(d[k:]))
	}
	return append(auditPath(m-k, d[k:]), mth(d[:k]))
}

// rootFromPath recomputes the root from a leaf, its index, the tree size
// and its audit path (RFC 9162 §2.1.3.2); ok is false when the path does
// not fit the index and size.
func rootFromPath(leaf [32]byte, index, size uint64, path [][32]byte) ([32]byte, bool) {
	if index >= size {
		return [32]byte{}, false
	}
	fn, sn, r := index, size-1, leaf
	for _, p := range path {
		if sn == 0 {
			return [32]byte{}, false
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	return r, sn == 0
}
