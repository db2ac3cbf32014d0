package vm

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Key prefixes of the state (see "State layout" in the package doc).
const (
	prefixMeta     byte = 0x00
	prefixSession  byte = 0x01
	prefixChunk    byte = 0x02
	prefixParam    byte = 0x03
	prefixProposal byte = 0x04
	prefixVote     byte = 0x05
	prefixCredits  byte = 0x06
	prefixTally    byte = 0x07
	prefixNonce    byte = 0x08
	prefixCloseAt  byte = 0x09
	prefixApplyAt  byte = 0x0a
	prefixSlash    byte = 0x0b
	prefixClaim    byte = 0x0c
	prefixPool     byte = 0x0d
)

var (
	keyHeight       = string([]byte{prefixMeta, 0x01})
	keySlot         = string([]byte{prefixMeta, 0x02})
	keyNextProposal = string([]byte{prefixMeta, 0x03})
)

func key(prefix byte, parts ...[]byte) string {
	b := []byte{prefix}
	for _, p := range parts {
		b = append(b, p...)
	}
	return string(b)
}

func sessionKey(id SessionID) string { return key(prefixSession, id[:]) }
func chunkKey(id SessionID, i uint64) string {
	return key(prefixChunk, id[:], be32(uint32(i)))
}
func paramKey(name string) string         { return key(prefixParam, []byte(name)) }
func proposalKey(id uint64) string        { return key(prefixProposal, be64(id)) }
func voteKey(id uint64, v peer.ID) string { return key(prefixVote, be64(id), []byte(v)) }
func creditsKey(epoch uint64, e []byte) string {
	return key(prefixCredits, be64(epoch), e)
}
func tallyKey(epoch uint64) string           { return key(prefixTally, be64(epoch)) }
func nonceKey(p peer.ID) string              { return key(prefixNonce, []byte(p)) }
func closeAtKey(h uint64) string             { return key(prefixCloseAt, be64(h)) }
func applyAtKey(h uint64) string             { return key(prefixApplyAt, be64(h)) }
func slashKey(epoch uint64, e []byte) string { return key(prefixSlash, be64(epoch), e) }
func nodeEntity(p peer.ID) []byte            { return append([]byte{0x01}, p...) }
func getU64(b []byte) uint64                 { return binary.BigEndian.Uint64(b) }

// claimKey is 0x0c ‖ node peer ID ‖ session: one node's claims are
// contiguous and in session order. Peer IDs are multihashes, which are
// self-delimiting, so no node's key range holds another node's claims.
func claimKey(node peer.ID, id SessionID) string {
	return key(prefixClaim, []byte(node), id[:])
}

// poolKey is 0x0d ‖ node peer ID: one pool record per node, in peer-ID
// order.
func poolKey(node peer.ID) string { return key(prefixPool, []byte(node)) }

// State is an immutable snapshot of the chain state: a set of key → value
// entries and the root committing to them. ApplyBlock returns a new State
// and never modifies its input; a State is safe for concurrent reads.
type State struct {
	kv   map[string][]byte
	root [32]byte
}

func newState(kv map[string][]byte) *State {
	s := &State{kv: kv}
	s.root = merkleRoot(s.leaves(s.sortedKeys()))
	return s
}

// Genesis returns the state at height 0: every registry parameter at its
// default, or at the value in overrides (which must name registry
// parameters, be within their bounds and satisfy the cross-parameter
// constraints), and nothing else.
func Genesis(overrides map[string]uint64) (*State, error) {
	return genesis(overrides, true)
}

// DevGenesis is Genesis for development and test networks: overrides must
// still name registry parameters and satisfy the cross-parameter
// constraints, but may lie outside the governance bounds (one-second
// slots, a window of a few slots). The bounds still apply to every later
// change by governance.
func DevGenesis(overrides map[string]uint64) (*State, error) {
	return genesis(overrides, false)
}

func genesis(overrides map[string]uint64, bounded bool) (*State, error) {
	kv := map[string][]byte{
		keyHeight:       be64(0),
		keySlot:         be64(0),
		keyNextProposal: be64(1),
	}
	for _, p := range paramList {
		kv[paramKey(p.Name)] = be64(p.Default)
	}
	names := slices.Sorted(maps.Keys(overrides))
	for _, n := range names {
		if _, known := paramIndex[n]; !known {
			return nil, errf(ErrUnknownParam, "%q", n)
		}
		if bounded {
			if err := checkParam(n, overrides[n]); err != nil {
				return nil, err
			}
		}
		kv[paramKey(n)] = be64(overrides[n])
	}
	if err := checkCross(func(n string) uint64 { return getU64(kv[paramKey(n)]) }); err != nil {
		return nil, err
	}
	return newState(kv), nil
}

func (s *State) sortedKeys() []string {
	ks := slices.Collect(maps.Keys(s.kv))
	sort.Strings(ks)
	return ks
}

func (s *State) leaves(keys []string) [][32]byte {
	ls := make([][32]byte, len(keys))
	for i, k := range keys {
		ls[i] = leafHash([]byte(k), s.kv[k])
	}
	return ls
}

// Root is the Merkle commitment to the state (see "State root").
func (s *State) Root() [32]byte { return s.root }

// Height is the height of the last applied block (0 at genesis).
func (s *State) Height() uint64 { return getU64(s.kv[keyHeight]) }

// Slot is the slot of the last applied block (0 at genesis).
func (s *State) Slot() uint64 { return getU64(s.kv[keySlot]) }

