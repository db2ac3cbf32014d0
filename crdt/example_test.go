package crdt_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/crdt"
	"github.com/lucidnet/lucid/sessions"
)

// replicaFor derives a replica ID from a fixed seed (production code uses
// the node's own peer ID).
func replicaFor(name string) crdt.ReplicaID {
	seed := sha256.Sum256([]byte(name))
	priv, _, _ := crypto.GenerateEd25519Key(bytes.NewReader(seed[:]))
	id, _ := peer.IDFromPrivateKey(priv)
	return crdt.ReplicaID(id)
}

// Two replicas, a host and a relay, write the same session concurrently
// and exchange their deltas in opposite orders; both end with the same
// record and digest. A third, new replica catches up by anti-entropy.
func Example() {
	host, relay := replicaFor("host"), replicaFor("relay")
	hostMap, relayMap := crdt.NewMap(crdt.Params{}), crdt.NewMap(crdt.Params{})
	hostClock, relayClock := crdt.NewClock(host, 0), crdt.NewClock(relay, 0)
	id, _ := sessions.NewID(bytes.NewReader(bytes.Repeat([]byte{7}, 16)))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	// The shell would sign each delta and gossip d.Encode(); the receiver
	// decodes, checks the signature, authorizes and merges.
	receive := func(m *crdt.Map, d crdt.Delta, at time.Time) {
		got, err := crdt.DecodeDelta(d.Encode())
		if err != nil {
			panic(err)
		}
		if err := m.Authorize(got, got.Author(), at); err != nil {
			panic(err)
		}
		m.Merge(got)
	}

	created, _ := hostMap.Update(host, hostClock, now, id,
		crdt.Create(host, "rdp", now), crdt.AddRelay(relay), crdt.SetPhase(sessions.StateActive, now))
	receive(relayMap, created, now)

	// Concurrently: the relay counts what it forwarded, the host ends the
	// session.
	counted, _ := relayMap.Update(relay, relayClock, now.Add(time.Minute), id, crdt.AddCounters(4096, 1<<20, 0))
	ended, _ := hostMap.Update(host, hostClock, now.Add(time.Minute), id,
		crdt.AddCounters(1<<20, 4096, 3), crdt.SetPhase(sessions.StateEnded, now.Add(time.Minute)))
	receive(hostMap, counted, now.Add(time.Minute))
	receive(relayMap, ended, now.Add(time.Minute))

	fmt.Println("converged:", hostMap.Digest() == relayMap.Digest())
	r, _ := relayMap.Get(id)
	fmt.Println(r.Service, r.Phase, r.EndedAt.Sub(r.StartedAt), r.Totals.BytesIn+r.Totals.BytesOut, len(r.Counters))

	// A new replica: exchange sync messages until neither side has
	// anything to say, transferring the per-author deltas of what differs.
	fresh := crdt.NewMap(crdt.Params{})
	inbox := []crdt.SyncMsg{fresh.SyncStart()}
	from, to := hostMap, fresh
	for rounds := 0; len(inbox) > 0; rounds++ {
		var next []crdt.SyncMsg
		for _, msg := range inbox {
			out, send := from.SyncStep(msg)
			for _, d := range from.AuthorDeltas(send...) {
				receive(to, d, now.Add(time.Minute))
			}
			next = append(next, out...)
		}
		inbox, from, to = next, to, from
	}
	fmt.Println("caught up:", fresh.Digest() == hostMap.Digest(), fresh.Len())
	// Output:
	// converged: true
	// rdp ended 1m0s 2105344 2
	// caught up: true 1
}
