// Package engine is Baton's database secrets engine: connections, roles, dynamic credentials
// with leases, root rotation with a write-ahead entry committed through Raft before the
// database is touched, reset and reload. It is also the plugin runtime the active node drives:
// it opens plugin instances lazily through the plugin pool, records each start, stop and crash
// on the instance's lifecycle machine, and carries out the effects of committed transitions.
//
// Everything here runs on the active node; followers hold the same state and run nothing.
package database

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/singleflight"

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

// Cluster is what the engine needs of its node.
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

// Config configures an Engine.
type Config struct {
	Cluster Cluster
	Pool    *plugins.Pool
	Logger  hclog.Logger
	// RollbackPeriod and RollbackMinAge configure the rollback manager (rollback defaults).
	RollbackPeriod, RollbackMinAge time.Duration
	// RollbackWindow is how long after taking leadership (or after its own rotation failed)
	// this node waits before it rolls back an interrupted root rotation whose new password
	// does not log in: long enough that an old leader's in-flight UpdateUser has ended
	// (DefaultRollbackWindow). A rotation whose new password logs in is rolled forward at once.
	RollbackWindow time.Duration
	// RotateWait bounds how long rotate-root waits for a pending rotation of the same
	// connection to be resolved before it answers ErrRotationPending (window + 5 s).
	RotateWait time.Duration
	// LeasePeriod is how often expired leases are revoked (default 1 s).
	LeasePeriod time.Duration
	// Now is the clock (time.Now).
	Now func() time.Time
}

// Engine is the database secrets engine of one node.
type Engine struct {
	cfg      Config
	log      hclog.Logger
	cluster  Cluster
	pool     *plugins.Pool
	rollback *rollback.Manager
	// activated is when this node last became active (unix nanoseconds): the start of the
	// rollback window for rotations an old leader left behind.
	activated atomic.Int64

	flight singleflight.Group
	mu     sync.Mutex
	live   map[string]*liveConn // by connection key
	// issuing counts the credential requests in flight per mount, so that disabling a mount
	// waits for them: each either records its lease before the mount goes or takes its user
	// back.
	issuing map[string]int

	// instances holds the pool's observations not yet recorded on the lifecycle.
	instances *instanceQueue
	stopOnce  sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
}

// liveConn is an open plugin instance and the config generation it was opened with.
type liveConn struct {
	conn *plugins.Conn
	gen  uint64
}

