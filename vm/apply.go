package vm

import (
	"bytes"
	"github.com/lucidnet/lucid/consensus"
	"maps"
	"strconv"

	"github.com/libp2p/go-libp2p/core/peer"
)

// BlockInput is what the chain layer hands the VM for one block.
type BlockInput struct {
	Height   uint64    // parent height + 1
	Slot     uint64    // strictly above the parent's slot (any slot for height 1)
	Proposer peer.ID   // the slot's leader, as the chain layer determined it
	Txs      [][]byte  // encoded transactions, applied in order
	Eligible []peer.ID // governance electorate for this block (≥ 80 % uptime); order and duplicates do not matter
}

// Receipt is the outcome of one transaction of a valid block.
type Receipt struct {
	Index  int
	TxHash [32]byte
	Type   TxType
	Sender peer.ID
	Nonce  uint64
	Gas    uint64
	// Code is 0 for success, else the failure's number in the receipt
	// code table (append-only; see the package doc).
	Code uint64
	Err  error // nil on success; wraps the failure's sentinel
}

// OK reports whether the transaction succeeded.
func (r *Receipt) OK() bool { return r.Err == nil }

type wireReceipt struct {
	TxHash []byte `cbor:"1,keyasint,omitempty"`
	Code   uint64 `cbor:"2,keyasint,omitempty"`
	Gas    uint64 `cbor:"3,keyasint,omitempty"`
}

// Encode returns the canonical encoding of what a receipt commits to:
// 1 = transaction hash, 2 = code, 3 = gas.
func (r *Receipt) Encode() []byte {
	return mustMarshal(&wireReceipt{TxHash: r.TxHash[:], Code: r.Code, Gas: r.Gas})
}

// ReceiptsRoot is the Merkle root (same tree as the state root, leaf key
// = be32 index) over the receipts' encodings.
func ReceiptsRoot(rs []Receipt) [32]byte {
	ls := make([][32]byte, len(rs))
	for i := range rs {
		ls[i] = leafHash(be32(uint32(i)), rs[i].Encode())
	}
	return merkleRoot(ls)
}

// TxRoot is the Merkle root (leaf key = be32 index) over a block's encoded
// transactions; headers carry it.
func TxRoot(txs [][]byte) [32]byte {
	ls := make([][32]byte, len(txs))
	for i, t := range txs {
		ls[i] = leafHash(be32(uint32(i)), t)
	}
	return merkleRoot(ls)
}

// overlay is a copy-on-write layer over a State (or over another overlay
// for one transaction's writes). A nil value in w marks a deletion.
type overlay struct {
	base   *State
	parent *overlay
	w      map[string][]byte
}

func (o *overlay) get(k string) ([]byte, bool) {
	for l := o; l != nil; l = l.parent {
		if v, ok := l.w[k]; ok {
			return v, v != nil
		}
	}
	v, ok := o.base.kv[k]
	return v, ok
}

func (o *overlay) has(k string) bool { _, ok := o.get(k); return ok }

func (o *overlay) set(k string, v []byte) {
	if v == nil {
		v = []byte{}
	}
	o.w[k] = v
}

func (o *overlay) del(k string) { o.w[k] = nil }

func (o *overlay) child() *overlay {
	return &overlay{base: o.base, parent: o, w: map[string][]byte{}}
}

// commit merges a child's writes into its parent (order does not matter:
// each key has one value).
func (o *overlay) commit() { maps.Copy(o.parent.w, o.w) }

func (o *overlay) u64(k string) uint64 {
	if v, ok := o.get(k); ok {
		return getU64(v)
	}
	return 0
}

func (o *overlay) param(name string) uint64 { return o.u64(paramKey(name)) }

// state builds the new State: the base's entries with the writes applied.
func (o *overlay) state() *State {
	kv := maps.Clone(o.base.kv)
	for k, v := range o.w {
		if v == nil {
			delete(kv, k)
		} else {
			kv[k] = v
		}
	}
	return newState(kv)
}

type execCtx struct {
	in       *BlockInput
	eligible map[peer.ID]struct{}
}

