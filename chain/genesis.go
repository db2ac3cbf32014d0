package chain

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"lukechampine.com/blake3"

	"github.com/lucidnet/lucid/consensus"
	"github.com/lucidnet/lucid/internal/canon"
	"github.com/lucidnet/lucid/vm"
)

// Genesis is the document every node of one chain starts from: the
// chain's name, the start of slot 0, the original node (which proposes
// the slots nobody is eligible to lead yet) and the parameters that
// differ from the registry defaults. Its hash is the genesis block's
// Prev, so two chains with different documents share no block.
type Genesis struct {
	ChainID string `json:"chain_id"`
	// Time is the start of slot 0, whole milliseconds.
	Time time.Time `json:"genesis_time"`
	// Bootstrap is the original node's peer ID.
	Bootstrap peer.ID `json:"bootstrap"`
	// Params override registry defaults (vm.Params lists them).
	Params map[string]uint64 `json:"params,omitempty"`
	// Dev allows Params outside the governance bounds (short slots, a
	// small window) for development and test networks.
	Dev bool `json:"dev,omitempty"`
}

type genesisJSON struct {
	ChainID   string            `json:"chain_id"`
	Time      time.Time         `json:"genesis_time"`
	Bootstrap string            `json:"bootstrap"`
	Params    map[string]uint64 `json:"params,omitempty"`
	Dev       bool              `json:"dev,omitempty"`
}

// MarshalJSON writes the peer ID in its text form.
func (g Genesis) MarshalJSON() ([]byte, error) {
	return json.Marshal(genesisJSON{ChainID: g.ChainID, Time: g.Time.UTC(), Bootstrap: g.Bootstrap.String(), Params: g.Params, Dev: g.Dev})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (g *Genesis) UnmarshalJSON(b []byte) error {
	var w genesisJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	id, err := peer.Decode(w.Bootstrap)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	*g = Genesis{ChainID: w.ChainID, Time: w.Time, Bootstrap: id, Params: w.Params, Dev: w.Dev}
	return nil
}

// LoadGenesis reads and validates a genesis file.
func LoadGenesis(path string) (*Genesis, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var g Genesis
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("chain: genesis %s: %w", path, err)
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("chain: genesis %s: %w", path, err)
	}
	return &g, nil
}

// Save writes the genesis file (indented JSON).
func (g *Genesis) Save(path string) error {
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Validate checks the document: a chain ID, a whole-millisecond time, a
// bootstrap ID with an embedded key, and parameters the VM and PoOT accept.
func (g *Genesis) Validate() error {
	if g.ChainID == "" || len(g.ChainID) > 64 {
		return errors.New("chain_id must be 1..64 bytes")
	}
	if g.Time.IsZero() || g.Time.UnixMilli() < 0 || !g.Time.Equal(time.UnixMilli(g.Time.UnixMilli())) {
		return fmt.Errorf("genesis_time %v must be a whole millisecond after 1970", g.Time)
	}
	if _, err := g.Bootstrap.ExtractPublicKey(); err != nil {
		return fmt.Errorf("bootstrap %q: %w", g.Bootstrap, err)
	}
	_, err := g.State()
	return err
}

// State is the genesis state: the registry with the overrides.
func (g *Genesis) State() (*vm.State, error) {
	gen := vm.Genesis
	if g.Dev {
		gen = vm.DevGenesis
	}
	s, err := gen(g.Params)
	if err != nil {
		return nil, err
	}
	if _, err := ConsensusParams(s, g.Time); err != nil {
		return nil, err
	}
	return s, nil
}

type wireGenesis struct {
	ChainID   string            `cbor:"1,keyasint"`
	TimeMs    int64             `cbor:"2,keyasint"`
	Bootstrap []byte            `cbor:"3,keyasint"`
	Params    map[string]uint64 `cbor:"4,keyasint"`
	Dev       bool              `cbor:"5,keyasint"`
}

var genesisEnc = canon.EncMode(cbor.CoreDetEncOptions())

// Hash commits to the whole document: BLAKE3 over a domain tag and its
// canonical CBOR encoding (map keys sorted, so JSON key order and
// whitespace do not matter).
func (g *Genesis) Hash() [32]byte {
	params := g.Params
	if params == nil {
		params = map[string]uint64{}
	}
	b := canon.MustMarshal(genesisEnc, &wireGenesis{ChainID: g.ChainID, TimeMs: g.Time.UnixMilli(),
		Bootstrap: []byte(g.Bootstrap), Params: params, Dev: g.Dev})
	h := blake3.New(32, nil)
	h.Write([]byte("lucid/chain/genesis/1\n"))
	h.Write(b)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Header is the genesis block: height 0, slot 0, Prev the document's
// hash, the bootstrap node as proposer, empty bodies, the genesis state
// root, no signature (every node derives it; nobody signs it).
func (g *Genesis) Header() (consensus.BlockHeader, error) {
	s, err := g.State()
	if err != nil {
		return consensus.BlockHeader{}, err
	}
	return consensus.BlockHeader{Version: consensus.BlockVersion, Prev: g.Hash(), Proposer: g.Bootstrap,
		TxRoot: consensus.TxRoot(nil), ProofRoot: consensus.ProofRoot(nil), StateRoot: s.Root()}, nil
}

// ParamNames lists the overrides in order (for display).
func (g *Genesis) ParamNames() []string { return slices.Sorted(maps.Keys(g.Params)) }

// DevGenesis is a development network's genesis: DevParams, slot 0
// starting at start (rounded down to the millisecond), bootstrap the
// first node.
func DevGenesis(chainID string, bootstrap peer.ID, start time.Time) *Genesis {
	return &Genesis{ChainID: chainID, Time: time.UnixMilli(start.UnixMilli()).UTC(), Bootstrap: bootstrap, Dev: true, Params: DevParams()}
}
