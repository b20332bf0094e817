//go:build !linux

package bench

import "time"

// hostCPU is unknown off Linux.
func hostCPU() (time.Duration, bool) { return 0, false }
