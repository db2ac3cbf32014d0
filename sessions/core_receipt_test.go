package sessions

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
)

func coreConsent(tb testing.TB) (crypto.PrivKey, ConsentReceipt) {
	tb.Helper()
	priv, user := coreKey(tb, "client")
	r := ConsentReceipt{
		User:       user,
		Session:    coreID(tb, "consent"),
		PolicyHash: StrictParams().Hash(),
		TermsHash:  TermsHash(),
		AcceptedAt: coreT0.Add(1234567 * time.Nanosecond),
	}
	require.NoError(tb, r.Sign(priv))
	return priv, r
}

func TestConsentSignVerify(t *testing.T) {
	_, r := coreConsent(t)
	require.NoError(t, r.Verify())
	require.Equal(t, coreT0.Add(time.Millisecond), r.AcceptedAt, "Sign truncates to milliseconds")
	require.Len(t, r.Signature, 64)

	// Deterministic: Ed25519 signatures, canonical bytes.
	_, again := coreConsent(t)
	require.Equal(t, r, again)
	require.Equal(t, r.Hash(), again.Hash())
}

func TestConsentSignedBytes(t *testing.T) {
	// The signed bytes are the domain followed by the canonical encoding
	// without the signature; check against an independent Ed25519 verify.
	_, r := coreConsent(t)
	w := r.wire()
	w.Signature = nil
	msg := append([]byte("lucid/consent-receipt/1\n"), coreCBOR(&w)...)
	pub, err := r.User.ExtractPublicKey()
	require.NoError(t, err)
	ok, err := pub.Verify(msg, r.Signature)
	require.NoError(t, err)
	require.True(t, ok)
	// Keys 1..5 in order, no key 6.
	require.Equal(t, byte(0xa5), coreCBOR(&w)[0])
}

