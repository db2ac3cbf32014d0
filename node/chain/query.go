package chain

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// ErrNotFound: no such block, transaction or session on this node's chain.
var ErrNotFound = errors.New("chain: not found")

// blockByHash returns a block the engine holds or the store kept.
func (s *Service) blockByHash(ctx context.Context, h [32]byte) (*consensus.Block, error) {
	s.mu.Lock()
	b, _, ok := s.eng.Block(h)
	s.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := s.st.block(ctx, h)
	if isNotFound(err) {
		return nil, fmt.Errorf("%w: block %x", ErrNotFound, h[:8])
	}
	return b, err
}

// canonicalHash returns the hash of the block at height on the chosen
// chain, and whether it is final.
func (s *Service) canonicalHash(ctx context.Context, height uint64) ([32]byte, bool, error) {
	s.mu.Lock()
	h, ok := s.eng.Canonical(height)
	final := s.eng.Final().Height
	s.mu.Unlock()
	if ok {
		return h, height <= final, nil
	}
	if height == 0 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.eng.GenesisHash(), true, nil
	}
	h, err := s.st.finalHash(ctx, height)
	if isNotFound(err) {
		return h, false, fmt.Errorf("%w: no block at height %d", ErrNotFound, height)
	}
	return h, true, err
}

func (s *Service) canonicalBlock(ctx context.Context, height uint64) (*consensus.Block, error) {
	h, _, err := s.canonicalHash(ctx, height)
	if err != nil {
		return nil, err
	}
	return s.blockByHash(ctx, h)
}

// HeadInfo is `lucid chain head`.
type HeadInfo struct {
	ChainID     string    `json:"chain_id"`
	Genesis     string    `json:"genesis"`
	Height      uint64    `json:"height"`
	Slot        uint64    `json:"slot"`
	Hash        string    `json:"hash"`
	Proposer    string    `json:"proposer"`
	StateRoot   string    `json:"state_root"`
	Time        time.Time `json:"time"` // start of the head's slot
	FinalHeight uint64    `json:"final_height"`
	FinalHash   string    `json:"final_hash"`
	CurrentSlot uint64    `json:"current_slot"`
	// NextLeaders are the primary and fallbacks of the next slot on the
	// head's branch.
	NextLeaders []string `json:"next_leaders,omitempty"`
	Mempool     int      `json:"mempool"`
	Proofs      int      `json:"proofs_pending"`
	// SnapshotHeight is the final block this node started from by
	// snapshot sync (0: it replayed the chain from genesis).
	SnapshotHeight uint64 `json:"snapshot_height,omitempty"`
}

// Head describes the chain's head.
func (s *Service) Head() HeadInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, f := s.eng.Head(), s.eng.Final()
	p := s.eng.HeadParams()
	gh := s.eng.GenesisHash()
	hh, fh := h.Hash(), f.Hash()
	now := p.SlotAt(s.cfg.Now())
	info := HeadInfo{ChainID: s.cfg.Genesis.ChainID, Genesis: hex.EncodeToString(gh[:]), Height: h.Height, Slot: uint64(h.Slot),
		Hash: hex.EncodeToString(hh[:]), Proposer: h.Proposer.String(), StateRoot: hex.EncodeToString(h.StateRoot[:]),
		Time: p.SlotStart(h.Slot), FinalHeight: f.Height, FinalHash: hex.EncodeToString(fh[:]), CurrentSlot: uint64(now),
		Mempool: s.pool.len(), Proofs: len(s.proofs.byID), SnapshotHeight: s.fromSnapshot}
	if l, err := s.eng.Leaders(hh, max(now, h.Slot)+1); err == nil {
		if l.Primary == "" {
			info.NextLeaders = []string{s.cfg.Genesis.Bootstrap.String()}
		} else {
			for _, e := range append([]consensus.EntityID{l.Primary}, l.Fallbacks...) {
				info.NextLeaders = append(info.NextLeaders, entityText(e))
			}
		}
	}
	return info
}

// Changed returns a channel closed when the head next moves.
func (s *Service) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// BlockInfo is `lucid chain block`.
type BlockInfo struct {
	Height    uint64     `json:"height"`
	Slot      uint64     `json:"slot"`
	Hash      string     `json:"hash"`
	Prev      string     `json:"prev"`
	Proposer  string     `json:"proposer"`
	TxRoot    string     `json:"tx_root"`
	ProofRoot string     `json:"proof_root"`
	StateRoot string     `json:"state_root"`
	Time      time.Time  `json:"time"`
	Size      int        `json:"size"`
	Canonical bool       `json:"canonical"`
	Final     bool       `json:"final"`
	Proofs    int        `json:"proofs"`
	Txs       []TxInfo   `json:"txs"`
	Misses    []MissInfo `json:"misses,omitempty"`
}

