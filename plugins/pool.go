// Package plugins runs external database plugins: one process per go-plugin client (AutoMTLS,
// gRPC, SHA-256 checked before every exec, a short start timeout, no host environment unless
// asked, Pdeathsig so that plugins die with their node even on SIGKILL), multiplexing (one
// process per catalog entry for plugins that say they multiplex, one per connection otherwise)
// and lazy restart: a call that finds its process dead starts a new one, re-initialises the
// connection and retries once, so the caller sees no error.
//
// A Pool is one node's set of plugin processes. Only the active node has one running; it knows
// nothing of Raft: the engine and the replicated core call it after Apply.
package plugins

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	metrics "github.com/hashicorp/go-metrics/compat"

	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/dbplugin"
)

// Defaults for the zero fields of Config.
const (
	// DefaultStartTimeout bounds a plugin's handshake; go-plugin's own default is a minute,
	// which on OpenBao held a registration and every other start for 120 s (vault#19192).
	DefaultStartTimeout = 10 * time.Second
	// DefaultKillTimeout bounds go-plugin's Kill (Close, ~2 s grace, SIGKILL) before Baton
	// SIGKILLs the pid itself.
	DefaultKillTimeout = 5 * time.Second
)

// Errors callers branch on.
var (
	// ErrPoolClosed is returned by every call after Shutdown.
	ErrPoolClosed = errors.New("plugin pool is shut down")
	// ErrConnClosed is returned by calls on a connection that was closed, or whose process was
	// killed by KillAll: such a connection never starts a process again.
	ErrConnClosed = errors.New("plugin connection is closed")
	// ErrConnExists is returned by Open for a connection id already open: close it first.
	ErrConnExists = errors.New("plugin connection is already open")
	// ErrStartTimeout wraps a start whose handshake did not finish within the start timeout.
	ErrStartTimeout = errors.New("plugin start timed out")
	// ErrHandshake wraps a start whose plugin printed something other than go-plugin's
	// handshake line on stdout.
	ErrHandshake = errors.New("plugin handshake failed")
	// ErrKilled wraps a start that KillAll cut short.
	ErrKilled = errors.New("plugin start cut short by KillAll")
	// ErrStopTimeout is returned when a process outlived its kill timeout twice (go-plugin's
	// Kill, then a SIGKILL).
	ErrStopTimeout = errors.New("plugin process did not stop")
)

// Config configures a Pool. Zero fields take the defaults named on them.
type Config struct {
	// PluginDir is the plugin directory every catalog command is resolved in (required).
	PluginDir string
	// Permissions is the optional owner and mode check of the directory and binaries.
	Permissions catalog.PermissionPolicy
	// StartTimeout bounds each plugin's handshake (DefaultStartTimeout); a caller's context
	// deadline shortens it.
	StartTimeout time.Duration
	// KillTimeout bounds a graceful stop before SIGKILL (DefaultKillTimeout).
	KillTimeout time.Duration
	// SocketDir is where per-process Unix socket directories are made. Socket paths are
	// limited to 108 bytes, so it must be short; empty means a fresh directory under /tmp that
	// Shutdown removes.
	SocketDir string
	// HostVersion is given to plugins as BAO_VERSION and VAULT_VERSION.
	HostVersion string
	// PassEnv names the host environment variables a plugin receives (before the catalog
	// entry's env, which overrides them). Empty, the default, passes none: not even PATH,
	// which a Go plugin does not need and an operator can list or set in the entry's env.
	PassEnv []string
	// Logger is the parent of every plugin's logger (named after the plugin, which receives
	// the plugin's own hclog JSON stderr lines). Nil means hclog.Default().
	Logger hclog.Logger
	// Guard, when set, is asked right before every process start and again once the process
	// is up, before it is used; an error refuses the start (the process, if any, is killed).
	// The node checks there that it still leads, so a leader that was frozen and resumed
	// starts nothing for a request it took before it froze.
	Guard func(ctx context.Context) error
	// Observer, when set, receives every instance event. It is called synchronously without
	// any Pool lock held, from the caller's goroutine or a process watcher; it must not block
	// for long.
	Observer func(InstanceEvent)
}

