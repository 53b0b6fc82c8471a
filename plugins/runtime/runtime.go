// Package runtime is the plugin runtime of Baton's active node: it hands out plugin instances
// (opened lazily through the plugin pool, each start recorded on the instance's lifecycle
// machine as request → started), records the pool's own crashes and restarts, carries out the
// effects of committed transitions, reconciles the previous leader's instances on activation
// and runs the rollback manager. It implements internal/core's Runtime.
//
// The secrets engines above it (plugins/database) register their handlers with Register:
// NATS event handlers by kind, an activation hook, and rollback handlers by WAL kind, as the
// rollback manager takes handlers by kind. So the engine imports the runtime and never the
// reverse.
//
// It may import fsm, wal, rollback, events, raftstore/command, raftstore/state,
// internal/barrier and plugins (pool, catalog, dbplugin); nothing above it.
//
// Everything here runs on the active node; followers hold the same state and run nothing.
package runtime

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	metrics "github.com/hashicorp/go-metrics/compat"
	"golang.org/x/sync/singleflight"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/plugins"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/rollback"
	"github.com/baton-hq/baton/wal"
)

// Cluster is what the runtime needs of its node.
type Cluster interface {
	// Propose commits a command through Raft on the active node.
	Propose(ctx context.Context, typ command.Type, id string, source command.Source, payload any) (*state.Result, error)
	// VerifyActive checks that this node still leads, before any plugin request.
	VerifyActive(ctx context.Context) error
	// State is the replicated state.
	State() *state.State
	// Barrier seals and opens secrets.
	Barrier() *barrier.Barrier
}

// Instance is an open plugin instance of one connection.
type Instance interface {
	dbplugin.Database
	// PID is the instance's plugin process (0 when it has none right now).
	PID() int
}

// Pool is what the runtime needs of the plugin pool: *plugins.Pool through FromPool, an
// in-memory fake in unit tests.
type Pool interface {
	// Open starts (or joins) the plugin process of entry for connID and initialises it.
	Open(ctx context.Context, connID string, entry catalog.Entry, req dbplugin.InitializeRequest) (Instance, dbplugin.InitializeResponse, error)
	// CloseConn closes connID's instance; an unknown one is not an error.
	CloseConn(ctx context.Context, connID string) error
	// Verify checks a catalog entry against its binary (SHA-256, permissions) and asks the
	// plugin for its metadata, returning the entry as it is to be stored.
	Verify(ctx context.Context, entry catalog.Entry) (catalog.Entry, error)
	// KillAll kills every plugin process at once.
	KillAll()
	// Shutdown stops every plugin gracefully.
	Shutdown(ctx context.Context) error
}

// FromPool adapts the plugin pool to Pool.
func FromPool(p *plugins.Pool) Pool { return pluginPool{p} }

type pluginPool struct{ *plugins.Pool }

func (p pluginPool) Verify(ctx context.Context, entry catalog.Entry) (catalog.Entry, error) {
	verified, _, err := p.Pool.Verify(ctx, entry)
	return verified, err
}

func (p pluginPool) Open(ctx context.Context, connID string, entry catalog.Entry, req dbplugin.InitializeRequest) (Instance, dbplugin.InitializeResponse, error) {
	c, resp, err := p.Pool.Open(ctx, connID, entry, req)
	if err != nil {
		// A nil *plugins.Conn in an Instance would not compare equal to nil.
		return nil, resp, err
	}
	return c, resp, nil
}

