package sessions

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// tocV1Golden is the hash of toc-1. Consent receipts carry it, so the text
// must never change; a changed text is a new version. A checkout that
// rewrote line endings would also fail here.
const tocV1Golden = "989698859c9b7279b960f6a1c1552a0bd35ac4944c4515a1eac6e0c44650af22"

func TestTerms(t *testing.T) {
	h := TermsHash()
	require.Equal(t, tocV1Golden, hex.EncodeToString(h[:]))
	require.Equal(t, sha256.Sum256([]byte(TermsText())), h)
	require.Equal(t, "toc-1", TermsVersion)
	require.NotContains(t, TermsText(), "\r")
	require.True(t, strings.HasPrefix(TermsText(), "Lucid Terms of Connection, version toc-1\n"))
	for _, topic := range []string{"Consent", "Recording", "Limits", "revocation"} {
		require.Contains(t, TermsText(), topic)
	}

	got, ok := TermsHashFor(TermsVersion)
	require.True(t, ok)
	require.Equal(t, h, got)
	_, ok = TermsHashFor("toc-2")
	require.False(t, ok)
	_, ok = TermsHashFor("")
	require.False(t, ok)
}
