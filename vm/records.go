package vm

import (
	"github.com/libp2p/go-libp2p/core/peer"
)

// SessionRecord is what RegisterSession stores under the session's key.
type SessionRecord struct {
	Manifest   [32]byte
	Root       [32]byte
	Chunks     uint64
	Owner      []byte
	Registrant peer.ID // the transaction's sender; may anchor chunks
	Height     uint64  // block height of the registration
}

type wireSession struct {
	Manifest   []byte `cbor:"1,keyasint,omitempty"`
	Root       []byte `cbor:"2,keyasint,omitempty"`
	Chunks     uint64 `cbor:"3,keyasint,omitempty"`
	Owner      []byte `cbor:"4,keyasint,omitempty"`
	Registrant []byte `cbor:"5,keyasint,omitempty"`
	Height     uint64 `cbor:"6,keyasint,omitempty"`
}

// Encode returns the canonical encoding, which is the state value.
func (r *SessionRecord) Encode() []byte {
	return mustMarshal(&wireSession{Manifest: r.Manifest[:], Root: r.Root[:], Chunks: r.Chunks,
		Owner: r.Owner, Registrant: []byte(r.Registrant), Height: r.Height})
}

func decodeSession(b []byte) (SessionRecord, error) {
	var w wireSession
	if err := decodeStrict(b, &w, 0, "session record"); err != nil {
		return SessionRecord{}, err
	}
	r := SessionRecord{Chunks: w.Chunks, Owner: w.Owner, Registrant: peer.ID(w.Registrant), Height: w.Height}
	var err error
	if r.Manifest, err = hash32(w.Manifest, "manifest"); err != nil {
		return SessionRecord{}, err
	}
	if r.Root, err = hash32(w.Root, "root"); err != nil {
		return SessionRecord{}, err
	}
	return r, nil
}

func mustDecodeSession(b []byte) SessionRecord {
	r, err := decodeSession(b)
	if err != nil {
		panic("vm: corrupt session record in state: " + err.Error())
	}
	return r
}

// StorageClaimRecord is a node's storage claim on a session: the session,
// the Merkle root of its registration, and the claimed sealed chunk sizes
// in index order (consensus.StorageClaim's fields).
type StorageClaimRecord struct {
	Session    SessionID
	Root       [32]byte
	ChunkSizes []uint64
}

// wireClaimRecord is the state value of a claim (the root is the
// session record's, so it is not repeated).
type wireClaimRecord struct {
	Sizes []uint64 `cbor:"1,keyasint,omitempty"`
}

func encodeClaim(sizes []uint64) []byte { return mustMarshal(&wireClaimRecord{Sizes: sizes}) }

func mustDecodeClaim(b []byte) []uint64 {
	var w wireClaimRecord
	if err := decodeStrict(b, &w, 0, "claim record"); err != nil {
		panic("vm: corrupt claim record in state: " + err.Error())
	}
	return w.Sizes
}

// poolRecord is a node's pool membership: its pool (empty after leaving)
// and the epoch of its last change. The record outlives a leave so that
// the once-per-epoch rule holds across leave and rejoin.
type poolRecord struct {
	Pool  []byte
	Epoch uint64
}

type wirePoolRecord struct {
	Pool  []byte `cbor:"1,keyasint,omitempty"`
	Epoch uint64 `cbor:"2,keyasint,omitempty"`
}

func (r *poolRecord) encode() []byte {
	return mustMarshal(&wirePoolRecord{Pool: r.Pool, Epoch: r.Epoch})
}

func mustDecodePool(b []byte) poolRecord {
	var w wirePoolRecord
	if err := decodeStrict(b, &w, 0, "pool record"); err != nil {
		panic("vm: corrupt pool record in state: " + err.Error())
	}
	return poolRecord(w)
}

// TallyRecord is what CommitTally stores for an epoch.
type TallyRecord struct {
	Root     [32]byte
	Proposer peer.ID
	Height   uint64
	Entries  uint64 // credit entries recorded (slashed entities excluded)
}

type wireTallyRecord struct {
	Root     []byte `cbor:"1,keyasint,omitempty"`
	Proposer []byte `cbor:"2,keyasint,omitempty"`
	Height   uint64 `cbor:"3,keyasint,omitempty"`
	Entries  uint64 `cbor:"4,keyasint,omitempty"`
}

func (t *TallyRecord) encode() []byte {
	return mustMarshal(&wireTallyRecord{Root: t.Root[:], Proposer: []byte(t.Proposer), Height: t.Height, Entries: t.Entries})
}

func mustDecodeTally(b []byte) TallyRecord {
	var w wireTallyRecord
	if err := decodeStrict(b, &w, 0, "tally record"); err != nil {
		panic("vm: corrupt tally record in state: " + err.Error())
	}
	t := TallyRecord{Proposer: peer.ID(w.Proposer), Height: w.Height, Entries: w.Entries}
	copy(t.Root[:], w.Root)
	return t
}