// Instance event kinds.
const (
	EventStarting    = "starting"
	EventStarted     = "started"
	EventStartFailed = "start_failed"
	EventCrashed     = "crashed"
	EventStopped     = "stopped"
)

// InstanceEvent tells the lifecycle layer what happened to a connection's plugin instance; a
// crash of a multiplexed process yields one "crashed" event per connection on it.
type InstanceEvent struct {
	// ConnID is the connection; empty for a process no connection used (metadata mode).
	ConnID string
	// Kind is one of the Event* constants.
	Kind string
	// PID is the plugin process, 0 when none started.
	PID int
	// Err is why a start failed or a process ended, when known.
	Err error
}

// ProcessInfo describes one live plugin process.
type ProcessInfo struct {
	// Key names the catalog entry (type/name/version/sha256 prefix); never environment values.
	Key string
	// PID is the process id.
	PID int
	// Multiplexed is true when the process serves many connections.
	Multiplexed bool
	// Metadata is true for a process started only to ask its version (registration).
	Metadata bool
	// Conns lists the connections attached to it, sorted.
	Conns []string
}

// Pool runs one node's plugin processes and the connections on them.
type Pool struct {
	cfg           Config
	log           hclog.Logger
	run           *runner
	ownSocketDir  bool
	watchers      sync.WaitGroup // one per live process, ends when its cleanup is done
	shutdownOnce  sync.Once
	shutdownError error

	mu      sync.Mutex
	closed  bool
	epoch   uint64 // counts KillAll calls: a start that straddles one is killed
	conns   map[string]*Conn
	procs   map[*process]struct{}   // every live process, pooled or not
	shared  map[string]*process     // multiplexed processes by entry key
	flights map[string]*startFlight // starts in progress that others may join, by entry key
	single  map[string]bool         // entries known not to multiplex: each conn starts its own
	// gauged names the plugins EmitMetrics has reported, so that one whose last process
	// ended is reported at 0 rather than left at its last count.
	gauged map[string]bool
}

// startFlight is one start of an entry whose multiplexing is not yet known or is known to be
// on: concurrent Opens of the entry wait for it instead of starting their own.
type startFlight struct {
	done chan struct{}
	proc *process
	err  error
}

// NewPool checks the config and returns an empty pool; no process starts before Open.
func NewPool(cfg Config) (*Pool, error) {
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.KillTimeout <= 0 {
		cfg.KillTimeout = DefaultKillTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.Default()
	}
	cfg.PassEnv = slices.Clone(cfg.PassEnv)
	policy := catalog.Policy{Dir: cfg.PluginDir, Permissions: cfg.Permissions}
	own := false
	if cfg.SocketDir == "" {
		// Named after this process, so a later pool can remove what a killed one left.
		sweepSocketDirs()
		dir, err := os.MkdirTemp("/tmp", fmt.Sprintf("baton-%d-", os.Getpid()))
		if err != nil {
			return nil, fmt.Errorf("plugin socket directory: %w", err)
		}
		cfg.SocketDir, own = dir, true
	} else if len(cfg.SocketDir) > 60 {
		return nil, fmt.Errorf("plugin socket directory %q is %d bytes long: Unix socket paths are limited to 108 bytes, use a directory of at most 60", cfg.SocketDir, len(cfg.SocketDir))
	}
	log := cfg.Logger.Named("plugins")
	return &Pool{
		cfg:          cfg,
		log:          log,
		ownSocketDir: own,
		run: &runner{
			policy:       policy,
			socketDir:    cfg.SocketDir,
			hostVersion:  cfg.HostVersion,
			passEnv:      cfg.PassEnv,
			startTimeout: cfg.StartTimeout,
			killTimeout:  cfg.KillTimeout,
			guard:        cfg.Guard,
			logger:       log,
			pending:      make(map[*pendingStart]struct{}),
		},
		conns:   make(map[string]*Conn),
		procs:   make(map[*process]struct{}),
		shared:  make(map[string]*process),
		flights: make(map[string]*startFlight),
		single:  make(map[string]bool),
	}, nil
}

