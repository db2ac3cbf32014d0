package rpc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// tokenBytes is the entropy of a generated token: 256 bits, beyond guessing
// even for a local attacker who can hammer the loopback port.
const tokenBytes = 32

// maxTokenFileBytes bounds ReadToken so a wrong path (say, a log file) fails
// fast instead of being slurped into memory.
const maxTokenFileBytes = 4096

// GenerateToken returns 32 random bytes, hex encoded.
func GenerateToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("rpc: generating token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// ReadToken reads the token stored at path. Like ssh with private keys, it
// refuses a file that group or others can read: such a token must be treated
// as leaked, and failing loudly is the only way the user learns about it.
func ReadToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("rpc: reading token: %w", err)
	}
	defer func() { _ = f.Close() }()

	// Stat the open file, not the path, so the checks apply to what we read.
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("rpc: reading token: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("rpc: token file %s is not a regular file", path)
	}
	// Windows has no permission bits; Go reports 0666 there for any
	// writable file, so the check would reject every token.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("rpc: token file %s has mode %04o and is accessible by group or others; "+
			"restrict it with `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}

	b, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("rpc: reading token %s: %w", path, err)
	}
	if len(b) > maxTokenFileBytes {
		return "", fmt.Errorf("rpc: token file %s is larger than %d bytes; is it the right file?", path, maxTokenFileBytes)
	}
	token := strings.TrimSpace(string(b))
	if err := validToken(token); err != nil {
		return "", fmt.Errorf("rpc: token file %s: %w", path, err)
	}
	return token, nil
}

// validToken accepts any printable ASCII without spaces, so that a token a
// user wrote by hand also works, while anything that could not travel in an
// Authorization header is rejected up front.
func validToken(token string) error {
	if token == "" {
		return errors.New("token is empty")
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("token contains invalid character at offset %d", i)
		}
	}
	return nil
}

// LoadOrCreateToken returns the token stored at path, creating the file with a
// fresh token and mode 0600 if it does not exist. An existing file is never
// overwritten, even if it is unusable; the error says what to fix instead.
// The parent directory must exist.
func LoadOrCreateToken(path string) (string, error) {
	token, err := ReadToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return token, err
	}

	token, err = GenerateToken()
	if err != nil {
		return "", err
	}
	// O_EXCL makes creation atomic: if another process creates the file
	// between our read and this open, we lose the race and use its token
	// rather than replacing it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ReadToken(path)
	}
	if err != nil {
		return "", fmt.Errorf("rpc: creating token file: %w", err)
	}
	_, werr := f.WriteString(token + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		// A truncated token file would break every later start; remove it so
		// the next attempt starts clean.
		_ = os.Remove(path)
		return "", fmt.Errorf("rpc: writing token file %s: %w", path, werr)
	}
	return token, nil
}
