package vm

import "github.com/lucidnet/lucid/consensus"

// Header is the chain's signed block header (consensus.BlockHeader):
// equivocation evidence is two of them, for one slot, by one proposer,
// with different hashes, and the VM judges it on exactly what proposers
// sign.
type Header = consensus.BlockHeader

// DecodeHeader reads a header as consensus encodes it.
func DecodeHeader(b []byte) (*Header, error) {
	h, err := consensus.DecodeBlockHeader(b)
	if err != nil {
		return nil, malformed("header: %v", err)
	}
	return &h, nil
}
