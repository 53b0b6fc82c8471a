package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"golang.org/x/sys/unix"

	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/dbplugin"
)

// runner starts plugin processes. It holds no process itself (the Pool does); it only knows
// how to start one safely and keeps the list of starts in progress so that KillAll can reach a
// process whose handshake has not finished yet.
type runner struct {
	policy       catalog.Policy
	socketDir    string
	guard        func(ctx context.Context) error
	hostVersion  string
	passEnv      []string
	startTimeout time.Duration
	killTimeout  time.Duration
	logger       hclog.Logger

	mu      sync.Mutex
	pending map[*pendingStart]struct{}
}

// pendingStart is a start whose fork thread is known but whose handshake has not ended.
type pendingStart struct {
	tid int // the locked OS thread that forks, hence the plugin's "parent" thread
}

// process is one plugin process and the go-plugin client that started it. A process is never
// restarted: a new one gets a new plugin.Client and a new exec.Cmd (go-plugin's Start on a dead
// client returns the stale address with no error).
type process struct {
	entry       catalog.Entry
	path        string
	pid         int
	client      *plugin.Client
	proto       plugin.ClientProtocol
	db          *dbplugin.Client
	multiplexed bool
	metadata    bool
	logger      hclog.Logger
	socketDir   string
	killTimeout time.Duration

	release chan struct{} // closed to let the fork thread end: only once the child is gone
	gone    chan struct{} // closed when the process has exited and been reaped
	cleaned chan struct{} // closed when go-plugin's goroutines, the socket dir and the pidfd are released

	killOnce sync.Once
	killDone chan struct{}

	fdMu  sync.Mutex
	pidfd int // -1 once closed or when the kernel has no pidfd_open

	// Guarded by Pool.mu.
	key      string
	label    string
	conns    map[string]*Conn
	stopping bool // Baton asked it to end: its exit is not a crash
}

// spawn checks and starts one plugin process and dispenses its database client. Every check
// that can refuse the binary runs before the fork, so a refused binary never runs. onGone is
// called once, from a watcher goroutine, as soon as the process has exited (however it ended).
func (r *runner) spawn(ctx context.Context, e catalog.Entry, metadata bool, onGone func(*process)) (*process, error) {
	path, err := r.locate(e)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", describe(e), err)
	}
	timeout := r.startTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < timeout {
			timeout = left
		}
	}
	if err := ctx.Err(); err != nil || timeout <= 0 {
		return nil, fmt.Errorf("start %s: %w", describe(e), context.DeadlineExceeded)
	}
	sockDir, err := os.MkdirTemp(r.socketDir, "p")
	if err != nil {
		return nil, fmt.Errorf("start %s: socket directory: %w", describe(e), err)
	}

	// The binary that runs is a private copy, hashed while it is copied: a binary changed in
	// the plugin directory between the check and the exec can no longer slip through.
	runPath, err := verifiedCopy(path, sockDir, e.SHA256)
	if err != nil {
		_ = os.RemoveAll(sockDir)
		return nil, fmt.Errorf("start %s: %w", describe(e), err)
	}
	cmd := exec.Command(runPath, e.Args...)
	cmd.Args[0] = path // the plugin sees the catalog's path as its name
	cmd.Env = pluginEnv(e.Env, r.passEnv, r.hostVersion, metadata, sockDir)
	// Pdeathsig: the kernel SIGKILLs the plugin when the thread that forked it dies, which
	// covers a SIGKILLed host. No Setpgid: the plugin stays in the host's process group so
	// that freezing the group (SIGSTOP) freezes the node and its plugins together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	logger := r.logger.Named(e.Name)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  dbplugin.HandshakeConfig,
		VersionedPlugins: dbplugin.PluginSets(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Managed:          false,
		SkipHostEnv:      true,
		StartTimeout:     timeout,
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: sockDir},
		Logger:           logger,
	})

	p := &process{
		entry:       e,
		path:        path,
		metadata:    metadata,
		client:      client,
		logger:      logger,
		socketDir:   sockDir,
		killTimeout: r.killTimeout,
		release:     make(chan struct{}),
		gone:        make(chan struct{}),
		cleaned:     make(chan struct{}),
		killDone:    make(chan struct{}),
		pidfd:       -1,
		conns:       make(map[string]*Conn),
		key:         entryKey(e),
		label:       entryLabel(e),
	}

	// The last check before the fork, after the copy: a node frozen and resumed anywhere
	// before this point finds out here that it no longer leads.
	if r.guard != nil {
		if err := r.guard(ctx); err != nil {
			_ = os.RemoveAll(sockDir)
			return nil, fmt.Errorf("start %s: %w", describe(e), err)
		}
	}
	pend := &pendingStart{}
	tidc := make(chan int, 1)
	startc := make(chan error, 1)
	go forkOnLockedThread(client, tidc, startc, p.release)
	pend.tid = <-tidc
	// Until spawn returns, KillAll reaches the child through its fork thread: its pid is
	// unknown before go-plugin's Start returns, and the caller registers it only after.
	r.addPending(pend)
	defer r.removePending(pend)
	startErr := <-startc // bounded by StartTimeout inside go-plugin
	if startErr != nil {
		// go-plugin SIGKILLed the child already; Kill waits for it to be reaped and ends the
		// client's goroutines.
		r.finishFailed(p, 0)
		return nil, fmt.Errorf("start %s: %w", describe(e), cleanStartError(startErr, timeout))
	}
	p.pid, _ = strconv.Atoi(client.ID())
	if fd, err := unix.PidfdOpen(p.pid, 0); err == nil {
		p.pidfd = fd
	}

	proto, err := client.Client()
	if err != nil {
		r.finishFailed(p, p.pid)
		return nil, fmt.Errorf("start %s: connect: %w", describe(e), err)
	}
	raw, err := proto.Dispense(dbplugin.PluginName)
	if err != nil {
		r.finishFailed(p, p.pid)
		return nil, fmt.Errorf("start %s: dispense %q: %w", describe(e), dbplugin.PluginName, err)
	}
	db, ok := raw.(*dbplugin.Client)
	if !ok {
		r.finishFailed(p, p.pid)
		return nil, fmt.Errorf("start %s: dispensed %T, not a database client", describe(e), raw)
	}
	// Asked again once the process is up, before anyone uses it: a pause between the check
	// above and the fork (the kernel restarts a fork that a stop signal interrupted) would
	// otherwise hand out a process started on a stale answer.
	if r.guard != nil {
		if err := r.guard(ctx); err != nil {
			r.finishFailed(p, p.pid)
			return nil, fmt.Errorf("start %s: %w", describe(e), err)
		}
	}
	p.proto, p.db = proto, db
	p.multiplexed = db.Multiplexed()
	go p.watch(onGone)
	logger.Debug("plugin process started", "pid", p.pid, "multiplexed", p.multiplexed,
		"protocol", client.NegotiatedVersion(), "metadata_mode", metadata)
	return p, nil
}

