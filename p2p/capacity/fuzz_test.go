package capacity

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"
)

// openSentinels are the errors Open may return.
var openSentinels = []error{ErrMalformed, ErrBadSignature, ErrPeerMismatch, ErrOversize, ErrSchema, ErrUnsupportedVersion}

func requireSentinel(t *testing.T, err error, allowed []error) {
	t.Helper()
	n := 0
	for _, s := range allowed {
		if errors.Is(err, s) {
			n++
		}
	}
	require.Equal(t, 1, n, "error must wrap exactly one allowed sentinel: %v", err)
}

// unknownFields returns the payload entries that v1 does not define.
func unknownFields(t *testing.T, payload []byte) map[uint64]cbor.RawMessage {
	t.Helper()
	var m map[uint64]cbor.RawMessage
	require.NoError(t, decMode.Unmarshal(payload, &m))
	for k := range m {
		if k >= keyVersion && k <= maxKnownKey {
			delete(m, k)
		}
	}
	return m
}

func fuzzSeeds(tb testing.TB) (envelopes, payloads [][]byte) {
	priv, id := testKey(tb, "fuzz")
	privB, idB := testKey(tb, "fuzz-b")
	full, minimal := fullRecord(tb, id), minimalRecord(tb, id)
	for _, r := range []*Record{full, minimal} {
		envelopes = append(envelopes, mustSeal(tb, r, priv))
		p, err := encodePayload(r.wire(), nil)
		require.NoError(tb, err)
		payloads = append(payloads, p)
	}
	envelopes = append(envelopes, mustSeal(tb, fullRecord(tb, idB), privB))
	withUnknown := append(payloadEntries(tb, payloads[0]), kv{17, mustCBOR(tb, []byte("x"))}, kv{30, mustCBOR(tb, []int{1})})
	payloads = append(payloads,
		buildMap(withUnknown),
		buildMap([]kv{{1, mustCBOR(tb, 2)}}),
		[]byte{0xa0},
	)
	return envelopes, payloads
}

// FuzzOpen feeds arbitrary bytes to Open twice: as an envelope, and as a
// payload signed with a known key so that the CBOR decoder and schema are
// reachable despite the signature. Properties: no panics; every error wraps
// exactly one sentinel; an accepted payload is canonical, i.e. re-encoding
// the decoded Record (plus the unknown fields, carried verbatim) yields the
// same bytes, and without unknown fields re-sealing yields the same envelope.
func FuzzOpen(f *testing.F) {
	envelopes, payloads := fuzzSeeds(f)
	for _, s := range append(envelopes, payloads...) {
		f.Add(s)
	}
	f.Add(envelopes[0][:len(envelopes[0])/2])
	f.Add([]byte{})
	priv, id := testKey(f, "fuzz")

	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := Open(data); err != nil {
			requireSentinel(t, err, openSentinels)
		} else {
			checkOpened(t, r)
		}

		if len(data) > MaxRecordSize {
			return
		}
		sealed, err := sealPayload(data, priv)
		require.NoError(t, err)
		r, payload, err := open(sealed)
		if err != nil {
			requireSentinel(t, err, openSentinels)
			return
		}
		require.Equal(t, data, payload)
		require.Equal(t, id, r.Peer)
		checkOpened(t, r)

		unknown := unknownFields(t, payload)
		again, err := encodePayload(r.wire(), unknown)
		require.NoError(t, err)
		require.Equal(t, payload, again, "decoding must be canonical")
		if len(unknown) == 0 {
			resealed, err := r.Seal(priv)
			require.NoError(t, err)
			require.Equal(t, sealed, resealed)
		}
	})
}

// checkOpened asserts what must hold for every record Open accepts.
func checkOpened(t *testing.T, r *Record) {
	t.Helper()
	require.NoError(t, r.Validate())
	js, err := json.Marshal(r)
	require.NoError(t, err)
	var back Record
	require.NoError(t, json.Unmarshal(js, &back))
	require.Equal(t, r, &back, "JSON round trip")
}

