package capacity_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/lucidnet/lucid/p2p/capacity"
)

func Example() {
	priv, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	id, _ := peer.IDFromPrivateKey(priv)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	r := &capacity.Record{
		Peer:       id,
		Addrs:      []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/192.0.2.7/udp/4001/quic-v1")},
		Software:   "lucid/0.1.0",
		Arch:       "linux/arm64",
		CPUCores:   4,
		SlotsTotal: 2,
		SlotsFree:  2,
		Services:   []string{capacity.ServiceRDP, capacity.ServiceSSH},
		Seq:        capacity.NextSeq(0, now),
		IssuedAt:   now,
		Expires:    now.Add(capacity.DefaultLifetime),
	}
	value, err := r.Seal(priv)
	if err != nil {
		panic(err)
	}

	v := capacity.Validator{Now: func() time.Time { return now }}
	fmt.Println(v.Validate(capacity.Key(id), value))

	later := capacity.Validator{Now: func() time.Time { return now.Add(2 * time.Hour) }}
	fmt.Println(errors.Is(later.Validate(capacity.Key(id), value), capacity.ErrExpired))
	// Output:
	// <nil>
	// true
}
