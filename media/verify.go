package media

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/lucidnet/lucid/sessions"
)

// ProblemKind names one kind of verification failure. The values are
// stable snake_case codes for the CLI and scripts.
type ProblemKind string

// Per-chunk problems name the chunk's index (its position in the
// manifest).
const (
	ProblemMissing    ProblemKind = "missing"         // the chunk function returned fs.ErrNotExist
	ProblemUnreadable ProblemKind = "unreadable"      // it returned another error
	ProblemSize       ProblemKind = "size_mismatch"   // length differs from the manifest's sealed size
	ProblemLeaf       ProblemKind = "leaf_mismatch"   // leaf hash differs from the manifest's
	ProblemHeader     ProblemKind = "header_mismatch" // header unreadable, or names another session, index or plaintext size
	ProblemTampered   ProblemKind = "tampered"        // with the key: the tag fails
	// ProblemContent, with the key: the chunk decrypts, but its payload
	// or frames are malformed or disagree with the manifest (first or last
	// frame time).
	ProblemContent ProblemKind = "content_mismatch"
)

// Recording-wide problems.
const (
	ProblemManifest ProblemKind = "manifest_invalid" // the manifest breaks a rule of the format
	ProblemRoot     ProblemKind = "root_mismatch"    // the chunks' root differs from the manifest's
	ProblemReceipt  ProblemKind = "receipt_invalid"  // a receipt is absent, badly signed or about something else
	ProblemKey      ProblemKind = "bad_key"          // VerifyWithKey got a key of the wrong length
)

// PerChunk reports whether problems of kind k concern one chunk.
func (k ProblemKind) PerChunk() bool {
	switch k {
	case ProblemMissing, ProblemUnreadable, ProblemSize, ProblemLeaf, ProblemHeader, ProblemTampered, ProblemContent:
		return true
	}
	return false
}

// Problem is one thing wrong with a recording.
type Problem struct {
	Kind   ProblemKind
	Index  uint64 // the chunk, when Kind.PerChunk(); otherwise 0
	Detail string
}

func (p Problem) String() string {
	if p.Kind.PerChunk() {
		return fmt.Sprintf("chunk %d: %s: %s", p.Index, p.Kind, p.Detail)
	}
	return fmt.Sprintf("%s: %s", p.Kind, p.Detail)
}

// Report is the outcome of verifying a recording: every problem found, in
// chunk order after the recording-wide ones, not just the first.
type Report struct {
	Session  sessions.ID
	Chunks   uint64 // chunks the manifest lists
	Verified uint64 // chunks that passed every check made
	Opened   bool   // chunks were decrypted and their frames checked
	// Root is the Merkle root recomputed from the chunks' bytes; zero and
	// RootComputed false when some chunk could not be read.
	Root         [32]byte
	RootComputed bool
	Problems     []Problem
	// Gaps are the manifest's recorded gaps: known, declared losses, not
	// problems.
	Gaps []Gap
}

// OK reports whether no problem was found.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// FirstBad is the lowest chunk index with a problem; ok is false when no
// chunk has one (recording-wide problems have no index).
func (r Report) FirstBad() (index uint64, ok bool) {
	for _, p := range r.Problems {
		if p.Kind.PerChunk() && (!ok || p.Index < index) {
			index, ok = p.Index, true
		}
	}
	return index, ok
}

// Err is nil for a clean report and otherwise wraps ErrVerification,
// naming the number of problems and the first.
func (r Report) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("%w: %d problem(s), first: %s", ErrVerification, len(r.Problems), r.Problems[0])
}

func (r *Report) add(kind ProblemKind, index uint64, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Kind: kind, Index: index, Detail: fmt.Sprintf(format, args...)})
}

// VerifyRecording checks a recording without its key: the manifest against
// the format (Validate), both receipts (signatures, and that they are about
// this session, these peers, this service and policy), and for every chunk
// listed, its length, its leaf hash and its header (session, index,
// plaintext size), then the Merkle root recomputed from the chunks. It is
// pure: chunk does the I/O, returning a sealed chunk by index, or an error
// wrapping fs.ErrNotExist for a missing one. Every problem is reported, so
// a swapped pair shows as two header mismatches and a dropped chunk as
// "missing" at its index.
func VerifyRecording(m Manifest, chunk func(index uint64) ([]byte, error)) Report {
	return verify(m, nil, chunk)
}

