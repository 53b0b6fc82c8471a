// Package pluginrt holds the process-level tests and benchmarks of the plugin runtime that need
// more than the plugins package itself: the real PostgreSQL plugin against a throwaway
// PostgreSQL server, and the benchmarks of issue 2 (cold start, per-call latency, memory of
// multiplexed and single-connection processes).
package pluginrt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/baton-hq/baton/plugins"
	"github.com/baton-hq/baton/test/pluginrt/pluginbin"
)

// bins holds the plugin binaries built once for this test binary.
var bins *pluginbin.Set

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pluginbin.Main(m, &bins, pluginbin.TestPlugin, pluginbin.PostgreSQLPlugin))
}

// binary returns a built plugin, skipping when another engineer's package does not build.
func binary(tb testing.TB, name string) pluginbin.Binary {
	tb.Helper()
	b, err := bins.Get(name)
	if err != nil {
		tb.Skipf("SKIP: plugin %s does not build, so this process test cannot run: %v", name, err)
	}
	return b
}

// newPool returns a pool over the built binaries, shut down when the test ends.
func newPool(tb testing.TB, observer func(plugins.InstanceEvent)) *plugins.Pool {
	tb.Helper()
	p, err := plugins.NewPool(plugins.Config{
		PluginDir:    bins.Dir,
		StartTimeout: 20 * time.Second,
		HostVersion:  "v0.0.0-test",
		Logger:       hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.LevelFromString(envLevel()), Output: os.Stderr, TimeFormat: "15:04:05.000000"}),
		Observer:     observer,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		if left := pluginChildren(); len(left) != 0 {
			tb.Errorf("plugin processes left after shutdown: %v", left)
		}
	})
	return p
}

// pluginChildren lists the live children of this process that run a built plugin binary
// (PostgreSQL's postmaster is a child too, and is not one).
func pluginChildren() []int {
	files, _ := filepath.Glob("/proc/self/task/*/children")
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(s)
			if err != nil {
				continue
			}
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if err == nil && strings.HasPrefix(exe, bins.Dir+"/") {
				out = append(out, pid)
			}
		}
	}
	return out
}

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// envLevel is the host log level of these tests: BATON_TEST_LOG, warn by default.
func envLevel() string {
	if l := os.Getenv("BATON_TEST_LOG"); l != "" {
		return l
	}
	return "warn"
}
