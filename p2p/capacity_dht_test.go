package p2p

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/p2p/capacity"
)

// acceptAnything is the validator of a misbehaving peer: it lets that
// peer's DHT send whatever it likes to the honest nodes.
type acceptAnything struct{}

func (acceptAnything) Validate(string, []byte) error        { return nil }
func (acceptAnything) Select(string, [][]byte) (int, error) { return 0, nil }

// sealedRecord is a valid record of the key's own peer.
func sealedRecord(t *testing.T, key crypto.PrivKey, seq uint64, now time.Time) []byte {
	t.Helper()
	self, err := peer.IDFromPrivateKey(key)
	require.NoError(t, err)
	rec := &capacity.Record{
		Peer: self, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4710")},
		Software: "lucid/test", Arch: "linux/arm64", CPUCores: 4,
		SlotsTotal: 4, SlotsFree: 4, Services: []string{"rdp"}, Seq: seq,
		IssuedAt: now.Truncate(time.Second), Expires: now.Truncate(time.Second).Add(time.Hour),
	}
	b, err := rec.Seal(key)
	require.NoError(t, err)
	return b
}

// Records published by an honest node survive a peer that puts garbage,
// replays an older record, or signs a record for a key it does not own:
// the honest nodes' validators reject each put and keep the valid record.
func TestGarbageNeverEvictsValidRecord(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stores := map[*Network]datastore.Batching{}
	join := func(bootstrap ...peer.AddrInfo) *Network {
		ds := dssync.MutexWrap(datastore.NewMapDatastore())
		nw, err := JoinNetwork(newTestHost(t), NetworkConfig{Bootstrap: bootstrap, Datastore: ds})
		require.NoError(t, err)
		t.Cleanup(func() { _ = nw.Close() })
		stores[nw] = ds
		return nw
	}
	boot := join()
	bootInfo := peer.AddrInfo{ID: boot.Host.ID(), Addrs: boot.Host.Addrs()}
	owner := join(bootInfo)
	honest := join(bootInfo)
	require.NoError(t, owner.Bootstrap(ctx))
	require.NoError(t, honest.Bootstrap(ctx))

	mHost := newTestHost(t)
	mallory, err := dht.New(mHost,
		dht.ProtocolPrefix(DHTPrefix), dht.Mode(dht.ModeServer),
		dht.Datastore(dssync.MutexWrap(datastore.NewMapDatastore())),
		dht.Validator(record.NamespacedValidator{capacity.Namespace: acceptAnything{}}),
		dht.BootstrapPeers(bootInfo))
	require.NoError(t, err)
	t.Cleanup(func() { _ = mallory.Close() })
	require.NoError(t, mHost.Connect(ctx, bootInfo))
	require.Eventually(t, func() bool { return mallory.RoutingTable().Size() > 0 }, 10*time.Second, 20*time.Millisecond)
	<-mallory.RefreshRoutingTable()

	ownerKey := owner.Host.Peerstore().PrivKey(owner.Host.ID())
	key := capacity.Key(owner.Host.ID())
	now := time.Now()
	old := sealedRecord(t, ownerKey, 100, now)
	current := sealedRecord(t, ownerKey, 200, now)
	require.NoError(t, owner.PublishCapacity(ctx, old))
	require.NoError(t, owner.PublishCapacity(ctx, current))

	malloryKey := mHost.Peerstore().PrivKey(mHost.ID())
	forged := sealedRecord(t, malloryKey, 300, now) // valid for mallory, not for owner's key
	tampered := bytes.Clone(current)
	tampered[len(tampered)-1] ^= 0xff
	attacks := map[string][]byte{
		"garbage":       []byte("not a record at all"),
		"older replay":  old,
		"exact replay":  current,
		"other signer":  forged,
		"bad signature": tampered,
		"oversize":      append(bytes.Clone(current), make([]byte, capacity.MaxRecordSize)...),
	}
	for name, value := range attacks {
		// Mallory's own DHT accepts anything; the puts reach the honest
		// nodes' handlers, which must refuse them.
		require.NoError(t, mallory.PutValue(ctx, key, value), name)
	}

	for _, nw := range []*Network{boot, owner, honest} {
		local, err := records.NewValueStore(stores[nw], capacity.Validator{}, 0).Get(ctx, key)
		require.NoError(t, err)
		require.NotNil(t, local, "node %s holds the record", nw.Host.ID())
		require.Equal(t, current, local.GetValue(), "node %s stores the valid record", nw.Host.ID())

		got, err := nw.DHT.GetValue(ctx, key)
		require.NoError(t, err)
		require.Equal(t, current, got, "node %s returns the valid record", nw.Host.ID())
		rec, err := nw.GetCapacity(ctx, owner.Host.ID())
		require.NoError(t, err)
		require.EqualValues(t, 200, rec.Seq)
	}
}
