package chain

import (
	"encoding/json"
	"errors"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/lucidnet/lucid/vm"
)

func TestGenesisJSONRoundTrip(t *testing.T) {
	_, ids := testKeys(t, 1)
	g := testGenesis(ids[0])
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var back Genesis
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.ChainID != g.ChainID || !back.Time.Equal(g.Time) || back.Bootstrap != g.Bootstrap ||
		back.Dev != g.Dev || !maps.Equal(back.Params, g.Params) {
		t.Fatalf("round trip: %+v, want %+v", back, g)
	}
	if back.Hash() != g.Hash() {
		t.Fatal("hash changed across a JSON round trip")
	}

	// Save and LoadGenesis are the file form of the same round trip.
	path := filepath.Join(t.TempDir(), "genesis.json")
	if err := g.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadGenesis(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Hash() != g.Hash() {
		t.Fatal("hash changed across Save/LoadGenesis")
	}
	gh, _ := g.Header()
	lh, _ := loaded.Header()
	if gh.Hash() != lh.Hash() {
		t.Fatal("genesis block changed across Save/LoadGenesis")
	}
}

func TestGenesisHashIgnoresJSONLayout(t *testing.T) {
	_, ids := testKeys(t, 1)
	id := ids[0].String()
	// Nodes hand the file around and edit it by hand: key order, spacing
	// and the zone of the time must not fork the chain.
	docs := []string{
		`{"chain_id":"c","genesis_time":"2023-11-14T22:13:20Z","bootstrap":"` + id + `","params":{"lookahead":1,"accept_window":2},"dev":true}`,
		"{\n  \"dev\": true,\n  \"params\": {\"accept_window\": 2, \"lookahead\": 1},\n  \"bootstrap\": \"" + id +
			"\",\n\t\"genesis_time\": \"2023-11-15T00:13:20+02:00\",\n  \"chain_id\": \"c\"\n}\n",
		`{"params":{"accept_window":2,"lookahead":1},"bootstrap":"` + id + `","genesis_time":"2023-11-14T22:13:20.000Z","chain_id":"c","dev":true}`,
	}
	var first [32]byte
	for i, d := range docs {
		var g Genesis
		if err := json.Unmarshal([]byte(d), &g); err != nil {
			t.Fatalf("doc %d: %v", i, err)
		}
		if err := g.Validate(); err != nil {
			t.Fatalf("doc %d: %v", i, err)
		}
		if i == 0 {
			first = g.Hash()
		} else if g.Hash() != first {
			t.Fatalf("doc %d hashes differently", i)
		}
	}
	// Every field is committed to.
	base := Genesis{ChainID: "c", Time: time.UnixMilli(1_700_000_000_000), Bootstrap: ids[0],
		Params: map[string]uint64{"lookahead": 1, "accept_window": 2}, Dev: true}
	if base.Hash() != first {
		t.Fatal("struct and JSON forms hash differently")
	}
	variants := map[string]func(g *Genesis){
		"chain id":    func(g *Genesis) { g.ChainID = "d" },
		"time":        func(g *Genesis) { g.Time = g.Time.Add(time.Millisecond) },
		"bootstrap":   func(g *Genesis) { _, o := testKeys(t, 2); g.Bootstrap = o[1] },
		"param value": func(g *Genesis) { g.Params = map[string]uint64{"lookahead": 2, "accept_window": 2} },
		"dev":         func(g *Genesis) { g.Dev = false },
	}
	for name, f := range variants {
		v := base
		f(&v)
		if v.Hash() == first {
			t.Errorf("%s: not committed to by the hash", name)
		}
	}
	// No params and empty params are one document.
	a, b := base, base
	a.Params, b.Params = nil, map[string]uint64{}
	if a.Hash() != b.Hash() {
		t.Fatal("nil and empty params hash differently")
	}
}

func TestGenesisValidate(t *testing.T) {
	_, ids := testKeys(t, 1)
	ok := func() Genesis { return *testGenesis(ids[0]) }
	cases := []struct {
		name string
		edit func(g *Genesis)
		want error  // sentinel, when there is one
		msg  string // else a part of the message
	}{
		{"ok dev", func(*Genesis) {}, nil, ""},
		{"ok production", func(g *Genesis) { g.Dev, g.Params = false, nil }, nil, ""},
		{"ok production override", func(g *Genesis) { g.Dev, g.Params = false, map[string]uint64{"d_min": 200_000} }, nil, ""},
		{"empty chain id", func(g *Genesis) { g.ChainID = "" }, nil, "chain_id"},
		{"long chain id", func(g *Genesis) { g.ChainID = strings.Repeat("x", 65) }, nil, "chain_id"},
		{"zero time", func(g *Genesis) { g.Time = time.Time{} }, nil, "genesis_time"},
		{"sub-millisecond time", func(g *Genesis) { g.Time = g.Time.Add(time.Microsecond) }, nil, "genesis_time"},
		{"time before 1970", func(g *Genesis) { g.Time = time.UnixMilli(-1000) }, nil, "genesis_time"},
		{"no bootstrap", func(g *Genesis) { g.Bootstrap = "" }, nil, "bootstrap"},
		{"bad bootstrap", func(g *Genesis) { g.Bootstrap = peer.ID("not a peer id") }, nil, "bootstrap"},
		{"unknown param", func(g *Genesis) { g.Params = map[string]uint64{"no_such_param": 1} }, vm.ErrUnknownParam, ""},
		{"dev params without dev", func(g *Genesis) { g.Dev = false }, vm.ErrParamOutOfBounds, ""},
		{"out of bounds without dev", func(g *Genesis) { g.Dev, g.Params = false, map[string]uint64{"d_min": 1} }, vm.ErrParamOutOfBounds, ""},
		{"out of bounds with dev", func(g *Genesis) { g.Params["max_session_duration_s"] = 10 }, nil, ""},
		// consensus.Params keeps its own (wider) bounds even under Dev.
		{"outside consensus bounds with dev", func(g *Genesis) { g.Params["d_min"] = 1 }, nil, "parameters in state"},
		// Dev lifts the bounds, not the constraints between parameters.
		{"cross constraint with dev", func(g *Genesis) { g.Params[vm.ParamMaxFallbacks] = 16 }, vm.ErrParamOutOfBounds, ""},
		{"consensus rejects with dev", func(g *Genesis) { g.Params["accept_window"] = 0 }, nil, "parameters in state"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := ok()
			g.Params = maps.Clone(g.Params)
			c.edit(&g)
			err := g.Validate()
			switch {
			case c.want == nil && c.msg == "":
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if _, err := New(&g); err != nil {
					t.Fatalf("valid genesis, but New: %v", err)
				}
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("got %v, want %v", err, c.want)
			case c.msg != "" && (err == nil || !strings.Contains(err.Error(), c.msg)):
				t.Fatalf("got %v, want an error about %q", err, c.msg)
			}
		})
	}
}

