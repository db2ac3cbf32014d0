package catalog

import (
	"reflect"
	"testing"
)

// Catalog records are read back from disk: damaged bytes must give an
// error or a record that re-encodes to itself, never a panic.
func FuzzDecodeChunk(f *testing.F) {
	d := newDataset(f, 3, 2, 3)
	for _, c := range d.chunks() {
		b, _ := recordEncode.Marshal(c.doc())
		f.Add(b)
	}
	f.Add([]byte{0xa1, 0x6a, 's', 'e', 's', 's', 'i', 'o', 'n', '_', 'i', 'd', 0x61, 'x'})
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeChunk(b)
		if err != nil {
			return
		}
		again, err := recordEncode.Marshal(c.doc())
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
		b, _ := recordEncode.Marshal(SealedSession(m).doc())
		f.Add(b)
		b, _ = recordEncode.Marshal(StartedSession(m).doc())
		f.Add(b)
	}
	f.Add([]byte{0xa1, 0x66, 's', 't', 'a', 't', 'u', 's', 0x66, 's', 'e', 'a', 'l', 'e', 'd'})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSession(b)
		if err != nil {
			return
		}
		again, err := recordEncode.Marshal(s.doc())
		if err != nil {
			t.Fatal(err)
		}
		s2, err := decodeSession(again)
		if err != nil || s != s2 {
			t.Fatalf("re-decode: %+v, %v; want %+v", s2, err, s)
		}
	})
}
