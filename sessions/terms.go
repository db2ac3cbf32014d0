package sessions

import (
	"crypto/sha256"
	_ "embed"
)

// TermsVersion names the Terms of Connection text this build presents and
// signs consent for. The text is versioned rather than edited in place: a
// changed text is a new version with a new hash, so old receipts keep
// meaning what their signers read.
const TermsVersion = "toc-1"

// tocV1 is the exact text of toc-1. Its bytes, not a normalised form, are
// hashed: a checkout that rewrote line endings would change the hash, which
// the golden-hash test catches.
//
//go:embed terms/toc-1.txt
var tocV1 string

var tocV1Hash = sha256.Sum256([]byte(tocV1))

// TermsText returns the current Terms of Connection, plain English, for the
// client to show before it signs consent.
func TermsText() string { return tocV1 }

// TermsHash is SHA-256 of the exact bytes of TermsText.
func TermsHash() [32]byte { return tocV1Hash }

// TermsHashFor returns the hash of a terms version this build knows. Hosts
// accept consent only to known versions: a host cannot hold a client to a
// text it has never seen.
func TermsHashFor(version string) ([32]byte, bool) {
	if version == TermsVersion {
		return tocV1Hash, true
	}
	return [32]byte{}, false
}
