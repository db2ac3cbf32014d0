package capacity

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidatorAccepts(t *testing.T) {
	priv, id := testKey(t, "a")
	data := mustSeal(t, fullRecord(t, id), priv)
	require.NoError(t, testValidator.Validate(Key(id), data))
	require.NoError(t, testValidator.ValidateUpdate(Key(id), nil, data))

	// A zero Validator uses the real clock.
	r := fullRecord(t, id)
	r.IssuedAt = time.Now()
	r.Expires = r.IssuedAt.Add(DefaultLifetime)
	require.NoError(t, Validator{}.Validate(Key(id), mustSeal(t, r, priv)))
}

func TestValidatorRejects(t *testing.T) {
	privA, idA := testKey(t, "a")
	_, idB := testKey(t, "b")
	keyA := Key(idA)

	withExpiry := func(expires time.Time) []byte {
		r := fullRecord(t, idA)
		r.IssuedAt = expires.Add(-time.Hour)
		r.Expires = expires
		return mustSeal(t, r, privA)
	}
	good := mustSeal(t, fullRecord(t, idA), privA)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 0x80
	badSchema := fullRecord(t, idA)
	badSchema.SlotsFree = badSchema.SlotsTotal + 1

	tests := []struct {
		name  string
		key   string
		value []byte
		want  error // nil: accepted
	}{
		{"valid", keyA, good, nil},
		{"bad signature", keyA, flipped, ErrBadSignature},
		{"record names another peer", keyA, sealUnchecked(t, fullRecord(t, idB), privA), ErrPeerMismatch},
		{"key names another peer", Key(idB), good, ErrKeyMismatch},
		{"key outside namespace", "/pk/" + idA.String(), good, ErrKeyMismatch},
		{"key non-canonical peer encoding", "/lucid-cap/" + idA.String() + "x", good, ErrKeyMismatch},
		{"expired long ago", keyA, withExpiry(testNow.Add(-time.Hour)), ErrExpired},
		{"expires exactly now", keyA, withExpiry(testNow), ErrExpired},
		{"expires one second from now", keyA, withExpiry(testNow.Add(time.Second)), nil},
		{"expires exactly at now+MaxLifetime", keyA, withExpiry(testNow.Add(MaxLifetime)), nil},
		{"expires past now+MaxLifetime", keyA, withExpiry(testNow.Add(MaxLifetime + time.Second)), ErrTooFarInFuture},
		{"oversize", keyA, sealUnchecked(t, oversizeRecord(t, idA), privA), ErrOversize},
		{"malformed random", keyA, []byte{0xde, 0xad, 0xbe, 0xef}, ErrMalformed},
		{"malformed truncated", keyA, good[:len(good)/2], ErrMalformed},
		{"malformed empty", keyA, nil, ErrMalformed},
		{"schema", keyA, sealUnchecked(t, badSchema, privA), ErrSchema},
		{"unsupported version", keyA, sealRaw(t, buildMap([]kv{{1, mustCBOR(t, 7)}}), privA), ErrUnsupportedVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := testValidator.Validate(tc.key, tc.value)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
			assert.Equal(t, tc.want, sentinelOf(t, err), "exactly one sentinel: %v", err)
			// ValidateUpdate is Validate plus a rule, so it rejects too.
			assert.ErrorIs(t, testValidator.ValidateUpdate(tc.key, nil, tc.value), tc.want)
		})
	}
}

