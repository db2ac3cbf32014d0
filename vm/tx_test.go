package vm

import (
	"github.com/lucidnet/lucid/consensus"

	"bytes"
	"encoding/hex"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/require"
)

func sampleBodies(t testing.TB) []Body {
	a := newActor(t, "a")
	h1 := Header{Slot: 7, Height: 3, Prev: h32("p"), TxRoot: h32("t1"), StateRoot: h32("s"), Proposer: a.id}
	h2 := h1
	h2.TxRoot = h32("t2")
	require.NoError(t, h1.Sign(a.priv))
	require.NoError(t, h2.Sign(a.priv))
	ev := &Equivocation{A: h1, B: h2}
	if string(h1.Encode()) > string(h2.Encode()) {
		ev = &Equivocation{A: h2, B: h1}
	}
	return []Body{
		register(1, 10),
		&AnchorChunk{Session: sid(1), Index: 0, Leaf: h32("leaf")},
		&AnchorChunk{Session: sid(1), Index: 9, Leaf: h32("leaf")},
		&CommitTally{Epoch: 0, Root: h32("tally"), Credits: []Credit{
			{Entity: nodeEntity(a.id), Micro: 5}, {Entity: []byte{0x02, 'p'}, Micro: 1}}},
		&CommitTally{Epoch: 3, Root: h32("tally")},
		&ProposeParam{Name: "cooldown_slots", Value: 32},
		&Vote{Proposal: 1, Yes: true},
		&Vote{Proposal: 2},
		ev,
		&RegisterSession{Session: sid(2), Chunks: 1, Owner: []byte{1}}, // zero hashes
		&Vote{Proposal: 1 << 40, Yes: true},
		&ClaimStorage{Session: sid(1), ChunkSizes: []uint64{1 << 20, 1 << 20, 4711}},
		&ClaimStorage{Session: sid(2), ChunkSizes: []uint64{MaxClaimChunkSize}},
		&SetPool{Pool: []byte("pool-1")},
		&SetPool{Pool: bytes.Repeat([]byte{0xff}, MaxPoolLen)},
		&SetPool{}, // leave
	}
}

func TestTxRoundTrip(t *testing.T) {
	a := newActor(t, "a")
	for i, body := range sampleBodies(t) {
		raw := a.tx(t, uint64(i), body)
		tx, err := DecodeTx(raw)
		require.NoError(t, err, "body %d", i)
		require.Equal(t, raw, tx.Encode())
		require.NoError(t, tx.VerifySignature())
		require.Equal(t, body.Type(), tx.Body.Type())
		require.Equal(t, mustMarshal(body.wire()), mustMarshal(tx.Body.wire()))
	}
}

func TestTxSignature(t *testing.T) {
	a, b := newActor(t, "a"), newActor(t, "b")
	raw := a.tx(t, 0, register(1, 1))
	tx, err := DecodeTx(raw)
	require.NoError(t, err)
	// Tampering with any signed field breaks the signature.
	tx.Nonce = 1
	require.ErrorIs(t, tx.VerifySignature(), ErrBadSignature)
	tx.Nonce = 0
	tx.Sender = b.id
	require.ErrorIs(t, tx.VerifySignature(), ErrBadSignature)
	// A key that is not the sender's cannot sign.
	tx.Sender = a.id
	require.ErrorIs(t, tx.Sign(b.priv), ErrInvalidArgument)
	// Domain separation: a header signature over the same bytes is no tx
	// signature.
	sig, err := a.priv.Sign(tx.SigningBytes()[len(TxDomain):])
	require.NoError(t, err)
	tx.Sig = sig
	require.ErrorIs(t, tx.VerifySignature(), ErrBadSignature)
}

