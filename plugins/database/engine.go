// Package database is Baton's database secrets engine: connections, roles, dynamic
// credentials with leases and their expiry, root rotation with a write-ahead entry committed
// through Raft before the database is touched and its rollback, static roles, reset, reload
// and the two-phase disable of a mount. It reaches plugins only through the plugin runtime
// (plugins/runtime), which hands it instances and runs the handlers it registers there: its
// NATS event handlers, its activation hook (lease loop, failover of rotations cut short) and
// its rollback handlers.
//
// It may import plugins/runtime, plugins/catalog, plugins/dbplugin, raftstore/command,
// raftstore/state, fsm, wal, rollback, events, internal/barrier and internal/faults; nothing
// imports it but the assembly (internal/server) and the HTTP API.
//
// Everything here runs on the active node; followers hold the same state and run nothing.
package database

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/plugins/runtime"
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

// Runtime is what the engine needs of the plugin runtime (*runtime.Runtime).
type Runtime interface {
	// Register installs the engine's handlers.
	Register(h runtime.Handlers) error
	// Call runs fn on a connection's plugin instance, starting it when needed.
	Call(ctx context.Context, key string, fn func(db dbplugin.Database) error) error
	// OpenTemp opens a throwaway instance for a one-off check; the caller closes it.
	OpenTemp(ctx context.Context, key, purpose string, entry catalog.Entry, req dbplugin.InitializeRequest) (dbplugin.Database, dbplugin.InitializeResponse, error)
	// LoadConn reads a connection with its opened config and catalog entry.
	LoadConn(key string) (state.Connection, map[string]any, catalog.Entry, error)
	// OpenConfig and SealConfig open and seal a connection config.
	OpenConfig(sealed []byte) (map[string]any, error)
	SealConfig(cfg map[string]any) ([]byte, error)
	// OpenEntry opens a catalog entry's sealed env; SealEntry seals it for the catalog.
	OpenEntry(entry catalog.Entry) (catalog.Entry, error)
	SealEntry(entry catalog.Entry) (catalog.Entry, error)
	// VerifyEntry checks a catalog entry against its binary and the plugin's metadata.
	VerifyEntry(ctx context.Context, entry catalog.Entry) (catalog.Entry, error)
	// BeginIssue counts a credential request on a mount; DrainIssues waits for none.
	BeginIssue(mount string) func()
	DrainIssues(ctx context.Context, mount string) error
	// KickRollback asks the rollback manager to scan now.
	KickRollback()
}

// Config configures an Engine.
type Config struct {
	Cluster Cluster
	Runtime Runtime
	Logger  hclog.Logger
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
	// DefaultLeaseTTL and MaxLeaseTTL are the system's lease TTLs (the config's
	// default_lease_ttl and max_lease_ttl; DefaultSystemTTL when zero): what a mount that
	// was not tuned allows.
	DefaultLeaseTTL time.Duration
	MaxLeaseTTL     time.Duration
}

// Engine is the database secrets engine of one node.
type Engine struct {
	cfg     Config
	log     hclog.Logger
	cluster Cluster
	rt      Runtime
	// activated is when this node last became active (unix nanoseconds): the start of the
	// rollback window for rotations an old leader left behind.
	activated atomic.Int64
	// revoking is held by the one pass revoking marked leases at a time (RevokePrefix or
	// leaseLoop), so that two passes do not delete the same users side by side.
	revoking chan struct{}
}

// New builds an engine and registers its handlers with the runtime.
func New(cfg Config) (*Engine, error) {
	if cfg.Cluster == nil || cfg.Runtime == nil {
		return nil, errors.New("engine: a cluster and a plugin runtime are required")
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
	if cfg.DefaultLeaseTTL < 0 || cfg.MaxLeaseTTL < 0 {
		return nil, fmt.Errorf("engine: a system lease TTL is negative (default %s, max %s)", cfg.DefaultLeaseTTL, cfg.MaxLeaseTTL)
	}
	if cfg.MaxLeaseTTL == 0 {
		cfg.MaxLeaseTTL = DefaultSystemTTL
	}
	if cfg.DefaultLeaseTTL == 0 {
		cfg.DefaultLeaseTTL = min(DefaultSystemTTL, cfg.MaxLeaseTTL)
	}
	if cfg.DefaultLeaseTTL > cfg.MaxLeaseTTL {
		return nil, fmt.Errorf("engine: default_lease_ttl %s is greater than max_lease_ttl %s", cfg.DefaultLeaseTTL, cfg.MaxLeaseTTL)
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
	e := &Engine{cfg: cfg, log: cfg.Logger, cluster: cfg.Cluster, rt: cfg.Runtime, revoking: make(chan struct{}, 1)}
	if err := e.rt.Register(runtime.Handlers{
		Events: map[events.Kind]runtime.EventHandler{
			events.KindDisable:    e.disableEvent,
			events.KindReload:     e.reloadEvent,
			events.KindConnUpdate: e.connUpdateEvent,
			events.KindConnDelete: e.connDeleteEvent,
			events.KindConnReset:  e.connResetEvent,
			events.KindRootRotate: e.rootRotateEvent,
		},
		Activate: e.activate,
		Rollback: map[wal.Kind]rollback.Handler{
			wal.KindRootRotation:   e.rollbackRootRotation,
			wal.KindStaticRotation: e.rollbackStaticRotation,
		},
		RollbackDue: e.rollbackDue,
	}); err != nil {
		return nil, err
	}
	return e, nil
}

// activate is the engine's part of a leadership change: the rollback window starts, rotations
// the old leader left in flight are marked for resolution, and the lease loop runs until ctx
// ends.
func (e *Engine) activate(ctx context.Context, since time.Time) {
	e.activated.Store(since.UnixNano())
	var rotating bool
	e.cluster.State().View(func(d *state.Data) {
		for _, m := range d.Machines {
			if m.Kind() != fsm.KindConnection {
				continue
			}
			if s := m.State(); s == fsm.StateRotating || s == fsm.StateRollingBack {
				rotating = true
			}
		}
	})
	if rotating {
		if _, err := e.cluster.Propose(ctx, state.TypeLifecycleAll, "", command.SourceInternal, state.LifecycleBroadcast{
			Kind: fsm.KindConnection, Event: fsm.EventFailover, Reason: "leadership changed during a rotation",
		}); err != nil {
			e.log.Warn("recording failover on rotating connections", "error", err)
		}
	}
	go e.leaseLoop(ctx)
}
