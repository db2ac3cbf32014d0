package chain

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"

	"github.com/lucidnet/lucid/chain"
	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/internal/canon"
	"github.com/lucidnet/lucid/vm"
)

// Layout in the node's store:
//
//	/chain/block/<hash>           block encoding (every valid block received)
//	/chain/pending/<height>/<hash> non-final blocks, re-added on restart
//	/chain/final/<height>         final block: hash and the misses it recorded
//	/chain/tx/<tx hash>           final transaction: block, index, code, gas
//	/chain/snapshot               the latest snapshot: block hash and state
//
// Heights are 16 hex digits so keys sort by height. A block is written
// (synced) before the node acknowledges it by forwarding it or building
// on it; finality and the snapshot are written as they advance. A crash
// loses nothing acknowledged: restart replays from the snapshot through
// the final index and re-adds the pending blocks.
const (
	blockPrefix   = "/chain/block/"
	pendingPrefix = "/chain/pending/"
	finalPrefix   = "/chain/final/"
	txPrefix      = "/chain/tx/"
	snapshotKey   = "/chain/snapshot"
)

// DefaultSnapshotEvery: a snapshot is written when finality has advanced
// this many blocks past the last one (and on Close).
const DefaultSnapshotEvery = 32

var (
	encMode = canon.EncMode(cbor.CoreDetEncOptions())
	decMode = canon.StrictDecMode(cbor.DecOptions{MaxArrayElements: chain.MaxBlockProofs, MaxNestedLevels: 8})
)

func hexKey(prefix string, h []byte) datastore.Key {
	return datastore.NewKey(prefix + hex.EncodeToString(h))
}

func heightKey(prefix string, h uint64) string { return fmt.Sprintf("%s%016x", prefix, h) }

type wireMiss struct {
	Slot   uint64 `cbor:"1,keyasint"`
	Entity []byte `cbor:"2,keyasint"`
}

type wireFinal struct {
	Hash   []byte     `cbor:"1,keyasint"`
	Misses []wireMiss `cbor:"2,keyasint,omitempty"`
}

// TxLocation is where a final transaction is.
type TxLocation struct {
	Block  [32]byte
	Height uint64
	Index  int
	Code   uint64
	Gas    uint64
}

type wireTxLoc struct {
	Block  []byte `cbor:"1,keyasint"`
	Height uint64 `cbor:"2,keyasint"`
	Index  uint64 `cbor:"3,keyasint"`
	Code   uint64 `cbor:"4,keyasint,omitempty"`
	Gas    uint64 `cbor:"5,keyasint,omitempty"`
}

type wireSnapshot struct {
	Hash  []byte `cbor:"1,keyasint"`
	State []byte `cbor:"2,keyasint"`
}

type store struct {
	ds datastore.Batching
}

func (s store) putBlock(ctx context.Context, b *consensus.Block) error {
	h := b.Hash()
	batch, err := s.ds.Batch(ctx)
	if err != nil {
		return err
	}
	if err := batch.Put(ctx, hexKey(blockPrefix, h[:]), b.Encode()); err != nil {
		return err
	}
	if err := batch.Put(ctx, datastore.NewKey(heightKey(pendingPrefix, b.Header.Height)+"/"+hex.EncodeToString(h[:])), nil); err != nil {
		return err
	}
	if err := batch.Commit(ctx); err != nil {
		return err
	}
	return s.ds.Sync(ctx, datastore.NewKey(blockPrefix))
}

func (s store) block(ctx context.Context, h [32]byte) (*consensus.Block, error) {
	raw, err := s.ds.Get(ctx, hexKey(blockPrefix, h[:]))
	if err != nil {
		return nil, err
	}
	return consensus.DecodeBlock(raw, consensus.BlockParams{MaxBlockBytes: len(raw), MaxBlockTxs: 1 << 20})
}

