package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/baton-hq/baton/test/testutil"
)

// buildDirPrefix names the per-process directories the binaries are built into; the pid
// that follows lets a later run remove the directory of a test binary that died before it
// could clean up.
const buildDirPrefix = "baton-harness-"

// Binaries are the executables every cluster of this test binary runs.
type Binaries struct {
	// Node is ./cmd/node: the server and the CLI.
	Node testutil.Binary
	// TestPlugin and PGPlugin are ./cmd/baton-test-plugin and ./cmd/baton-postgresql-plugin
	// where they were built (each cluster links them into its own PluginDir).
	TestPlugin, PGPlugin testutil.Binary
}

var shared struct {
	mu      sync.Mutex
	dir     string
	bins    Binaries
	err     error
	built   bool
	removed bool
}

// Build compiles the node and the bundled plugins once per test binary (later calls return
// the same binaries) into a directory removed by Main's Run or RemoveBuilds.
func Build() (Binaries, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.built {
		return shared.bins, shared.err
	}
	shared.built = true
	sweepStaleBuilds()
	dir, err := os.MkdirTemp("/tmp", buildDirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		shared.err = fmt.Errorf("harness: build directory: %w", err)
		return shared.bins, shared.err
	}
	shared.dir = dir
	for _, b := range []struct {
		pkg, name string
		out       *testutil.Binary
	}{
		{"./cmd/node", "node", &shared.bins.Node},
		{"./cmd/baton-test-plugin", testPluginName, &shared.bins.TestPlugin},
		{"./cmd/baton-postgresql-plugin", pgPluginName, &shared.bins.PGPlugin},
	} {
		if *b.out, err = testutil.Build(dir, b.pkg, b.name); err != nil {
			shared.err = fmt.Errorf("harness: %w", err)
			return shared.bins, shared.err
		}
	}
	return shared.bins, nil
}

// RemoveBuilds deletes the binaries Build made. Main's Run calls it after the tests; call it
// yourself from a TestMain that does not use Main.
func RemoveBuilds() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.dir != "" && !shared.removed {
		_ = os.RemoveAll(shared.dir)
		shared.removed = true
	}
}

// Runner runs a package's tests, then removes the harness's binaries. It satisfies
// goleak.TestingM.
type Runner struct{ m *testing.M }

// Main wraps m for a TestMain, so that the binaries built for the clusters are removed once
// the tests have run:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(harness.Main(m)) }
func Main(m *testing.M) Runner { return Runner{m: m} }

// Run runs the tests and removes the binaries.
func (r Runner) Run() int {
	code := r.m.Run()
	RemoveBuilds()
	return code
}

// sweepStaleBuilds removes the build directories of test binaries that are no longer
// running (killed by a timeout before their TestMain could clean up).
func sweepStaleBuilds() {
	dirs, _ := filepath.Glob(filepath.Join("/tmp", buildDirPrefix+"*"))
	for _, d := range dirs {
		rest := strings.TrimPrefix(filepath.Base(d), buildDirPrefix)
		pidText, _, ok := strings.Cut(rest, "-")
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processExists(pid) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

// processExists reports whether a process with this pid exists (as any user).
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
