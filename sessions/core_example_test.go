package sessions_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/sessions"
)

// Example_handshake runs the session handshake through an in-memory
// buffer: the client signs consent and sends a Request, the host checks it
// and answers with a signed receipt, and the client verifies that receipt.
func Example_handshake() {
	key := func(name string) (crypto.PrivKey, peer.ID) {
		seed := sha256.Sum256([]byte(name))
		priv, _, _ := crypto.GenerateEd25519Key(bytes.NewReader(seed[:]))
		id, _ := peer.IDFromPrivateKey(priv)
		return priv, id
	}
	clientKey, clientID := key("example-client")
	hostKey, hostID := key("example-host")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	// Client.
	session, _ := sessions.NewID(bytes.NewReader(bytes.Repeat([]byte{0x42}, 16)))
	req, err := sessions.NewRequest(clientKey, session, sessions.ServiceSSH, sessions.ParamsForService(sessions.ServiceSSH), now)
	if err != nil {
		panic(err)
	}
	var stream bytes.Buffer
	_ = sessions.WriteMessage(&stream, req)

	// Host.
	m, _ := sessions.ReadMessage(&stream)
	got := m.(*sessions.Request)
	policy := sessions.HostPolicy{Services: map[string]bool{sessions.ServiceSSH: true}, Access: sessions.AccessAllowAll}
	if err := policy.Check(got, clientID, now.Add(2*time.Second)); err != nil {
		_ = sessions.WriteMessage(&stream, sessions.RejectionFor(err).Response())
	} else {
		receipt, _ := sessions.NewHostReceipt(hostKey, got, sessions.Limits{MaxDuration: 2 * time.Hour}, now.Add(2*time.Second))
		_ = sessions.WriteMessage(&stream, &sessions.Response{Accepted: true, Receipt: receipt})
	}

	// Client.
	m, _ = sessions.ReadMessage(&stream)
	resp := m.(*sessions.Response)
	fmt.Println("accepted:", resp.Accepted)
	fmt.Println("receipt:", resp.Receipt.VerifyFor(hostID, req))
	fmt.Println("session:", resp.Receipt.Session)
	fmt.Println("max duration:", resp.Receipt.Limits.MaxDuration)
	// Output:
	// accepted: true
	// receipt: <nil>
	// session: 42424242-4242-4242-8242-424242424242
	// max duration: 2h0m0s
}
