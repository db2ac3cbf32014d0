package tor

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha3"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	ma "github.com/multiformats/go-multiaddr"
)

// A v3 onion address is base32(pubkey[32] ‖ checksum[2] ‖ version[1]), 56
// characters without padding (rend-spec-v3 §6).
const (
	onionIDLen       = 56
	onionBytesLen    = ed25519.PublicKeySize + 2 + 1
	onionVersion     = 3
	onionChecksumTag = ".onion checksum"
)

// ErrBadOnion is returned (wrapped) for every multiaddr that is not a single,
// well-formed /onion3 component.
var ErrBadOnion = errors.New("not a valid /onion3 multiaddr")

// onionEncoding is lower case because tor, browsers and go-multiaddr's
// String() all print onion IDs in lower case.
var onionEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func onionChecksum(pub []byte) [2]byte {
	h := sha3.New256()
	h.Write([]byte(onionChecksumTag))
	h.Write(pub)
	h.Write([]byte{onionVersion})
	var sum [2]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// OnionID returns the 56-character v3 onion service ID (without ".onion")
// for an ed25519 public key.
func OnionID(pub ed25519.PublicKey) string {
	b := make([]byte, 0, onionBytesLen)
	b = append(b, pub...)
	sum := onionChecksum(pub)
	b = append(b, sum[:]...)
	b = append(b, onionVersion)
	return onionEncoding.EncodeToString(b)
}

// OnionAddr returns /onion3/<id>:<port> for the service published with key.
// It depends only on the key, so a node that keeps its key (LoadOrCreateKey)
// keeps its address across restarts.
func OnionAddr(key ed25519.PrivateKey, port int) ma.Multiaddr {
	m, err := ma.NewMultiaddr("/onion3/" + OnionID(key.Public().(ed25519.PublicKey)) + ":" + strconv.Itoa(port))
	if err != nil {
		// Only reachable with a port outside 1..65535, which is a caller bug
		// like an out-of-range slice index.
		panic(fmt.Sprintf("tor: OnionAddr: %v", err))
	}
	return m
}

// ParseOnion validates m as exactly one /onion3 component and returns the
// service ID (56 lower-case base32 characters) and the virtual port.
//
// go-multiaddr only checks the length and the base32 alphabet; this also
// checks the version byte and the SHA3 checksum, so a mistyped address fails
// here instead of after a 30 s descriptor lookup inside tor.
func ParseOnion(m ma.Multiaddr) (id string, port int, err error) {
	if len(m) != 1 {
		return "", 0, fmt.Errorf("%w: %q has %d components, want one /onion3", ErrBadOnion, m.String(), len(m))
	}
	c := m[0]
	if c.Code() != ma.P_ONION3 {
		return "", 0, fmt.Errorf("%w: %q is not /onion3", ErrBadOnion, m.String())
	}
	raw := c.RawValue()
	if len(raw) != onionBytesLen+2 {
		return "", 0, fmt.Errorf("%w: value is %d bytes, want %d", ErrBadOnion, len(raw), onionBytesLen+2)
	}
	id, err = parseOnionID(onionEncoding.EncodeToString(raw[:onionBytesLen]))
	if err != nil {
		return "", 0, err
	}
	port = int(raw[onionBytesLen])<<8 | int(raw[onionBytesLen+1])
	if port == 0 {
		return "", 0, fmt.Errorf("%w: port 0", ErrBadOnion)
	}
	return id, port, nil
}

// parseOnionID checks a 56-character onion ID (no ".onion") and returns it
// in canonical lower case.
func parseOnionID(s string) (string, error) {
	if len(s) != onionIDLen {
		return "", fmt.Errorf("%w: onion ID has %d characters, want %d", ErrBadOnion, len(s), onionIDLen)
	}
	s = strings.ToLower(s)
	b, err := onionEncoding.DecodeString(s)
	if err != nil || len(b) != onionBytesLen {
		return "", fmt.Errorf("%w: onion ID is not base32: %v", ErrBadOnion, err)
	}
	// Re-encoding must give the input back: 56 characters carry 280 bits, exactly
	// 35 bytes, so this only rejects non-canonical encodings, which tor would too.
	if onionEncoding.EncodeToString(b) != s {
		return "", fmt.Errorf("%w: non-canonical base32", ErrBadOnion)
	}
	pub, sum, ver := b[:ed25519.PublicKeySize], b[ed25519.PublicKeySize:ed25519.PublicKeySize+2], b[onionBytesLen-1]
	if ver != onionVersion {
		return "", fmt.Errorf("%w: version byte %d, want %d", ErrBadOnion, ver, onionVersion)
	}
	if want := onionChecksum(pub); !bytes.Equal(sum, want[:]) {
		return "", fmt.Errorf("%w: checksum mismatch (mistyped address?)", ErrBadOnion)
	}
	return s, nil
}

// LoadOrCreateKey returns the onion service key stored at path, creating it
// (PKCS#8 PEM, mode 0600, directory 0700) if the file does not exist. The
// key is the node's onion identity: keep it in the node home so the onion
// address survives restarts, and never share it — whoever holds it can
// publish the same address.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	key, err := loadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("onion key directory: %w", err)
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate onion key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode onion key: %w", err)
	}
	// Write to a temporary file and hard-link it into place: the link fails if
	// another process created the key meanwhile, and then we use theirs rather
	// than silently replacing an identity that may already be published.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".onion-key-*")
	if err != nil {
		return nil, fmt.Errorf("write onion key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write onion key: %w", err)
	}
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write onion key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write onion key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write onion key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadKey(path)
		}
		return nil, fmt.Errorf("write onion key: %w", err)
	}
	slog.Info("created onion service key", "path", path, "onion", OnionID(key.Public().(ed25519.PublicKey)))
	return key, nil
}

func loadKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read onion key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		slog.Warn("onion key is readable by other users; chmod 600 it", "path", path, "mode", fi.Mode().Perm())
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("read onion key %s: no PRIVATE KEY PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read onion key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("read onion key %s: %T is not an ed25519 key", path, k)
	}
	return key, nil
}
