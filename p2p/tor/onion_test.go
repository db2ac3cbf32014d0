package tor

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha3"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cretz/bine/torutil"
	bineed25519 "github.com/cretz/bine/torutil/ed25519"
	ma "github.com/multiformats/go-multiaddr"
)

// torproject.org's onion service, a published, known-good v3 address.
const torProjectOnion = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid"

// mutateOnion decodes id, applies f to the 35 raw bytes and re-encodes.
func mutateOnion(t *testing.T, id string, f func(b []byte)) string {
	t.Helper()
	b, err := onionEncoding.DecodeString(id)
	if err != nil {
		t.Fatal(err)
	}
	f(b)
	return onionEncoding.EncodeToString(b)
}

func TestParseOnion(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	own := OnionID(key.Public().(ed25519.PublicKey))
	badChecksum := mutateOnion(t, torProjectOnion, func(b []byte) { b[32] ^= 1 })
	// Version 2 with a checksum that is right for version 2: only the
	// version check can reject it.
	badVersion := mutateOnion(t, torProjectOnion, func(b []byte) {
		b[34] = 2
		sum := sha3.Sum256(append([]byte(onionChecksumTag+string(b[:32])), 2))
		copy(b[32:34], sum[:2])
	})
	badKey := mutateOnion(t, torProjectOnion, func(b []byte) { b[0] ^= 1 }) // checksum no longer matches

	tests := []struct {
		addr     string
		wantID   string
		wantPort int
		wantErr  bool
	}{
		{addr: "/onion3/" + torProjectOnion + ":80", wantID: torProjectOnion, wantPort: 80},
		{addr: "/onion3/" + strings.ToUpper(torProjectOnion) + ":443", wantID: torProjectOnion, wantPort: 443},
		{addr: "/onion3/" + own + ":65535", wantID: own, wantPort: 65535},
		{addr: "/onion3/" + badChecksum + ":80", wantErr: true},
		{addr: "/onion3/" + badVersion + ":80", wantErr: true},
		{addr: "/onion3/" + badKey + ":80", wantErr: true},
		{addr: "/onion3/" + torProjectOnion + ":80/p2p/12D3KooWGzBsw7rjCZtc1cpwE2JxBrWVs4ZjtDfTtW3Psm8wuqNF", wantErr: true},
		{addr: "/ip4/127.0.0.1/tcp/80/onion3/" + torProjectOnion + ":80", wantErr: true},
		{addr: "/ip4/127.0.0.1/tcp/80", wantErr: true},
		{addr: "/dns4/example.onion/tcp/80", wantErr: true},
		{addr: "/onion/timaq4ygg2iegci7:80", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			m, err := ma.NewMultiaddr(tc.addr)
			if err != nil {
				t.Fatalf("test address does not parse as a multiaddr: %v", err)
			}
			id, port, err := ParseOnion(m)
			if tc.wantErr {
				if err == nil || !errors.Is(err, ErrBadOnion) {
					t.Fatalf("ParseOnion(%s) = %q, %d, %v; want ErrBadOnion", m, id, port, err)
				}
				return
			}
			if err != nil || id != tc.wantID || port != tc.wantPort {
				t.Fatalf("ParseOnion(%s) = %q, %d, %v; want %q, %d", m, id, port, err, tc.wantID, tc.wantPort)
			}
		})
	}

	// Inputs go-multiaddr already refuses never reach ParseOnion, but the ID
	// checks stand on their own for callers that have a bare ID.
	for _, id := range []string{
		"",
		torProjectOnion[:55],
		torProjectOnion + "a",
		"1" + torProjectOnion[1:], // '1' is not base32
		badChecksum,
		badVersion,
	} {
		if got, err := parseOnionID(id); err == nil {
			t.Errorf("parseOnionID(%q) = %q, want error", id, got)
		}
	}
	for _, s := range []string{
		"/onion3/" + torProjectOnion[:55] + ":80",
		"/onion3/" + torProjectOnion + ":0",
		"/onion3/" + torProjectOnion + ":65536",
		"/onion3/" + torProjectOnion,
	} {
		if m, err := ma.NewMultiaddr(s); err == nil {
			if _, _, err := ParseOnion(m); err == nil {
				t.Errorf("ParseOnion(%s) accepted", s)
			}
		}
	}
}

func TestOnionIDMatchesBine(t *testing.T) {
	for range 20 {
		pub, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		// bine is what hands the key to tor; both must agree on the ID or
		// Listen would publish an address other than the one we announce.
		if got, want := OnionID(pub), strings.ToLower(torutil.OnionServiceIDFromPrivateKey(bineed25519.FromCryptoPrivateKey(key))); got != want {
			t.Fatalf("OnionID = %s, bine says %s", got, want)
		}
		if _, err := parseOnionID(OnionID(pub)); err != nil {
			t.Fatalf("own ID rejected: %v", err)
		}
	}
}

func FuzzParseOnion(f *testing.F) {
	f.Add([]byte("/onion3/" + torProjectOnion + ":80"))
	f.Add([]byte("/onion3/" + strings.ToUpper(torProjectOnion) + ":1"))
	f.Add([]byte(torProjectOnion))
	f.Add([]byte("/onion/timaq4ygg2iegci7:80"))
	f.Add([]byte("/ip4/1.2.3.4/tcp/5"))
	if m, err := ma.NewMultiaddr("/onion3/" + torProjectOnion + ":8080"); err == nil {
		f.Add(m.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(m ma.Multiaddr) {
			id, port, err := ParseOnion(m)
			if err != nil {
				return
			}
			// Accepted addresses round-trip: rebuilding from (id, port)
			// gives the same multiaddr, which parses to the same values.
			m2, err := ma.NewMultiaddr("/onion3/" + id + ":" + strconv.Itoa(port))
			if err != nil {
				t.Fatalf("accepted %s but rebuilt address does not parse: %v", m, err)
			}
			if !m2.Equal(m) {
				t.Fatalf("accepted %s, rebuilt as %s", m, m2)
			}
			id2, port2, err := ParseOnion(m2)
			if err != nil || id2 != id || port2 != port {
				t.Fatalf("round trip of %s: %q %d %v", m, id2, port2, err)
			}
			b, _ := onionEncoding.DecodeString(id)
			if OnionID(ed25519.PublicKey(b[:32])) != id {
				t.Fatalf("accepted %s but its key gives another ID", m)
			}
		}
		if m, err := ma.NewMultiaddrBytes(data); err == nil {
			check(m)
		}
		if m, err := ma.NewMultiaddr(string(data)); err == nil {
			check(m)
		}
		if id, err := parseOnionID(string(data)); err == nil && id != strings.ToLower(string(data)) {
			t.Fatalf("parseOnionID(%q) = %q", data, id)
		}
	})
}

func TestLoadOrCreateKey(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "tor", "onion.key")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, err := os.Stat(filepath.Dir(path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("key dir mode %v (%v), want 0700", di.Mode().Perm(), err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("reloaded key differs")
	}
	a1, a2 := OnionAddr(k1, 4001), OnionAddr(k2, 4001)
	if !a1.Equal(a2) {
		t.Fatalf("address changed across reload: %s vs %s", a1, a2)
	}
	if _, port, err := ParseOnion(a1); err != nil || port != 4001 {
		t.Fatalf("OnionAddr gives unparsable %s: %v", a1, err)
	}
	// No temporary files left next to the key.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("key dir holds %d entries, want only the key", len(entries))
	}

	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Fatal("garbage key file accepted")
	}
}
