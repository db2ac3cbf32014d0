package capacity

import (
	"bytes"
	"fmt"
	"time"

	dhtrecord "github.com/libp2p/go-libp2p-record"
)

// Validator is the DHT validator for the lucid-cap namespace.
type Validator struct {
	// Now is the clock used for expiry checks; nil means time.Now.
	Now func() time.Time
}

var _ dhtrecord.Validator = Validator{}

func (v Validator) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

// Validate accepts value for key if it opens (see Open), names the peer in
// key, and expires in (now, now+MaxLifetime].
func (v Validator) Validate(key string, value []byte) error {
	_, err := v.validate(key, value, v.now())
	return err
}

func (v Validator) validate(key string, value []byte, now time.Time) (*Record, error) {
	id, err := PeerFromKey(key)
	if err != nil {
		return nil, err
	}
	r, err := Open(value)
	if err != nil {
		return nil, err
	}
	if r.Peer != id {
		return nil, fmt.Errorf("%w: key names %s, record names %s", ErrKeyMismatch, id, r.Peer)
	}
	if !r.Expires.After(now) {
		return nil, fmt.Errorf("%w: at %s", ErrExpired, r.Expires.Format(time.RFC3339))
	}
	if r.Expires.After(now.Add(MaxLifetime)) {
		return nil, fmt.Errorf("%w: expires %s, limit %s", ErrTooFarInFuture,
			r.Expires.Format(time.RFC3339), now.Add(MaxLifetime).UTC().Format(time.RFC3339))
	}
	return r, nil
}

// Select returns the index of the best value: invalid values (including
// expired ones) never win, the highest Seq wins, equal Seq is broken by the
// lexicographically smallest bytes, and among byte-identical values the last
// index wins. The last rule makes kad-dht's PUT handler, which calls
// Select(key, [incoming, stored]) and stores only on 0, refuse a replay of
// the stored value, while GetValue's Select(key, [best, candidate]) still
// keeps best for anything not strictly better.
func (v Validator) Select(key string, values [][]byte) (int, error) {
	now := v.now()
	best := -1
	var bestSeq uint64
	var firstErr error
	for i, val := range values {
		if best >= 0 && bytes.Equal(val, values[best]) {
			best = i // identical to a value already verified
			continue
		}
		r, err := v.validate(key, val, now)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("value %d: %w", i, err)
			}
			continue
		}
		if best < 0 || r.Seq > bestSeq || (r.Seq == bestSeq && bytes.Compare(val, values[best]) < 0) {
			best, bestSeq = i, r.Seq
		}
	}
	if best < 0 {
		if firstErr == nil {
			return 0, fmt.Errorf("%w: no values", ErrNoValidRecord)
		}
		return 0, fmt.Errorf("%w among %d values: %w", ErrNoValidRecord, len(values), firstErr)
	}
	return best, nil
}

// ValidateUpdate is Validate plus the rule that incoming must carry a Seq
// strictly greater than stored's. stored is judged without the clock: an
// expired record still fixes the peer's sequence floor, so an old record
// cannot come back after a newer one expired. An empty, undecodable or
// foreign stored value is treated as absent, like kad-dht treats a corrupt
// local record, so it cannot pin the key forever.
func (v Validator) ValidateUpdate(key string, stored, incoming []byte) error {
	in, err := v.validate(key, incoming, v.now())
	if err != nil {
		return err
	}
	if len(stored) == 0 {
		return nil
	}
	old, err := Open(stored)
	if err != nil || old.Peer != in.Peer {
		return nil
	}
	if in.Seq <= old.Seq {
		return fmt.Errorf("%w: incoming seq %d, stored seq %d", ErrStaleSequence, in.Seq, old.Seq)
	}
	return nil
}
