package chain

import (
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/internal/golden"
	"github.com/lucidnet/lucid/vm"
)

// The golden vector pins what nodes must agree on byte for byte: the
// genesis document's hash and block, ten blocks with their proofs and two
// transactions, the head and its state root. Ed25519 signatures are
// deterministic and the sim has no randomness, so the file only changes
// when an encoding, a hash domain, the schedule or an execution rule
// does; such a change splits the network and needs a review of the diff.
// Rewrite with: go test ./chain -run Golden -update

const genesis10Path = "testdata/genesis10.golden"

type goldenChain struct {
	Description string   `json:"description"`
	Genesis     string   `json:"genesis_json"`
	GenesisHash string   `json:"genesis_doc_hash"`
	GenesisBlk  string   `json:"genesis_block_hash"`
	Blocks      []string `json:"blocks"`
	Head        string   `json:"head_hash"`
	HeadHeight  uint64   `json:"head_height"`
	StateRoot   string   `json:"state_root"`
}

// signTx signs body as key's transaction with nonce.
func signTx(t testing.TB, key crypto.PrivKey, nonce uint64, body vm.Body) []byte {
	t.Helper()
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tx := &vm.Tx{Sender: id, Nonce: nonce, Body: body}
	if err := tx.Sign(key); err != nil {
		t.Fatal(err)
	}
	return tx.Encode()
}

func goldenSession(i byte) *vm.RegisterSession {
	return &vm.RegisterSession{Session: vm.SessionID{0: 0x60, 15: i}, Manifest: [32]byte{0: 0xaa, 31: i},
		Root: [32]byte{0: 0xbb, 31: i}, Chunks: 4, Owner: []byte("golden-owner")}
}

func makeGoldenChain(t *testing.T) goldenChain {
	t.Helper()
	s := newSim(t, 4)
	e0 := s.engines[0]
	gj, err := json.Marshal(e0.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	gh := e0.Genesis().Hash()
	gb := e0.GenesisHash()
	g := goldenChain{
		Description: "chain v1: testGenesis(testKeys(4)) (DevParams) and the lockstep sim's first ten slots, " +
			"every node beaconing; slot 2 carries a RegisterSession, slot 3 a ProposeParam (fails: no electorate yet)",
		Genesis: string(gj), GenesisHash: hex.EncodeToString(gh[:]), GenesisBlk: hex.EncodeToString(gb[:]),
	}
	var prev [][]byte
	for slot := consensus.Slot(1); slot <= 10; slot++ {
		switch slot {
		case 2:
			s.txs = [][]byte{signTx(t, s.keys[1], 0, goldenSession(1))}
		case 3:
			s.txs = [][]byte{signTx(t, s.keys[2], 0, &vm.ProposeParam{Name: "max_session_duration_s", Value: 7200})}
		}
		b := s.step(slot, prev)
		if b == nil {
			t.Fatalf("slot %d: no block", slot)
		}
		if (slot == 2 || slot == 3) && len(b.Body.Txs) != 1 {
			t.Fatalf("slot %d: transaction not included", slot)
		}
		prev = s.beacons(slot)
		g.Blocks = append(g.Blocks, hex.EncodeToString(b.Encode()))
	}
	h := e0.Head()
	hh, root := h.Hash(), e0.HeadState().Root()
	g.Head, g.HeadHeight, g.StateRoot = hex.EncodeToString(hh[:]), h.Height, hex.EncodeToString(root[:])
	return g
}

func TestGoldenGenesis10(t *testing.T) {
	got := makeGoldenChain(t)
	gotBytes, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	gotBytes = append(gotBytes, '\n')
	want := golden.Bytes(t, filepath.FromSlash(genesis10Path), gotBytes)
	if string(want) != string(gotBytes) {
		t.Fatalf("regenerated chain differs from %s:\n got %s\nwant %s", genesis10Path, gotBytes, want)
	}

	// Replay from the file alone: its genesis document and block bytes,
	// on a fresh engine, must reach its head and state root.
	var gf goldenChain
	if err := json.Unmarshal(want, &gf); err != nil {
		t.Fatal(err)
	}
	var gen Genesis
	if err := json.Unmarshal([]byte(gf.Genesis), &gen); err != nil {
		t.Fatal(err)
	}
	if err := gen.Validate(); err != nil {
		t.Fatal(err)
	}
	e, err := New(&gen)
	if err != nil {
		t.Fatal(err)
	}
	if h := e.GenesisHash(); hex.EncodeToString(h[:]) != gf.GenesisBlk {
		t.Fatalf("genesis block %x, file %s", h, gf.GenesisBlk)
	}
	limits := consensus.BlockParams{MaxBlockBytes: 16 << 20, MaxBlockTxs: 10_000}
	for i, hb := range gf.Blocks {
		raw, err := hex.DecodeString(hb)
		if err != nil {
			t.Fatal(err)
		}
		b, err := consensus.DecodeBlock(raw, limits)
		if err != nil {
			t.Fatalf("block %d: %v", i+1, err)
		}
		if string(b.Encode()) != string(raw) {
			t.Fatalf("block %d does not re-encode to its bytes", i+1)
		}
		if _, err := e.Add(b, consensus.ArrivalAny); err != nil {
			t.Fatalf("block %d: %v", i+1, err)
		}
	}
	hh, root := e.Head().Hash(), e.HeadState().Root()
	if hex.EncodeToString(hh[:]) != gf.Head || hex.EncodeToString(root[:]) != gf.StateRoot || e.Head().Height != gf.HeadHeight {
		t.Fatalf("replay reached head %x (height %d) root %x; file %s (height %d) root %s",
			hh, e.Head().Height, root, gf.Head, gf.HeadHeight, gf.StateRoot)
	}
}
