//go:build !linux

package media

import "os"

// openDirect: direct I/O is only used on Linux.
func openDirect(string) (*os.File, error) { return nil, errDirectUnsupported }

func directRefused(error) bool { return false }