func TestConsentTamper(t *testing.T) {
	_, other := coreKey(t, "mallory")
	tests := []struct {
		name   string
		mutate func(r *ConsentReceipt)
		want   error
	}{
		{"flipped signature byte", func(r *ConsentReceipt) { r.Signature[10] ^= 1 }, ErrBadSignature},
		{"truncated signature", func(r *ConsentReceipt) { r.Signature = r.Signature[:63] }, ErrBadSignature},
		{"no signature", func(r *ConsentReceipt) { r.Signature = nil }, ErrBadSignature},
		{"session changed", func(r *ConsentReceipt) { r.Session = coreID(t, "other") }, ErrBadSignature},
		{"policy hash changed", func(r *ConsentReceipt) { r.PolicyHash[0] ^= 1 }, ErrBadSignature},
		{"terms hash changed", func(r *ConsentReceipt) { r.TermsHash[31] ^= 1 }, ErrBadSignature},
		{"accepted_at changed", func(r *ConsentReceipt) { r.AcceptedAt = r.AcceptedAt.Add(time.Millisecond) }, ErrBadSignature},
		{"user changed", func(r *ConsentReceipt) { r.User = other }, ErrBadSignature},
		{"zero accepted_at", func(r *ConsentReceipt) { r.AcceptedAt = time.Time{} }, ErrMalformed},
		{"accepted_at before 1970", func(r *ConsentReceipt) { r.AcceptedAt = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrMalformed},
		{"accepted_at after 9999", func(r *ConsentReceipt) { r.AcceptedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, ErrMalformed},
		{"non-v4 session", func(r *ConsentReceipt) { r.Session = ID{1} }, ErrMalformed},
		{"empty user", func(r *ConsentReceipt) { r.User = "" }, ErrMalformed},
		{"oversized signature", func(r *ConsentReceipt) { r.Signature = make([]byte, MaxSignatureLen+1) }, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, r := coreConsent(t)
			r.Signature = bytes.Clone(r.Signature)
			tt.mutate(&r)
			err := r.Verify()
			require.ErrorIs(t, err, tt.want)
			coreRequireSentinel(t, err, allSentinels...)
		})
	}
}

func TestConsentSignErrors(t *testing.T) {
	priv, r := coreConsent(t)
	wrong, _ := coreKey(t, "mallory")

	c := r
	c.Signature = nil
	require.ErrorIs(t, c.Sign(wrong), ErrWrongSigner)
	require.Nil(t, c.Signature, "a failed Sign must not touch the receipt")
	require.ErrorIs(t, c.Sign(nil), ErrWrongSigner)

	c.AcceptedAt = time.Time{}
	require.ErrorIs(t, c.Sign(priv), ErrMalformed)

	// ECDSA public keys are too large to inline, so the peer ID is a hash
	// and nobody could verify the signature.
	ecPriv, _, err := crypto.GenerateECDSAKeyPair(bytes.NewReader(bytes.Repeat([]byte{7}, 4096)))
	require.NoError(t, err)
	ecID, err := peer.IDFromPrivateKey(ecPriv)
	require.NoError(t, err)
	c = r
	c.User = ecID
	require.ErrorIs(t, c.Sign(ecPriv), ErrUnsupportedKey)
	c.Signature = r.Signature
	require.ErrorIs(t, c.Verify(), ErrUnsupportedKey)
}

func TestConsentSecp256k1(t *testing.T) {
	seed := sha256.Sum256([]byte("secp"))
	priv, _, err := crypto.GenerateSecp256k1Key(bytes.NewReader(bytes.Repeat(seed[:], 8)))
	require.NoError(t, err)
	id, err := peer.IDFromPrivateKey(priv)
	require.NoError(t, err)
	r := ConsentReceipt{User: id, Session: coreID(t, "k1"), AcceptedAt: coreT0}
	require.NoError(t, r.Sign(priv))
	require.NoError(t, r.Verify())
	r.Signature[len(r.Signature)-1] ^= 1
	require.ErrorIs(t, r.Verify(), ErrBadSignature)
}

func TestConsentHash(t *testing.T) {
	_, r := coreConsent(t)
	h := r.Hash()
	w := r.wire()
	require.Equal(t, sha256.Sum256(coreCBOR(&w)), h, "hash is over the full canonical encoding")
	r2 := r
	r2.Signature = bytes.Clone(r.Signature)
	r2.Signature[0] ^= 1
	require.NotEqual(t, h, r2.Hash(), "the hash covers the signature")
	// Defined for invalid receipts too.
	require.NotPanics(t, func() { ConsentReceipt{}.Hash() })
}

func TestHostReceiptSignVerify(t *testing.T) {
	req := coreRequest(t, ServiceRDP)
	r := coreHostReceipt(t, req)
	require.NoError(t, r.Verify())
	require.Equal(t, coreT0.Add(time.Millisecond), r.AcceptedAt)
	_, host := coreKey(t, "host")
	require.NoError(t, r.VerifyFor(host, req))

	w := r.wire()
	w.Signature = nil
	pub, err := host.ExtractPublicKey()
	require.NoError(t, err)
	ok, err := pub.Verify(append([]byte("lucid/host-receipt/1\n"), coreCBOR(&w)...), r.Signature)
	require.NoError(t, err)
	require.True(t, ok)
}

func TestHostReceiptTamper(t *testing.T) {
	_, other := coreKey(t, "mallory")
	tests := []struct {
		name   string
		mutate func(r *HostReceipt)
		want   error
	}{
		{"flipped signature byte", func(r *HostReceipt) { r.Signature[0] ^= 0x80 }, ErrBadSignature},
		{"host changed", func(r *HostReceipt) { r.Host = other }, ErrBadSignature},
		{"client changed", func(r *HostReceipt) { r.Client = other }, ErrBadSignature},
		{"session changed", func(r *HostReceipt) { r.Session = coreID(t, "x") }, ErrBadSignature},
		{"service changed", func(r *HostReceipt) { r.Service = ServiceVNC }, ErrBadSignature},
		{"policy hash changed", func(r *HostReceipt) { r.PolicyHash[5]++ }, ErrBadSignature},
		{"terms hash changed", func(r *HostReceipt) { r.TermsHash[5]++ }, ErrBadSignature},
		{"consent hash changed", func(r *HostReceipt) { r.ConsentHash[5]++ }, ErrBadSignature},
		{"max duration changed", func(r *HostReceipt) { r.Limits.MaxDuration += time.Second }, ErrBadSignature},
		{"idle timeout removed", func(r *HostReceipt) { r.Limits.IdleTimeout = 0 }, ErrBadSignature},
		{"bandwidth changed", func(r *HostReceipt) { r.Limits.BandwidthBps = 0 }, ErrBadSignature},
		{"accepted_at changed", func(r *HostReceipt) { r.AcceptedAt = r.AcceptedAt.Add(-time.Millisecond) }, ErrBadSignature},
		{"sub-second limit", func(r *HostReceipt) { r.Limits.IdleTimeout = 1500 * time.Millisecond }, ErrMalformed},
		{"negative limit", func(r *HostReceipt) { r.Limits.MaxDuration = -time.Second }, ErrMalformed},
		{"bad service", func(r *HostReceipt) { r.Service = "RDP" }, ErrMalformed},
		{"no signature", func(r *HostReceipt) { r.Signature = nil }, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := coreHostReceipt(t, coreRequest(t, ServiceRDP))
			tt.mutate(r)
			err := r.Verify()
			require.ErrorIs(t, err, tt.want)
			coreRequireSentinel(t, err, allSentinels...)
		})
	}
}