// VerifyWithKey does what VerifyRecording does and also opens every chunk
// whose header matched with the session key: tag, nonce, Zstd payload,
// frame encoding, and the manifest's first and last frame times.
func VerifyWithKey(m Manifest, sessionKey []byte, chunk func(index uint64) ([]byte, error)) Report {
	if sessionKey == nil {
		sessionKey = []byte{} // distinguishes "with a key" from VerifyRecording
	}
	return verify(m, sessionKey, chunk)
}

func verify(m Manifest, key []byte, chunk func(uint64) ([]byte, error)) Report {
	r := Report{Session: m.Session, Chunks: uint64(len(m.Chunks)), Gaps: m.Gaps}
	if err := m.Validate(); err != nil {
		r.add(ProblemManifest, 0, "%v", err)
	}
	if key != nil && len(key) != SessionKeyLen {
		r.add(ProblemKey, 0, "session key is %d bytes, want %d; chunks were not opened", len(key), SessionKeyLen)
		key = nil
	}
	r.Opened = key != nil
	r.checkReceipts(&m)

	leaves := make([][32]byte, len(m.Chunks))
	readAll := true
	for i := range m.Chunks {
		idx := uint64(i)
		b, err := chunk(idx)
		if err != nil {
			readAll = false
			if errors.Is(err, fs.ErrNotExist) {
				r.add(ProblemMissing, idx, "%v", err)
			} else {
				r.add(ProblemUnreadable, idx, "%v", err)
			}
			continue
		}
		leaves[i] = LeafHash(b)
		if r.checkChunk(&m, key, idx, b, leaves[i]) {
			r.Verified++
		}
	}
	if readAll {
		r.Root, r.RootComputed = MerkleRoot(leaves), true
		if r.Root != m.Root {
			r.add(ProblemRoot, 0, "chunks give root %x, manifest says %x", r.Root, m.Root)
		}
	}
	return r
}

// checkChunk reports the problems of one chunk that was read and whether
// it had none.
func (r *Report) checkChunk(m *Manifest, key []byte, idx uint64, b []byte, leaf [32]byte) bool {
	before := len(r.Problems)
	info := &m.Chunks[idx]
	if uint64(len(b)) != info.SealedSize {
		r.add(ProblemSize, idx, "%d bytes, manifest says %d", len(b), info.SealedSize)
	}
	if leaf != info.Leaf {
		r.add(ProblemLeaf, idx, "leaf %x, manifest says %x", leaf, info.Leaf)
	}
	h, err := ParseChunkHeader(b)
	headerOK := err == nil
	switch {
	case err != nil:
		r.add(ProblemHeader, idx, "%v", err)
	default:
		if h.Session != m.Session {
			r.add(ProblemHeader, idx, "header names session %s", h.Session)
			headerOK = false
		}
		if h.Index != idx {
			r.add(ProblemHeader, idx, "header names chunk %d", h.Index)
			headerOK = false
		}
		if uint64(h.PlaintextLen) != info.PlaintextSize {
			r.add(ProblemHeader, idx, "header says %d plaintext bytes, manifest says %d", h.PlaintextLen, info.PlaintextSize)
		}
	}
	if key != nil && headerOK {
		r.openChunk(key, m.Session, idx, b, info)
	}
	return len(r.Problems) == before
}

func (r *Report) openChunk(key []byte, session sessions.ID, idx uint64, b []byte, info *ChunkInfo) {
	pt, err := OpenChunk(key, session, idx, b)
	if errors.Is(err, ErrTampered) {
		r.add(ProblemTampered, idx, "%v", err)
		return
	}
	if err != nil {
		r.add(ProblemContent, idx, "%v", err)
		return
	}
	var first, last Frame
	n := 0
	for f, err := range Frames(pt) {
		if err != nil {
			r.add(ProblemContent, idx, "%v", err)
			return
		}
		if n == 0 {
			first = f
		}
		last = f
		n++
	}
	if n == 0 {
		r.add(ProblemContent, idx, "no frames")
		return
	}
	if !first.At.Equal(info.First) {
		r.add(ProblemContent, idx, "first frame at %s, manifest says %s", timeText(first.At), timeText(info.First))
	}
	if !last.At.Equal(info.Last) {
		r.add(ProblemContent, idx, "last frame at %s, manifest says %s", timeText(last.At), timeText(info.Last))
	}
}