// finalize records blocks that became final: the final index, the
// transaction index, and drops them from the pending set.
func (s store) finalize(ctx context.Context, fs []chain.Final) error {
	batch, err := s.ds.Batch(ctx)
	if err != nil {
		return err
	}
	for _, f := range fs {
		h := f.Block.Hash()
		w := wireFinal{Hash: h[:]}
		for _, m := range f.Misses {
			w.Misses = append(w.Misses, wireMiss{Slot: uint64(m.Slot), Entity: []byte(m.Entity)})
		}
		if err := batch.Put(ctx, datastore.NewKey(heightKey(finalPrefix, f.Block.Header.Height)), canon.MustMarshal(encMode, &w)); err != nil {
			return err
		}
		if err := batch.Delete(ctx, datastore.NewKey(heightKey(pendingPrefix, f.Block.Header.Height)+"/"+hex.EncodeToString(h[:]))); err != nil {
			return err
		}
		for _, r := range f.Receipts {
			loc := wireTxLoc{Block: h[:], Height: f.Block.Header.Height, Index: uint64(r.Index), Code: r.Code, Gas: r.Gas}
			if err := batch.Put(ctx, hexKey(txPrefix, r.TxHash[:]), canon.MustMarshal(encMode, &loc)); err != nil {
				return err
			}
		}
	}
	if err := batch.Commit(ctx); err != nil {
		return err
	}
	return s.ds.Sync(ctx, datastore.NewKey("/chain"))
}

// prunePending deletes pending entries at or below the final height (the
// blocks lost to fork choice).
func (s store) prunePending(ctx context.Context, finalHeight uint64) error {
	keys, err := s.keys(ctx, pendingPrefix)
	if err != nil {
		return err
	}
	limit := heightKey(pendingPrefix, finalHeight+1)
	for _, k := range keys {
		if k >= limit {
			break
		}
		if err := s.ds.Delete(ctx, datastore.NewKey(k)); err != nil {
			return err
		}
	}
	return nil
}

func (s store) keys(ctx context.Context, prefix string) ([]string, error) {
	res, err := s.ds.Query(ctx, query.Query{Prefix: prefix, KeysOnly: true, Orders: []query.Order{query.OrderByKey{}}})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var out []string
	for e := range res.Next() {
		if e.Error != nil {
			return nil, e.Error
		}
		out = append(out, e.Key)
	}
	return out, nil
}

// final returns the final block at height with its misses.
func (s store) final(ctx context.Context, height uint64) (chain.StoredBlock, error) {
	raw, err := s.ds.Get(ctx, datastore.NewKey(heightKey(finalPrefix, height)))
	if err != nil {
		return chain.StoredBlock{}, err
	}
	h, misses, err := decodeFinal(raw)
	if err != nil {
		return chain.StoredBlock{}, fmt.Errorf("chain: final index at %d: %w", height, err)
	}
	b, err := s.block(ctx, h)
	if err != nil {
		return chain.StoredBlock{}, fmt.Errorf("chain: final block %d: %w", height, err)
	}
	return chain.StoredBlock{Block: b, Misses: misses}, nil
}

// decodeFinal reads a final-index record.
func decodeFinal(raw []byte) ([32]byte, []consensus.Miss, error) {
	var w wireFinal
	if err := canon.Decode(encMode, decMode, raw, &w); err != nil {
		return [32]byte{}, nil, fmt.Errorf("corrupt record: %w", err)
	}
	if len(w.Hash) != 32 {
		return [32]byte{}, nil, fmt.Errorf("corrupt record: hash of %d bytes", len(w.Hash))
	}
	var misses []consensus.Miss
	for _, m := range w.Misses {
		misses = append(misses, consensus.Miss{Slot: consensus.Slot(m.Slot), Entity: consensus.EntityID(m.Entity)})
	}
	return [32]byte(w.Hash), misses, nil
}

func (s store) finalHash(ctx context.Context, height uint64) ([32]byte, error) {
	sb, err := s.final(ctx, height)
	if err != nil {
		return [32]byte{}, err
	}
	return sb.Block.Hash(), nil
}

