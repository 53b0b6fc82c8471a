// Package pgtest starts throwaway PostgreSQL clusters from the machine's own binaries, so that
// tests and benchmarks run against a real server rather than a mock.
//
// Each server is a fresh initdb in a short temporary directory, listening on 127.0.0.1 on a
// free port with scram-sha-256 authentication (no trust anywhere), fsync off for speed, and
// room for a few hundred clients. Several servers may run in one process. When the tests run
// as root, the server runs as the `postgres` OS user, since PostgreSQL refuses root.
package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoPostgresUser means the tests run as root but there is no `postgres` OS user to run the
// server as. It is a machine set-up error, never a reason to skip.
var ErrNoPostgresUser = errors.New("pgtest: running as root, but PostgreSQL refuses to run as root and there is no 'postgres' OS user to run it as: install the postgresql package or create the user")

// Defaults used when Options leaves a field empty.
const (
	DefaultSuperUser      = "postgres"
	DefaultMaxConnections = 300
	DefaultStartTimeout   = 60 * time.Second
	// stopTimeout bounds each wait of Stop: for the immediate shutdown, then after SIGKILL.
	stopTimeout = 15 * time.Second
	// startAttempts covers the race between choosing a free port and the server binding it.
	startAttempts = 5
)

// Options tunes StartServer; the zero value is what tests want.
type Options struct {
	// SuperUser is the bootstrap superuser's name (default "postgres").
	SuperUser string
	// SuperPassword is its password (default: random).
	SuperPassword string
	// MaxConnections is the server's max_connections (default 300: 200 clients and spare).
	MaxConnections int
	// StartTimeout bounds initdb plus start-up plus readiness (default 60 s).
	StartTimeout time.Duration
	// BinDir forces the directory of initdb, pg_ctl and postgres instead of looking for the
	// newest installation.
	BinDir string
	// Settings are extra server settings passed as -c name=value.
	Settings map[string]string
}

// Server is one running PostgreSQL cluster. Its fields are read-only.
type Server struct {
	// Host is the TCP address the server listens on (always 127.0.0.1).
	Host string
	// Port is the TCP port it listens on.
	Port int
	// SuperUser and SuperPassword log in as the bootstrap superuser over TCP.
	SuperUser     string
	SuperPassword string

	dir     string // temporary root: data directory, socket, log
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the postmaster has been reaped
	pool    *pgxpool.Pool // superuser connections for Exec and RoleExists

	stopOnce sync.Once
	stopErr  error
}

// Start starts a server for one test and stops it, removing its files, when the test ends.
// It skips the test when the machine has no PostgreSQL binaries, except under CI=true,
// where it fails: CI never skips.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartServer(Options{})
	SkipOrFail(t, err)
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("pgtest: stop: %v", err)
		}
	})
	return s
}

// SkipOrFail ends the test for an error of StartServer: a skip when the binaries are missing
// and CI is not "true", a failure otherwise. A nil error does nothing. It lets a TestMain
// that shares one server report its start-up error in each test.
func SkipOrFail(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNoBinaries) && os.Getenv("CI") != "true" {
		t.Skipf("%v (install the postgresql package; under CI=true this is a failure)", err)
		return
	}
	t.Fatalf("%v", err)
}

// StartServer starts a server outside a test (a benchmark harness, a TestMain). The caller
// must call Stop.
func StartServer(opts Options) (*Server, error) {
	opts = withDefaults(opts)
	ctx, cancel := context.WithTimeout(context.Background(), opts.StartTimeout)
	defer cancel()

	bins, err := selectBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := makeDir(cred)
	if err != nil {
		return nil, err
	}
	s := &Server{
		Host:          "127.0.0.1",
		SuperUser:     opts.SuperUser,
		SuperPassword: opts.SuperPassword,
		dir:           dir,
		logPath:       filepath.Join(dir, "postgres.log"),
	}
	if err := s.initdb(ctx, bins, cred); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		err = s.start(ctx, bins, cred, opts)
		if err == nil {
			break
		}
		if stopErr := s.stopProcess(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		if !errors.Is(err, errPortTaken) || attempt == startAttempts {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	pool, err := pgxpool.New(ctx, s.ConnString())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("pgtest: superuser pool: %w", err), s.Stop())
	}
	s.pool = pool
	return s, nil
}