// checkReceipts checks the consent and host receipts: present, validly
// signed (sessions' Verify), about this session, and binding this
// manifest's peers, service and policy, and the host receipt binding the
// exact consent.
func (r *Report) checkReceipts(m *Manifest) {
	c := &m.Consent
	if c.IsZero() {
		r.add(ProblemReceipt, 0, "no consent receipt")
	} else {
		if err := c.Verify(); err != nil {
			r.add(ProblemReceipt, 0, "consent receipt: %v", err)
		}
		if c.Session != m.Session {
			r.add(ProblemReceipt, 0, "consent receipt is for session %s", c.Session)
		}
		if c.User != m.Client {
			r.add(ProblemReceipt, 0, "consent receipt is from %s, not the client", peerText(c.User))
		}
		if c.PolicyHash != m.PolicyHash {
			r.add(ProblemReceipt, 0, "consent receipt accepts policy %x, manifest says %x", c.PolicyHash, m.PolicyHash)
		}
	}
	h := &m.HostReceipt
	if h.IsZero() {
		r.add(ProblemReceipt, 0, "no host receipt")
		return
	}
	if err := h.Verify(); err != nil {
		r.add(ProblemReceipt, 0, "host receipt: %v", err)
	}
	if h.Session != m.Session {
		r.add(ProblemReceipt, 0, "host receipt is for session %s", h.Session)
	}
	if h.Host != m.Host || h.Client != m.Client {
		r.add(ProblemReceipt, 0, "host receipt names host %s and client %s", peerText(h.Host), peerText(h.Client))
	}
	if h.Service != m.Service {
		r.add(ProblemReceipt, 0, "host receipt is for service %q", h.Service)
	}
	if h.PolicyHash != m.PolicyHash {
		r.add(ProblemReceipt, 0, "host receipt accepts policy %x, manifest says %x", h.PolicyHash, m.PolicyHash)
	}
	if !c.IsZero() && h.ConsentHash != c.Hash() {
		r.add(ProblemReceipt, 0, "host receipt binds another consent receipt")
	}
}

type problemJSON struct {
	Kind   ProblemKind `json:"kind"`
	Index  *uint64     `json:"index,omitempty"`
	Detail string      `json:"detail"`
}

type reportJSON struct {
	SessionID    sessions.ID   `json:"session_id"`
	OK           bool          `json:"ok"`
	Chunks       uint64        `json:"chunks"`
	Verified     uint64        `json:"verified"`
	Opened       bool          `json:"opened"`
	Root         hexBytes      `json:"root,omitempty"`
	FirstBad     *uint64       `json:"first_bad,omitempty"`
	Problems     []problemJSON `json:"problems"`
	Gaps         []gapJSON     `json:"gaps"`
	RootComputed bool          `json:"root_computed"`
}

// MarshalJSON renders the report for the CLI: snake_case, the recomputed
// root in hex, first_bad and each problem's index only where they apply.
func (r Report) MarshalJSON() ([]byte, error) {
	j := reportJSON{
		SessionID:    r.Session,
		OK:           r.OK(),
		Chunks:       r.Chunks,
		Verified:     r.Verified,
		Opened:       r.Opened,
		RootComputed: r.RootComputed,
		Problems:     make([]problemJSON, len(r.Problems)),
		Gaps:         make([]gapJSON, len(r.Gaps)),
	}
	if r.RootComputed {
		j.Root = r.Root[:]
	}
	if i, ok := r.FirstBad(); ok {
		j.FirstBad = &i
	}
	for i, p := range r.Problems {
		j.Problems[i] = problemJSON{Kind: p.Kind, Detail: p.Detail}
		if p.Kind.PerChunk() {
			idx := p.Index
			j.Problems[i].Index = &idx
		}
	}
	for i, g := range r.Gaps {
		j.Gaps[i] = gapJSON{AfterIndex: g.AfterIndex, Reason: g.Reason, From: timeText(g.From), To: timeText(g.To)}
	}
	return json.Marshal(j)
}