func TestDecodeTxRejects(t *testing.T) {
	a := newActor(t, "a")
	good := a.tx(t, 0, register(1, 1))
	var w wireTx
	require.NoError(t, decMode.Unmarshal(good, &w))
	enc := func(v any) []byte { b, err := cbor.Marshal(v); require.NoError(t, err); return b }
	body := func(v any) []byte {
		w2 := w
		w2.Body = enc(v)
		return mustMarshal(&w2)
	}
	s1 := sid(1)
	reg := wireRegister{Session: s1[:], Manifest: make([]byte, 32), Root: make([]byte, 32), Chunks: 1, Owner: []byte{1}}
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"empty":            {nil, ErrMalformed},
		"not a map":        {[]byte{0x01}, ErrMalformed},
		"trailing":         {append(append([]byte(nil), good...), 0), ErrMalformed},
		"version 2":        {func() []byte { w2 := w; w2.Version = 2; return mustMarshal(&w2) }(), ErrUnsupportedVersion},
		"unknown type":     {func() []byte { w2 := w; w2.Type = 99; return mustMarshal(&w2) }(), ErrMalformed},
		"bad sender":       {func() []byte { w2 := w; w2.Sender = []byte{1, 2}; return mustMarshal(&w2) }(), ErrMalformed},
		"short sig":        {func() []byte { w2 := w; w2.Sig = w.Sig[:63]; return mustMarshal(&w2) }(), ErrMalformed},
		"unknown key":      {enc(map[uint64]any{1: 1, 2: 1, 3: w.Sender, 5: w.Body, 6: w.Sig, 7: 1}), ErrMalformed},
		"explicit zero":    {enc(map[uint64]any{1: 1, 2: 1, 3: w.Sender, 4: 0, 5: w.Body, 6: w.Sig}), ErrMalformed},
		"zero chunks":      {body(func() wireRegister { r := reg; r.Chunks = 0; return r }()), ErrMalformed},
		"huge chunks":      {body(func() wireRegister { r := reg; r.Chunks = 1 << 32; return r }()), ErrMalformed},
		"short session":    {body(func() wireRegister { r := reg; r.Session = r.Session[:15]; return r }()), ErrMalformed},
		"short manifest":   {body(func() wireRegister { r := reg; r.Manifest = r.Manifest[:31]; return r }()), ErrMalformed},
		"no owner":         {body(func() wireRegister { r := reg; r.Owner = nil; return r }()), ErrMalformed},
		"long owner":       {body(func() wireRegister { r := reg; r.Owner = make([]byte, 65); return r }()), ErrMalformed},
		"body extra key":   {body(map[uint64]any{1: reg.Session, 2: reg.Manifest, 3: reg.Root, 4: 1, 5: reg.Owner, 6: 1}), ErrMalformed},
		"non-shortest int": {append(append(append([]byte(nil), good[:2]...), 0x18, 0x01), good[3:]...), ErrMalformed},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeTx(c.b)
			require.ErrorIs(t, err, c.want)
		})
	}
}

func TestDecodeBodyRejects(t *testing.T) {
	a := newActor(t, "a")
	e := nodeEntity(a.id)
	for name, c := range map[string]struct {
		typ  TxType
		body any
	}{
		"tally unsorted": {TypeCommitTally, wireTally{Root: make([]byte, 32), Credits: []wireCredit{{Entity: []byte{2, 'b'}, Micro: 1}, {Entity: []byte{2, 'a'}, Micro: 1}}}},
		"tally dup":      {TypeCommitTally, wireTally{Root: make([]byte, 32), Credits: []wireCredit{{Entity: e, Micro: 1}, {Entity: e, Micro: 1}}}},
		"tally zero":     {TypeCommitTally, wireTally{Root: make([]byte, 32), Credits: []wireCredit{{Entity: e}}}},
		"tally entity":   {TypeCommitTally, wireTally{Root: make([]byte, 32), Credits: []wireCredit{{Entity: []byte{9, 9}, Micro: 1}}}},
		"tally no root":  {TypeCommitTally, wireTally{Epoch: 1}},
		"vote zero":      {TypeVote, wireVote{Yes: true}},
		"param no name":  {TypeProposeParam, wirePropose{Value: 3}},
		"anchor no leaf": {TypeAnchorChunk, wireAnchor{Session: make([]byte, 16)}},
		"evidence empty": {TypeEquivocation, wireEvidence{}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeBody(c.typ, mustMarshal(c.body))
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestEvidenceCanonicalOrder(t *testing.T) {
	var ev *Equivocation
	for _, b := range sampleBodies(t) {
		if e, ok := b.(*Equivocation); ok {
			ev = e
		}
	}
	swapped := &Equivocation{A: ev.B, B: ev.A}
	_, err := decodeBody(TypeEquivocation, mustMarshal(swapped.wire()))
	require.ErrorIs(t, err, ErrMalformed)
	same := &Equivocation{A: ev.A, B: ev.A}
	_, err = decodeBody(TypeEquivocation, mustMarshal(same.wire()))
	require.ErrorIs(t, err, ErrMalformed)
}

func TestHeaderRoundTrip(t *testing.T) {
	a := newActor(t, "a")
	h := Header{Slot: 1, Height: 1, Proposer: a.id}
	require.NoError(t, h.Sign(a.priv))
	got, err := DecodeHeader(h.Encode())
	require.NoError(t, err)
	require.Equal(t, h.Encode(), got.Encode())
	require.NoError(t, got.VerifySignature())
	got.Height = 2
	require.ErrorIs(t, got.VerifySignature(), consensus.ErrBlockSignature)
	_, err = DecodeHeader([]byte{0xa0})
	require.Error(t, err)
	t.Log(hex.EncodeToString(h.Encode()))
}