// Open starts (or joins) the plugin process of entry e for connection connID and initialises
// the connection with init, which the Conn keeps to re-initialise after a restart. Opens of
// different entries never wait on each other; concurrent Opens of one multiplexed entry share
// one start.
func (p *Pool) Open(ctx context.Context, connID string, e catalog.Entry, init dbplugin.InitializeRequest) (*Conn, dbplugin.InitializeResponse, error) {
	if connID == "" {
		return nil, dbplugin.InitializeResponse{}, errors.New("open plugin connection: empty connection id")
	}
	c := &Conn{pool: p, id: connID, entry: e, init: init}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, dbplugin.InitializeResponse{}, ErrPoolClosed
	}
	if _, ok := p.conns[connID]; ok {
		p.mu.Unlock()
		return nil, dbplugin.InitializeResponse{}, fmt.Errorf("open plugin connection %q: %w", connID, ErrConnExists)
	}
	p.conns[connID] = c
	p.mu.Unlock()

	c.restartMu.Lock()
	resp, err := c.connect(ctx)
	c.restartMu.Unlock()
	if err != nil {
		p.mu.Lock()
		if p.conns[connID] == c {
			delete(p.conns, connID)
		}
		c.closed = true
		p.mu.Unlock()
		return nil, dbplugin.InitializeResponse{}, fmt.Errorf("open plugin connection %q: %w", connID, err)
	}
	p.mu.Lock()
	c.ready = true
	p.mu.Unlock()
	return c, resp, nil
}

// Get returns an open connection.
func (p *Pool) Get(connID string) (*Conn, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.conns[connID]
	if !ok || !c.ready {
		return nil, false
	}
	return c, true
}

// CloseConn closes a connection: the plugin's Close for its instance, then the end of its
// process when no other connection uses it. Closing an unknown connection is not an error.
func (p *Pool) CloseConn(ctx context.Context, connID string) error {
	p.mu.Lock()
	c, ok := p.conns[connID]
	p.mu.Unlock()
	if !ok {
		return nil
	}
	return c.Close()
}

// KillAll SIGKILLs every plugin process at once, those still in their handshake included, and
// closes every connection so that none starts a process again; for a node that lost its
// leadership, before anything else. It waits (bounded by the kill timeout) for the processes
// to be reaped. The pool stays usable: a later Open starts afresh.
func (p *Pool) KillAll() {
	p.mu.Lock()
	p.epoch++
	procs := make([]*process, 0, len(p.procs))
	for pr := range p.procs {
		pr.stopping = true
		procs = append(procs, pr)
	}
	conns := p.detachAllLocked()
	p.mu.Unlock()

	p.run.abortPending()
	for _, pr := range procs {
		pr.killNow()
	}
	deadline := time.After(p.cfg.KillTimeout)
	for _, pr := range procs {
		select {
		case <-pr.gone:
		case <-deadline:
			p.log.Error("plugin process still alive after SIGKILL", "plugin", pr.entry.Name, "pid", pr.pid)
		}
	}
	for _, c := range conns {
		p.emit(InstanceEvent{ConnID: c.id, Kind: EventStopped, PID: c.pidHint})
	}
}

// detachAllLocked closes every connection and forgets the shared processes; p.mu is held.
func (p *Pool) detachAllLocked() []*Conn {
	conns := make([]*Conn, 0, len(p.conns))
	for id, c := range p.conns {
		c.closed = true
		if c.proc != nil {
			c.pidHint = c.proc.pid
			delete(c.proc.conns, c.id)
		}
		c.proc, c.db = nil, nil
		conns = append(conns, c)
		delete(p.conns, id)
	}
	clear(p.shared)
	return conns
}

// Shutdown closes every connection (the plugin's Close), stops every process (go-plugin's
// Kill, SIGKILL after the kill timeout), waits for them and their watchers, and removes the
// socket directory the pool made. Later calls return the first result.
func (p *Pool) Shutdown(ctx context.Context) error {
	p.shutdownOnce.Do(func() { p.shutdownError = p.shutdown(ctx) })
	return p.shutdownError
}

