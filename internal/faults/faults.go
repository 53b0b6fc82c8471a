// Package faults is the crash-injection hook the chaos and end-to-end tests use: a node started
// with BATON_FAULT naming a point (for example "rotate-root:after-db-update") kills itself with
// SIGKILL when it reaches that point, exactly as a power cut would, leaving no chance to clean
// up. Off unless the variable is set; the set of points is closed so a typo fails at start.
package faults

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
)

// EnvVar names the environment variable read at start.
const EnvVar = "BATON_FAULT"

// Points a node can crash at.
const (
	RotateAfterWAL      = "rotate-root:after-wal"
	RotateAfterDBUpdate = "rotate-root:after-db-update"
	RotateAfterCommit   = "rotate-root:after-commit"
	RollbackAfterDB     = "rollback:after-db-update"
)

// Points lists every fault point.
var Points = []string{RotateAfterWAL, RotateAfterDBUpdate, RotateAfterCommit, RollbackAfterDB}

var armed = map[string]bool{}

// Arm reads spec (comma-separated points) and arms them; an unknown point is an error naming
// the known ones.
func Arm(spec string) error {
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(Points, p) {
			return fmt.Errorf("faults: unknown fault point %q (known: %s)", p, strings.Join(Points, ", "))
		}
		armed[p] = true
	}
	return nil
}

// ArmFromEnv arms the points named by BATON_FAULT.
func ArmFromEnv() error { return Arm(os.Getenv(EnvVar)) }

// Hit crashes the process at an armed point.
func Hit(point string) {
	if armed[point] {
		fmt.Fprintf(os.Stderr, "baton: fault point %s reached: SIGKILL\n", point)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
}