// Config configures a Runtime.
type Config struct {
	Cluster Cluster
	Pool    Pool
	Logger  hclog.Logger
	// RollbackPeriod and RollbackMinAge configure the rollback manager (rollback defaults).
	RollbackPeriod, RollbackMinAge time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// EventHandler applies one NATS event; it returns the Raft index the event's effect is
// visible at. A business refusal wraps a state sentinel (state.ErrInvalid, …).
type EventHandler func(ctx context.Context, ev events.Event) (uint64, error)

// Handlers is what a secrets engine registers with the runtime.
type Handlers struct {
	// Events handles the NATS events of these kinds; the runtime handles crashed, request
	// and wal_rollback itself.
	Events map[events.Kind]EventHandler
	// Activate runs each time this node becomes active, after the previous leader's plugin
	// instances are reconciled; since is when the activation began. ctx ends when this node
	// stops being active: the hook may start work bound to it (the lease loop).
	Activate func(ctx context.Context, since time.Time)
	// Rollback handles interrupted WAL entries by kind; RollbackDue says which entries may be
	// taken before their minimum age (rollback.Config.Due).
	Rollback    map[wal.Kind]rollback.Handler
	RollbackDue func(wal.Entry) bool
}

// ErrNoHandlers is returned by Activate on a runtime no engine registered with.
var ErrNoHandlers = errors.New("runtime: no engine has registered its handlers")

// Runtime is the plugin runtime of one node.
type Runtime struct {
	cfg      Config
	log      hclog.Logger
	cluster  Cluster
	pool     Pool
	handlers Handlers
	rollback *rollback.Manager // built by Register

	flight singleflight.Group
	mu     sync.Mutex
	live   map[string]*liveConn // by connection key
	// issuing counts the credential requests in flight per mount, so that disabling a mount
	// waits for them: each either records its lease before the mount goes or takes its user
	// back.
	issuing map[string]int

	// instances holds the pool's observations not yet recorded on the lifecycle.
	instances *instanceQueue
	// activeCtx is the context of the current active term (Activate's), ended when the node
	// stops being active; nil before the first activation.
	activeCtx atomic.Pointer[context.Context]
	stopOnce  sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
}

// liveConn is an open plugin instance and the config generation it was opened with.
type liveConn struct {
	conn Instance
	gen  uint64
}

// New builds a runtime; the pool's observer must forward to Runtime.Observe, and an engine
// must Register before the node activates it.
func New(cfg Config) (*Runtime, error) {
	if cfg.Cluster == nil || cfg.Pool == nil {
		return nil, errors.New("runtime: a cluster and a plugin pool are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Runtime{
		cfg: cfg, log: cfg.Logger, cluster: cfg.Cluster, pool: cfg.Pool,
		live:      map[string]*liveConn{},
		issuing:   map[string]int{},
		instances: newInstanceQueue(),
		stop:      make(chan struct{}),
	}
	r.wg.Add(1)
	go r.instanceLoop()
	return r, nil
}

// Register installs an engine's handlers and builds the rollback manager over them. Call it
// once, before the runtime is installed in the node.
func (r *Runtime) Register(h Handlers) error {
	if r.rollback != nil {
		return errors.New("runtime: handlers are registered already")
	}
	for k := range h.Events {
		if _, ok := ownEvents[k]; ok {
			return fmt.Errorf("runtime: %s events are the runtime's own", k)
		}
	}
	rb, err := rollback.New(rollback.Config{
		Store:    walStore{r},
		Handlers: h.Rollback,
		Due:      h.RollbackDue,
		Period:   r.cfg.RollbackPeriod,
		MinAge:   r.cfg.RollbackMinAge,
		Now:      r.cfg.Now,
		Logger:   r.cfg.Logger.Named("rollback"),
	})
	if err != nil {
		return err
	}
	r.handlers = h
	r.rollback = rb
	return nil
}

// KickRollback asks the rollback manager to scan now.
func (r *Runtime) KickRollback() {
	if r.rollback != nil {
		r.rollback.Kick()
	}
}

// Close stops the runtime's goroutines and every plugin.
func (r *Runtime) Close(ctx context.Context) error {
	r.stopOnce.Do(func() { close(r.stop) })
	r.wg.Wait()
	// A plugin that does not answer its Close is killed all the same: the stop succeeded,
	// the failed goodbye is only worth a log line.
	if err := r.pool.Shutdown(ctx); err != nil {
		r.log.Warn("stopping plugins", "error", err)
	}
	return nil
}

// fire records ev on a plugin instance's machine; a refusal (the machine has moved on) is
// expected, any other failure is logged with its reason.
func (r *Runtime) fire(ctx context.Context, key string, ev fsm.Event, reason string) {
	err := r.record(ctx, key, ev, reason)
	if err != nil && !errors.Is(err, state.ErrConflict) && !errors.Is(err, state.ErrNotFound) {
		r.log.Warn("recording a plugin transition", "connection", key, "event", ev, "reason", err)
	}
}

func (r *Runtime) machineState(key string) fsm.State {
	var st fsm.State
	r.cluster.State().View(func(d *state.Data) {
		if m, ok := d.Machines[state.MachineKey(fsm.KindPlugin, key)]; ok {
			st = m.State()
		}
	})
	return st
}

// forgetIf drops the live instance of key when it is still pc.
func (r *Runtime) forgetIf(key string, pc Instance) {
	r.mu.Lock()
	if l := r.live[key]; l != nil && l.conn == pc {
		delete(r.live, key)
	}
	r.mu.Unlock()
}

func (r *Runtime) forget(key string) {
	r.mu.Lock()
	delete(r.live, key)
	r.mu.Unlock()
}

// KillAll kills every plugin process at once; part of core.Runtime.
func (r *Runtime) KillAll() {
	r.pool.KillAll()
	r.mu.Lock()
	r.live = map[string]*liveConn{}
	r.mu.Unlock()
}

// Shutdown stops every plugin gracefully; part of core.Runtime.
func (r *Runtime) Shutdown(ctx context.Context) error {
	return r.Close(ctx)
}

// Activate reconciles the previous leader's instances, runs the engine's activation hook and
// starts the rollback manager; part of core.Runtime. ctx ends when this node stops being
// active.
func (r *Runtime) Activate(ctx context.Context) error {
	if r.rollback == nil {
		return ErrNoHandlers
	}
	r.activeCtx.Store(&ctx)
	since := r.cfg.Now()
	var wasRunning, stale []string
	var stopping []string
	r.cluster.State().View(func(d *state.Data) {
		for _, m := range d.Machines {
			if m.Kind() != fsm.KindPlugin {
				continue
			}
			switch m.State() {
			case fsm.StateStarting, fsm.StateRunning:
				wasRunning = append(wasRunning, m.ID())
				stale = append(stale, m.ID())
			case fsm.StateStopping, fsm.StateDisabling:
				stopping = append(stopping, m.ID())
			}
		}
	})
	// The previous leader's processes are gone (it killed them on losing leadership, or it
	// died): record that, then start again what was running, in parallel.
	for _, k := range stale {
		r.fire(ctx, k, fsm.EventCrashed, "previous active node's process")
	}
	for _, k := range stopping {
		r.fire(ctx, k, fsm.EventStopped, "previous active node's process")
		wasRunning = append(wasRunning, k)
	}
	if r.handlers.Activate != nil {
		r.handlers.Activate(ctx, since)
	}
	for _, k := range wasRunning {
		go func(k string) {
			if _, err := r.conn(ctx, k); err != nil && ctx.Err() == nil {
				r.log.Warn("eager start after leadership change", "connection", k, "error", err)
			}
		}(k)
	}
	go r.rollback.Run(ctx)
	return nil
}

func (r *Runtime) closeLive(ctx context.Context, key string) {
	r.forget(key)
	if err := r.pool.CloseConn(ctx, key); err != nil {
		r.log.Debug("closing plugin instance", "connection", key, "error", err)
	}
}

// LoadConn reads a connection and opens its sealed config and its catalog entry's env.
func (r *Runtime) LoadConn(key string) (state.Connection, map[string]any, catalog.Entry, error) {
	var c state.Connection
	var ok bool
	var entry catalog.Entry
	var cerr error
	r.cluster.State().View(func(d *state.Data) {
		c, ok = d.Connections[key]
		if ok {
			entry, cerr = d.Catalog.Get(string(catalog.TypeDatabase), c.PluginName, c.PluginVersion)
		}
	})
	if !ok {
		return c, nil, entry, fmt.Errorf("%w: connection %q", state.ErrNotFound, key)
	}
	if cerr != nil {
		// %v, not %w: a missing catalog entry makes the connection invalid, not itself missing
		// (the HTTP edge answers 404 to catalog.ErrNotFound).
		return c, nil, entry, fmt.Errorf("%w: connection %q: %v", state.ErrInvalid, key, cerr)
	}
	cfg, err := r.OpenConfig(c.Config)
	if err != nil {
		return c, nil, entry, fmt.Errorf("connection %q: %w", key, err)
	}
	entry, err = r.OpenEntry(entry)
	if err != nil {
		return c, nil, entry, err
	}
	return c, cfg, entry, nil
}

// OpenConfig decrypts a sealed connection config.
func (r *Runtime) OpenConfig(sealed []byte) (map[string]any, error) {
	plain, err := r.cluster.Barrier().Decrypt(sealed)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, fmt.Errorf("stored config is corrupt: %w", err)
	}
	return m, nil
}

// SealConfig encrypts a connection config (OpenConfig opens it).
func (r *Runtime) SealConfig(cfg map[string]any) ([]byte, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return r.cluster.Barrier().Encrypt(b)
}

// VerifyEntry checks a catalog entry before it is registered: the binary against its SHA-256
// and permissions, and the plugin's metadata; the entry comes back as it is to be stored,
// its env still in clear (SealEntry seals it).
func (r *Runtime) VerifyEntry(ctx context.Context, entry catalog.Entry) (catalog.Entry, error) {
	return r.pool.Verify(ctx, entry)
}

// SealEntry seals a catalog entry's env with the barrier for the replicated catalog; OpenEntry
// opens it for a spawn.
func (r *Runtime) SealEntry(entry catalog.Entry) (catalog.Entry, error) {
	if len(entry.Env) > 0 {
		sealed, err := r.cluster.Barrier().Encrypt([]byte(strings.Join(entry.Env, "\x00")))
		if err != nil {
			return entry, err
		}
		entry.SealedEnv = sealed
	}
	entry.Env = nil
	return entry, nil
}

// OpenEntry opens the sealed env of a catalog entry for a spawn.
func (r *Runtime) OpenEntry(entry catalog.Entry) (catalog.Entry, error) {
	if len(entry.SealedEnv) == 0 {
		return entry, nil
	}
	plain, err := r.cluster.Barrier().Decrypt(entry.SealedEnv)
	if err != nil {
		return entry, fmt.Errorf("open the env of plugin %q: %w", entry.Name, err)
	}
	entry.Env = strings.Split(string(plain), "\x00")
	entry.SealedEnv = nil
	return entry, nil
}

// OpenTemp opens a throwaway instance of entry for a one-off check of connection key (a
// config to verify, a password to try); purpose names it. Its starts and crashes are not
// recorded on the connection's lifecycle. The caller closes it.
func (r *Runtime) OpenTemp(ctx context.Context, key, purpose string, entry catalog.Entry, req dbplugin.InitializeRequest) (dbplugin.Database, dbplugin.InitializeResponse, error) {
	inst, resp, err := r.pool.Open(ctx, key+"#"+purpose+"-"+rand.Text(), entry, req)
	if err != nil {
		return nil, resp, err
	}
	return inst, resp, nil
}

// Call runs fn on the connection's plugin instance, starting it when needed. The pool
// already restarts a dead process and retries once; a failure that names a closed instance
// (closed by a transition under the call's feet) gets one more try on a fresh instance.
func (r *Runtime) Call(ctx context.Context, key string, fn func(db dbplugin.Database) error) error {
	for attempt := 0; ; attempt++ {
		pc, err := r.conn(ctx, key)
		if err != nil {
			return err
		}
		err = fn(pc)
		if err == nil || attempt == 2 || ctx.Err() != nil || !staleInstance(err) {
			return err
		}
		// Only this instance is stale: another caller may already hold a fresh one.
		r.forgetIf(key, pc)
		if !errors.Is(err, plugins.ErrConnClosed) {
			_ = pc.Close()
		}
	}
}

// staleInstance tells an error of the instance (closed under the call, or its process gone
// and not restartable) from the database's own answer.
func staleInstance(err error) bool {
	return errors.Is(err, plugins.ErrConnClosed) || dbplugin.IsUnavailable(err)
}

// conn returns the connection's live plugin instance, starting it when needed: the lifecycle
// records request → starting, the pool starts (or joins) the process and initialises the
// connection with its stored config, and the lifecycle records started (or start_failed).
// Concurrent callers for one connection share one start.
func (r *Runtime) conn(ctx context.Context, key string) (Instance, error) {
	if err := r.cluster.VerifyActive(ctx); err != nil {
		return nil, err
	}
	var gen uint64
	r.cluster.State().View(func(d *state.Data) { gen = d.Connections[key].Generation })
	r.mu.Lock()
	l := r.live[key]
	r.mu.Unlock()
	if l != nil && l.gen == gen {
		return l.conn, nil
	}
	v, err, _ := r.flight.Do(key, func() (any, error) {
		r.mu.Lock()
		l := r.live[key]
		r.mu.Unlock()
		if l != nil && l.gen == gen {
			return l.conn, nil
		}
		if l != nil {
			r.closeLive(ctx, key)
		}
		return r.start(ctx, key)
	})
	if err != nil {
		return nil, err
	}
	return v.(Instance), nil
}

func (r *Runtime) start(ctx context.Context, key string) (Instance, error) {
	t0 := time.Now()
	c, cfg, entry, err := r.LoadConn(key)
	if err != nil {
		return nil, err
	}
	if err := r.request(ctx, key); err != nil {
		return nil, err
	}
	// A stale instance left in the pool (closed by a transition we have not seen yet).
	_ = r.pool.CloseConn(ctx, key)
	pc, _, err := r.pool.Open(ctx, key, entry, dbplugin.InitializeRequest{Config: cfg, VerifyConnection: false})
	if err != nil {
		r.fire(context.WithoutCancel(ctx), key, fsm.EventStartFailed, err.Error())
		return nil, err
	}
	r.fire(ctx, key, fsm.EventStarted, fmt.Sprintf("pid %d", pc.PID()))
	r.mu.Lock()
	r.live[key] = &liveConn{conn: pc, gen: c.Generation}
	r.mu.Unlock()
	// A cold start as the caller waits for it: request recorded, process up (or joined),
	// connection initialised, started recorded.
	metrics.MeasureSinceWithLabels([]string{"baton", "plugin", "cold_start"}, t0, []metrics.Label{{Name: "plugin", Value: entry.Name}})
	return pc, nil
}

// EmitMetrics sets the rollback gauges while this node is active (the entries are the same
// on every node; only the active node acts on them, so only it reports them, as OpenBao's
// expiration metrics): baton.rollback.pending, the WAL entries waiting for their rollback, and
// baton.rollback.oldest_age_seconds, how long the oldest has waited (0 when none). The
// telemetry loop calls it every interval.
func (r *Runtime) EmitMetrics() {
	if c := r.activeCtx.Load(); c == nil || (*c).Err() != nil {
		return
	}
	var pending int
	var oldest time.Time
	r.cluster.State().View(func(d *state.Data) {
		for _, en := range d.WAL.List() {
			pending++
			if oldest.IsZero() || en.Created.Before(oldest) {
				oldest = en.Created
			}
		}
	})
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, r.cfg.Now().Sub(oldest).Seconds())
	}
	metrics.SetGauge([]string{"baton", "rollback", "pending"}, float32(pending))
	metrics.SetGauge([]string{"baton", "rollback", "oldest_age_seconds"}, float32(age))
}