func (p *Pool) shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	conns := make([]*Conn, 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()

	var errs []error
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Close(); err != nil && !errors.Is(err, ErrConnClosed) {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}()
	}
	wg.Wait()

	// Processes left: metadata-mode ones and those of connections still opening.
	p.mu.Lock()
	procs := make([]*process, 0, len(p.procs))
	for pr := range p.procs {
		pr.stopping = true
		procs = append(procs, pr)
	}
	p.mu.Unlock()
	p.run.abortPending()
	for _, pr := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pr.stop(); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}()
	}
	wg.Wait()

	waited := make(chan struct{})
	go func() {
		p.watchers.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("wait for plugin watchers: %w", ctx.Err()))
	}
	if p.ownSocketDir {
		_ = os.RemoveAll(p.cfg.SocketDir)
	}
	return errors.Join(errs...)
}

// Processes lists the live plugin processes, sorted by key then pid.
func (p *Pool) Processes() []ProcessInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProcessInfo, 0, len(p.procs))
	for pr := range p.procs {
		if pr.exited() {
			continue
		}
		info := ProcessInfo{Key: pr.label, PID: pr.pid, Multiplexed: pr.multiplexed, Metadata: pr.metadata}
		for id := range pr.conns {
			info.Conns = append(info.Conns, id)
		}
		slices.Sort(info.Conns)
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b ProcessInfo) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return a.PID - b.PID
	})
	return out
}

// EmitMetrics sets the baton.plugin.processes gauge: the live plugin processes per catalog
// name (metadata-mode runs excluded). The telemetry loop calls it every interval.
func (p *Pool) EmitMetrics() {
	p.mu.Lock()
	counts := map[string]int{}
	for pr := range p.procs {
		if !pr.exited() && !pr.metadata {
			counts[pr.entry.Name]++
		}
	}
	if p.gauged == nil {
		p.gauged = map[string]bool{}
	}
	for name := range counts {
		p.gauged[name] = true
	}
	names := make([]string, 0, len(p.gauged))
	for name := range p.gauged {
		names = append(names, name)
	}
	p.mu.Unlock()
	for _, name := range names {
		metrics.SetGaugeWithLabels([]string{"baton", "plugin", "processes"}, float32(counts[name]), []metrics.Label{{Name: "plugin", Value: name}})
	}
}

// Metadata is what a plugin says about itself when run in metadata mode.
type Metadata struct {
	// Version is the plugin's self-reported version, "" when it reports none.
	Version string
	// Multiplexed is true when the plugin serves many connections in one process.
	Multiplexed bool
	// Type is what the plugin's Type call answers ("postgresql"); "" if it failed.
	Type string
}

// Metadata runs the plugin of e in metadata mode (BAO_PLUGIN_METADATA_MODE=true) in a process
// of its own, asks its version, multiplexing and type, and stops it.
func (p *Pool) Metadata(ctx context.Context, e catalog.Entry) (Metadata, error) {
	proc, err := p.spawn(ctx, e, true, "")
	if err != nil {
		return Metadata{}, err
	}
	defer p.stopProcess(proc)
	md := Metadata{Multiplexed: proc.multiplexed}
	if md.Version, err = proc.db.Version(ctx); err != nil {
		return Metadata{}, fmt.Errorf("ask %s its version: %w", describe(e), err)
	}
	db := proc.db.Database(rand.Text())
	if t, err := db.Type(); err == nil {
		md.Type = t
	} else {
		proc.logger.Debug("plugin Type failed in metadata mode", "error", err)
	}
	if md.Multiplexed {
		_ = db.Close()
	}
	return md, nil
}

// Verify is the registration check of an external entry: the catalog's static and filesystem
// rules (place, permissions, SHA-256), then a metadata-mode run whose reported version is
// settled against the entry's with catalog.CompareVersions (a difference names both). It
// returns the entry to store, with its settled version.
func (p *Pool) Verify(ctx context.Context, e catalog.Entry) (catalog.Entry, Metadata, error) {
	policy := catalog.Policy{Dir: p.cfg.PluginDir, Permissions: p.cfg.Permissions}
	c, err := policy.Validate(e)
	if err != nil {
		return catalog.Entry{}, Metadata{}, err
	}
	md, err := p.Metadata(ctx, c)
	if err != nil {
		return catalog.Entry{}, Metadata{}, err
	}
	v, err := catalog.CompareVersions(c.Version, md.Version)
	if err != nil {
		return catalog.Entry{}, Metadata{}, fmt.Errorf("register %s: %w", describe(c), err)
	}
	c.SelfVersioned = c.Version == "" && v != ""
	c.Version = v
	return c, md, nil
}

