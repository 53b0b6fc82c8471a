// Package testutil holds helpers shared by Baton's integration tests: building the bundled
// plugin binaries once, polling with deadlines, and free ports.
package testutil

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-hq/baton/plugins/catalog"
)

// Root is the repository's root directory.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binary is a built executable and its SHA-256.
type Binary struct {
	Path   string
	SHA256 string
}

// buildTimeout bounds one go build (a cold build of the node takes a few minutes on two
// busy cores).
const buildTimeout = 8 * time.Minute

var (
	buildMu sync.Mutex
	built   = map[string]Binary{}
)

// Build compiles a main package of this repository (e.g. "./cmd/baton-test-plugin") into dir
// once per process and returns it.
func Build(dir, pkg, name string) (Binary, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	key := dir + "|" + pkg
	if b, ok := built[key]; ok {
		return b, nil
	}
	out := filepath.Join(dir, name)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = Root()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return Binary{}, fmt.Errorf("go build %s: %w\n%s", pkg, err, strings.TrimSpace(string(msg)))
	}
	sum, err := catalog.SHA256File(out)
	if err != nil {
		return Binary{}, err
	}
	b := Binary{Path: out, SHA256: sum}
	built[key] = b
	return b, nil
}

// ShortTempDir makes a short directory under /tmp (Unix socket paths are limited to 108 bytes)
// removed at cleanup.
func ShortTempDir(tb testing.TB) string {
	tb.Helper()
	d, err := os.MkdirTemp("/tmp", "bt-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Eventually polls cond every 10 ms until it holds, failing the test after timeout.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Context returns a context ended at cleanup or after d.
func Context(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