func TestHostReceiptSignErrors(t *testing.T) {
	req := coreRequest(t, ServiceRDP)
	r := *coreHostReceipt(t, req)
	client, _ := coreKey(t, "client")
	r.Signature = nil
	require.ErrorIs(t, r.Sign(client), ErrWrongSigner)
	host, _ := coreKey(t, "host")
	r.Limits.MaxDuration = 500 * time.Millisecond
	require.ErrorIs(t, r.Sign(host), ErrMalformed, "a sub-second limit would round to 0 = unlimited")
	_, err := NewHostReceipt(host, req, Limits{IdleTimeout: time.Millisecond}, coreT0)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = NewHostReceipt(host, nil, Limits{}, coreT0)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = NewHostReceipt(nil, req, Limits{}, coreT0)
	require.ErrorIs(t, err, ErrWrongSigner)
}

func TestHostReceiptVerifyBinding(t *testing.T) {
	req := coreRequest(t, ServiceRDP)
	_, mallory := coreKey(t, "mallory")
	tests := []struct {
		name   string
		mutate func(req *Request)
		ok     bool
	}{
		{"same request", func(*Request) {}, true},
		{"other session", func(r *Request) { r.Session = coreID(t, "other") }, false},
		{"other client", func(r *Request) { r.Consent.User = mallory }, false},
		{"other service", func(r *Request) { r.Service = ServiceVNC }, false},
		{"other policy hash", func(r *Request) { r.PolicyHash[0] ^= 1 }, false},
		{"other terms hash", func(r *Request) { r.TermsHash[0] ^= 1 }, false},
		{"other consent signature", func(r *Request) { r.Consent.Signature[0] ^= 1 }, false},
		{"other consent time", func(r *Request) { r.Consent.AcceptedAt = r.Consent.AcceptedAt.Add(time.Millisecond) }, false},
		{"params changed without hash", func(r *Request) { r.Params.System.Camera = true }, true}, // the host's Check catches this; the receipt binds hashes
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := coreHostReceipt(t, req)
			mod := *req
			mod.Consent.Signature = bytes.Clone(req.Consent.Signature)
			tt.mutate(&mod)
			err := r.VerifyBinding(&mod)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrReceiptMismatch)
			coreRequireSentinel(t, err, allSentinels...)
		})
	}
	require.ErrorIs(t, coreHostReceipt(t, req).VerifyBinding(nil), ErrReceiptMismatch)
}

func TestHostReceiptVerifyFor(t *testing.T) {
	req := coreRequest(t, ServiceRDP)
	r := coreHostReceipt(t, req)
	_, host := coreKey(t, "host")
	_, mallory := coreKey(t, "mallory")
	require.NoError(t, r.VerifyFor(host, req))
	require.ErrorIs(t, r.VerifyFor(mallory, req), ErrReceiptMismatch)

	// A receipt that Mallory signed for the same request is valid on its
	// own and binds correctly, but was not issued by the host dialled.
	mPriv, _ := coreKey(t, "mallory")
	forged, err := NewHostReceipt(mPriv, req, Limits{}, coreT0)
	require.NoError(t, err)
	require.NoError(t, forged.Verify())
	require.NoError(t, forged.VerifyBinding(req))
	require.ErrorIs(t, forged.VerifyFor(host, req), ErrReceiptMismatch)

	bad := *r
	bad.Signature = bytes.Clone(r.Signature)
	bad.Signature[3] ^= 1
	require.ErrorIs(t, bad.VerifyFor(host, req), ErrBadSignature)
}