// MissInfo is a scheduled primary that produced no block.
type MissInfo struct {
	Slot   uint64 `json:"slot"`
	Entity string `json:"entity"`
}

// BlockByHeight describes the canonical block at height.
func (s *Service) BlockByHeight(ctx context.Context, height uint64) (BlockInfo, error) {
	h, _, err := s.canonicalHash(ctx, height)
	if err != nil {
		return BlockInfo{}, err
	}
	return s.BlockByHash(ctx, h)
}

// BlockByHash describes a block.
func (s *Service) BlockByHash(ctx context.Context, h [32]byte) (BlockInfo, error) {
	b, err := s.blockByHash(ctx, h)
	if err != nil {
		return BlockInfo{}, err
	}
	s.mu.Lock()
	_, receipts, _ := s.eng.Block(h)
	canonical := s.eng.OnChain(h)
	final := b.Header.Height <= s.eng.Final().Height
	p := s.eng.HeadParams()
	s.mu.Unlock()
	if !canonical && final {
		ch, _, err := s.canonicalHash(ctx, b.Header.Height)
		canonical = err == nil && ch == h
	}
	final = final && canonical
	hd := b.Header
	info := BlockInfo{Height: hd.Height, Slot: uint64(hd.Slot), Hash: hex.EncodeToString(h[:]), Prev: hex.EncodeToString(hd.Prev[:]),
		Proposer: hd.Proposer.String(), TxRoot: hex.EncodeToString(hd.TxRoot[:]), ProofRoot: hex.EncodeToString(hd.ProofRoot[:]),
		StateRoot: hex.EncodeToString(hd.StateRoot[:]), Time: p.SlotStart(hd.Slot), Size: len(b.Encode()),
		Canonical: canonical, Final: final, Proofs: len(b.Body.Proofs), Txs: []TxInfo{}}
	s.mu.Lock()
	misses, held := s.eng.Misses(h)
	s.mu.Unlock()
	if !held && final && hd.Height > 0 {
		if sb, err := s.st.final(ctx, hd.Height); err == nil {
			misses = sb.Misses
		}
	}
	for _, m := range misses {
		info.Misses = append(info.Misses, MissInfo{Slot: uint64(m.Slot), Entity: entityText(m.Entity)})
	}
	for i, raw := range b.Body.Txs {
		t := describeTx(raw)
		t.Block, t.Height, t.Index = info.Hash, hd.Height, i
		t.Status = statusOf(canonical, final)
		if i < len(receipts) {
			t.setReceipt(receipts[i].Code, receipts[i].Gas, receipts[i].Err)
		} else if loc, err := s.st.tx(ctx, t.hash); err == nil && loc.Block == h {
			t.setReceipt(loc.Code, loc.Gas, nil)
		}
		info.Txs = append(info.Txs, t)
	}
	return info, nil
}

func statusOf(canonical, final bool) string {
	switch {
	case final:
		return "final"
	case canonical:
		return "included"
	}
	return "orphaned"
}

// TxInfo is `lucid chain tx`.
type TxInfo struct {
	hash   [32]byte
	Hash   string         `json:"hash"`
	Status string         `json:"status"` // pending, included, final, orphaned
	Type   string         `json:"type"`
	Sender string         `json:"sender"`
	Nonce  uint64         `json:"nonce"`
	Body   map[string]any `json:"body,omitempty"`
	Block  string         `json:"block,omitempty"`
	Height uint64         `json:"height,omitempty"`
	Index  int            `json:"index"`
	Code   uint64         `json:"code"`
	Gas    uint64         `json:"gas,omitempty"`
	Error  string         `json:"error,omitempty"`
}

func (t *TxInfo) setReceipt(code, gas uint64, err error) {
	t.Code, t.Gas = code, gas
	if err != nil {
		t.Error = err.Error()
	} else if code != 0 {
		t.Error = vm.ReceiptError(code).Error()
	}
}

func describeTx(raw []byte) TxInfo {
	tx, err := vm.DecodeTx(raw)
	if err != nil {
		return TxInfo{Error: err.Error()}
	}
	h := tx.Hash()
	return TxInfo{hash: h, Hash: hex.EncodeToString(h[:]), Type: tx.Body.Type().String(), Sender: tx.Sender.String(),
		Nonce: tx.Nonce, Body: describeBody(tx.Body)}
}

