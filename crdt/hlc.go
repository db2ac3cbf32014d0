package crdt

import (
	"cmp"
	"math"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/sessions"
)

// ReplicaID identifies a replica (a node): the raw bytes of its libp2p
// peer ID, as in string(peer.ID). Hosts, relays and authors of deltas are
// replicas. Only the two peer-ID forms sessions.PeerFromBytes accepts are
// valid.
type ReplicaID string

// Valid reports whether r holds a peer ID that sessions.PeerFromBytes
// accepts.
func (r ReplicaID) Valid() bool {
	_, err := sessions.PeerFromBytes([]byte(r))
	return err == nil
}

// PeerID returns r as a libp2p peer ID.
func (r ReplicaID) PeerID() peer.ID { return peer.ID(r) }

// String returns the peer ID's usual base58 text form.
func (r ReplicaID) String() string { return peer.ID(r).String() }

// maxUnixMillis is 9999-12-31T23:59:59.999Z, the latest time any field of
// this package holds (as in package sessions).
const maxUnixMillis = 253402300799999

// Timestamp is a hybrid logical clock reading: wall-clock milliseconds,
// a logical counter that orders events within the same millisecond (or
// while the wall clock stands still or runs backwards), and the replica
// that issued it. Timestamps are totally ordered by Compare; two replicas
// never issue the same timestamp, so the order between two writes never
// depends on who looks at them. The zero Timestamp means "never written"
// and sorts before every issued one.
type Timestamp struct {
	Wall    int64  // Unix milliseconds, 1..maxUnixMillis when issued
	Logical uint32 // orders events within one Wall value
	Replica ReplicaID
}

// Compare orders timestamps by Wall, then Logical, then the replica's
// bytes. It returns -1, 0 or +1.
func (t Timestamp) Compare(u Timestamp) int {
	if c := t.hlc().compare(u.hlc()); c != 0 {
		return c
	}
	return strings.Compare(string(t.Replica), string(u.Replica))
}

// IsZero reports whether t is the zero Timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// Time returns the wall-clock part as a UTC time.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.Wall).UTC() }

func (t Timestamp) hlc() hlc { return hlc{t.Wall, t.Logical} }

// hlc is a timestamp without its replica: the dot counter of a set element,
// whose replica is implied by where it is stored.
type hlc struct {
	wall    int64
	logical uint32
}

func (a hlc) compare(b hlc) int {
	if c := cmp.Compare(a.wall, b.wall); c != 0 {
		return c
	}
	return cmp.Compare(a.logical, b.logical)
}

func (a hlc) isZero() bool { return a == hlc{} }

func maxHLC(a, b hlc) hlc {
	if a.compare(b) >= 0 {
		return a
	}
	return b
}

// DefaultMaxSkew is the default bound on how far ahead of the local clock
// a remote timestamp may be (Params.MaxSkew, Clock).
const DefaultMaxSkew = 5 * time.Minute

// Clock is a hybrid logical clock (Kulkarni et al., 2014) for one replica.
// It is pure: the physical time is an argument. Readings never go
// backwards, even when the physical clock does, and stay close to it: the
// wall part only runs ahead of physical time after Observe of a (bounded)
// future remote reading, or after more than 2^32 readings within one
// millisecond, when the wall part advances by one millisecond instead of
// the logical counter overflowing.
//
// A replica that restarts should Restore its last reading (persisted by
// the shell) so that a wall clock that stepped back across the restart
// cannot make it reissue timestamps. A Clock is not safe for concurrent
// use.
type Clock struct {
	replica ReplicaID
	maxSkew time.Duration
	last    hlc
}

// NewClock returns a clock for replica. Observe refuses remote readings
// more than maxSkew ahead of the physical time (0 means DefaultMaxSkew).
func NewClock(replica ReplicaID, maxSkew time.Duration) *Clock {
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
	}
	return &Clock{replica: replica, maxSkew: maxSkew}
}

// Replica returns the replica the clock stamps for.
func (c *Clock) Replica() ReplicaID { return c.replica }

// physicalMillis maps t to Unix milliseconds clamped to 1..maxUnixMillis.
func physicalMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	return min(max(ms, 1), maxUnixMillis)
}

// Now returns a new reading, strictly greater than every previous one of
// this clock and at least physical.
func (c *Clock) Now(physical time.Time) Timestamp {
	pt := physicalMillis(physical)
	switch {
	case pt > c.last.wall:
		c.last = hlc{wall: pt}
	case c.last.logical < math.MaxUint32:
		c.last.logical++
	default:
		c.last = hlc{wall: c.last.wall + 1}
	}
	return Timestamp{Wall: c.last.wall, Logical: c.last.logical, Replica: c.replica}
}

// Observe folds a remote reading into the clock, so that the next Now is
// greater than it. A reading more than the clock's maximum skew ahead of
// physical is refused with ErrFromFuture and changes nothing: otherwise
// one peer with a wrong clock (or a malicious one) could drag every clock
// it reaches into the future.
func (c *Clock) Observe(remote Timestamp, physical time.Time) error {
	if remote.Wall > physicalMillis(physical)+c.maxSkew.Milliseconds() {
		return errf(ErrFromFuture, "remote timestamp %s is more than %s ahead of %s",
			remote.Time().Format(time.RFC3339Nano), c.maxSkew, physical.UTC().Format(time.RFC3339Nano))
	}
	c.last = maxHLC(c.last, remote.hlc())
	return nil
}

// Last returns the latest reading (zero before the first), for the shell
// to persist.
func (c *Clock) Last() Timestamp {
	if c.last.isZero() {
		return Timestamp{}
	}
	return Timestamp{Wall: c.last.wall, Logical: c.last.logical, Replica: c.replica}
}

// Restore raises the clock to a persisted reading of Last, so that it
// never reissues a timestamp it handed out before a restart.
func (c *Clock) Restore(last Timestamp) { c.last = maxHLC(c.last, last.hlc()) }
