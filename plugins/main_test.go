package plugins

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/test/pluginrt/pluginbin"
)

// bins holds the plugin binaries built once for this test binary.
var bins *pluginbin.Set

// Environment of the helper host process (TestHostSIGKILLTakesPluginsDown).
const (
	envHelper    = "BATON_PLUGINS_TEST_HOST_HELPER"
	envHelperDir = "BATON_PLUGINS_TEST_HOST_DIR"
	envHelperSum = "BATON_PLUGINS_TEST_HOST_SUM"
)

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) != "" {
		runHostHelper()
		return
	}
	goleak.VerifyTestMain(pluginbin.Main(m, &bins, pluginbin.TestPlugin))
}

// runHostHelper is the helper host process: it opens a plugin connection, prints the
// plugin's pid and blocks until it is killed.
func runHostHelper() {
	pool, err := NewPool(Config{PluginDir: os.Getenv(envHelperDir), Logger: hclog.NewNullLogger()})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	e := catalog.Entry{Type: catalog.TypeDatabase, Name: "helper", SHA256: os.Getenv(envHelperSum), Command: pluginbin.TestPlugin}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := pool.Open(ctx, "helper-conn", e, dbplugin.InitializeRequest{Config: map[string]interface{}{}})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("PID", c.PID())
	for {
		time.Sleep(time.Hour)
	}
}

// testPlugin returns the test plugin binary, skipping the test when it could not be built.
func testPlugin(t *testing.T) pluginbin.Binary {
	t.Helper()
	b, err := bins.Get(pluginbin.TestPlugin)
	if err != nil {
		t.Skipf("SKIP: the test plugin (another package) does not build, so this process test cannot run: %v", err)
	}
	return b
}

// recorder collects instance events.
type recorder struct {
	mu     sync.Mutex
	events []InstanceEvent
}

func (r *recorder) observe(ev InstanceEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *recorder) count(kind, connID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if ev.Kind == kind && (connID == "" || ev.ConnID == connID) {
			n++
		}
	}
	return n
}

// syncBuffer is a log sink safe for the plugin's stderr goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a pool over the built binaries, shut down (and checked for leftover processes)
// when the test ends.
type harness struct {
	pool *Pool
	ev   *recorder
	logs *syncBuffer
	dir  string
}

// newHarness returns a pool on dir (bins.Dir when empty); mod adjusts its config.
func newHarness(t *testing.T, dir string, mod func(*Config)) *harness {
	t.Helper()
	if dir == "" {
		dir = bins.Dir
	}
	h := &harness{ev: &recorder{}, logs: &syncBuffer{}, dir: dir}
	cfg := Config{
		PluginDir:    dir,
		StartTimeout: 20 * time.Second,
		KillTimeout:  5 * time.Second,
		HostVersion:  "v0.0.0-test",
		Logger:       hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Debug, Output: h.logs}),
		Observer:     h.ev.observe,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.pool = p
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		noChildren(t)
		if _, err := os.Stat(p.cfg.SocketDir); p.ownSocketDir && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("socket directory %s left behind (%v)", p.cfg.SocketDir, err)
		}
	})
	return h
}

// open opens a connection and fails the test on error.
func (h *harness) open(t *testing.T, id string, e catalog.Entry) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := h.pool.Open(ctx, id, e, dbplugin.InitializeRequest{Config: map[string]interface{}{}})
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	return c
}

// children lists the live child processes of this test process (every thread's).
func children(t *testing.T) []int {
	t.Helper()
	files, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		for _, s := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(s); err == nil && alive(pid) {
				out = append(out, pid)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// noChildren fails the test when a child process is still alive a bounded time after the
// pool shut down.
func noChildren(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := children(t)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("child processes left behind: %v", left)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	return s[i+2] != 'Z'
}

// waitGone polls until pid no longer runs.
func waitGone(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive after %s", pid, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// environ reads a process's environment.
func environ(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, 0); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
