package poot

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/consensus"
)

// Proofs copied into task_proofs are counted there by node and type, the
// same counts the test made, and a proof copied twice is stored once.
func TestProofDBCounts(t *testing.T) {
	uri := os.Getenv("MONGO_URI")
	if uri == "" {
		t.Skip("MONGO_URI unset: MongoDB task_proofs not tested (make test-mongo runs it against FerretDB)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := fmt.Sprintf("lucidtest_poot_%d", time.Now().UnixNano())
	u := uri + db
	if uri[len(uri)-1] != '/' {
		t.Skip("MONGO_URI with a path or options: not rewritten for a test database")
	}
	d, err := OpenProofDB(ctx, u, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = d.coll.Database().Drop(context.Background())
		_ = d.Close(context.Background())
	})
	want := map[string]map[string]int64{}
	for range 3 {
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		require.NoError(t, err)
		id, err := peer.IDFromPrivateKey(key)
		require.NoError(t, err)
		want[id.String()] = map[string]int64{}
		for slot := range consensus.Slot(5) {
			p, err := consensus.NewUptime(key, nil, 100+slot)
			require.NoError(t, err)
			raw, err := p.Encode()
			require.NoError(t, err)
			d.add(p, raw, time.Now())
			d.add(p, raw, time.Now()) // a re-delivery
			want[id.String()]["uptime"]++
		}
	}
	require.Eventually(t, func() bool {
		got, err := d.Counts(ctx, 100)
		return err == nil && fmt.Sprint(got) == fmt.Sprint(want)
	}, 30*time.Second, 100*time.Millisecond)
	got, err := d.Counts(ctx, 103)
	require.NoError(t, err)
	for node := range want {
		require.EqualValues(t, 2, got[node]["uptime"])
	}
}