func TestNewRequest(t *testing.T) {
	priv, user := coreKey(t, "client")
	req, err := NewRequest(priv, coreID(t, "s"), ServiceSSH, ParamsForService(ServiceSSH), coreT0)
	require.NoError(t, err)
	require.Equal(t, uint8(RequestVersion), req.Version)
	require.Equal(t, user, req.Consent.User)
	require.Equal(t, req.Params.Hash(), req.PolicyHash)
	require.Equal(t, req.PolicyHash, req.Consent.PolicyHash)
	require.Equal(t, TermsVersion, req.TermsVersion)
	require.Equal(t, TermsHash(), req.TermsHash)
	require.Equal(t, TermsHash(), req.Consent.TermsHash)
	require.Equal(t, req.Session, req.Consent.Session)
	require.NoError(t, req.Consent.Verify())

	_, err = NewRequest(priv, coreID(t, "s"), ServiceSSH, StrictParams(), coreT0)
	require.ErrorIs(t, err, ErrPolicyForbidsService)
	_, err = NewRequest(priv, coreID(t, "s"), "telnet", StrictParams(), coreT0)
	require.ErrorIs(t, err, ErrUnknownService)
	_, err = NewRequest(priv, ID{}, ServiceRDP, StrictParams(), coreT0)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = NewRequest(nil, coreID(t, "s"), ServiceRDP, StrictParams(), coreT0)
	require.ErrorIs(t, err, ErrWrongSigner)
}

func TestReceiptJSON(t *testing.T) {
	req := coreRequest(t, ServiceRDP)
	hr := coreHostReceipt(t, req)

	b, err := json.Marshal(req.Consent)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.Equal(t, req.Consent.User.String(), m["user_id"])
	require.Equal(t, req.Session.String(), m["session_id"])
	require.Equal(t, hex.EncodeToString(req.PolicyHash[:]), m["policy_hash"])
	require.Equal(t, hex.EncodeToString(req.TermsHash[:]), m["terms_hash"])
	require.Equal(t, "2026-03-01T12:00:00Z", m["accepted_at"])
	require.Equal(t, base64.StdEncoding.EncodeToString(req.Consent.Signature), m["signature"])
	var c ConsentReceipt
	require.NoError(t, json.Unmarshal(b, &c))
	require.Equal(t, req.Consent, c)
	require.NoError(t, c.Verify())

	b, err = json.Marshal(hr)
	require.NoError(t, err)
	m = nil
	require.NoError(t, json.Unmarshal(b, &m))
	require.Equal(t, "2026-03-01T12:00:00.001Z", m["accepted_at"])
	require.Equal(t, map[string]any{"max_duration_s": 7200.0, "idle_timeout_s": 900.0, "bandwidth_bps": 8e6}, m["limits"])
	require.Contains(t, m, "consent_hash")
	var back HostReceipt
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, *hr, back)
	require.NoError(t, back.Verify())

	// Zero values survive too.
	b, err = json.Marshal(ConsentReceipt{})
	require.NoError(t, err)
	c = ConsentReceipt{User: "x"}
	require.NoError(t, json.Unmarshal(b, &c))
	require.True(t, c.IsZero())

	for name, in := range map[string]string{
		"bad hash":      `{"policy_hash":"zz"}`,
		"short hash":    `{"policy_hash":"00"}`,
		"bad peer":      `{"user_id":"nope"}`,
		"bad time":      `{"accepted_at":"yesterday"}`,
		"bad signature": `{"signature":"%%%"}`,
		"bad session":   `{"session_id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}`,
	} {
		require.Error(t, json.Unmarshal([]byte(in), &c), name)
	}
	_, err = json.Marshal(Limits{MaxDuration: time.Millisecond})
	require.ErrorIs(t, err, ErrMalformed)
}
