package catalog

import (
	"encoding/json"
	"reflect"
	"testing"
)

// Catalog records are read back from disk: damaged bytes must give an
// error or a record that re-encodes to itself, never a panic.
func FuzzDecodeChunk(f *testing.F) {
	d := newDataset(f, 3, 2, 3)
	for _, c := range d.chunks() {
		b, _ := json.Marshal(c.doc())
		f.Add(b)
	}
	f.Add([]byte(`{"session_id":"x"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeChunk(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(c.doc())
		if err != nil {
			t.Fatal(err)
		}
		c2, err := decodeChunk(again)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("re-decode: %+v, %v; want %+v", c2, err, c)
		}
	})
}

func FuzzDecodeSession(f *testing.F) {
	d := newDataset(f, 5, 3, 2)
	for _, m := range d.manifests {
		b, _ := json.Marshal(SealedSession(m).doc())
		f.Add(b)
		b, _ = json.Marshal(StartedSession(m).doc())
		f.Add(b)
	}
	f.Add([]byte(`{"status":"sealed"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSession(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(s.doc())
		if err != nil {
			t.Fatal(err)
		}
		s2, err := decodeSession(again)
		if err != nil || s != s2 {
			t.Fatalf("re-decode: %+v, %v; want %+v", s2, err, s)
		}
	})
}