// FuzzValidator drives Validate, Select and ValidateUpdate with arbitrary
// keys, values and clocks. sealA/sealB sign a or b as payloads with key "fuzz"
// so that valid records, and near misses, are common. Properties: no panics;
// Validate accepting implies Open accepting and the key naming the peer;
// Select picks a valid value and the same bytes in either order (the last
// index for identical values); ValidateUpdate agrees with the Seq rule.
func FuzzValidator(f *testing.F) {
	envelopes, payloads := fuzzSeeds(f)
	_, id := testKey(f, "fuzz")
	_, idB := testKey(f, "fuzz-b")
	off := int64(testNow.Sub(t0) / time.Second)
	key := Key(id)
	f.Add(key, envelopes[0], envelopes[1], false, false, off)
	f.Add(key, envelopes[0], envelopes[0], false, false, off)
	f.Add(key, payloads[0], payloads[1], true, true, off)
	f.Add(key, payloads[0], payloads[2], true, true, off)
	f.Add(key, payloads[2], payloads[0], true, true, int64(-3600))
	f.Add(Key(idB), envelopes[2], payloads[0], false, true, off)
	f.Add(key, envelopes[2], []byte("junk"), false, false, off)
	f.Add("/pk/"+id.String(), envelopes[0], envelopes[1], false, false, int64(7200))
	f.Add("", []byte{}, []byte{}, true, false, int64(0))
	priv, _ := testKey(f, "fuzz")

	f.Fuzz(func(t *testing.T, key string, a, b []byte, sealA, sealB bool, nowOffset int64) {
		now := t0.Add(time.Duration(nowOffset) * time.Second)
		v := Validator{Now: fixedClock(now)}
		seal := func(p []byte, doSeal bool) []byte {
			if !doSeal || len(p) > MaxRecordSize {
				return p
			}
			s, err := sealPayload(p, priv)
			require.NoError(t, err)
			return s
		}
		a, b = seal(a, sealA), seal(b, sealB)

		errA, errB := v.Validate(key, a), v.Validate(key, b)
		validA, validB := errA == nil, errB == nil
		for k, val := range [][]byte{a, b} {
			if err := []error{errA, errB}[k]; err != nil {
				requireSentinel(t, err, append([]error{ErrKeyMismatch, ErrExpired, ErrTooFarInFuture}, openSentinels...))
				continue
			}
			r, err := Open(val)
			require.NoError(t, err, "Validate accepted what Open rejects")
			require.Equal(t, key, Key(r.Peer))
			require.True(t, r.Expires.After(now))
			require.False(t, r.Expires.After(now.Add(MaxLifetime)))
		}

		i, errAB := v.Select(key, [][]byte{a, b})
		j, errBA := v.Select(key, [][]byte{b, a})
		if !validA && !validB {
			require.ErrorIs(t, errAB, ErrNoValidRecord)
			require.ErrorIs(t, errBA, ErrNoValidRecord)
		} else {
			require.NoError(t, errAB)
			require.NoError(t, errBA)
			ab, ba := [][]byte{a, b}, [][]byte{b, a}
			require.NoError(t, v.Validate(key, ab[i]), "Select picked an invalid value")
			require.Equal(t, ab[i], ba[j], "Select depends on order")
			if bytes.Equal(a, b) {
				require.Equal(t, 1, i)
				require.Equal(t, 1, j)
			}
			if validA && validB {
				ra, _ := Open(a)
				rb, _ := Open(b)
				winner, _ := Open(ab[i])
				require.Equal(t, max(ra.Seq, rb.Seq), winner.Seq)
			}
		}

		// stored = a, incoming = b.
		errU := v.ValidateUpdate(key, a, b)
		if !validB {
			require.Error(t, errU)
			return
		}
		ra, errOpenA := Open(a)
		rb, _ := Open(b)
		if errOpenA != nil || ra.Peer != rb.Peer {
			require.NoError(t, errU, "an unusable stored value must not block the update")
			return
		}
		if rb.Seq > ra.Seq {
			require.NoError(t, errU)
			if validA {
				// kad-dht's PUT handler stores b only if Select([b, a]) == 0.
				require.Equal(t, 0, j)
			}
		} else {
			require.ErrorIs(t, errU, ErrStaleSequence)
		}
	})
}
