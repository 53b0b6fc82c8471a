package pgtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestServerLifecycle starts a server, checks logins, then stops it and checks that no
// postgres process and no file is left.
func TestServerLifecycle(t *testing.T) {
	s, err := StartServer(Options{})
	SkipOrFail(t, err)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = s.Stop()
		}
	})
	ctx := testContext(t)

	if err := s.Exec(ctx, `CREATE ROLE alice WITH LOGIN PASSWORD 'right-pw'`); err != nil {
		t.Fatalf("create role: %v", err)
	}
	if ok, err := s.RoleExists(ctx, "alice"); err != nil || !ok {
		t.Fatalf("RoleExists(alice) = %v, %v; want true", ok, err)
	}
	if ok, err := s.RoleExists(ctx, "nobody"); err != nil || ok {
		t.Fatalf("RoleExists(nobody) = %v, %v; want false", ok, err)
	}

	for _, tc := range []struct {
		name, user, password string
		wantOK               bool
	}{
		{"superuser", s.SuperUser, s.SuperPassword, true},
		{"new role", "alice", "right-pw", true},
		{"wrong password", "alice", "wrong-pw", false},
		{"superuser wrong password", s.SuperUser, "nope", false},
		{"unknown role", "bob", "right-pw", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CanLogin(ctx, tc.user, tc.password)
			if (err == nil) != tc.wantOK {
				t.Fatalf("CanLogin(%s) = %v, want ok=%v", tc.user, err, tc.wantOK)
			}
		})
	}

	pid := s.cmd.Process.Pid
	children := childPids(pid)
	if len(children) == 0 {
		t.Fatalf("postmaster %d has no children; is it really running?", pid)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true
	for _, p := range append(children, pid) {
		if processAlive(p) {
			t.Errorf("process %d still running after Stop", p)
		}
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("directory %s still there after Stop: %v", s.dir, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestParallelServers runs two servers at once in one process.
func TestParallelServers(t *testing.T) {
	servers := make([]*Server, 2)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i] = Start(t)
		}()
	}
	wg.Wait()
	if t.Failed() || t.Skipped() {
		return
	}
	if servers[0].Port == servers[1].Port {
		t.Fatalf("both servers on port %d", servers[0].Port)
	}
	ctx := testContext(t)
	for _, s := range servers {
		if err := s.CanLogin(ctx, s.SuperUser, s.SuperPassword); err != nil {
			t.Errorf("server on %d: %v", s.Port, err)
		}
	}
	// The passwords are per server: one server's superuser cannot log in to the other.
	if err := servers[0].CanLogin(ctx, servers[1].SuperUser, servers[1].SuperPassword); err == nil {
		t.Errorf("server 0 accepted server 1's superuser password")
	}
}

// TestDiscoverPicksNewest builds fake installations and checks which one discover picks.
func TestDiscoverPicksNewest(t *testing.T) {
	root := t.TempDir()
	mk := func(name, version string, progs ...string) string {
		t.Helper()
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range progs {
			script := "#!/bin/sh\necho 'postgres (PostgreSQL) " + version + "'\n"
			if err := os.WriteFile(filepath.Join(dir, p), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	all := []string{"initdb", "pg_ctl", "postgres"}
	v14 := mk("14", "14.9", all...)
	v16 := mk("16", "16.2", all...)
	v16b := mk("16b", "16.10", all...)
	v17partial := mk("17", "17.0", "initdb", "postgres") // no pg_ctl: not an installation
	link := filepath.Join(root, "link")
	if err := os.Symlink(v14, link); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		dirs    []string
		want    string
		wantErr bool
	}{
		{"newest major", []string{v14, v16}, v16, false},
		{"newest minor compares as a number", []string{v16b, v16}, v16b, false},
		{"incomplete installation ignored", []string{v17partial, v14}, v14, false},
		{"symlinked directory resolved", []string{link}, v14, false},
		{"nothing found", []string{v17partial, filepath.Join(root, "missing"), ""}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := discover(tc.dirs)
			if tc.wantErr {
				if err != ErrNoBinaries {
					t.Fatalf("discover = %+v, %v; want ErrNoBinaries", got, err)
				}
				return
			}
			want, _ := filepath.EvalSymlinks(tc.want)
			if err != nil || got.dir != want {
				t.Fatalf("discover = %+v, %v; want %s", got, err, want)
			}
		})
	}
}

func TestProcStatParsesCommWithSpaces(t *testing.T) {
	ppid, state, ok := procStat(os.Getpid())
	if !ok || ppid != os.Getppid() || state == 0 {
		t.Fatalf("procStat(self) = %d, %q, %v; want ppid %d", ppid, state, ok, os.Getppid())
	}
	if _, _, ok := procStat(-1); ok {
		t.Fatalf("procStat(-1) ok")
	}
}

// recordingTB records how SkipOrFail ends a test instead of ending this one.
type recordingTB struct {
	testing.TB
	skipped, failed bool
}

func (r *recordingTB) Helper()                        {}
func (r *recordingTB) Skipf(string, ...any)           { r.skipped = true }
func (r *recordingTB) Fatalf(string, ...any)          { r.failed = true }
func (r *recordingTB) Logf(format string, a ...any)   {}
func (r *recordingTB) Errorf(format string, a ...any) { r.failed = true }

func TestSkipOrFail(t *testing.T) {
	_, noBins := StartServer(Options{BinDir: filepath.Join(t.TempDir(), "nowhere")})
	if !errors.Is(noBins, ErrNoBinaries) {
		t.Fatalf("StartServer with an empty BinDir: %v, want ErrNoBinaries", noBins)
	}
	for _, tc := range []struct {
		name, ci              string
		err                   error
		wantSkip, wantFailure bool
	}{
		{"started", "", nil, false, false},
		{"no binaries on a developer machine", "", noBins, true, false},
		{"no binaries under CI", "true", noBins, false, true},
		{"other failure", "", ErrNoPostgresUser, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			r := &recordingTB{TB: t}
			SkipOrFail(r, tc.err)
			if r.skipped != tc.wantSkip || r.failed != tc.wantFailure {
				t.Fatalf("skipped %v failed %v; want %v %v", r.skipped, r.failed, tc.wantSkip, tc.wantFailure)
			}
		})
	}
}
