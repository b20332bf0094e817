//go:build !unix

package bench

import "time"

// processCPU is unknown here: the bench's own CPU reads as zero.
func processCPU() time.Duration { return 0 }
