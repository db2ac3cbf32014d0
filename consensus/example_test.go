package consensus_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
)

func key(name string) (crypto.PrivKey, peer.ID) {
	seed := sha256.Sum256([]byte(name))
	priv, _, _ := crypto.GenerateEd25519Key(bytes.NewReader(seed[:]))
	id, _ := peer.IDFromPrivateKey(priv)
	return priv, id
}

// A node's view: verify gossiped proofs, drop duplicates, tally them and
// compute the leaders of the coming slots.
func Example() {
	p := consensus.DefaultParams()
	p.SlotLength, p.WindowSlots, p.CooldownSlots, p.SlotTimeout = 2*time.Second, 30, 1, 200*time.Millisecond

	tally, _ := consensus.NewTally(p)
	chain := consensus.NewChain(p, [32]byte{})
	dedup := consensus.NewDedup(p, 0, 10_000)
	hostKey, host := key("host")
	clientKey, client := key("client")

	for s := consensus.Slot(0); s < 20; s++ {
		_ = chain.Append(consensus.BlockRef{Slot: s, Hash: sha256.Sum256([]byte{byte(s)})})
		dedup.Advance(s)
		beacon, _ := consensus.NewUptime(hostKey, nil, s)
		// The client signs what it received; the host embeds it.
		r := consensus.MeteringReceipt{Host: host, Client: client, Slot: s, Start: 0, Bytes: uint64(s+1) * 2_000_000}
		r.Session[6], r.Session[8] = 0x40, 0x80
		_ = r.Sign(clientKey)
		relay, _ := consensus.NewRelay(hostKey, nil, s, []consensus.MeteringReceipt{r})
		for _, pr := range []*consensus.Proof{beacon, relay, relay} {
			if err := consensus.VerifyProof(pr, p, s, consensus.VerifyContext{Seeds: chain}); err != nil {
				fmt.Println("rejected:", err)
				continue
			}
			if err := dedup.Seen(pr); err != nil {
				continue // the second copy of relay: ErrDuplicate
			}
			_ = tally.Add(pr)
		}
	}
	res, _ := tally.Compute(19)
	e, _ := res.Entry(consensus.NodeEntity(host))
	fmt.Printf("relay %d credits, uptime %d/1e6, live score %d, eligible %v\n", e.Relay/consensus.Micro, e.Uptime, e.LiveScore, e.Eligible)

	recent := make([]consensus.EntityID, p.CooldownSlots)
	sched, _ := consensus.Schedule(p, tally, chain, recent, 20, 2)
	for _, l := range sched {
		who, _ := l.LeaderAt(p, 0)
		fmt.Println(l.Slot, who == consensus.NodeEntity(host))
	}
	// Output:
	// relay 8 credits, uptime 1000000/1e6, live score 8000000, eligible true
	// 20 true
	// 21 true
}
