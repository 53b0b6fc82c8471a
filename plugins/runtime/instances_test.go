package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/plugins"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

// fakeCluster is a one-node cluster without Raft: proposals go through the command codec into
// a real replicated state, in order. A test can hold proposals at a gate or fail them.
type fakeCluster struct {
	st *state.State

	mu      sync.Mutex
	index   uint64
	ids     int
	gate    chan struct{} // when not nil, proposals wait for it to close
	fail    func(p state.LifecycleFire) error
	active  error // what VerifyActive answers
	waiting atomic.Int64
}

func (c *fakeCluster) Propose(ctx context.Context, typ command.Type, id string, source command.Source, payload any) (*state.Result, error) {
	c.mu.Lock()
	gate, fail := c.gate, c.fail
	c.mu.Unlock()
	if gate != nil {
		c.waiting.Add(1)
		select {
		case <-gate:
			c.waiting.Add(-1)
		case <-ctx.Done():
			c.waiting.Add(-1)
			return nil, ctx.Err()
		}
	}
	if p, ok := payload.(state.LifecycleFire); ok && fail != nil {
		if err := fail(p); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == "" {
		c.ids++
		id = fmt.Sprintf("fake-%d", c.ids)
	}
	cmd, err := command.New(typ, id, source, time.Now(), payload)
	if err != nil {
		return nil, err
	}
	b, err := command.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	dec, err := command.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	c.index++
	switch r := c.st.Apply(c.index, dec).(type) {
	case *state.Result:
		return r, nil
	case error:
		return nil, r
	default:
		return nil, fmt.Errorf("apply returned %T", r)
	}
}

func (c *fakeCluster) VerifyActive(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.active
}

func (c *fakeCluster) State() *state.State       { return c.st }
func (c *fakeCluster) Barrier() *barrier.Barrier { return nil }

// holdProposals makes every later proposal wait until the returned function is called.
func (c *fakeCluster) holdProposals() (release func()) {
	gate := make(chan struct{})
	c.mu.Lock()
	c.gate = gate
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.gate = nil
			c.mu.Unlock()
			close(gate)
		})
	}
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newInstanceRuntime builds a runtime over a fake cluster holding n connections whose plugin
// instances are running, and returns it with the connections' keys and the runtime's log.
func newInstanceRuntime(t *testing.T, n int) (*Runtime, *fakeCluster, []string, *lockedBuffer) {
	t.Helper()
	c := &fakeCluster{st: state.New()}
	ctx := context.Background()
	must := func(typ command.Type, payload any) {
		t.Helper()
		if _, err := c.Propose(ctx, typ, "", command.SourceAPI, payload); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	must(state.TypeCatalogPut, state.CatalogPut{Entry: catalog.Entry{Type: catalog.TypeDatabase, Name: "pg", SHA256: strings.Repeat("ab", 32), Command: "pg"}})
	must(state.TypeMountPut, state.MountPut{Mount: state.Mount{Path: "database", Type: "database"}})
	keys := make([]string, n)
	for i := range keys {
		name := fmt.Sprintf("db%d", i)
		must(state.TypeConnPut, state.ConnPut{Connection: state.Connection{Mount: "database/", Name: name, PluginName: "pg", Config: []byte("sealed")}})
		keys[i] = state.Key("database/", name)
		for _, ev := range []fsm.Event{fsm.EventRequest, fsm.EventStarted} {
			must(state.TypeLifecycleFire, state.LifecycleFire{Kind: fsm.KindPlugin, ID: keys[i], Event: ev})
		}
	}
	pool, err := plugins.NewPool(plugins.Config{PluginDir: t.TempDir(), Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	e, err := New(Config{Cluster: c, Pool: FromPool(pool), Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e, c, keys, logs
}

// history returns the events recorded on key's plugin machine, oldest first, and its state.
func history(c *fakeCluster, key string) ([]fsm.Event, fsm.State) {
	var evs []fsm.Event
	var st fsm.State
	c.st.View(func(d *state.Data) {
		m, ok := d.Machines[state.MachineKey(fsm.KindPlugin, key)]
		if !ok {
			return
		}
		st = m.State()
		for _, tr := range m.History() {
			evs = append(evs, tr.Event)
		}
	})
	return evs, st
}

// TestInstanceRecordsAreNeverDropped floods the runtime with more crash and restart
// observations than the old 1024-slot queue held while the lifecycle cannot take any, and
// checks that every instance's last record reaches its machine once it can.
func TestInstanceRecordsAreNeverDropped(t *testing.T) {
	const instances = 1500
	e, c, keys, _ := newInstanceRuntime(t, instances)
	release := c.holdProposals()
	t.Cleanup(release)

	// The consumer takes the first record and blocks in its proposal.
	e.Observe(plugins.InstanceEvent{ConnID: keys[0], Kind: plugins.EventCrashed, PID: 100})
	testutil.Eventually(t, 30*time.Second, "the consumer to block in a proposal", func() bool { return c.waiting.Load() > 0 })

	// Every instance crashes; every even one is restarted by the pool afterwards (its next
	// call), every one divisible by three crashes once more before that.
	observed := 0
	for i, k := range keys {
		e.Observe(plugins.InstanceEvent{ConnID: k, Kind: plugins.EventCrashed, PID: 1000 + i, Err: errors.New("signal: killed")})
		observed++
		if i%3 == 0 {
			e.Observe(plugins.InstanceEvent{ConnID: k, Kind: plugins.EventStarted, PID: 5000 + i})
			e.Observe(plugins.InstanceEvent{ConnID: k, Kind: plugins.EventCrashed, PID: 5000 + i})
			observed += 2
		}
		if i%2 == 0 {
			e.Observe(plugins.InstanceEvent{ConnID: k, Kind: plugins.EventStarted, PID: 9000 + i})
			observed++
		}
		// Events the runtime records itself are ignored, not queued.
		e.Observe(plugins.InstanceEvent{ConnID: k, Kind: plugins.EventStarting})
		observed++
	}
	if observed <= 1024 {
		t.Fatalf("the flood has %d observations; it must exceed the old queue's 1024", observed)
	}
	release()

	for i, k := range keys {
		want, tail := fsm.StateIdle, []fsm.Event{fsm.EventCrashed}
		if i%2 == 0 {
			want, tail = fsm.StateRunning, []fsm.Event{fsm.EventCrashed, fsm.EventRequest, fsm.EventStarted}
		}
		testutil.Eventually(t, 60*time.Second, fmt.Sprintf("%s to be recorded %s after %v", k, want, tail), func() bool {
			evs, st := history(c, k)
			return st == want && len(evs) >= len(tail) && equalEvents(evs[len(evs)-len(tail):], tail)
		})
	}
}

func equalEvents(a, b []fsm.Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestInstanceRecordFailures checks what happens to a crash record whose proposal fails: it
// is logged at Warn with its reason, and tried again while the node is active.
func TestInstanceRecordFailures(t *testing.T) {
	errTimeout := errors.New("raft: timed out enqueuing operation")
	tests := []struct {
		name      string
		active    error
		wantState fsm.State // where the machine ends
		wantLog   string
	}{
		{"transient failure on the active node is retried", nil, fsm.StateIdle, "trying again"},
		{"a node no longer active leaves it to the next", errors.New("not the active node"), fsm.StateRunning, "no longer active"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, keys, logs := newInstanceRuntimeWith(t, func(c *fakeCluster) {
				var failures atomic.Int64
				c.active = tt.active
				c.fail = func(p state.LifecycleFire) error {
					if p.Event == fsm.EventCrashed && failures.Add(1) <= 3 {
						return errTimeout
					}
					if tt.active != nil && p.Event == fsm.EventCrashed {
						return errTimeout
					}
					return nil
				}
			})
			testutil.Eventually(t, 60*time.Second, "the failure to be logged", func() bool {
				return strings.Contains(logs.String(), tt.wantLog)
			})
			line := ""
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, tt.wantLog) {
					line = l
					break
				}
			}
			if !strings.Contains(line, "[WARN]") || !strings.Contains(line, errTimeout.Error()) || !strings.Contains(line, keys[0]) {
				t.Fatalf("log line %q: want a Warn naming the connection and the reason", line)
			}
			if tt.wantState == fsm.StateIdle {
				testutil.Eventually(t, 60*time.Second, "the crash to be recorded", func() bool {
					_, st := history(c, keys[0])
					return st == fsm.StateIdle
				})
			} else if _, st := history(c, keys[0]); st != tt.wantState {
				t.Fatalf("machine is %s, want %s", st, tt.wantState)
			}
		})
	}
}

// newInstanceRuntimeWith is newInstanceRuntime with one instance whose crash is observed after
// setup has configured the cluster.
func newInstanceRuntimeWith(t *testing.T, setup func(c *fakeCluster)) (*Runtime, *fakeCluster, []string, *lockedBuffer) {
	t.Helper()
	e, c, keys, logs := newInstanceRuntime(t, 1)
	c.mu.Lock()
	setup(c)
	c.mu.Unlock()
	e.Observe(plugins.InstanceEvent{ConnID: keys[0], Kind: plugins.EventCrashed, PID: 42, Err: errors.New("exit status 2")})
	return e, c, keys, logs
}

// TestInstanceRecordCoalescing checks how observations of one instance fold into one record.
func TestInstanceRecordCoalescing(t *testing.T) {
	crash := instanceRecord{crashed: true, reason: "r1"}
	crash2 := instanceRecord{crashed: true, reason: "r2"}
	start := instanceRecord{restarted: true, pid: 7}
	start2 := instanceRecord{restarted: true, pid: 8}
	requested := instanceRecord{restarted: true, pid: 7, requested: true}
	tests := []struct {
		name string
		seq  []instanceRecord
		want instanceRecord
	}{
		{"crash then restart keeps both", []instanceRecord{crash, start}, instanceRecord{crashed: true, reason: "r1", restarted: true, pid: 7}},
		{"restart then crash ends crashed", []instanceRecord{start, crash}, crash},
		{"two crashes keep the last reason", []instanceRecord{crash, crash2}, crash2},
		{"two restarts keep the last pid", []instanceRecord{start, start2}, start2},
		{"crash, restart, crash ends crashed", []instanceRecord{crash, start, crash2}, crash2},
		{"a requested restart keeps its request", []instanceRecord{requested, start2}, instanceRecord{restarted: true, pid: 8, requested: true}},
		{"a crash ends a requested restart", []instanceRecord{requested, crash}, crash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newInstanceQueue()
			for _, r := range tt.seq {
				q.put("k", r)
			}
			keys, recs := q.takeAll()
			if len(keys) != 1 || recs["k"] != tt.want {
				t.Fatalf("got %v %+v, want one record %+v", keys, recs, tt.want)
			}
		})
	}
}

// TestLateCrashOfAReplacedProcess plays the pool reporting a restart before the exit of the
// process it replaced (the call that met the dead process restarts it while the process's
// watcher has yet to report the exit): the crash belongs before the restart, so the machine
// ends running, not idle while a process runs.
func TestLateCrashOfAReplacedProcess(t *testing.T) {
	e, c, keys, _ := newInstanceRuntime(t, 1)
	release := c.holdProposals() // both observations arrive before either is recorded
	t.Cleanup(release)
	e.Observe(plugins.InstanceEvent{ConnID: keys[0], Kind: plugins.EventStarted, PID: 20})
	e.Observe(plugins.InstanceEvent{ConnID: keys[0], Kind: plugins.EventCrashed, PID: 10, Err: errors.New("exit status 2")})
	release()
	tail := []fsm.Event{fsm.EventCrashed, fsm.EventRequest, fsm.EventStarted}
	testutil.Eventually(t, 60*time.Second, fmt.Sprintf("%v recorded and the machine running", tail), func() bool {
		evs, st := history(c, keys[0])
		return st == fsm.StateRunning && len(evs) >= len(tail) && equalEvents(evs[len(evs)-len(tail):], tail)
	})
	// The same, with the restart already recorded when the late crash arrives.
	e.Observe(plugins.InstanceEvent{ConnID: keys[0], Kind: plugins.EventStarted, PID: 30})
	e.Observe(plugins.InstanceEvent{ConnID: keys[0], Kind: plugins.EventCrashed, PID: 20})
	testutil.Eventually(t, 60*time.Second, "the second late crash recorded before its restart", func() bool {
		evs, st := history(c, keys[0])
		return st == fsm.StateRunning && len(evs) >= 6 && equalEvents(evs[len(evs)-6:], append(tail, tail...))
	})
}
