package rpc_test

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lucidnet/lucid/node/rpc"
)

func TestGenerateToken(t *testing.T) {
	a, err := rpc.GenerateToken()
	require.NoError(t, err)
	b, err := rpc.GenerateToken()
	require.NoError(t, err)
	raw, err := hex.DecodeString(a)
	require.NoError(t, err)
	assert.Len(t, raw, 32)
	assert.NotEqual(t, a, b)
}

func TestLoadOrCreateToken(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("permission bits are not enforced on Windows")
	}

	t.Run("creates 0600 file and reuses it", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "rpc.token")
		tok, err := rpc.LoadOrCreateToken(path)
		require.NoError(t, err)
		assert.Len(t, tok, 64)

		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

		again, err := rpc.LoadOrCreateToken(path)
		require.NoError(t, err)
		assert.Equal(t, tok, again, "an existing token must be reused")

		read, err := rpc.ReadToken(path)
		require.NoError(t, err)
		assert.Equal(t, tok, read)
	})

	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string // expected token; empty means an error is expected
		wantErr []string
	}{
		{name: "existing token kept", content: "my-own-token\n", mode: 0o600, want: "my-own-token"},
		{name: "owner read-only is fine", content: "abc", mode: 0o400, want: "abc"},
		{name: "world readable refused", content: "abc\n", mode: 0o644, wantErr: []string{"chmod 600", "0644"}},
		{name: "group readable refused", content: "abc\n", mode: 0o640, wantErr: []string{"chmod 600", "0640"}},
		{name: "empty file refused", content: "", mode: 0o600, wantErr: []string{"token is empty"}},
		{name: "embedded space refused", content: "a b", mode: 0o600, wantErr: []string{"invalid character"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rpc.token")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			require.NoError(t, os.Chmod(path, tt.mode))

			tok, err := rpc.LoadOrCreateToken(path)
			if tt.want != "" {
				require.NoError(t, err)
				assert.Equal(t, tt.want, tok)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), path, "the error must name the file")
				for _, s := range tt.wantErr {
					assert.Contains(t, err.Error(), s)
				}
			}

			// Whatever happened, the file must be untouched.
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tt.content, string(got))
			fi, err := os.Stat(path)
			require.NoError(t, err)
			assert.Equal(t, tt.mode, fi.Mode().Perm())
		})
	}

	t.Run("missing directory", func(t *testing.T) {
		_, err := rpc.LoadOrCreateToken(filepath.Join(t.TempDir(), "nope", "rpc.token"))
		require.Error(t, err)
	})
	t.Run("directory instead of file", func(t *testing.T) {
		_, err := rpc.LoadOrCreateToken(t.TempDir())
		require.ErrorContains(t, err, "not a regular file")
	})
	t.Run("ReadToken does not create", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "rpc.token")
		_, err := rpc.ReadToken(path)
		require.ErrorIs(t, err, os.ErrNotExist)
		_, err = os.Stat(path)
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}