// ApplyBlock applies a block to s and returns the new state and one receipt
// per transaction. s is never modified.
//
// The block is invalid (an error, no state) when its height, slot or
// proposer do not follow s, when it exceeds max_block_txs, max_block_bytes
// or max_block_gas (the values in effect at this height, after the
// block's governance step), or when a transaction is malformed, has a bad
// signature or is not its sender's next nonce. Otherwise every
// transaction consumes its nonce and gas; one that fails a rule gets a
// failed receipt and its writes are discarded.
func ApplyBlock(s *State, in BlockInput) (*State, []Receipt, error) {
	if in.Height != s.Height()+1 {
		return nil, nil, errf(ErrInvalidBlock, "height %d, want %d", in.Height, s.Height()+1)
	}
	if s.Height() > 0 && in.Slot <= s.Slot() {
		return nil, nil, errf(ErrInvalidBlock, "slot %d not after the parent's %d", in.Slot, s.Slot())
	}
	if _, err := peer.IDFromBytes([]byte(in.Proposer)); err != nil {
		return nil, nil, errf(ErrInvalidBlock, "proposer: %v", err)
	}
	o := &overlay{base: s, w: map[string][]byte{}}
	o.set(keyHeight, be64(in.Height))
	o.set(keySlot, be64(in.Slot))
	beginBlock(o, in.Height)

	if n := uint64(len(in.Txs)); n > o.param(ParamMaxBlockTxs) {
		return nil, nil, errf(ErrBlockLimit, "%d transactions, max %d", n, o.param(ParamMaxBlockTxs))
	}
	var size uint64
	for _, t := range in.Txs {
		size += uint64(len(t))
	}
	if size > o.param(ParamMaxBlockBytes) {
		return nil, nil, errf(ErrBlockLimit, "%d bytes of transactions, max %d", size, o.param(ParamMaxBlockBytes))
	}
	txs := make([]*Tx, len(in.Txs))
	var gas uint64
	for i, raw := range in.Txs {
		tx, err := DecodeTx(raw)
		if err != nil {
			return nil, nil, wrapTx(i, err)
		}
		if err := tx.VerifySignature(); err != nil {
			return nil, nil, wrapTx(i, err)
		}
		txs[i] = tx
		gas += TxGas(tx, len(raw))
	}
	if gas > o.param(ParamMaxBlockGas) {
		return nil, nil, errf(ErrBlockLimit, "gas %d, max %d", gas, o.param(ParamMaxBlockGas))
	}

	ctx := &execCtx{in: &in, eligible: make(map[peer.ID]struct{}, len(in.Eligible))}
	for _, p := range in.Eligible {
		ctx.eligible[p] = struct{}{}
	}
	receipts := make([]Receipt, len(txs))
	for i, tx := range txs {
		nk := nonceKey(tx.Sender)
		if want := o.u64(nk); tx.Nonce != want {
			return nil, nil, wrapTx(i, errf(ErrBadNonce, "nonce %d, want %d", tx.Nonce, want))
		}
		o.set(nk, be64(tx.Nonce+1))
		r := Receipt{Index: i, TxHash: tx.Hash(), Type: tx.Body.Type(), Sender: tx.Sender, Nonce: tx.Nonce,
			Gas: TxGas(tx, len(in.Txs[i]))}
		c := o.child()
		if err := ctx.exec(c, tx); err != nil {
			r.Err, r.Code = err, codeOf(err)
		} else {
			c.commit()
		}
		receipts[i] = r
	}
	return o.state(), receipts, nil
}

func wrapTx(i int, err error) error {
	return &TxError{Index: i, Err: err}
}

// TxError is a block error caused by one transaction; it unwraps to the
// transaction's sentinel.
type TxError struct {
	Index int
	Err   error
}

func (e *TxError) Error() string {
	return "transaction " + strconv.Itoa(e.Index) + ": " + e.Err.Error()
}
func (e *TxError) Unwrap() error { return e.Err }

// beginBlock runs the governance step of height h before its transactions:
// proposals whose vote closed at h−1 are decided, then passed proposals
// whose timelock ends at h take effect.
func beginBlock(o *overlay, h uint64) {
	if v, ok := o.get(closeAtKey(h)); ok {
		for _, id := range mustDecodeIDs(v) {
			p := mustDecodeProposal(mustGet(o, proposalKey(id)))
			switch {
			case p.Yes+p.No < p.Quorum:
				p.Status = StatusNoQuorum
			case p.Yes > p.No:
				p.Status = StatusPassed
				appendID(o, applyAtKey(p.ApplyAt), id)
			default:
				p.Status = StatusRejected
			}
			o.set(proposalKey(id), p.encode())
		}
		o.del(closeAtKey(h))
	}
	if v, ok := o.get(applyAtKey(h)); ok {
		for _, id := range mustDecodeIDs(v) {
			p := mustDecodeProposal(mustGet(o, proposalKey(id)))
			if checkCross(withParam(o, p.Name, p.Value)) == nil {
				o.set(paramKey(p.Name), be64(p.Value))
				p.Status = StatusApplied
			} else {
				p.Status = StatusFailedApp
			}
			o.set(proposalKey(id), p.encode())
		}
		o.del(applyAtKey(h))
	}
}

func mustGet(o *overlay, k string) []byte {
	v, ok := o.get(k)
	if !ok {
		panic("vm: state entry missing")
	}
	return v
}

