package chain

import (
	"cmp"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/vm"
)

// Mempool limits.
const (
	maxPoolTxs       = 10_000
	maxPoolPerSender = 64
	maxTxBytes       = 64 << 10
)

type pendingTx struct {
	raw  []byte
	tx   *vm.Tx
	hash [32]byte
	seq  uint64 // arrival order
}

// mempool holds transactions waiting for a block: checked (encoding,
// signature) and not yet behind their sender's nonce at the head.
type mempool struct {
	byHash map[[32]byte]*pendingTx
	bySend map[peer.ID]map[uint64]*pendingTx // sender → nonce → tx (first seen wins)
	seq    uint64
}

func newMempool() *mempool {
	return &mempool{byHash: map[[32]byte]*pendingTx{}, bySend: map[peer.ID]map[uint64]*pendingTx{}}
}

// add keeps a checked transaction; false when it is known, its nonce is
// taken or the pool is full.
func (m *mempool) add(raw []byte, tx *vm.Tx, head *vm.State) bool {
	h := tx.Hash()
	if _, ok := m.byHash[h]; ok || tx.Nonce < head.Nonce(tx.Sender) || len(m.byHash) >= maxPoolTxs {
		return false
	}
	ns := m.bySend[tx.Sender]
	if ns == nil {
		ns = map[uint64]*pendingTx{}
		m.bySend[tx.Sender] = ns
	}
	if _, taken := ns[tx.Nonce]; taken || len(ns) >= maxPoolPerSender {
		return false
	}
	m.seq++
	p := &pendingTx{raw: raw, tx: tx, hash: h, seq: m.seq}
	ns[tx.Nonce] = p
	m.byHash[h] = p
	return true
}

// candidates lists the transactions that can go into a block after head:
// per sender the run of consecutive nonces from its next one, senders in
// the order their first such transaction arrived.
func (m *mempool) candidates(head *vm.State) [][]byte {
	type run struct {
		seq uint64
		txs []*pendingTx
	}
	var runs []run
	for sender, ns := range m.bySend {
		var r run
		for n := head.Nonce(sender); ; n++ {
			p, ok := ns[n]
			if !ok {
				break
			}
			if len(r.txs) == 0 {
				r.seq = p.seq
			}
			r.txs = append(r.txs, p)
		}
		if len(r.txs) > 0 {
			runs = append(runs, r)
		}
	}
	slices.SortFunc(runs, func(a, b run) int { return cmp.Compare(a.seq, b.seq) })
	var out [][]byte
	for _, r := range runs {
		for _, p := range r.txs {
			out = append(out, p.raw)
		}
	}
	return out
}

// prune drops what head made stale: transactions at or behind their
// sender's next nonce.
func (m *mempool) prune(head *vm.State) {
	for sender, ns := range m.bySend {
		next := head.Nonce(sender)
		for n, p := range ns {
			if n < next {
				delete(ns, n)
				delete(m.byHash, p.hash)
			}
		}
		if len(ns) == 0 {
			delete(m.bySend, sender)
		}
	}
}

// nextNonce is the nonce a new transaction of sender takes: after its
// pending ones.
func (m *mempool) nextNonce(sender peer.ID, head *vm.State) uint64 {
	n := head.Nonce(sender)
	for {
		if _, ok := m.bySend[sender][n]; !ok {
			return n
		}
		n++
	}
}

func (m *mempool) get(h [32]byte) (*pendingTx, bool) { p, ok := m.byHash[h]; return p, ok }

func (m *mempool) len() int { return len(m.byHash) }

// registration returns the pooled registration of a session, if any.
func (m *mempool) registration(id vm.SessionID) ([32]byte, bool) {
	for h, p := range m.byHash {
		if r, ok := p.tx.Body.(*vm.RegisterSession); ok && r.Session == id {
			return h, true
		}
	}
	return [32]byte{}, false
}

// proofPool holds PoOT proofs gossip accepted, for the blocks this node
// proposes, until they are too old to include.
type proofPool struct {
	byID map[[32]byte]pooledProof
}

type pooledProof struct {
	raw  []byte
	slot consensus.Slot
	seq  uint64
}

func (pp *proofPool) add(raw []byte, p *consensus.Proof, seq uint64) {
	if pp.byID == nil {
		pp.byID = map[[32]byte]pooledProof{}
	}
	id := p.ID()
	if _, ok := pp.byID[id]; !ok && len(pp.byID) < 4*chain.MaxBlockProofs {
		pp.byID[id] = pooledProof{raw: raw, slot: p.Slot, seq: seq}
	}
}

// candidates lists the pooled proofs oldest slot first (they expire
// first), then in arrival order.
func (pp *proofPool) candidates() [][]byte {
	ps := make([]pooledProof, 0, len(pp.byID))
	for _, p := range pp.byID {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b pooledProof) int {
		if c := cmp.Compare(a.slot, b.slot); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i] = p.raw
	}
	return out
}

// prune drops proofs for slots before lo: too old for any block. Proofs
// a block already includes stay until then; the builder skips them (the
// inclusion rules refuse a proof already on the branch).
func (pp *proofPool) prune(lo consensus.Slot) {
	for id, p := range pp.byID {
		if p.slot < lo {
			delete(pp.byID, id)
		}
	}
}
