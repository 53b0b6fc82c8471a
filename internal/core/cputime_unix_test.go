//go:build unix

package core

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) the test process has used so far: on a loaded
// machine a benchmark's wall time includes waiting for a core, its CPU time does not.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
