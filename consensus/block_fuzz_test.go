package consensus

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// go test ./consensus/ -run '^$' -fuzz '^FuzzDecodeBlock$' -fuzztime 15s
func FuzzDecodeBlock(f *testing.F) {
	n := newBlockNet(f)
	b := n.block(f, &testBlockGenesis, 1, 0, 0, []byte("tx-a"), []byte("tx-b"))
	f.Add(b.Encode())
	f.Add(b.Header.Encode())
	f.Add((&Block{Header: BlockHeader{Version: BlockVersion, Proposer: n.nodes[0].id}}).Encode())
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Add([]byte{})
	l, _ := n.leaders(1)
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeBlock(data, n.bp)
		if err != nil {
			requireBlockSentinel(t, err, ErrMalformed, ErrUnsupportedVersion, ErrBlockTooLarge, ErrBlockTooManyTxs)
		} else {
			require.Equal(t, data, d.Encode())
			if err := VerifyBlock(d, &testBlockGenesis, l, n.bp, ArrivalAny); err != nil {
				requireBlockSentinel(t, err, blockSentinels...)
			}
		}
		h, err := DecodeBlockHeader(data)
		if err != nil {
			requireBlockSentinel(t, err, ErrMalformed, ErrUnsupportedVersion)
			return
		}
		require.Equal(t, data, h.Encode())
	})
}
