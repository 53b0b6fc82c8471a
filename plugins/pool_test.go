package plugins

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/plugins/testplugin"
	"github.com/baton-hq/baton/test/pluginrt/pluginbin"
)

func newUserReq() dbplugin.NewUserRequest {
	return dbplugin.NewUserRequest{
		UsernameConfig: dbplugin.UsernameMetadata{DisplayName: "token", RoleName: "role"},
		Password:       "Secret-password-1",
		Expiration:     time.Now().Add(time.Hour),
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestVerifyRegistration(t *testing.T) {
	b := testPlugin(t)
	tests := []struct {
		name        string
		given       string
		env         []string
		wantVersion string
		wantSelf    bool     // the entry is marked self-versioned
		wantErr     []string // substrings; nil means success
	}{
		{name: "no version given takes the plugin's", wantVersion: testplugin.Version, wantSelf: true},
		{name: "neither gives a version", env: []string{testplugin.EnvVersion + "=" + testplugin.VersionNone}},
		{name: "same version", given: "v0.1", wantVersion: "v0.1.0"},
		{name: "plugin reports none", given: "v2.0.0", env: []string{testplugin.EnvVersion + "=" + testplugin.VersionNone}, wantVersion: "v2.0.0"},
		{name: "version mismatch names both", given: "v0.1.0", env: []string{testplugin.EnvVersion + "=v9.9.9"}, wantErr: []string{"v0.1.0", "v9.9.9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "", nil)
			e := b.Entry("tp", tt.given, tt.env...)
			got, md, err := h.pool.Verify(ctxT(t), e)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Verify = %+v, want an error", got)
				}
				if !errors.Is(err, catalog.ErrInvalid) {
					t.Errorf("error %v does not wrap catalog.ErrInvalid", err)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != tt.wantVersion {
				t.Errorf("version = %q, want %q", got.Version, tt.wantVersion)
			}
			if got.SelfVersioned != tt.wantSelf {
				t.Errorf("self-versioned = %v, want %v", got.SelfVersioned, tt.wantSelf)
			}
			if !md.Multiplexed || md.Type != testplugin.TypeName {
				t.Errorf("metadata = %+v, want multiplexed %q", md, testplugin.TypeName)
			}
			if ps := h.pool.Processes(); len(ps) != 0 {
				t.Errorf("metadata process still listed: %+v", ps)
			}
		})
	}
}

func TestTamperedBinaryNeverRuns(t *testing.T) {
	b := testPlugin(t)
	dir, err := os.MkdirTemp("/tmp", "btt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	copyFile(t, b.Path, filepath.Join(dir, b.Name))
	h := newHarness(t, dir, nil)
	e, _, err := h.pool.Verify(ctxT(t), b.Entry("tp", ""))
	if err != nil {
		t.Fatal(err)
	}
	// Tamper after registration: one byte appended keeps the ELF runnable.
	f, err := os.OpenFile(filepath.Join(dir, b.Name), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	newSum, err := catalog.SHA256File(filepath.Join(dir, b.Name))
	if err != nil {
		t.Fatal(err)
	}
	before := h.ev.count(EventStarted, "")

	_, _, err = h.pool.Open(ctxT(t), "c1", e, dbplugin.InitializeRequest{})
	var mismatch *catalog.ChecksumMismatchError
	if !errors.As(err, &mismatch) {
		t.Fatalf("Open error = %v, want a *catalog.ChecksumMismatchError", err)
	}
	for _, sum := range []string{b.SHA256, newSum} {
		if !strings.Contains(err.Error(), sum) {
			t.Errorf("error %q does not name sum %s", err, sum)
		}
	}
	if n := h.ev.count(EventStarted, ""); n != before {
		t.Errorf("%d processes started after the tampering", n-before)
	}
	if n := h.ev.count(EventStartFailed, "c1"); n != 1 {
		t.Errorf("start_failed events for c1 = %d, want 1", n)
	}
	if ps := h.pool.Processes(); len(ps) != 0 {
		t.Errorf("processes = %+v, want none", ps)
	}
	if _, ok := h.pool.Get("c1"); ok {
		t.Error("the refused connection is registered")
	}
}

func TestCommandMustStayInPluginDir(t *testing.T) {
	b := testPlugin(t)
	outside, err := os.MkdirTemp("/tmp", "bto-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(outside) })
	dir := filepath.Join(outside, "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, b.Path, filepath.Join(outside, b.Name))
	if err := os.Symlink(filepath.Join(outside, b.Name), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	linkDir := filepath.Join(outside, "linkdir")
	if err := os.Symlink(dir, linkDir); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		command string
		want    string
	}{
		{name: "symlink leaving the directory", dir: dir, command: "link", want: "outside the plugin directory"},
		{name: "dot-dot traversal", dir: dir, command: "../" + b.Name, want: ".."},
		{name: "plugin directory is a symlink", dir: linkDir, command: b.Name, want: "symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.dir, nil)
			e := b.Entry("tp", "")
			e.Command = tt.command
			for _, op := range []string{"verify", "open"} {
				var err error
				if op == "verify" {
					_, _, err = h.pool.Verify(ctxT(t), e)
				} else {
					_, _, err = h.pool.Open(ctxT(t), "c", e, dbplugin.InitializeRequest{})
				}
				if !errors.Is(err, catalog.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s: error = %v, want catalog.ErrInvalid mentioning %q", op, err, tt.want)
				}
			}
			if n := h.ev.count(EventStarted, ""); n != 0 {
				t.Errorf("%d processes started", n)
			}
		})
	}
}

func TestMultiplexingProcessesPerConnection(t *testing.T) {
	b := testPlugin(t)
	tests := []struct {
		name      string
		env       []string
		wantProcs int
	}{
		{name: "multiplexed: one process", wantProcs: 1},
		{name: "not multiplexed: one process each", env: []string{testplugin.EnvMultiplex + "=0"}, wantProcs: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "", nil)
			e := b.Entry("tp", "", tt.env...)
			ids := []string{"a", "b", "c"}
			conns := make([]*Conn, len(ids))
			pids := map[int]bool{}
			for i, id := range ids {
				conns[i] = h.open(t, id, e)
				if _, err := conns[i].NewUser(ctxT(t), newUserReq()); err != nil {
					t.Fatal(err)
				}
				pids[conns[i].PID()] = true
			}
			if len(pids) != tt.wantProcs {
				t.Fatalf("pids = %v, want %d distinct", pids, tt.wantProcs)
			}
			if ps := h.pool.Processes(); len(ps) != tt.wantProcs {
				t.Fatalf("Processes = %+v, want %d", ps, tt.wantProcs)
			}
			// Closing all but the last connection leaves the shared process running; the last
			// close ends it.
			last := conns[len(conns)-1].PID()
			for _, c := range conns[:len(conns)-1] {
				pid := c.PID()
				if err := h.pool.CloseConn(ctxT(t), c.ID()); err != nil {
					t.Fatal(err)
				}
				if tt.wantProcs == 1 && !alive(pid) {
					t.Fatalf("shared process %d ended before its last connection closed", pid)
				}
			}
			if err := conns[len(conns)-1].Close(); err != nil {
				t.Fatal(err)
			}
			waitGone(t, last, 10*time.Second)
			if ps := h.pool.Processes(); len(ps) != 0 {
				t.Errorf("Processes after the last close = %+v", ps)
			}
			if _, err := conns[0].NewUser(ctxT(t), newUserReq()); !errors.Is(err, ErrConnClosed) {
				t.Errorf("call on a closed connection: %v, want ErrConnClosed", err)
			}
		})
	}
}

func TestConcurrentOpensShareOneStart(t *testing.T) {
	b := testPlugin(t)
	h := newHarness(t, "", nil)
	e := b.Entry("tp", "")
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, errs[i] = h.pool.Open(ctxT(t), "c"+strconv.Itoa(i), e, dbplugin.InitializeRequest{Config: map[string]interface{}{}})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if n := h.ev.count(EventStarted, ""); n != 1 {
		t.Errorf("%d processes started, want 1", n)
	}
	if ps := h.pool.Processes(); len(ps) != 1 || len(ps[0].Conns) != 5 {
		t.Errorf("Processes = %+v, want one with 5 connections", ps)
	}
}

func TestLazyRestartAfterSIGKILL(t *testing.T) {
	b := testPlugin(t)
	tests := []struct {
		name  string
		env   []string
		conns int
	}{
		{name: "multiplexed, three connections", conns: 3},
		{name: "not multiplexed", env: []string{testplugin.EnvMultiplex + "=0"}, conns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "", nil)
			e := b.Entry("tp", "", tt.env...)
			var conns []*Conn
			for i := range tt.conns {
				c := h.open(t, "c"+strconv.Itoa(i), e)
				if _, err := c.NewUser(ctxT(t), newUserReq()); err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			pid := conns[0].PID()
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// The very next request on each connection succeeds; no sleep, no error.
			for _, c := range conns {
				if _, err := c.NewUser(ctxT(t), newUserReq()); err != nil {
					t.Fatalf("first call after SIGKILL on %s: %v", c.ID(), err)
				}
				if c.PID() == pid || c.PID() == 0 {
					t.Errorf("%s pid after restart = %d (killed %d)", c.ID(), c.PID(), pid)
				}
			}
			if ps := h.pool.Processes(); len(ps) != 1 && tt.conns > 1 {
				t.Errorf("after restart: %+v, want one shared process", ps)
			}
			for _, c := range conns {
				if n := h.ev.count(EventCrashed, c.ID()); n != 1 {
					t.Errorf("crashed events for %s = %d, want 1", c.ID(), n)
				}
			}
		})
	}
}

func TestConcurrentCallsSurviveSIGKILL(t *testing.T) {
	b := testPlugin(t)
	h := newHarness(t, "", nil)
	e := b.Entry("tp", "")
	conns := []*Conn{h.open(t, "a", e), h.open(t, "b", e), h.open(t, "c", e)}
	pid := conns[0].PID()
	const workers, calls = 4, 15
	var wg sync.WaitGroup
	var once sync.Once
	errs := make(chan error, len(conns)*workers*calls)
	for _, c := range conns {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range calls {
					if w == 0 && i == calls/3 && c.ID() == "a" {
						once.Do(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
					}
					if _, err := c.NewUser(ctxT(t), newUserReq()); err != nil {
						errs <- fmt.Errorf("%s worker %d call %d: %w", c.ID(), w, i, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitGone(t, pid, 5*time.Second)
	if ps := h.pool.Processes(); len(ps) != 1 || len(ps[0].Conns) != 3 {
		t.Errorf("Processes = %+v, want one new process with the 3 connections", ps)
	}
}

func TestCrashMarksEveryConnectionIdle(t *testing.T) {
	b := testPlugin(t)
	h := newHarness(t, "", nil)
	e := b.Entry("tp", "")
	a, c := h.open(t, "a", e), h.open(t, "b", e)
	pid := a.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.PID() != 0 || c.PID() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("connections still on the dead process: a=%d b=%d", a.PID(), c.PID())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if ps := h.pool.Processes(); len(ps) != 0 {
		t.Errorf("dead process still listed: %+v", ps)
	}
	if _, err := c.Type(); err != nil {
		t.Fatalf("Type on an idle connection: %v", err)
	}
}

func TestCrashDuringCallIsRetried(t *testing.T) {
	b := testPlugin(t)
	h := newHarness(t, "", nil)
	// The process exits on its third database call: Initialize of a (1), Initialize of b (2),
	// then a's NewUser (3) dies inside the plugin. The new process sees a's Initialize (1)
	// and the retried NewUser (2), which succeeds.
	e := b.Entry("tp", "", testplugin.EnvCrashOnCall+"=3")
	a, other := h.open(t, "a", e), h.open(t, "b", e)
	pid := a.PID()
	if _, err := a.NewUser(ctxT(t), newUserReq()); err != nil {
		t.Fatalf("call whose plugin died mid-call: %v", err)
	}
	if a.PID() == pid || a.PID() == 0 {
		t.Errorf("connection pid = %d, want a new process (old %d)", a.PID(), pid)
	}
	waitGone(t, pid, 5*time.Second)
	for _, id := range []string{a.ID(), other.ID()} {
		if n := h.ev.count(EventCrashed, id); n != 1 {
			t.Errorf("crashed events for %s = %d, want 1", id, n)
		}
	}
	if other.PID() != 0 {
		t.Errorf("the other connection is not idle after the crash: pid %d", other.PID())
	}
}

func TestHungPluginTimesOutWhileOthersStart(t *testing.T) {
	b := testPlugin(t)
	h := newHarness(t, "", func(c *Config) { c.StartTimeout = 5 * time.Second })
	hung := b.Entry("hung", "", testplugin.EnvHangAtStart+"=1")
	good := b.Entry("good", "")

	hungDone := make(chan error, 1)
	go func() {
		_, _, err := h.pool.Open(ctxT(t), "hung", hung, dbplugin.InitializeRequest{})
		hungDone <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for h.ev.count(EventStarting, "hung") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the hung start never began")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Another plugin starts and serves while the hung one is still in its handshake.
	c := h.open(t, "good", good)
	if _, err := c.NewUser(ctxT(t), newUserReq()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-hungDone:
		t.Fatalf("the hung start ended before the good one (%v): starts are serialised", err)
	default:
	}
	select {
	case err := <-hungDone:
		if !errors.Is(err, ErrStartTimeout) {
			t.Fatalf("hung start: %v, want ErrStartTimeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the hung start did not time out")
	}
	if _, ok := h.pool.Get("hung"); ok {
		t.Error("the hung connection is registered")
	}
	if ps := h.pool.Processes(); len(ps) != 1 {
		t.Errorf("Processes = %+v, want only the good one", ps)
	}
}

func TestGarbageOnStdoutIsAHandshakeError(t *testing.T) {
	b := testPlugin(t)
	h := newHarness(t, "", nil)
	_, _, err := h.pool.Open(ctxT(t), "g", b.Entry("garbage", "", testplugin.EnvGarbageStdout+"=1"), dbplugin.InitializeRequest{})
	if !errors.Is(err, ErrHandshake) {
		t.Fatalf("Open: %v, want ErrHandshake", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
}

func TestPluginEnvironment(t *testing.T) {
	b := testPlugin(t)
	t.Setenv("BATON_TEST_HOST_SECRET", "leak")
	t.Setenv("BATON_TEST_PASSED", "host-value")
	t.Setenv("BATON_TEST_OVERRIDDEN", "host-value")
	h := newHarness(t, "", func(c *Config) {
		c.HostVersion = "v1.2.3"
		c.PassEnv = []string{"BATON_TEST_PASSED", "BATON_TEST_OVERRIDDEN", "BATON_TEST_UNSET"}
	})
	c := h.open(t, "env", b.Entry("tp", "", "FROM_CATALOG=yes", "BATON_TEST_OVERRIDDEN=catalog"))
	env := environ(t, c.PID())
	has := func(kv string) bool { return slices.Contains(env, kv) }
	for _, want := range []string{
		"FROM_CATALOG=yes", "BATON_TEST_PASSED=host-value", "BATON_TEST_OVERRIDDEN=catalog",
		"BAO_VERSION=v1.2.3", "VAULT_VERSION=v1.2.3",
		"BAO_PLUGIN_METADATA_MODE=false", "VAULT_PLUGIN_METADATA_MODE=false",
		"BAO_PLUGIN_AUTOMTLS_ENABLED=true", "VAULT_PLUGIN_AUTOMTLS_ENABLED=true",
		"VAULT_DATABASE_PLUGIN=926a0820-aea2-be28-51d6-83cdf00e8edb",
	} {
		if !has(want) {
			t.Errorf("plugin env lacks %s", want)
		}
	}
	var sockDir string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PLUGIN_UNIX_SOCKET_DIR="); ok {
			sockDir = v
		}
	}
	if !strings.HasPrefix(sockDir, h.pool.cfg.SocketDir+"/") {
		t.Errorf("PLUGIN_UNIX_SOCKET_DIR = %q, want a directory under %s", sockDir, h.pool.cfg.SocketDir)
	}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "BATON_TEST_HOST_SECRET", "PATH", "HOME", "BATON_TEST_UNSET":
			t.Errorf("host variable %s reached the plugin", k)
		}
	}
}

func TestPluginLogsCarryItsName(t *testing.T) {
	b := testPlugin(t)
	h := newHarness(t, "", nil)
	h.open(t, "log", b.Entry("named-plugin", ""))
	// go-plugin's server logs its address at debug level; the host re-logs it under the
	// plugin's logger.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.logs.String(), "host.plugins.named-plugin") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line under the plugin's name in:\n%s", h.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestKillAllKillsEveryProcessAndStartsNone(t *testing.T) {
	b := testPlugin(t)
	h := newHarness(t, "", func(c *Config) { c.StartTimeout = 10 * time.Second })
	mux := h.open(t, "mux", b.Entry("tp", ""))
	single := h.open(t, "single", b.Entry("tp1", "", testplugin.EnvMultiplex+"=0"))
	pids := []int{mux.PID(), single.PID()}

	// A start still in its handshake is killed too.
	hungDone := make(chan error, 1)
	go func() {
		_, _, err := h.pool.Open(ctxT(t), "hung", b.Entry("hung", "", testplugin.EnvHangAtStart+"=1"), dbplugin.InitializeRequest{})
		hungDone <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(children(t)) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the hung plugin never started")
		}
		time.Sleep(5 * time.Millisecond)
	}

	h.pool.KillAll()
	for _, pid := range pids {
		waitGone(t, pid, 5*time.Second)
	}
	select {
	case err := <-hungDone:
		if err == nil {
			t.Fatal("the hung start succeeded after KillAll")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("KillAll did not end the start in progress")
	}
	if left := children(t); len(left) != 0 {
		t.Errorf("processes left after KillAll: %v", left)
	}
	for _, c := range []*Conn{mux, single} {
		if _, err := c.NewUser(ctxT(t), newUserReq()); !errors.Is(err, ErrConnClosed) {
			t.Errorf("call after KillAll: %v, want ErrConnClosed (no restart)", err)
		}
	}
	if ps := h.pool.Processes(); len(ps) != 0 {
		t.Errorf("Processes after KillAll = %+v", ps)
	}
	// The pool stays usable.
	c := h.open(t, "again", b.Entry("tp", ""))
	if _, err := c.NewUser(ctxT(t), newUserReq()); err != nil {
		t.Fatal(err)
	}
}

func TestHostSIGKILLTakesPluginsDown(t *testing.T) {
	b := testPlugin(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"=1", envHelperDir+"="+bins.Dir, envHelperSum+"="+b.SHA256)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(60 * time.Second):
		t.Fatal("the helper host printed nothing")
	}
	pidText, ok := strings.CutPrefix(line, "PID ")
	if !ok {
		t.Fatalf("helper host: %q", line)
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || !alive(pid) {
		t.Fatalf("helper host reported plugin pid %q (alive %v)", pidText, alive(pid))
	}
	t.Cleanup(func() {
		if alive(pid) { // only when the test failed: leave no orphan behind
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waitGone(t, pid, 5*time.Second)
}

func TestPluginEnvOrder(t *testing.T) {
	t.Setenv("BATON_TEST_PASS", "host")
	tests := []struct {
		name     string
		entry    []string
		pass     []string
		metadata bool
		want     []string
	}{
		{
			name: "defaults",
			want: []string{"BAO_VERSION=v1", "VAULT_VERSION=v1", "BAO_PLUGIN_METADATA_MODE=false", "VAULT_PLUGIN_METADATA_MODE=false",
				"BAO_PLUGIN_AUTOMTLS_ENABLED=true", "VAULT_PLUGIN_AUTOMTLS_ENABLED=true", "PLUGIN_UNIX_SOCKET_DIR=/s"},
		},
		{
			name: "passed host vars, then the catalog env, then Baton's", entry: []string{"A=1", "BAO_VERSION=mine"}, pass: []string{"BATON_TEST_PASS", "BATON_TEST_ABSENT"}, metadata: true,
			want: []string{"BATON_TEST_PASS=host", "A=1", "BAO_VERSION=mine", "BAO_VERSION=v1", "VAULT_VERSION=v1", "BAO_PLUGIN_METADATA_MODE=true", "VAULT_PLUGIN_METADATA_MODE=true",
				"BAO_PLUGIN_AUTOMTLS_ENABLED=true", "VAULT_PLUGIN_AUTOMTLS_ENABLED=true", "PLUGIN_UNIX_SOCKET_DIR=/s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pluginEnv(tt.entry, tt.pass, "v1", tt.metadata, "/s")
			if !slices.Equal(got, tt.want) {
				t.Errorf("env =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestNewPoolRejectsLongSocketDir(t *testing.T) {
	_, err := NewPool(Config{PluginDir: "/tmp", SocketDir: "/tmp/" + strings.Repeat("x", 80)})
	if err == nil {
		t.Fatal("a socket dir too long for Unix socket paths was accepted")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

var _ = pluginbin.TestPlugin

// TestGuardRefusesStarts shows both checks of Config.Guard: the one before the fork, which
// starts nothing, and the one once the process is up (a node paused between the first check
// and the fork), which kills the process before anyone uses it.
func TestGuardRefusesStarts(t *testing.T) {
	b := testPlugin(t)
	errDeposed := errors.New("not the active node")
	tests := []struct {
		name    string
		refuse  func(call int) bool // call counts from 1 within one start
		wantErr bool
		forks   bool // whether a plugin process was started at all
	}{
		{name: "both checks pass", refuse: func(int) bool { return false }},
		{name: "refused before the fork", refuse: func(int) bool { return true }, wantErr: true},
		{name: "refused once the process is up", refuse: func(c int) bool { return c%2 == 0 }, wantErr: true, forks: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			var pidsSeen []int
			h := newHarness(t, "", func(c *Config) {
				c.Guard = func(context.Context) error {
					mu.Lock()
					defer mu.Unlock()
					calls++
					pidsSeen = append(pidsSeen, children(t)...)
					if tt.refuse(calls) {
						return errDeposed
					}
					return nil
				}
			})
			c, _, err := h.pool.Open(ctxT(t), "guarded", b.Entry("tp", ""), dbplugin.InitializeRequest{})
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := c.NewUser(ctxT(t), newUserReq()); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errDeposed) {
				t.Fatalf("Open = %v, want the guard's error", err)
			}
			mu.Lock()
			seen := slices.Clone(pidsSeen)
			mu.Unlock()
			if forked := len(seen) > 0; forked != tt.forks {
				t.Fatalf("a plugin process ran during the guard's checks: %v, want %v (pids %v)", forked, tt.forks, seen)
			}
			for _, pid := range seen {
				waitGone(t, pid, 5*time.Second)
			}
			if left := children(t); len(left) != 0 {
				t.Errorf("processes left after a refused start: %v", left)
			}
			if ps := h.pool.Processes(); len(ps) != 0 {
				t.Errorf("Processes after a refused start = %+v", ps)
			}
		})
	}
}