// request records that a request needs the instance; an instance still stopping is waited for
// (bounded), since its stop is already on its way.
func (r *Runtime) request(ctx context.Context, key string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := r.cluster.Propose(ctx, state.TypeLifecycleFire, "", command.SourceInternal, state.LifecycleFire{
			Kind: fsm.KindPlugin, ID: key, Event: fsm.EventRequest, Reason: "request",
		})
		if err == nil {
			return nil
		}
		if !errors.Is(err, state.ErrConflict) || time.Now().After(deadline) {
			return fmt.Errorf("start plugin for %q: %w", key, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// isTemp tells the pool connections opened by OpenTemp for one-off checks.
func isTemp(connID string) bool {
	return strings.Contains(connID, "#")
}

// walStore is the rollback manager's view of the replicated WAL.
type walStore struct{ r *Runtime }

func (w walStore) Entries() []wal.Entry {
	var out []wal.Entry
	w.r.cluster.State().View(func(d *state.Data) { out = d.WAL.List() })
	return out
}

func (w walStore) Delete(ctx context.Context, en wal.Entry) error {
	return nil // the handler commits rollback.done, which deletes the entry with the config
}

func (w walStore) Failed(ctx context.Context, en wal.Entry, reason string) error {
	_, err := w.r.cluster.Propose(ctx, state.TypeRollbackFail, "", command.SourceInternal, state.RollbackFail{WALID: en.ID, Reason: reason})
	return err
}

// BeginIssue counts a credential request on mount; the returned func ends it.
func (r *Runtime) BeginIssue(mount string) func() {
	r.mu.Lock()
	r.issuing[mount]++
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		if r.issuing[mount]--; r.issuing[mount] <= 0 {
			delete(r.issuing, mount)
		}
		r.mu.Unlock()
	}
}

// DrainIssues waits until no credential request is in flight on mount.
func (r *Runtime) DrainIssues(ctx context.Context, mount string) error {
	for {
		r.mu.Lock()
		n := r.issuing[mount]
		r.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("disable %s: %d credential requests still in flight: %w", mount, n, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}
