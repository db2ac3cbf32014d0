package consensus

import (
	"encoding/hex"

	"github.com/libp2p/go-libp2p/core/peer"
)

// EntityID names what the tally ranks: a pool, when the proof names one,
// else the node. Its bytes are a kind byte followed by the ID: 0x01 ‖ peer
// ID bytes for a node, 0x02 ‖ pool ID for a pool, so a pool can never
// collide with a node. Entities sort by these bytes. The empty EntityID
// means "nobody" (a slot without an eligible leader).
type EntityID string

const (
	entityNode byte = 0x01
	entityPool byte = 0x02
)

// NodeEntity is the entity of a node publishing without a pool.
func NodeEntity(id peer.ID) EntityID { return EntityID(append([]byte{entityNode}, id...)) }

// PoolEntity is the entity of a pool (1..64 bytes).
func PoolEntity(pool []byte) EntityID { return EntityID(append([]byte{entityPool}, pool...)) }

// IsPool reports whether e names a pool.
func (e EntityID) IsPool() bool { return len(e) > 0 && e[0] == entityPool }

// Node returns the peer ID of a node entity.
func (e EntityID) Node() (peer.ID, bool) {
	if len(e) == 0 || e[0] != entityNode {
		return "", false
	}
	return peer.ID(e[1:]), true
}

// String renders "node:<peer ID>", "pool:<hex>" or "none".
func (e EntityID) String() string {
	switch {
	case e == "":
		return "none"
	case e[0] == entityNode:
		return "node:" + peer.ID(e[1:]).String()
	case e[0] == entityPool:
		return "pool:" + hex.EncodeToString([]byte(e[1:]))
	}
	return "invalid:" + hex.EncodeToString([]byte(e))
}

// valid reports whether e is a well-formed node or pool entity.
func (e EntityID) valid() bool {
	if len(e) < 2 {
		return false
	}
	switch e[0] {
	case entityNode:
		_, err := peer.IDFromBytes([]byte(e[1:]))
		return err == nil
	case entityPool:
		return len(e)-1 <= maxPoolLen
	}
	return false
}

func entityFromWire(b []byte, what string) (EntityID, error) {
	e := EntityID(b)
	if !e.valid() {
		return "", malformed("%s: not a node or pool entity", what)
	}
	return e, nil
}