// appendID adds id to the agenda at k (ids arrive in ascending order:
// proposal IDs grow and agendas are processed in ID order).
func appendID(o *overlay, k string, id uint64) {
	var ids []uint64
	if v, ok := o.get(k); ok {
		ids = mustDecodeIDs(v)
	}
	o.set(k, encodeIDs(append(ids, id)))
}

func withParam(o *overlay, name string, value uint64) func(string) uint64 {
	return func(n string) uint64 {
		if n == name {
			return value
		}
		return o.param(n)
	}
}

func (c *execCtx) exec(o *overlay, tx *Tx) error {
	switch b := tx.Body.(type) {
	case *RegisterSession:
		return c.register(o, tx.Sender, b)
	case *AnchorChunk:
		return c.anchor(o, tx.Sender, b)
	case *CommitTally:
		return c.commitTally(o, tx.Sender, b)
	case *ProposeParam:
		return c.propose(o, tx.Sender, b)
	case *Vote:
		return c.vote(o, tx.Sender, b)
	case *Equivocation:
		return c.equivocation(o, b)
	case *ClaimStorage:
		return c.claimStorage(o, tx.Sender, b)
	case *SetPool:
		return c.setPool(o, tx.Sender, b)
	}
	panic("vm: unknown body type")
}

func (c *execCtx) register(o *overlay, sender peer.ID, b *RegisterSession) error {
	k := sessionKey(b.Session)
	if o.has(k) {
		return errf(ErrSessionExists, "%x", b.Session)
	}
	r := SessionRecord{Manifest: b.Manifest, Root: b.Root, Chunks: b.Chunks, Owner: b.Owner,
		Registrant: sender, Height: c.in.Height}
	o.set(k, r.Encode())
	return nil
}

func (c *execCtx) anchor(o *overlay, sender peer.ID, b *AnchorChunk) error {
	v, ok := o.get(sessionKey(b.Session))
	if !ok {
		return errf(ErrUnknownSession, "%x", b.Session)
	}
	r := mustDecodeSession(v)
	if r.Registrant != sender {
		return errf(ErrNotOwner, "session %x registered by %s", b.Session, r.Registrant)
	}
	if b.Index >= r.Chunks {
		return errf(ErrChunkIndex, "index %d, session has %d chunks", b.Index, r.Chunks)
	}
	k := chunkKey(b.Session, b.Index)
	if o.has(k) {
		return errf(ErrChunkAnchored, "session %x chunk %d", b.Session, b.Index)
	}
	o.set(k, bytes.Clone(b.Leaf[:]))
	return nil
}

func (c *execCtx) commitTally(o *overlay, sender peer.ID, b *CommitTally) error {
	if sender != c.in.Proposer {
		return errf(ErrNotProposer, "sender %s, proposer %s", sender, c.in.Proposer)
	}
	if cur := c.in.Slot / o.param(ParamEpochSlots); b.Epoch >= cur {
		return errf(ErrEpochNotOver, "epoch %d, current epoch %d", b.Epoch, cur)
	}
	if o.has(tallyKey(b.Epoch)) {
		return errf(ErrTallyCommitted, "epoch %d", b.Epoch)
	}
	t := TallyRecord{Root: b.Root, Proposer: sender, Height: c.in.Height}
	for _, e := range b.Credits {
		if o.has(slashKey(b.Epoch, e.Entity)) {
			continue
		}
		o.set(creditsKey(b.Epoch, e.Entity), be64(e.Micro))
		t.Entries++
	}
	o.set(tallyKey(b.Epoch), t.encode())
	return nil
}

func (c *execCtx) propose(o *overlay, sender peer.ID, b *ProposeParam) error {
	if _, ok := c.eligible[sender]; !ok {
		return errf(ErrNotEligible, "%s", sender)
	}
	spec, ok := LookupParam(b.Name)
	if !ok {
		return errf(ErrUnknownParam, "%q", b.Name)
	}
	if spec.Immutable {
		return errf(ErrImmutableParam, "%s", b.Name)
	}
	if err := checkParam(b.Name, b.Value); err != nil {
		return err
	}
	if err := checkCross(withParam(o, b.Name, b.Value)); err != nil {
		return err
	}
	id := o.u64(keyNextProposal)
	o.set(keyNextProposal, be64(id+1))
	h := c.in.Height
	electorate := uint64(len(c.eligible))
	// quorum = ceil(electorate · ppm / 10^6), at least 1; electorate is
	// bounded by the block's size, so the product cannot overflow.
	quorum := max((electorate*o.param(ParamGovQuorumPPM)+999_999)/1_000_000, 1)
	p := Proposal{ID: id, Name: b.Name, Value: b.Value, Proposer: sender, Height: h,
		Deadline: h + o.param(ParamGovVotingBlocks), Electorate: electorate, Quorum: quorum, Status: StatusOpen}
	p.ApplyAt = p.Deadline + o.param(ParamGovTimelockBlocks)
	o.set(proposalKey(id), p.encode())
	appendID(o, closeAtKey(p.Deadline+1), id)
	return nil
}