func (s store) tx(ctx context.Context, h [32]byte) (TxLocation, error) {
	raw, err := s.ds.Get(ctx, hexKey(txPrefix, h[:]))
	if err != nil {
		return TxLocation{}, err
	}
	return decodeTxLoc(raw)
}

// decodeTxLoc reads a transaction-index record.
func decodeTxLoc(raw []byte) (TxLocation, error) {
	var w wireTxLoc
	if err := canon.Decode(encMode, decMode, raw, &w); err != nil {
		return TxLocation{}, fmt.Errorf("chain: tx index: corrupt record: %w", err)
	}
	if len(w.Block) != 32 || w.Index > chain.MaxBlockProofs*16 {
		return TxLocation{}, fmt.Errorf("chain: tx index: corrupt record (block hash %d bytes, index %d)", len(w.Block), w.Index)
	}
	return TxLocation{Block: [32]byte(w.Block), Height: w.Height, Index: int(w.Index), Code: w.Code, Gas: w.Gas}, nil
}

func (s store) putSnapshot(ctx context.Context, h [32]byte, st *vm.State) error {
	w := wireSnapshot{Hash: h[:], State: st.Snapshot()}
	if err := s.ds.Put(ctx, datastore.NewKey(snapshotKey), canon.MustMarshal(encMode, &w)); err != nil {
		return err
	}
	return s.ds.Sync(ctx, datastore.NewKey(snapshotKey))
}

// snapshot returns the stored snapshot's block and state, verified
// against the block's state root; datastore.ErrNotFound when there is none.
func (s store) snapshot(ctx context.Context) (*consensus.Block, *vm.State, error) {
	raw, err := s.ds.Get(ctx, datastore.NewKey(snapshotKey))
	if err != nil {
		return nil, nil, err
	}
	h, stBytes, err := decodeSnapshotRecord(raw)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.block(ctx, h)
	if err != nil {
		return nil, nil, fmt.Errorf("chain: snapshot block: %w", err)
	}
	st, err := vm.RestoreState(stBytes, b.Header.StateRoot)
	if err != nil {
		return nil, nil, err
	}
	return b, st, nil
}

var snapshotDec = canon.StrictDecMode(cbor.DecOptions{})

// decodeSnapshotRecord reads the snapshot record: block hash and state
// bytes (checked against the block's state root by the caller).
func decodeSnapshotRecord(raw []byte) ([32]byte, []byte, error) {
	var w wireSnapshot
	if err := canon.Decode(encMode, snapshotDec, raw, &w); err != nil {
		return [32]byte{}, nil, fmt.Errorf("chain: snapshot: corrupt record: %w", err)
	}
	if len(w.Hash) != 32 {
		return [32]byte{}, nil, fmt.Errorf("chain: snapshot: corrupt record: hash of %d bytes", len(w.Hash))
	}
	return [32]byte(w.Hash), w.State, nil
}

var errNotFound = datastore.ErrNotFound

func isNotFound(err error) bool { return errors.Is(err, errNotFound) }

// snapshotRaw returns the stored snapshot record's block hash and state
// bytes without decoding the state (to serve it).
func (s store) snapshotRaw(ctx context.Context) ([32]byte, []byte, error) {
	raw, err := s.ds.Get(ctx, datastore.NewKey(snapshotKey))
	if err != nil {
		return [32]byte{}, nil, err
	}
	return decodeSnapshotRecord(raw)
}

// putFinalHistory stores blocks a snapshot sync fetched: the blocks and
// their final-index records.
func (s store) putFinalHistory(ctx context.Context, sbs []chain.StoredBlock) error {
	for _, sb := range sbs {
		if err := s.putBlock(ctx, sb.Block); err != nil {
			return err
		}
	}
	fs := make([]chain.Final, len(sbs))
	for i, sb := range sbs {
		fs[i] = chain.Final{StoredBlock: sb}
	}
	return s.finalize(ctx, fs)
}
