package sessions

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
)

// Helpers for the core tests. Names start with "core" so they cannot collide
// with helpers in the I/O tests of the same package.

// coreT0 is the fixed "now" of the core tests.
var coreT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// coreKey derives a deterministic Ed25519 key from name.
func coreKey(tb testing.TB, name string) (crypto.PrivKey, peer.ID) {
	tb.Helper()
	seed := sha256.Sum256([]byte(name))
	priv, _, err := crypto.GenerateEd25519Key(bytes.NewReader(seed[:]))
	require.NoError(tb, err)
	id, err := peer.IDFromPrivateKey(priv)
	require.NoError(tb, err)
	return priv, id
}

// coreID derives a deterministic session ID from name.
func coreID(tb testing.TB, name string) ID {
	tb.Helper()
	seed := sha256.Sum256([]byte("id:" + name))
	id, err := NewID(bytes.NewReader(seed[:]))
	require.NoError(tb, err)
	return id
}

// coreRequest is a valid request from client "client" for service, signed
// at coreT0 with the service's default params.
func coreRequest(tb testing.TB, service string) *Request {
	tb.Helper()
	priv, _ := coreKey(tb, "client")
	req, err := NewRequest(priv, coreID(tb, "session"), service, ParamsForService(service), coreT0)
	require.NoError(tb, err)
	return req
}

// coreSignedRequest builds a request like NewRequest but without its
// Permits check, and with every field as given, so tests can produce
// requests that are correctly signed yet unacceptable.
func coreSignedRequest(tb testing.TB, priv crypto.PrivKey, session ID, service string, params ConnectionParams, termsVersion string, termsHash [32]byte, at time.Time) *Request {
	tb.Helper()
	user, err := peer.IDFromPrivateKey(priv)
	require.NoError(tb, err)
	req := &Request{
		Version:      RequestVersion,
		Session:      session,
		Service:      service,
		Params:       params,
		PolicyHash:   params.Hash(),
		TermsVersion: termsVersion,
		TermsHash:    termsHash,
		Consent: ConsentReceipt{
			User:       user,
			Session:    session,
			PolicyHash: params.Hash(),
			TermsHash:  termsHash,
			AcceptedAt: at,
		},
	}
	require.NoError(tb, req.Consent.Sign(priv))
	return req
}

// coreHostReceipt is the host "host"'s receipt for req.
func coreHostReceipt(tb testing.TB, req *Request) *HostReceipt {
	tb.Helper()
	priv, _ := coreKey(tb, "host")
	r, err := NewHostReceipt(priv, req, Limits{MaxDuration: 2 * time.Hour, IdleTimeout: 15 * time.Minute, BandwidthBps: 8_000_000}, coreT0.Add(1500*time.Microsecond))
	require.NoError(tb, err)
	return r
}

// coreFullParams is valid params with every field set.
func coreFullParams() ConnectionParams {
	return ConnectionParams{
		Input: InputParams{
			MouseEnabled:     true,
			MouseRateLimitHz: 240,
			KeyboardEnabled:  true,
			KeyBlocklist:     []string{"Ctrl+Alt+Delete", "PrintScreen"},
			KeyAllowlistMode: true,
		},
		Clipboard: ClipboardParams{HostToClient: true, ClientToHost: true, MaxBytes: 1 << 20},
		File: FileParams{
			Upload:            true,
			Download:          true,
			MaxSizeMB:         100,
			AllowedDirs:       []string{"/home/ana/Transfer", "C:\\Users\\Ana\\Übertragung"},
			AllowedExtensions: []string{"*.pdf", "*.txt"},
		},
		System: SystemParams{
			Screenshare: true, Screenshots: true, AudioIn: true, AudioOut: true,
			Camera: true, Printing: true, ShellChannels: true,
		},
	}
}

// coreRequireSentinel asserts that err wraps exactly one of sentinels.
func coreRequireSentinel(tb testing.TB, err error, sentinels ...error) {
	tb.Helper()
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	require.Equal(tb, 1, n, "error must wrap exactly one of the allowed sentinels: %v", err)
}

// allSentinels lists every sentinel error of the package.
var allSentinels = []error{
	ErrMalformed, ErrUnsupportedVersion, ErrFrameTooLarge, ErrUnknownMessage,
	ErrInvalidID, ErrInvalidParams, ErrUnknownService, ErrPolicyForbidsService,
	ErrBadSignature, ErrWrongSigner, ErrUnsupportedKey, ErrReceiptMismatch,
	ErrInvalidHostPolicy, ErrInvalidTransition,
}

// coreKV is one entry of a hand-built CBOR map; v is already encoded.
type coreKV struct {
	k uint64
	v []byte
}

// coreMap builds a CBOR map with entries in the given order, so tests can
// produce non-canonical key orders, duplicates and explicit zero values.
func coreMap(kvs ...coreKV) []byte {
	if len(kvs) >= 24 {
		panic("coreMap: too many entries")
	}
	out := []byte{0xa0 | byte(len(kvs))}
	for _, kv := range kvs {
		out = append(out, mustMarshal(kv.k)...)
		out = append(out, kv.v...)
	}
	return out
}

func coreCBOR(v any) []byte { return mustMarshal(v) }

// coreFrame builds a frame around an arbitrary body.
func coreFrame(t byte, body []byte) []byte {
	n := 1 + len(body)
	var out []byte
	for n >= 0x80 {
		out = append(out, byte(n)|0x80)
		n >>= 7
	}
	out = append(out, byte(n), t)
	return append(out, body...)
}