// New builds an engine; the pool's observer must forward to Engine.Observe.
func New(cfg Config) (*Engine, error) {
	if cfg.Cluster == nil || cfg.Pool == nil {
		return nil, errors.New("engine: a cluster and a plugin pool are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.LeasePeriod <= 0 {
		cfg.LeasePeriod = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RollbackWindow < 0 {
		return nil, fmt.Errorf("engine: rollback window %s is negative", cfg.RollbackWindow)
	}
	if cfg.RollbackWindow == 0 {
		cfg.RollbackWindow = DefaultRollbackWindow
	}
	if cfg.RotateWait <= 0 {
		cfg.RotateWait = cfg.RollbackWindow + 5*time.Second
	}
	e := &Engine{
		cfg: cfg, log: cfg.Logger, cluster: cfg.Cluster, pool: cfg.Pool,
		live:      map[string]*liveConn{},
		issuing:   map[string]int{},
		instances: newInstanceQueue(),
		stop:      make(chan struct{}),
	}
	rb, err := rollback.New(rollback.Config{
		Store: walStore{e},
		Handlers: map[wal.Kind]rollback.Handler{
			wal.KindRootRotation:   e.rollbackRootRotation,
			wal.KindStaticRotation: e.rollbackStaticRotation,
		},
		Due:    e.rollbackDue,
		Period: cfg.RollbackPeriod,
		MinAge: cfg.RollbackMinAge,
		Now:    cfg.Now,
		Logger: cfg.Logger.Named("rollback"),
	})
	if err != nil {
		return nil, err
	}
	e.rollback = rb
	e.wg.Add(1)
	go e.instanceLoop()
	return e, nil
}

// Close stops the engine's goroutines and every plugin.
func (e *Engine) Close(ctx context.Context) error {
	e.stopOnce.Do(func() { close(e.stop) })
	e.wg.Wait()
	// A plugin that does not answer its Close is killed all the same: the stop succeeded,
	// the failed goodbye is only worth a log line.
	if err := e.pool.Shutdown(ctx); err != nil {
		e.log.Warn("stopping plugins", "error", err)
	}
	return nil
}

// fire records ev on a plugin instance's machine; a refusal (the machine has moved on) is
// expected, any other failure is logged with its reason.
func (e *Engine) fire(ctx context.Context, key string, ev fsm.Event, reason string) {
	err := e.record(ctx, key, ev, reason)
	if err != nil && !errors.Is(err, state.ErrConflict) && !errors.Is(err, state.ErrNotFound) {
		e.log.Warn("recording a plugin transition", "connection", key, "event", ev, "reason", err)
	}
}

func (e *Engine) machineState(key string) fsm.State {
	var st fsm.State
	e.cluster.State().View(func(d *state.Data) {
		if m, ok := d.Machines[state.MachineKey(fsm.KindPlugin, key)]; ok {
			st = m.State()
		}
	})
	return st
}

// forgetIf drops the live instance of key when it is still pc.
func (e *Engine) forgetIf(key string, pc *plugins.Conn) {
	e.mu.Lock()
	if l := e.live[key]; l != nil && l.conn == pc {
		delete(e.live, key)
	}
	e.mu.Unlock()
}

func (e *Engine) forget(key string) {
	e.mu.Lock()
	delete(e.live, key)
	e.mu.Unlock()
}

// KillAll kills every plugin process at once; part of core.Runtime.
func (e *Engine) KillAll() {
	e.pool.KillAll()
	e.mu.Lock()
	e.live = map[string]*liveConn{}
	e.mu.Unlock()
}

// Shutdown stops every plugin gracefully; part of core.Runtime.
func (e *Engine) Shutdown(ctx context.Context) error {
	return e.Close(ctx)
}

// Activate reconciles the previous leader's instances and starts the active node's
// background work; part of core.Runtime. ctx ends when this node stops being active.
func (e *Engine) Activate(ctx context.Context) error {
	e.activated.Store(e.cfg.Now().UnixNano())
	var wasRunning, stale []string
	var stopping []string
	var rotating bool
	e.cluster.State().View(func(d *state.Data) {
		for _, m := range d.Machines {
			switch m.Kind() {
			case fsm.KindPlugin:
				switch m.State() {
				case fsm.StateStarting, fsm.StateRunning:
					wasRunning = append(wasRunning, m.ID())
					stale = append(stale, m.ID())
				case fsm.StateStopping, fsm.StateDisabling:
					stopping = append(stopping, m.ID())
				}
			case fsm.KindConnection:
				if s := m.State(); s == fsm.StateRotating || s == fsm.StateRollingBack {
					rotating = true
				}
			}
		}
	})
	// The previous leader's processes are gone (it killed them on losing leadership, or it
	// died): record that, then start again what was running, in parallel.
	for _, k := range stale {
		e.fire(ctx, k, fsm.EventCrashed, "previous active node's process")
	}
	for _, k := range stopping {
		e.fire(ctx, k, fsm.EventStopped, "previous active node's process")
		wasRunning = append(wasRunning, k)
	}
	if rotating {
		if _, err := e.cluster.Propose(ctx, state.TypeLifecycleAll, "", command.SourceInternal, state.LifecycleBroadcast{
			Kind: fsm.KindConnection, Event: fsm.EventFailover, Reason: "leadership changed during a rotation",
		}); err != nil {
			e.log.Warn("recording failover on rotating connections", "error", err)
		}
	}
	for _, k := range wasRunning {
		go func(k string) {
			if _, err := e.conn(ctx, k); err != nil && ctx.Err() == nil {
				e.log.Warn("eager start after leadership change", "connection", k, "error", err)
			}
		}(k)
	}
	go e.rollback.Run(ctx)
	go e.leaseLoop(ctx)
	return nil
}

func (e *Engine) closeLive(ctx context.Context, key string) {
	e.forget(key)
	if err := e.pool.CloseConn(ctx, key); err != nil {
		e.log.Debug("closing plugin instance", "connection", key, "error", err)
	}
}

// loadConn reads a connection and opens its sealed config.
func (e *Engine) loadConn(key string) (state.Connection, map[string]any, catalog.Entry, error) {
	var c state.Connection
	var ok bool
	var entry catalog.Entry
	var cerr error
	e.cluster.State().View(func(d *state.Data) {
		c, ok = d.Connections[key]
		if ok {
			entry, cerr = d.Catalog.Get(string(catalog.TypeDatabase), c.PluginName, c.PluginVersion)
		}
	})
	if !ok {
		return c, nil, entry, fmt.Errorf("%w: connection %q", state.ErrNotFound, key)
	}
	if cerr != nil {
		return c, nil, entry, fmt.Errorf("%w: connection %q: %v", state.ErrInvalid, key, cerr)
	}
	cfg, err := e.open(c.Config)
	if err != nil {
		return c, nil, entry, fmt.Errorf("connection %q: %w", key, err)
	}
	entry, err = e.openEntry(entry)
	if err != nil {
		return c, nil, entry, err
	}
	return c, cfg, entry, nil
}

// open decrypts a sealed config map.
func (e *Engine) open(sealed []byte) (map[string]any, error) {
	plain, err := e.cluster.Barrier().Decrypt(sealed)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, fmt.Errorf("stored config is corrupt: %w", err)
	}
	return m, nil
}

// seal encrypts a config map.
func (e *Engine) seal(cfg map[string]any) ([]byte, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return e.cluster.Barrier().Encrypt(b)
}

// conn returns the connection's live plugin instance, starting it when needed: the lifecycle
// records request → starting, the pool starts (or joins) the process and initialises the
// connection with its stored config, and the lifecycle records started (or start_failed).
// Concurrent callers for one connection share one start.
func (e *Engine) conn(ctx context.Context, key string) (*plugins.Conn, error) {
	if err := e.cluster.VerifyActive(ctx); err != nil {
		return nil, err
	}
	var gen uint64
	e.cluster.State().View(func(d *state.Data) { gen = d.Connections[key].Generation })
	e.mu.Lock()
	l := e.live[key]
	e.mu.Unlock()
	if l != nil && l.gen == gen {
		return l.conn, nil
	}
	v, err, _ := e.flight.Do(key, func() (any, error) {
		e.mu.Lock()
		l := e.live[key]
		e.mu.Unlock()
		if l != nil && l.gen == gen {
			return l.conn, nil
		}
		if l != nil {
			e.closeLive(ctx, key)
		}
		return e.start(ctx, key)
	})
	if err != nil {
		return nil, err
	}
	return v.(*plugins.Conn), nil
}

func (e *Engine) start(ctx context.Context, key string) (*plugins.Conn, error) {
	c, cfg, entry, err := e.loadConn(key)
	if err != nil {
		return nil, err
	}
	if err := e.request(ctx, key); err != nil {
		return nil, err
	}
	// A stale instance left in the pool (closed by a transition we have not seen yet).
	_ = e.pool.CloseConn(ctx, key)
	pc, _, err := e.pool.Open(ctx, key, entry, dbplugin.InitializeRequest{Config: cfg, VerifyConnection: false})
	if err != nil {
		e.fire(context.WithoutCancel(ctx), key, fsm.EventStartFailed, err.Error())
		return nil, err
	}
	e.fire(ctx, key, fsm.EventStarted, fmt.Sprintf("pid %d", pc.PID()))
	e.mu.Lock()
	e.live[key] = &liveConn{conn: pc, gen: c.Generation}
	e.mu.Unlock()
	return pc, nil
}

// request records that a request needs the instance; an instance still stopping is waited for
// (bounded), since its stop is already on its way.
func (e *Engine) request(ctx context.Context, key string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.cluster.Propose(ctx, state.TypeLifecycleFire, "", command.SourceInternal, state.LifecycleFire{
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

// isTemp tells the pool connections the engine opens for one-off checks.
func isTemp(connID string) bool {
	for i := 0; i < len(connID); i++ {
		if connID[i] == '#' {
			return true
		}
	}
	return false
}

// walStore is the rollback manager's view of the replicated WAL.
type walStore struct{ e *Engine }

func (w walStore) Entries() []wal.Entry {
	var out []wal.Entry
	w.e.cluster.State().View(func(d *state.Data) { out = d.WAL.List() })
	return out
}

func (w walStore) Delete(ctx context.Context, en wal.Entry) error {
	return nil // the handler commits rollback.done, which deletes the entry with the config
}

func (w walStore) Failed(ctx context.Context, en wal.Entry, reason string) error {
	_, err := w.e.cluster.Propose(ctx, state.TypeRollbackFail, "", command.SourceInternal, state.RollbackFail{WALID: en.ID, Reason: reason})
	return err
}

// beginIssue counts a credential request on mount; the returned func ends it.
func (e *Engine) beginIssue(mount string) func() {
	e.mu.Lock()
	e.issuing[mount]++
	e.mu.Unlock()
	return func() {
		e.mu.Lock()
		if e.issuing[mount]--; e.issuing[mount] <= 0 {
			delete(e.issuing, mount)
		}
		e.mu.Unlock()
	}
}

// drainIssues waits until no credential request is in flight on mount.
func (e *Engine) drainIssues(ctx context.Context, mount string) error {
	for {
		e.mu.Lock()
		n := e.issuing[mount]
		e.mu.Unlock()
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