func describeBody(b vm.Body) map[string]any {
	switch b := b.(type) {
	case *vm.RegisterSession:
		return map[string]any{"session": hex.EncodeToString(b.Session[:]), "manifest": hex.EncodeToString(b.Manifest[:]),
			"root": hex.EncodeToString(b.Root[:]), "chunks": b.Chunks, "owner": hex.EncodeToString(b.Owner)}
	case *vm.AnchorChunk:
		return map[string]any{"session": hex.EncodeToString(b.Session[:]), "index": b.Index, "leaf": hex.EncodeToString(b.Leaf[:])}
	case *vm.CommitTally:
		return map[string]any{"epoch": b.Epoch, "root": hex.EncodeToString(b.Root[:]), "credits": len(b.Credits)}
	case *vm.ProposeParam:
		return map[string]any{"name": b.Name, "value": b.Value}
	case *vm.Vote:
		return map[string]any{"proposal": b.Proposal, "yes": b.Yes}
	case *vm.SetPool:
		return map[string]any{"pool": string(b.Pool)}
	case *vm.ClaimStorage:
		return map[string]any{"session": hex.EncodeToString(b.Session[:]), "chunks": len(b.ChunkSizes)}
	case *vm.Equivocation:
		return map[string]any{"proposer": b.A.Proposer.String(), "slot": uint64(b.A.Slot)}
	}
	return nil
}

// Tx looks a transaction up: in the pool, in a block the engine holds, or
// in the final index.
func (s *Service) Tx(ctx context.Context, h [32]byte) (TxInfo, error) {
	s.mu.Lock()
	if p, ok := s.pool.get(h); ok {
		s.mu.Unlock()
		t := describeTx(p.raw)
		t.Status = "pending"
		return t, nil
	}
	// Non-final blocks of the chosen chain, newest first.
	head := s.eng.Head()
	for ht := head.Height; ht > s.eng.Final().Height; ht-- {
		bh, ok := s.eng.Canonical(ht)
		if !ok {
			break
		}
		b, receipts, _ := s.eng.Block(bh)
		for i, r := range receipts {
			if r.TxHash == h {
				s.mu.Unlock()
				t := describeTx(b.Body.Txs[i])
				t.Status, t.Block, t.Height, t.Index = "included", hex.EncodeToString(bh[:]), ht, i
				t.setReceipt(r.Code, r.Gas, r.Err)
				return t, nil
			}
		}
	}
	s.mu.Unlock()
	loc, err := s.st.tx(ctx, h)
	if isNotFound(err) {
		return TxInfo{}, fmt.Errorf("%w: transaction %x", ErrNotFound, h[:8])
	}
	if err != nil {
		return TxInfo{}, err
	}
	b, err := s.blockByHash(ctx, loc.Block)
	if err != nil || loc.Index >= len(b.Body.Txs) {
		return TxInfo{}, fmt.Errorf("chain: transaction %x: its block is missing: %w", h[:8], err)
	}
	t := describeTx(b.Body.Txs[loc.Index])
	t.Status, t.Block, t.Height, t.Index = "final", hex.EncodeToString(loc.Block[:]), loc.Height, loc.Index
	t.setReceipt(loc.Code, loc.Gas, nil)
	return t, nil
}

// WaitTx waits until a transaction is in a block of the chosen chain
// (final too when final is set) and returns it.
func (s *Service) WaitTx(ctx context.Context, h [32]byte, final bool) (TxInfo, error) {
	for {
		ch := s.Changed()
		t, err := s.Tx(ctx, h)
		if err == nil && (t.Status == "final" || (!final && t.Status == "included")) {
			return t, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return t, err
		case <-ch:
		}
	}
}

// SessionProofInfo is `lucid chain proof`: the session's registration,
// where it entered the chain, and its inclusion proof in the state of a
// block (the latest final one once the registration is final).
type SessionProofInfo struct {
	Session      string    `json:"session"`
	Manifest     string    `json:"manifest"`
	Root         string    `json:"root"`
	Chunks       uint64    `json:"chunks"`
	Owner        string    `json:"owner"`
	Registrant   string    `json:"registrant"`
	Height       uint64    `json:"height"` // block of the registration
	Block        string    `json:"block"`
	BlockTime    time.Time `json:"block_time"`
	Tx           string    `json:"tx,omitempty"`
	Final        bool      `json:"final"`
	ProofHeight  uint64    `json:"proof_height"` // block whose state root the proof leads to
	ProofBlock   string    `json:"proof_block"`
	StateRoot    string    `json:"state_root"`
	Proof        string    `json:"proof"` // hex of vm.SessionProof.Encode
	Verification string    `json:"verification"`
}