// Len is the number of state entries.
func (s *State) Len() int { return len(s.kv) }

// Equal reports whether two states hold the same entries.
func (s *State) Equal(o *State) bool {
	return maps.EqualFunc(s.kv, o.kv, bytes.Equal)
}

// Entry is one key → value pair of the state.
type Entry struct{ Key, Value []byte }

// Entries returns the state's entries sorted by key (for export and
// debugging; the root is computed over exactly this list).
func (s *State) Entries() []Entry {
	ks := s.sortedKeys()
	out := make([]Entry, len(ks))
	for i, k := range ks {
		out[i] = Entry{Key: []byte(k), Value: bytes.Clone(s.kv[k])}
	}
	return out
}

// Param returns the value in effect of a registry parameter.
func (s *State) Param(name string) (uint64, bool) {
	v, ok := s.kv[paramKey(name)]
	if !ok {
		return 0, false
	}
	return getU64(v), true
}

// Nonce returns the next nonce sender must use.
func (s *State) Nonce(sender peer.ID) uint64 {
	if v, ok := s.kv[nonceKey(sender)]; ok {
		return getU64(v)
	}
	return 0
}

// Session returns a registered session's record.
func (s *State) Session(id SessionID) (SessionRecord, bool) {
	v, ok := s.kv[sessionKey(id)]
	if !ok {
		return SessionRecord{}, false
	}
	return mustDecodeSession(v), true
}

// Chunk returns the leaf anchored for (session, index).
func (s *State) Chunk(id SessionID, index uint64) ([32]byte, bool) {
	v, ok := s.kv[chunkKey(id, index)]
	var leaf [32]byte
	copy(leaf[:], v)
	return leaf, ok
}

// Credits returns the micro-credits recorded for entity in epoch.
func (s *State) Credits(epoch uint64, entity []byte) uint64 {
	if v, ok := s.kv[creditsKey(epoch, entity)]; ok {
		return getU64(v)
	}
	return 0
}

// Tally returns the tally committed for epoch.
func (s *State) Tally(epoch uint64) (TallyRecord, bool) {
	v, ok := s.kv[tallyKey(epoch)]
	if !ok {
		return TallyRecord{}, false
	}
	return mustDecodeTally(v), true
}

// Slashed reports whether entity was slashed for equivocation in epoch.
func (s *State) Slashed(epoch uint64, entity []byte) bool {
	_, ok := s.kv[slashKey(epoch, entity)]
	return ok
}

// keysWithPrefix returns the keys that start with prefix, sorted: one pass
// over the entries (O(n)) and a sort of the matches.
func (s *State) keysWithPrefix(prefix string) []string {
	var ks []string
	for k := range s.kv {
		if strings.HasPrefix(k, prefix) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// StorageClaim returns node's storage claim on a session, with the root
// of the session's registration.
func (s *State) StorageClaim(node peer.ID, id SessionID) (StorageClaimRecord, bool) {
	v, ok := s.kv[claimKey(node, id)]
	if !ok {
		return StorageClaimRecord{}, false
	}
	return s.claimRecord(id, v), true
}

// StorageClaims returns node's storage claims in session-ID order, each
// with the root of the session's registration (what
// consensus.StorageClaim holds).
func (s *State) StorageClaims(node peer.ID) []StorageClaimRecord {
	prefix := key(prefixClaim, []byte(node))
	var out []StorageClaimRecord
	for _, k := range s.keysWithPrefix(prefix) {
		if len(k) != len(prefix)+len(SessionID{}) {
			continue // cannot happen with valid peer IDs; see claimKey
		}
		var id SessionID
		copy(id[:], k[len(prefix):])
		out = append(out, s.claimRecord(id, s.kv[k]))
	}
	return out
}

func (s *State) claimRecord(id SessionID, v []byte) StorageClaimRecord {
	sess, ok := s.kv[sessionKey(id)]
	if !ok {
		panic("vm: storage claim on an unregistered session")
	}
	return StorageClaimRecord{Session: id, Root: mustDecodeSession(sess).Root, ChunkSizes: mustDecodeClaim(v)}
}

// PoolOf returns the pool node is in (a copy), and false when it is in
// no pool (it never joined one, or left).
func (s *State) PoolOf(node peer.ID) ([]byte, bool) {
	v, ok := s.kv[poolKey(node)]
	if !ok {
		return nil, false
	}
	r := mustDecodePool(v)
	if len(r.Pool) == 0 {
		return nil, false
	}
	return r.Pool, true
}

// PoolMembers returns the nodes in pool, sorted by peer ID bytes (nil for
// an empty pool ID or a pool with no members). It scans the state (O(n)).
func (s *State) PoolMembers(pool []byte) []peer.ID {
	if len(pool) == 0 {
		return nil
	}
	prefix := string([]byte{prefixPool})
	var out []peer.ID
	for _, k := range s.keysWithPrefix(prefix) {
		if bytes.Equal(mustDecodePool(s.kv[k]).Pool, pool) {
			out = append(out, peer.ID(k[len(prefix):]))
		}
	}
	return out
}

// Proposal returns a governance proposal.
func (s *State) Proposal(id uint64) (Proposal, bool) {
	v, ok := s.kv[proposalKey(id)]
	if !ok {
		return Proposal{}, false
	}
	return mustDecodeProposal(v), true
}

// Voted returns voter's vote on a proposal, if any.
func (s *State) Voted(id uint64, voter peer.ID) (yes, ok bool) {
	v, ok := s.kv[voteKey(id, voter)]
	return ok && v[0] == 1, ok
}
