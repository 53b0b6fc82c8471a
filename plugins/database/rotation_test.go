package database

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/plugins"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/runtime"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/wal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// localCluster is the engine's Cluster seam over a real replicated state applied in
// process: no Raft, no network, the same Apply. A test may fail proposals of one type (fail)
// and have the transitions of every commit carried out (effects, the runtime's Effects, as
// the active node does), synchronously so that a test sees them done when Propose returns.
type localCluster struct {
	mu    sync.Mutex
	s     *state.State
	b     *barrier.Barrier
	index uint64
	n     int

	fail    func(typ command.Type) error
	effects func(ctx context.Context, ts []fsm.Transition)
}

func newLocalCluster(t *testing.T) *localCluster {
	t.Helper()
	b := barrier.New()
	key, err := barrier.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	check, err := barrier.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Unseal(key, check); err != nil {
		t.Fatal(err)
	}
	return &localCluster{s: state.New(), b: b}
}

func (c *localCluster) Propose(ctx context.Context, typ command.Type, id string, source command.Source, payload any) (*state.Result, error) {
	r, effects, err := c.apply(typ, id, source, payload)
	if err != nil {
		return nil, err
	}
	if effects != nil && len(r.Transitions) > 0 {
		effects(ctx, r.Transitions)
	}
	return r, nil
}

func (c *localCluster) apply(typ command.Type, id string, source command.Source, payload any) (*state.Result, func(context.Context, []fsm.Transition), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		if err := c.fail(typ); err != nil {
			return nil, nil, err
		}
	}
	c.n++
	if id == "" {
		id = fmt.Sprintf("cmd-%d", c.n)
	}
	cmd, err := command.New(typ, id, source, time.Now(), payload)
	if err != nil {
		return nil, nil, err
	}
	c.index++
	switch r := c.s.Apply(c.index, cmd).(type) {
	case *state.Result:
		return r, c.effects, nil
	case error:
		return nil, nil, r
	default:
		return nil, nil, fmt.Errorf("Apply returned %T", r)
	}
}

func (c *localCluster) VerifyActive(context.Context) error { return nil }
func (c *localCluster) State() *state.State                { return c.s }
func (c *localCluster) Barrier() *barrier.Barrier          { return c.b }

func (c *localCluster) must(t *testing.T, typ command.Type, payload any) {
	t.Helper()
	if _, err := c.Propose(context.Background(), typ, "", command.SourceInternal, payload); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
}

