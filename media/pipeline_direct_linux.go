//go:build linux

package media

import (
	"errors"
	"os"
	"syscall"
)

// openDirect creates a file for writing with O_DIRECT, so that data goes
// from the caller's buffer to the device without a copy into the page
// cache, where a recording, written once and rarely read, would only
// crowd out other data. It returns errDirectUnsupported when the file
// system refuses direct I/O.
func openDirect(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_DIRECT, 0o600)
	if errors.Is(err, syscall.EINVAL) {
		return nil, errDirectUnsupported
	}
	return f, err
}

// directRefused reports whether a write error means the file system or
// device does not take this direct write (alignment, or no support).
func directRefused(err error) bool { return errors.Is(err, syscall.EINVAL) }