func (c *execCtx) vote(o *overlay, sender peer.ID, b *Vote) error {
	v, ok := o.get(proposalKey(b.Proposal))
	if !ok {
		return errf(ErrUnknownProposal, "%d", b.Proposal)
	}
	p := mustDecodeProposal(v)
	if c.in.Height > p.Deadline {
		return errf(ErrVotingClosed, "proposal %d closed at height %d", p.ID, p.Deadline)
	}
	if _, ok := c.eligible[sender]; !ok {
		return errf(ErrNotEligible, "%s", sender)
	}
	vk := voteKey(p.ID, sender)
	if o.has(vk) {
		return errf(ErrDoubleVote, "%s on proposal %d", sender, p.ID)
	}
	if b.Yes {
		p.Yes++
		o.set(vk, []byte{1})
	} else {
		p.No++
		o.set(vk, []byte{0})
	}
	o.set(proposalKey(p.ID), p.encode())
	return nil
}

func (c *execCtx) equivocation(o *overlay, b *Equivocation) error {
	if b.A.Slot != b.B.Slot {
		return errf(ErrBadEvidence, "slots %d and %d", b.A.Slot, b.B.Slot)
	}
	if b.A.Proposer != b.B.Proposer {
		return errf(ErrBadEvidence, "proposers %s and %s", b.A.Proposer, b.B.Proposer)
	}
	if err := b.A.VerifySignature(); err != nil {
		return errf(ErrBadEvidence, "header A: %v", err)
	}
	if err := b.B.VerifySignature(); err != nil {
		return errf(ErrBadEvidence, "header B: %v", err)
	}
	if !consensus.DetectEquivocation(&b.A, &b.B) {
		return errf(ErrBadEvidence, "the headers are one block")
	}
	epoch := uint64(b.A.Slot) / o.param(ParamEpochSlots)
	entity := nodeEntity(b.A.Proposer)
	sk := slashKey(epoch, entity)
	if o.has(sk) {
		return errf(ErrAlreadySlashed, "%s in epoch %d", b.A.Proposer, epoch)
	}
	ev := domainHash("lucid/vm/evidence/1\n", b.A.Encode(), b.B.Encode())
	o.set(sk, ev[:])
	o.del(creditsKey(epoch, entity))
	return nil
}

func (c *execCtx) claimStorage(o *overlay, sender peer.ID, b *ClaimStorage) error {
	v, ok := o.get(sessionKey(b.Session))
	if !ok {
		return errf(ErrUnknownSession, "%x", b.Session)
	}
	r := mustDecodeSession(v)
	if uint64(len(b.ChunkSizes)) != r.Chunks {
		return errf(ErrClaimMismatch, "%d chunk sizes, session %x has %d chunks", len(b.ChunkSizes), b.Session, r.Chunks)
	}
	k := claimKey(sender, b.Session)
	if o.has(k) {
		return errf(ErrClaimExists, "%s on session %x", sender, b.Session)
	}
	o.set(k, encodeClaim(b.ChunkSizes))
	return nil
}

// setPool applies the pool rules in order: a node whose record changed in
// this block's epoch can send no SetPool (ErrPoolChangeTooSoon); leaving
// needs a pool (ErrNotInPool); joining the pool it is in changes nothing
// (a success that writes nothing, so it does not count as a change);
// otherwise the record becomes {pool, epoch}. A leave keeps the record,
// with an empty pool, so the epoch rule also holds across leave and
// rejoin.
func (c *execCtx) setPool(o *overlay, sender peer.ID, b *SetPool) error {
	epoch := c.in.Slot / o.param(ParamEpochSlots)
	k := poolKey(sender)
	var cur poolRecord
	v, had := o.get(k)
	if had {
		cur = mustDecodePool(v)
		if cur.Epoch == epoch {
			return errf(ErrPoolChangeTooSoon, "%s changed its pool in epoch %d", sender, epoch)
		}
	}
	if len(b.Pool) == 0 && len(cur.Pool) == 0 {
		return errf(ErrNotInPool, "%s", sender)
	}
	if len(b.Pool) > 0 && bytes.Equal(cur.Pool, b.Pool) {
		return nil
	}
	r := poolRecord{Pool: bytes.Clone(b.Pool), Epoch: epoch}
	o.set(k, r.encode())
	return nil
}