func TestValidateUpdate(t *testing.T) {
	privA, idA := testKey(t, "a")
	privB, idB := testKey(t, "b")
	keyA := Key(idA)
	withSeq := func(seq uint64, mut ...func(*Record)) []byte {
		r := fullRecord(t, idA)
		r.Seq = seq
		for _, m := range mut {
			m(r)
		}
		return mustSeal(t, r, privA)
	}
	v10 := withSeq(10)
	expired10 := withSeq(10, func(r *Record) {
		r.IssuedAt = testNow.Add(-2 * time.Hour)
		r.Expires = testNow.Add(-time.Hour)
	})
	other10 := withSeq(10, func(r *Record) { r.SlotsFree = 0 })
	require.NotEqual(t, v10, other10)

	tests := []struct {
		name     string
		stored   []byte
		incoming []byte
		want     error
	}{
		{"nothing stored", nil, v10, nil},
		{"higher seq", withSeq(9), v10, nil},
		{"lower seq", withSeq(11), v10, ErrStaleSequence},
		{"equal seq, identical bytes", v10, v10, ErrStaleSequence},
		{"equal seq, different bytes", other10, v10, ErrStaleSequence},
		{"stored expired still sets the floor", expired10, withSeq(9), ErrStaleSequence},
		{"stored expired, higher seq", expired10, withSeq(11), nil},
		{"stored corrupt is ignored", []byte("garbage"), v10, nil},
		{"stored for another peer is ignored", mustSeal(t, func() *Record { r := fullRecord(t, idB); r.Seq = 99; return r }(), privB), v10, nil},
		{"incoming invalid", withSeq(9), expired10, ErrExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := testValidator.ValidateUpdate(keyA, tc.stored, tc.incoming)
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestSelect(t *testing.T) {
	privA, idA := testKey(t, "a")
	privB, idB := testKey(t, "b")
	keyA := Key(idA)
	rec := func(seq uint64, mut ...func(*Record)) []byte {
		r := fullRecord(t, idA)
		r.Seq = seq
		for _, m := range mut {
			m(r)
		}
		return mustSeal(t, r, privA)
	}
	seq1, seq2, seq3 := rec(1), rec(2), rec(3)
	// Two different records with the same seq; which one is smaller is a
	// property of the bytes, so compute it rather than guess.
	tieX := rec(5, func(r *Record) { r.SlotsFree = 0 })
	tieY := rec(5, func(r *Record) { r.SlotsFree = 1 })
	tieLow, tieHigh := tieX, tieY
	if bytes.Compare(tieX, tieY) > 0 {
		tieLow, tieHigh = tieY, tieX
	}
	flipped := bytes.Clone(rec(9))
	flipped[len(flipped)-1] ^= 0x01
	expired9 := rec(9, func(r *Record) {
		r.IssuedAt = testNow.Add(-2 * time.Hour)
		r.Expires = testNow.Add(-time.Minute)
	})
	farFuture9 := rec(9, func(r *Record) {
		r.IssuedAt = testNow.Add(time.Hour)
		r.Expires = testNow.Add(3 * time.Hour)
	})
	otherPeer9 := func() []byte { r := fullRecord(t, idB); r.Seq = 9; return mustSeal(t, r, privB) }()
	garbage := []byte("garbage")

	// distinct cases: the winner must not depend on order, so every
	// permutation is tried and the winning bytes compared.
	distinct := []struct {
		name   string
		values [][]byte
		want   []byte
	}{
		{"single", [][]byte{seq1}, seq1},
		{"higher seq wins", [][]byte{seq1, seq2}, seq2},
		{"highest of three", [][]byte{seq2, seq3, seq1}, seq3},
		{"equal seq: smaller bytes win", [][]byte{tieLow, tieHigh}, tieLow},
		{"seq beats bytes", [][]byte{tieLow, tieHigh, seq3, rec(6)}, rec(6)},
		{"bad signature never wins", [][]byte{seq1, flipped}, seq1},
		{"expired never wins", [][]byte{seq1, expired9}, seq1},
		{"too far in future never wins", [][]byte{seq1, farFuture9}, seq1},
		{"other peer's record never wins", [][]byte{seq1, otherPeer9}, seq1},
		{"garbage never wins", [][]byte{garbage, seq1, nil}, seq1},
		{"mixed", [][]byte{tieHigh, expired9, seq2, flipped, tieLow, otherPeer9}, tieLow},
	}
	for _, tc := range distinct {
		t.Run(tc.name, func(t *testing.T) {
			for _, perm := range permutations(tc.values) {
				i, err := testValidator.Select(keyA, perm)
				require.NoError(t, err)
				require.Equal(t, tc.want, perm[i])
			}
		})
	}

	// Identical values: the last index wins, which is what makes kad-dht's
	// PUT handler (Select(key, [incoming, stored]) must return 0) refuse a
	// replay of the stored record.
	identical := []struct {
		name   string
		values [][]byte
		want   int
	}{
		{"replay of stored", [][]byte{seq2, seq2}, 1},
		{"three copies", [][]byte{seq2, seq2, seq2}, 2},
		{"copies after a loser", [][]byte{seq1, seq2, seq2}, 2},
		{"copies before a loser", [][]byte{seq2, seq2, seq1}, 1},
		{"copies around the winner's tie", [][]byte{tieLow, tieHigh, tieLow}, 2},
		{"invalid copies never win", [][]byte{seq1, expired9, expired9}, 0},
		{"PUT newer over stored", [][]byte{seq3, seq2}, 0},
		{"PUT older over stored", [][]byte{seq1, seq2}, 1},
		{"GetValue keeps best on equal", [][]byte{seq2, seq2}, 1},
	}
	for _, tc := range identical {
		t.Run(tc.name, func(t *testing.T) {
			i, err := testValidator.Select(keyA, tc.values)
			require.NoError(t, err)
			assert.Equal(t, tc.want, i)
		})
	}

	t.Run("none valid", func(t *testing.T) {
		_, err := testValidator.Select(keyA, [][]byte{expired9, garbage})
		assert.ErrorIs(t, err, ErrNoValidRecord)
		assert.ErrorIs(t, err, ErrExpired, "the first value's reason is kept")

		_, err = testValidator.Select(keyA, nil)
		assert.ErrorIs(t, err, ErrNoValidRecord)

		_, err = testValidator.Select("/pk/x", [][]byte{seq1})
		assert.ErrorIs(t, err, ErrNoValidRecord)
		assert.ErrorIs(t, err, ErrKeyMismatch)
	})

	t.Run("clock moves expiry", func(t *testing.T) {
		later := Validator{Now: fixedClock(t0.Add(DefaultLifetime))}
		_, err := later.Select(keyA, [][]byte{seq1, seq2})
		assert.ErrorIs(t, err, ErrExpired)
	})
}

func permutations(in [][]byte) [][][]byte {
	if len(in) <= 1 {
		return [][][]byte{append([][]byte(nil), in...)}
	}
	var out [][][]byte
	for i := range in {
		rest := make([][]byte, 0, len(in)-1)
		rest = append(rest, in[:i]...)
		rest = append(rest, in[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([][]byte{in[i]}, p...))
		}
	}
	return out
}
