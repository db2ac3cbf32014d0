// Package tortest shares one private Tor network (package tornet) among
// the tests of a test binary. It is kept apart from tornet so that the
// lucid binary, which runs tornet for `lucid testnet up --tor`, does not
// link package testing.
package tortest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/lucidnet/lucid/testnet/tornet"
)

// shared is the one network of a test binary: starting one costs 10-20 s
// and ~265 MiB, while each test only needs its own client tors.
var shared struct {
	mu  sync.Mutex
	n   *tornet.Network
	err error
}

// Shared returns one network per test binary (started on first use, stopped
// when the test binary's TestMain calls StopShared, or left to die with the
// process via __OwningControllerProcess). Without tor it calls t.Skip with a
// visible message ("tor not installed: ..."), unless the env var
// LUCID_TOR_TESTS=1 is set (CI), in which case it fails the test.
func Shared(t testing.TB) *tornet.Network {
	t.Helper()
	if err := tornet.Available(); err != nil {
		if os.Getenv("LUCID_TOR_TESTS") == "1" {
			t.Fatalf("tor not installed: %v (LUCID_TOR_TESTS=1 requires it)", err)
		}
		t.Skipf("tor not installed: %v (set LUCID_TOR_TESTS=1 to fail instead of skipping)", err)
	}
	// Held during Start so that parallel tests wait for the one network
	// instead of starting their own.
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.n == nil && shared.err == nil {
		// No Config.Log: the network outlives this test, and t.Log after
		// the test ends panics.
		shared.n, shared.err = tornet.Start(context.Background(), tornet.Config{})
		if shared.err == nil {
			tm := shared.n.Timings()
			t.Logf("tornet: shared network in %s: keygen %v, spawn %v, consensus %v after spawn",
				shared.n.Dir, tm.Keygen, tm.Spawn, tm.Consensus)
		}
	}
	// A failed start is remembered: retrying it in every test would cost
	// the full timeout each time.
	if shared.err != nil {
		t.Fatalf("tornet: shared network: %v", shared.err)
	}
	return shared.n
}

// StopShared stops the network Shared started, if any. Call it from TestMain
// after m.Run.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.n != nil {
		// No test is left to fail, but a tor that would not die is worth
		// seeing.
		if err := shared.n.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "tornet: stopping the shared network:", err)
		}
	}
	shared.n, shared.err = nil, nil
}