// ProposalStatus is where a proposal is in its life.
type ProposalStatus uint64

// Proposal statuses.
const (
	StatusOpen      ProposalStatus = 1 // accepting votes until Deadline
	StatusPassed    ProposalStatus = 2 // passed; takes effect at ApplyAt
	StatusApplied   ProposalStatus = 3 // in effect since ApplyAt
	StatusNoQuorum  ProposalStatus = 4 // closed with fewer votes than Quorum
	StatusRejected  ProposalStatus = 5 // closed without a strict yes majority
	StatusFailedApp ProposalStatus = 6 // passed, but at ApplyAt the value broke a cross-parameter constraint
)

var statusNames = [...]string{"", "open", "passed", "applied", "no_quorum", "rejected", "failed_apply"}

func (s ProposalStatus) String() string {
	if s > 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Proposal is a governance proposal to set one parameter.
type Proposal struct {
	ID         uint64
	Name       string
	Value      uint64
	Proposer   peer.ID
	Height     uint64 // height of the block that created it
	Deadline   uint64 // last height at which votes are accepted
	ApplyAt    uint64 // height whose block first runs under the new value
	Electorate uint64 // eligible nodes in the creating block
	Quorum     uint64 // votes (yes + no) needed
	Yes, No    uint64
	Status     ProposalStatus
}

type wireProposal struct {
	ID         uint64 `cbor:"1,keyasint,omitempty"`
	Name       string `cbor:"2,keyasint,omitempty"`
	Value      uint64 `cbor:"3,keyasint,omitempty"`
	Proposer   []byte `cbor:"4,keyasint,omitempty"`
	Height     uint64 `cbor:"5,keyasint,omitempty"`
	Deadline   uint64 `cbor:"6,keyasint,omitempty"`
	ApplyAt    uint64 `cbor:"7,keyasint,omitempty"`
	Electorate uint64 `cbor:"8,keyasint,omitempty"`
	Quorum     uint64 `cbor:"9,keyasint,omitempty"`
	Yes        uint64 `cbor:"10,keyasint,omitempty"`
	No         uint64 `cbor:"11,keyasint,omitempty"`
	Status     uint64 `cbor:"12,keyasint,omitempty"`
}

func (p *Proposal) encode() []byte {
	return mustMarshal(&wireProposal{ID: p.ID, Name: p.Name, Value: p.Value, Proposer: []byte(p.Proposer),
		Height: p.Height, Deadline: p.Deadline, ApplyAt: p.ApplyAt, Electorate: p.Electorate, Quorum: p.Quorum,
		Yes: p.Yes, No: p.No, Status: uint64(p.Status)})
}

func mustDecodeProposal(b []byte) Proposal {
	var w wireProposal
	if err := decodeStrict(b, &w, 0, "proposal"); err != nil {
		panic("vm: corrupt proposal in state: " + err.Error())
	}
	return Proposal{ID: w.ID, Name: w.Name, Value: w.Value, Proposer: peer.ID(w.Proposer), Height: w.Height,
		Deadline: w.Deadline, ApplyAt: w.ApplyAt, Electorate: w.Electorate, Quorum: w.Quorum, Yes: w.Yes, No: w.No,
		Status: ProposalStatus(w.Status)}
}

// Err reports the proposal's outcome: nil once applied, else the sentinel
// that says why it is not (yet) in effect: ErrVotingOpen, ErrTimelock,
// ErrBelowQuorum, ErrRejected or ErrParamOutOfBounds.
func (p Proposal) Err() error {
	switch p.Status {
	case StatusApplied:
		return nil
	case StatusOpen:
		return errf(ErrVotingOpen, "proposal %d: votes until height %d", p.ID, p.Deadline)
	case StatusPassed:
		return errf(ErrTimelock, "proposal %d: takes effect at height %d", p.ID, p.ApplyAt)
	case StatusNoQuorum:
		return errf(ErrBelowQuorum, "proposal %d: %d votes, quorum %d", p.ID, p.Yes+p.No, p.Quorum)
	case StatusRejected:
		return errf(ErrRejected, "proposal %d: %d yes, %d no", p.ID, p.Yes, p.No)
	default:
		return errf(ErrParamOutOfBounds, "proposal %d: %s = %d no longer fits the other parameters", p.ID, p.Name, p.Value)
	}
}

func encodeIDs(ids []uint64) []byte { return mustMarshal(ids) }

func mustDecodeIDs(b []byte) []uint64 {
	var ids []uint64
	if err := decodeStrict(b, &ids, 0, "id list"); err != nil {
		panic("vm: corrupt agenda in state: " + err.Error())
	}
	return ids
}