// spawn starts a process and registers it as live; connID only labels the events.
func (p *Pool) spawn(ctx context.Context, e catalog.Entry, metadata bool, connID string) (*process, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	epoch := p.epoch
	p.watchers.Add(1) // under p.mu with closed false: never concurrent with Shutdown's Wait
	p.mu.Unlock()
	p.emit(InstanceEvent{ConnID: connID, Kind: EventStarting})
	proc, err := p.run.spawn(ctx, e, metadata, p.onGone)
	if err != nil {
		p.watchers.Done()
		p.emit(InstanceEvent{ConnID: connID, Kind: EventStartFailed, Err: err})
		return nil, err
	}
	go func() {
		<-proc.cleaned
		p.watchers.Done()
	}()
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		p.stopProcess(proc)
		p.emit(InstanceEvent{ConnID: connID, Kind: EventStartFailed, PID: proc.pid, Err: ErrPoolClosed})
		return nil, ErrPoolClosed
	case p.epoch != epoch: // KillAll ran during the start
		proc.stopping = true
		p.mu.Unlock()
		proc.killNow()
		p.emit(InstanceEvent{ConnID: connID, Kind: EventStartFailed, PID: proc.pid, Err: ErrKilled})
		return nil, fmt.Errorf("start %s: %w", describe(e), ErrKilled)
	}
	p.procs[proc] = struct{}{}
	p.mu.Unlock()
	if proc.exited() { // it died before it was registered: onGone found nothing to do
		p.mu.Lock()
		delete(p.procs, proc)
		p.mu.Unlock()
	}
	p.emit(InstanceEvent{ConnID: connID, Kind: EventStarted, PID: proc.pid})
	return proc, nil
}

// acquire attaches c to a process of its entry, starting one when needed, and returns it.
func (p *Pool) acquire(ctx context.Context, c *Conn) (*process, error) {
	key := entryKey(c.entry)
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrPoolClosed
		}
		if c.closed {
			p.mu.Unlock()
			return nil, ErrConnClosed
		}
		if pr := p.shared[key]; pr != nil && !pr.stopping && !pr.exited() {
			pr.conns[c.id] = c
			p.mu.Unlock()
			return pr, nil
		}
		if p.single[key] {
			p.mu.Unlock()
			pr, err := p.spawn(ctx, c.entry, false, c.id)
			if err != nil {
				return nil, err
			}
			return p.attachNew(c, pr)
		}
		if f := p.flights[key]; f != nil {
			p.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, fmt.Errorf("wait for the start of %s: %w", describe(c.entry), ctx.Err())
			}
			if f.err != nil {
				return nil, f.err
			}
			continue // joins it when multiplexed, else starts its own
		}
		f := &startFlight{done: make(chan struct{})}
		p.flights[key] = f
		p.mu.Unlock()

		pr, err := p.spawn(ctx, c.entry, false, c.id)
		p.mu.Lock()
		delete(p.flights, key)
		f.proc, f.err = pr, err
		if err == nil {
			if pr.multiplexed {
				p.shared[key] = pr
			} else {
				p.single[key] = true
			}
		}
		close(f.done)
		p.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return p.attachNew(c, pr)
	}
}

// attachNew attaches c to a process just started for it, or stops the process when c was
// closed (or the pool killed) meanwhile.
func (p *Pool) attachNew(c *Conn, pr *process) (*process, error) {
	p.mu.Lock()
	if c.closed || p.closed {
		err := ErrConnClosed
		if p.closed {
			err = ErrPoolClosed
		}
		last := len(pr.conns) == 0
		if last {
			p.forgetLocked(pr)
		}
		p.mu.Unlock()
		if last {
			p.stopProcess(pr)
		}
		return nil, err
	}
	pr.conns[c.id] = c
	p.mu.Unlock()
	return pr, nil
}

