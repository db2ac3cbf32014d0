//go:build !unix

package media

import "time"

// processCPU is not measured here; the benchmark leaves out pipeline-cores.
func processCPU() time.Duration { return 0 }