// pendingEngine builds an engine over a connection database/db1 whose rotation was cut
// short (its WAL entry "w1" committed, then rotate_failed: rollback_pending). The rollback
// manager does not run (no Activate), so nothing resolves the rotation unless the test does.
func pendingEngine(t *testing.T, rotateWait time.Duration) (*Engine, *localCluster) {
	t.Helper()
	c := newLocalCluster(t)
	c.must(t, state.TypeCatalogPut, state.CatalogPut{Entry: catalog.Entry{Type: catalog.TypeDatabase, Name: "pg", SHA256: strings.Repeat("ab", 32), Command: "pg"}})
	c.must(t, state.TypeMountPut, state.MountPut{Mount: state.Mount{Path: "database", Type: "database"}})
	cfg, _ := json.Marshal(map[string]any{"username": "root", "password": "old"})
	sealed, err := c.b.Encrypt(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.must(t, state.TypeConnPut, state.ConnPut{Connection: state.Connection{Mount: "database", Name: "db1", PluginName: "pg", Config: sealed}})
	c.must(t, state.TypeRotateBegin, state.RotateBegin{Mount: "database", Name: "db1", Entry: wal.Entry{ID: "w1", Data: []byte("x")}})
	c.must(t, state.TypeRotateFail, state.RotateFail{Mount: "database", Name: "db1", Reason: "test"})
	pool, err := plugins.NewPool(plugins.Config{PluginDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := runtime.New(runtime.Config{Cluster: c, Pool: runtime.FromPool(pool)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	e, err := New(Config{Cluster: c, Runtime: rt, RollbackWindow: time.Second, RotateWait: rotateWait})
	if err != nil {
		t.Fatal(err)
	}
	return e, c
}

// TestRotateRootWhilePending: a rotate-root on a connection whose earlier rotation is still
// being resolved is never refused with the lifecycle's 409. It waits; when the resolution
// comes within the bound it runs (its own WAL entry is committed), else it answers
// ErrRotationPending with a Retry-After. Before the fix it was refused at once:
// "connection is rollback_pending: event root_rotate refused".
func TestRotateRootWhilePending(t *testing.T) {
	cases := []struct {
		name    string
		resolve bool
	}{
		{name: "resolution within the bound: waits, then runs", resolve: true},
		{name: "no resolution: ErrRotationPending with Retry-After", resolve: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, c := pendingEngine(t, 20*time.Second)
			if !tc.resolve {
				e.cfg.RotateWait = 300 * time.Millisecond
			}
			done := make(chan struct{})
			if tc.resolve {
				go func() {
					defer close(done)
					// Resolve once RotateRoot is (most likely) waiting; the order does not
					// matter to the assertion, only that the rotation is resolved.
					time.Sleep(100 * time.Millisecond)
					c.must(t, state.TypeRollbackStart, state.RollbackStart{WALID: "w1"})
					c.must(t, state.TypeRollbackDone, state.RollbackDone{WALID: "w1"})
				}()
			} else {
				close(done)
			}
			err := e.RotateRoot(context.Background(), "database", "db1", APISource)
			<-done
			if errors.Is(err, state.ErrConflict) {
				t.Fatalf("rotate-root refused by the lifecycle: %v", err)
			}
			var pe *PendingError
			if !tc.resolve {
				if !errors.As(err, &pe) || !errors.Is(err, ErrRotationPending) || pe.RetryAfterSeconds() < 1 || pe.State != fsm.StateRollbackPending {
					t.Fatalf("rotate-root while pending: %v (%T), want a PendingError", err, err)
				}
				return
			}
			if errors.As(err, &pe) {
				t.Fatalf("rotate-root after the resolution: %v", err)
			}
			// It ran: its own WAL entry was committed (the plugin is absent here, so its
			// UpdateUser failed and the entry waits for the rollback manager).
			var ids []string
			c.s.View(func(d *state.Data) {
				for _, en := range d.WAL.List() {
					ids = append(ids, en.ID)
				}
			})
			if len(ids) != 1 || ids[0] == "w1" {
				t.Fatalf("WAL after the second rotate-root: %v (err %v), want one new entry", ids, err)
			}
		})
	}
}

// TestRollbackDue: which entries the rollback manager may take before their minimum age.
func TestRollbackDue(t *testing.T) {
	e, c := pendingEngine(t, time.Second)
	root := wal.Entry{ID: "w1", Kind: wal.KindRootRotation, Target: state.Key("database", "db1")}
	if !e.rollbackDue(root) {
		t.Fatal("a rollback_pending rotation is not due at once")
	}
	if e.rollbackDue(wal.Entry{ID: "s", Kind: wal.KindStaticRotation, Target: root.Target}) {
		t.Fatal("a static rotation is due before its minimum age")
	}
	if !e.rollbackDue(wal.Entry{ID: "gone", Kind: wal.KindRootRotation, Target: state.Key("database", "nope")}) {
		t.Fatal("a rotation of a deleted connection is not due at once")
	}
	c.must(t, state.TypeRollbackStart, state.RollbackStart{WALID: "w1"})
	c.must(t, state.TypeRollbackDone, state.RollbackDone{WALID: "w1"})
	c.must(t, state.TypeRotateBegin, state.RotateBegin{Mount: "database", Name: "db1", Entry: wal.Entry{ID: "w2", Data: []byte("x")}})
	if e.rollbackDue(wal.Entry{ID: "w2", Kind: wal.KindRootRotation, Target: root.Target}) {
		t.Fatal("a rotation in flight on this node (rotating) is due before its minimum age")
	}
	// The window runs from the later of activation and the entry's creation.
	e.activated.Store(time.Unix(100, 0).UnixNano())
	if got := e.rollbackNotBefore(wal.Entry{Created: time.Unix(50, 0)}); !got.Equal(time.Unix(101, 0)) {
		t.Fatalf("not before %v, want activation + 1 s", got)
	}
	if got := e.rollbackNotBefore(wal.Entry{Created: time.Unix(200, 0)}); !got.Equal(time.Unix(201, 0)) {
		t.Fatalf("not before %v, want creation + 1 s", got)
	}
}