// locate applies the catalog's filesystem rules to an entry's binary (inside the plugin
// directory, no escape through a link, owner and mode when asked for) and returns its real
// path. Its SHA-256 is left to go-plugin's SecureConfig, which hashes the file just before
// the exec and refuses to start it on a mismatch; only then is the file hashed a second time,
// by checksumError, to name both sums. Hashing it up front as well (catalog.Policy.Resolve)
// would double the cost: about 19 ms for the 19 MB test plugin, a fifth of a cold start.
func (r *runner) locate(e catalog.Entry) (string, error) {
	path, err := catalog.ResolveCommand(r.policy.Dir, e.Command)
	if err != nil {
		return "", err
	}
	if err := r.policy.Permissions.Check(r.policy.Dir); err != nil {
		return "", err
	}
	if err := r.policy.Permissions.Check(path); err != nil {
		return "", err
	}
	if _, err := catalog.NormalizeSHA256(e.SHA256); err != nil {
		return "", err
	}
	return path, nil
}

// verifiedCopy copies the binary at path into dir (private to this node: 0700), hashing what
// it copies, and returns the copy's path when its SHA-256 is the catalog's. On a mismatch the
// copy is removed and the error names both sums (OpenBao's names neither). Hashing the bytes
// that are copied, and running the copy, closes the window between check and exec: what runs
// is exactly what was checked.
func verifiedCopy(path, dir, want string) (string, error) {
	src, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w: open plugin binary: %w", catalog.ErrInvalid, err)
	}
	defer src.Close()
	dst := filepath.Join(dir, filepath.Base(path))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o500)
	if err != nil {
		return "", fmt.Errorf("copy plugin binary: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(dst)
		return "", fmt.Errorf("copy plugin binary: %w", err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(got, want) {
		_ = os.Remove(dst)
		return "", fmt.Errorf("%w: %w", catalog.ErrInvalid, &catalog.ChecksumMismatchError{Path: path, Want: strings.ToLower(want), Got: got})
	}
	return dst, nil
}

// forkOnLockedThread runs go-plugin's Start, which forks the plugin, on an OS thread locked to
// this goroutine, and keeps the thread blocked until release is closed (after the child has
// exited). Pdeathsig fires when the forking *thread* dies: without the lock the runtime could
// end that thread (killing a healthy plugin) or keep it for other work. The goroutine ends
// still locked, so the runtime retires the thread instead of reusing it.
func forkOnLockedThread(client *plugin.Client, tid chan<- int, started chan<- error, release <-chan struct{}) {
	runtime.LockOSThread()
	tid <- unix.Gettid()
	_, err := client.Start()
	started <- err
	if err != nil {
		return // the child was SIGKILLed by go-plugin; nothing is left to protect
	}
	<-release
}

// finishFailed tears down a client whose start or dispense failed and lets its fork thread
// go once the child is known to be gone.
func (r *runner) finishFailed(p *process, pid int) {
	done := make(chan struct{})
	go func() {
		p.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(r.killTimeout):
		if pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-done:
		case <-time.After(r.killTimeout):
			r.logger.Error("plugin client did not stop after a failed start", "plugin", p.entry.Name, "pid", pid)
		}
	}
	if pid > 0 {
		closeOnce(p.release)
	}
	p.closePidfd()
	_ = os.RemoveAll(p.socketDir)
}

// watch waits for the process to exit, then reports it and releases what it held.
func (p *process) watch(onGone func(*process)) {
	<-p.db.Done()
	close(p.gone)
	close(p.release)
	p.closePidfd()
	if onGone != nil {
		onGone(p)
	}
	// A process that ended by itself leaves only the gRPC connection to close (go-plugin's
	// Kill would add two misleading warnings); one stopped by Baton is in Kill already. Both
	// are bounded because grpc's Close has hung on some versions.
	p.killOnce.Do(func() {
		go func() {
			_ = p.proto.Close()
			close(p.killDone)
		}()
	})
	select {
	case <-p.killDone:
	case <-time.After(p.killTimeout):
		p.logger.Warn("go-plugin client cleanup did not finish", "pid", p.pid)
	}
	_ = os.RemoveAll(p.socketDir)
	close(p.cleaned)
}

// startKill asks go-plugin to end the process (Close over the controller, ~2 s grace, then
// SIGKILL) in the background; it runs once per process.
func (p *process) startKill() {
	p.killOnce.Do(func() {
		go func() {
			p.client.Kill()
			close(p.killDone)
		}()
	})
}

// stop ends the process gracefully, SIGKILLing it when go-plugin's Kill has not ended it within
// the kill timeout, and waits (bounded) for it to be gone.
func (p *process) stop() error {
	p.startKill()
	select {
	case <-p.gone:
		return nil
	case <-time.After(p.killTimeout):
	}
	p.logger.Warn("plugin did not stop within the kill timeout; sending SIGKILL", "pid", p.pid)
	p.killNow()
	select {
	case <-p.gone:
		return nil
	case <-time.After(p.killTimeout):
		return fmt.Errorf("plugin %q pid %d: %w", p.entry.Name, p.pid, ErrStopTimeout)
	}
}

// killNow SIGKILLs the process at once, through its pidfd when there is one so that a
// recycled pid is never hit.
func (p *process) killNow() {
	select {
	case <-p.gone:
		return
	default:
	}
	p.fdMu.Lock()
	defer p.fdMu.Unlock()
	if p.pidfd >= 0 {
		if err := unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0); err == nil || errors.Is(err, unix.ESRCH) {
			return
		}
	}
	select {
	case <-p.gone:
	default:
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

func (p *process) closePidfd() {
	p.fdMu.Lock()
	defer p.fdMu.Unlock()
	if p.pidfd >= 0 {
		_ = unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

// exited reports whether the process is gone.
func (p *process) exited() bool {
	select {
	case <-p.gone:
		return true
	default:
		return false
	}
}

func (r *runner) addPending(s *pendingStart) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[s] = struct{}{}
}

func (r *runner) removePending(s *pendingStart) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, s)
}

// abortPending SIGKILLs the children of every start still in its handshake. Their pids are
// not known to go-plugin's caller until Start returns, so they are read from
// /proc/self/task/<tid>/children: the fork thread is locked and forks only that one child.
// go-plugin's Start then fails with "plugin exited before we could connect".
func (r *runner) abortPending() {
	r.mu.Lock()
	tids := make([]int, 0, len(r.pending))
	for s := range r.pending {
		tids = append(tids, s.tid)
	}
	r.mu.Unlock()
	for _, tid := range tids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/children", tid))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// cleanStartError turns go-plugin's start errors into ones that say what happened. The garbage
// a plugin printed is cut short: it is the plugin's output, not Baton's.
func cleanStartError(err error, timeout time.Duration) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("%w after %s: the plugin did not complete the go-plugin handshake", ErrStartTimeout, timeout)
	case strings.HasPrefix(msg, "Unrecognized remote plugin message"):
		first, _, _ := strings.Cut(msg, "\n")
		if len(first) > 160 {
			first = first[:160] + "…"
		}
		return fmt.Errorf("%w: %s", ErrHandshake, first)
	}
	return err
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

// describe names an entry for errors and logs, without its environment values.
func describe(e catalog.Entry) string {
	v := e.Version
	if v == "" {
		v = "unversioned"
	}
	return fmt.Sprintf("%s plugin %q %s", e.Type, e.Name, v)
}