// SessionProof proves a session's registration.
func (s *Service) SessionProof(ctx context.Context, id vm.SessionID) (SessionProofInfo, error) {
	s.mu.Lock()
	st, at := s.eng.FinalState(), s.eng.Final()
	if _, ok := st.Session(id); !ok {
		st, at = s.eng.HeadState(), s.eng.Head()
	}
	p := s.eng.HeadParams()
	s.mu.Unlock()
	proof, root, err := st.ProveSession(id)
	if errors.Is(err, vm.ErrUnknownSession) {
		return SessionProofInfo{}, fmt.Errorf("%w: session %x is not registered", ErrNotFound, id[:])
	}
	if err != nil {
		return SessionProofInfo{}, err
	}
	if root != at.StateRoot {
		return SessionProofInfo{}, fmt.Errorf("chain: state root %x is not block %d's %x", root[:8], at.Height, at.StateRoot[:8])
	}
	if err := vm.VerifySessionProof(at.StateRoot, proof); err != nil {
		return SessionProofInfo{}, fmt.Errorf("chain: proof does not verify against block %d: %w", at.Height, err)
	}
	r := proof.Record
	ah := at.Hash()
	info := SessionProofInfo{Session: hex.EncodeToString(id[:]), Manifest: hex.EncodeToString(r.Manifest[:]),
		Root: hex.EncodeToString(r.Root[:]), Chunks: r.Chunks, Owner: hex.EncodeToString(r.Owner), Registrant: r.Registrant.String(),
		Height: r.Height, ProofHeight: at.Height, ProofBlock: hex.EncodeToString(ah[:]), StateRoot: hex.EncodeToString(root[:]),
		Proof: hex.EncodeToString(proof.Encode()), Verification: "ok"}
	bh, final, err := s.canonicalHash(ctx, r.Height)
	if err != nil {
		return info, err
	}
	info.Block, info.Final = hex.EncodeToString(bh[:]), final
	if b, err := s.blockByHash(ctx, bh); err == nil {
		info.BlockTime = p.SlotStart(b.Header.Slot)
		for _, raw := range b.Body.Txs {
			if tx, err := vm.DecodeTx(raw); err == nil {
				if rs, ok := tx.Body.(*vm.RegisterSession); ok && rs.Session == id {
					h := tx.Hash()
					info.Tx = hex.EncodeToString(h[:])
				}
			}
		}
	}
	return info, nil
}

// ParamInfo is one line of `lucid chain params`.
type ParamInfo struct {
	Name      string `json:"name"`
	Value     uint64 `json:"value"`
	Min       uint64 `json:"min"`
	Max       uint64 `json:"max"`
	Immutable bool   `json:"immutable,omitempty"`
	Doc       string `json:"doc,omitempty"`
}

// ProposalInfo is a governance proposal.
type ProposalInfo struct {
	ID         uint64 `json:"id"`
	Name       string `json:"name"`
	Value      uint64 `json:"value"`
	Proposer   string `json:"proposer"`
	Height     uint64 `json:"height"`
	Deadline   uint64 `json:"deadline"`
	ApplyAt    uint64 `json:"apply_at"`
	Electorate uint64 `json:"electorate"`
	Quorum     uint64 `json:"quorum"`
	Yes        uint64 `json:"yes"`
	No         uint64 `json:"no"`
	Status     string `json:"status"`
}

// ParamsInfo is `lucid chain params`.
type ParamsInfo struct {
	Height    uint64         `json:"height"`
	Params    []ParamInfo    `json:"params"`
	Proposals []ProposalInfo `json:"proposals"`
	Voters    []string       `json:"voters"` // eligible for the next slot
}

// Params lists the parameters in effect at the head, the proposals and
// the nodes eligible to vote.
func (s *Service) Params() ParamsInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	head := s.eng.Head()
	st := s.eng.HeadState()
	out := ParamsInfo{Height: head.Height, Params: []ParamInfo{}, Proposals: []ProposalInfo{}, Voters: []string{}}
	for _, spec := range vm.Params() {
		v, _ := st.Param(spec.Name)
		out.Params = append(out.Params, ParamInfo{Name: spec.Name, Value: v, Min: spec.Min, Max: spec.Max, Immutable: spec.Immutable, Doc: spec.Doc})
	}
	for id := uint64(1); ; id++ {
		p, ok := st.Proposal(id)
		if !ok {
			break
		}
		out.Proposals = append(out.Proposals, ProposalInfo{ID: p.ID, Name: p.Name, Value: p.Value, Proposer: p.Proposer.String(),
			Height: p.Height, Deadline: p.Deadline, ApplyAt: p.ApplyAt, Electorate: p.Electorate, Quorum: p.Quorum,
			Yes: p.Yes, No: p.No, Status: p.Status.String()})
	}
	now := s.eng.HeadParams().SlotAt(s.cfg.Now())
	if r, err := s.eng.Tally(head.Hash(), max(now, head.Slot)+1); err == nil {
		for _, v := range chain.Electorate(r) {
			out.Voters = append(out.Voters, v.String())
		}
	}
	return out
}

// Engine runs f with the engine under the service's lock (tests and
// measurements).
func (s *Service) Engine(f func(*chain.Engine)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.eng)
}

// entityText shows a node entity as its peer ID (as proposers are shown)
// and a pool as pool:<hex>.
func entityText(e consensus.EntityID) string {
	if id, ok := e.Node(); ok {
		return id.String()
	}
	return e.String()
}