func withDefaults(o Options) Options {
	if o.SuperUser == "" {
		o.SuperUser = DefaultSuperUser
	}
	if o.SuperPassword == "" {
		o.SuperPassword = strings.ToLower(rand.Text())
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	return o
}

func selectBinaries(dir string) (binaries, error) {
	if dir == "" {
		return findBinaries()
	}
	real, ok := installDir(dir)
	if !ok {
		return binaries{}, fmt.Errorf("%w (BinDir %s)", ErrNoBinaries, dir)
	}
	return binaries{dir: real}, nil
}

// runAs returns the credential to run PostgreSQL's programs with: none when not root, the
// `postgres` user when root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoPostgresUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: uid of postgres %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: gid of postgres %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// makeDir creates the server's root directory under /tmp rather than a test's long TempDir:
// the Unix socket path must stay under 108 bytes. It belongs to the user the server runs as.
func makeDir(cred *syscall.Credential) (string, error) {
	parent := "/tmp"
	if fi, err := os.Stat(parent); err != nil || !fi.IsDir() {
		parent = os.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "pgt")
	if err != nil {
		return "", fmt.Errorf("pgtest: temp dir: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("pgtest: chown %s to postgres: %w", dir, err)
		}
	}
	return dir, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// command builds an exec.Cmd for one of PostgreSQL's programs, run as cred, with a clean
// environment so that a developer's PG* variables cannot steer it.
func command(ctx context.Context, cred *syscall.Credential, dir, prog string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "LANG=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd
}

func (s *Server) initdb(ctx context.Context, bins binaries, cred *syscall.Credential) error {
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := writeOwned(pwfile, s.SuperPassword+"\n", cred); err != nil {
		return err
	}
	defer func() { _ = os.Remove(pwfile) }()
	cmd := command(ctx, cred, s.dir, bins.path("initdb"),
		"-D", s.dataDir(),
		"-U", s.SuperUser,
		"--pwfile="+pwfile,
		"--auth=scram-sha-256",
		"--encoding=UTF8", "--locale=C",
		"--no-sync", "--no-instructions",
	)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	// Only what the tests use, and no trust: the socket and 127.0.0.1, both with SCRAM.
	hba := "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(filepath.Join(s.dataDir(), "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fmt.Errorf("pgtest: write pg_hba.conf: %w", err)
	}
	return nil
}

func writeOwned(path, content string, cred *syscall.Credential) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgtest: write %s: %w", path, err)
	}
	if cred != nil {
		if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: chown %s: %w", path, err)
		}
	}
	return nil
}

// errPortTaken marks a start that failed because another process bound the chosen port first.
var errPortTaken = errors.New("pgtest: port taken")

// start runs the postmaster on a fresh free port and waits until the superuser can log in.
func (s *Server) start(ctx context.Context, bins binaries, cred *syscall.Credential, opts Options) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Port = port
	settings := map[string]string{
		"listen_addresses":        s.Host,
		"port":                    strconv.Itoa(port),
		"unix_socket_directories": s.dir,
		"max_connections":         strconv.Itoa(opts.MaxConnections),
		"shared_buffers":          "32MB",
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"logging_collector":       "off",
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	args := []string{"-D", s.dataDir()}
	for k, v := range settings {
		args = append(args, "-c", k+"="+v)
	}
	// Truncated per attempt, so that an earlier attempt's bind error is not read as this one's.
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("pgtest: open log: %w", err)
	}
	defer func() { _ = logFile.Close() }()
	// The server outlives StartServer's context: only Stop ends it.
	cmd := command(context.Background(), cred, s.dir, bins.path("postgres"), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test binary dies, the postmaster gets SIGQUIT (immediate shutdown) and takes its
	// backends with it: no server outlives its tests.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := s.spawn(cmd); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	return s.waitReady(ctx)
}

// spawn starts cmd from a goroutine locked to its OS thread, and keeps that thread until the
// postmaster exits: Linux sends the parent-death signal when the forking *thread* ends, so a
// thread recycled by the Go runtime would otherwise kill the server mid-test.
func (s *Server) spawn(cmd *exec.Cmd) error {
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(exited)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait() // the exit status of an immediate shutdown is not an error here
	}()
	s.cmd, s.exited = cmd, exited
	return <-started
}

