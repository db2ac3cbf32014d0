// Package golden runs the golden-vector files of the core packages' tests:
// a test computes what a format produces, and the file in testdata pins
// it byte for byte. `go test -update` (or LUCID_UPDATE_GOLDEN=1) rewrites
// the files after an intended change, for review in the diff.
package golden

import (
	"encoding/json"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Update reports whether the golden files are being rewritten.
func Update() bool { return *update || os.Getenv("LUCID_UPDATE_GOLDEN") == "1" }

// Bytes writes got to path when updating, and returns the file's
// contents: what the test must reproduce.
func Bytes(t testing.TB, path string, got []byte) []byte {
	t.Helper()
	if Update() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", path)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing golden file (run the test with -update): %v", err)
	}
	return want
}

// JSON is Bytes for a value kept as indented JSON: it writes got when
// updating, and decodes the file into want (a pointer).
func JSON(t testing.TB, path string, got, want any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(Bytes(t, path, append(b, '\n')), want); err != nil {
		t.Fatalf("golden file %s: %v", path, err)
	}
}
