//go:build !linux

package node

// Lucid nodes run on Linux; elsewhere (a developer's laptop) the capacity
// record reports these figures as unknown.
func totalMemory() uint64        { return 0 }
func freeDisk(dir string) uint64 { return 0 }