// waitReady polls until the superuser logs in over TCP, the postmaster exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = s.CanLogin(attempt, s.SuperUser, s.SuperPassword)
		cancel()
		if lastErr == nil {
			return nil
		}
		select {
		case <-s.exited:
			log := s.logTail()
			if strings.Contains(log, "could not bind") || strings.Contains(log, "already in use") {
				return fmt.Errorf("%w: %d", errPortTaken, s.Port)
			}
			return fmt.Errorf("pgtest: postgres exited during start-up; log:\n%s", log)
		case <-ctx.Done():
			return fmt.Errorf("pgtest: postgres not ready on port %d: %w (last: %v); log:\n%s",
				s.Port, ctx.Err(), lastErr, s.logTail())
		case <-tick.C:
		}
	}
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const max = 4096
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop shuts the server down at once (what `pg_ctl stop -m immediate` does: SIGQUIT to the
// postmaster, which takes its backends down before it exits), makes sure the postmaster and
// every child it had are gone, and removes the server's files. It may be called more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		if s.pool != nil {
			s.pool.Close()
		}
		s.stopErr = s.stopProcess()
		if err := os.RemoveAll(s.dir); err != nil {
			s.stopErr = errors.Join(s.stopErr, fmt.Errorf("pgtest: remove %s: %w", s.dir, err))
		}
	})
	return s.stopErr
}

// stopProcess ends the postmaster started by spawn, if any, and waits for its children.
func (s *Server) stopProcess() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	pid := s.cmd.Process.Pid
	children := childPids(pid)
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		if !waitClosed(s.exited, stopTimeout) {
			_ = s.cmd.Process.Kill()
			if !waitClosed(s.exited, stopTimeout) {
				return fmt.Errorf("pgtest: postmaster %d did not exit", pid)
			}
		}
	}
	// The postmaster reaps its backends before it exits; after a SIGKILL, orphans notice the
	// postmaster's death and leave on their own. Either way, wait for them.
	deadline := time.Now().Add(stopTimeout)
	for _, c := range children {
		for processAlive(c) {
			if time.Now().After(deadline) {
				return fmt.Errorf("pgtest: postgres child %d of %d still running", c, pid)
			}
			waitClosed(nil, 10*time.Millisecond)
		}
	}
	return nil
}

// waitClosed reports whether ch was closed within d (a nil ch just waits d).
func waitClosed(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// childPids lists the processes whose parent is pid, from /proc.
func childPids(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(p); ok && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// processAlive reports whether pid exists and is not a zombie waiting for its reaper.
func processAlive(pid int) bool {
	_, state, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// procStat reads the parent pid and state letter from /proc/<pid>/stat.
func procStat(pid int) (ppid int, state byte, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) S ppid …": comm may hold spaces and parentheses, so cut at the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(fields[1])
	if err != nil || len(fields[0]) == 0 {
		return 0, 0, false
	}
	return ppid, fields[0][0], true
}

// URL is a connection URL for user over TCP, without TLS.
func (s *Server) URL(user, password string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// URLTemplate is the connection URL with {{username}} and {{password}} left for a database
// plugin to fill in, as operators write connection_url.
func (s *Server) URLTemplate() string {
	return fmt.Sprintf("postgres://{{username}}:{{password}}@%s/postgres?sslmode=disable",
		net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
}

// ConnString is the superuser's connection URL.
func (s *Server) ConnString() string { return s.URL(s.SuperUser, s.SuperPassword) }

// CanLogin opens, then closes, a connection as user; nil means the login worked.
func (s *Server) CanLogin(ctx context.Context, user, password string) error {
	conn, err := pgx.Connect(ctx, s.URL(user, password))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// Exec runs sql as the superuser.
func (s *Server) Exec(ctx context.Context, sql string, args ...any) error {
	_, err := s.pool.Exec(ctx, sql, args...)
	return err
}

// RoleExists reports whether a role called name exists.
func (s *Server) RoleExists(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", name).Scan(&ok)
	return ok, err
}