// release detaches c from pr and stops pr when it was its last connection.
func (p *Pool) release(c *Conn, pr *process) {
	p.mu.Lock()
	delete(pr.conns, c.id)
	if c.proc == pr {
		c.proc, c.db = nil, nil
	}
	last := len(pr.conns) == 0
	if last {
		p.forgetLocked(pr)
	}
	p.mu.Unlock()
	if last {
		p.stopProcess(pr)
	}
}

// forgetLocked marks pr as being stopped so that nobody joins it; p.mu is held.
func (p *Pool) forgetLocked(pr *process) {
	pr.stopping = true
	if p.shared[pr.key] == pr {
		delete(p.shared, pr.key)
	}
}

// stopProcess ends pr gracefully (bounded) and logs a failure.
func (p *Pool) stopProcess(pr *process) {
	p.mu.Lock()
	pr.stopping = true
	if p.shared[pr.key] == pr {
		delete(p.shared, pr.key)
	}
	p.mu.Unlock()
	if err := pr.stop(); err != nil {
		p.log.Error("stop plugin process", "plugin", pr.entry.Name, "error", err)
	}
}

// onGone runs on a process's watcher as soon as it has exited: it forgets the process and
// marks every connection on it idle (the next call on each starts a new process).
func (p *Pool) onGone(pr *process) {
	p.mu.Lock()
	delete(p.procs, pr)
	if p.shared[pr.key] == pr {
		delete(p.shared, pr.key)
	}
	crashed := !pr.stopping
	var ids []string
	for id, c := range pr.conns {
		if c.proc == pr {
			c.proc, c.db = nil, nil
		}
		ids = append(ids, id)
	}
	p.mu.Unlock()
	if !crashed {
		return
	}
	pr.logger.Warn("plugin process exited unexpectedly; its connections are idle until their next call",
		"pid", pr.pid, "connections", len(ids))
	slices.Sort(ids)
	for _, id := range ids {
		p.emit(InstanceEvent{ConnID: id, Kind: EventCrashed, PID: pr.pid})
	}
	if len(ids) == 0 && !pr.metadata {
		p.emit(InstanceEvent{Kind: EventCrashed, PID: pr.pid})
	}
}

func (p *Pool) emit(ev InstanceEvent) {
	if p.cfg.Observer != nil {
		p.cfg.Observer(ev)
	}
}

// entryKey identifies the process an entry runs: every field that changes what is executed.
// It stays in memory (it holds the env) and is never printed; entryLabel is.
func entryKey(e catalog.Entry) string {
	var b strings.Builder
	for _, s := range []string{string(e.Type), e.Name, e.Version, strings.ToLower(e.SHA256), e.Command} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, s := range e.Args {
		b.WriteString(s)
		b.WriteByte(1)
	}
	b.WriteByte(0)
	for _, s := range e.Env {
		b.WriteString(s)
		b.WriteByte(1)
	}
	return b.String()
}

// entryLabel names an entry's process for logs and ProcessInfo.
func entryLabel(e catalog.Entry) string {
	sum := strings.ToLower(e.SHA256)
	if len(sum) > 12 {
		sum = sum[:12]
	}
	v := e.Version
	if v == "" {
		v = "unversioned"
	}
	return fmt.Sprintf("%s/%s/%s/%s", e.Type, e.Name, v, sum)
}

// sweepSocketDirs removes the socket directories of pools whose process is gone (killed
// before it could clean up): /tmp/baton-<pid>-* with no process <pid>.
func sweepSocketDirs() {
	matches, _ := filepath.Glob("/tmp/baton-*-*")
	for _, m := range matches {
		parts := strings.SplitN(filepath.Base(m), "-", 3)
		if len(parts) != 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat("/proc/" + parts[1]); err == nil {
			continue
		}
		if info, err := os.Lstat(m); err == nil && info.IsDir() {
			_ = os.RemoveAll(m)
		}
	}
}