func TestGenesisUnmarshalRejects(t *testing.T) {
	for _, doc := range []string{
		`{"chain_id":"c","genesis_time":"2023-11-14T22:13:20Z","bootstrap":"nope"}`,
		`{"chain_id":"c","genesis_time":"yesterday","bootstrap":""}`,
		`{"chain_id":"c","params":{"lookahead":-1}}`,
		`[]`,
	} {
		var g Genesis
		if err := json.Unmarshal([]byte(doc), &g); err == nil {
			t.Errorf("%s: accepted", doc)
		}
	}
}

func FuzzGenesisJSON(f *testing.F) {
	_, ids := testKeys(f, 1)
	for _, g := range []*Genesis{testGenesis(ids[0]), {ChainID: "x", Time: time.UnixMilli(1), Bootstrap: ids[0]}} {
		b, err := json.Marshal(g)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"chain_id":"c","genesis_time":"2023-11-14T22:13:20Z","bootstrap":"` + ids[0].String() +
		`","params":{"slot_length_ms":18446744073709551615,"epoch_slots":0},"dev":true}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var g Genesis
		if json.Unmarshal(b, &g) != nil {
			return
		}
		h := g.Hash()
		if g.Validate() != nil {
			return
		}
		// A valid document survives the round trip with its identity and
		// starts an engine.
		out, err := json.Marshal(&g)
		if err != nil {
			t.Fatal(err)
		}
		var back Genesis
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if back.Hash() != h || back.Validate() != nil {
			t.Fatalf("round trip of %s changed the document", b)
		}
		if _, err := New(&g); err != nil {
			t.Fatalf("valid genesis %s: New: %v", b, err)
		}
	})
}
