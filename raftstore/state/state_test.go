package state

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/wal"
)

var epoch = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// applier feeds commands to a state with increasing indexes.
type applier struct {
	t     *testing.T
	s     *State
	index uint64
	n     int
}

func newApplier(t *testing.T) *applier {
	t.Helper()
	return &applier{t: t, s: New()}
}

func (a *applier) cmd(typ command.Type, payload any) *command.Command {
	a.t.Helper()
	a.n++
	c, err := command.New(typ, fmt.Sprintf("cmd-%d", a.n), command.SourceAPI, epoch.Add(time.Duration(a.n)*time.Second), payload)
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

func (a *applier) applyCmd(c *command.Command) (*Result, error) {
	a.t.Helper()
	a.index++
	// Every command goes through the codec, as it does through Raft.
	b, err := command.Marshal(c)
	if err != nil {
		a.t.Fatal(err)
	}
	dec, err := command.Unmarshal(b)
	if err != nil {
		a.t.Fatal(err)
	}
	switch r := a.s.Apply(a.index, dec).(type) {
	case *Result:
		return r, nil
	case error:
		return nil, r
	default:
		a.t.Fatalf("Apply returned %T", r)
		return nil, nil
	}
}

func (a *applier) apply(typ command.Type, payload any) (*Result, error) {
	a.t.Helper()
	return a.applyCmd(a.cmd(typ, payload))
}

func (a *applier) must(typ command.Type, payload any) *Result {
	a.t.Helper()
	r, err := a.apply(typ, payload)
	if err != nil {
		a.t.Fatalf("%s: %v", typ, err)
	}
	return r
}

func (a *applier) snapshot() []byte {
	a.t.Helper()
	b, err := a.s.Snapshot()
	if err != nil {
		a.t.Fatal(err)
	}
	return b
}

func (a *applier) machineState(kind fsm.Kind, id string) fsm.State {
	var st fsm.State
	a.s.View(func(d *Data) {
		if m, ok := d.Machines[MachineKey(kind, id)]; ok {
			st = m.State()
		}
	})
	return st
}

// base sets up a catalog entry, a database mount and a connection.
func base(t *testing.T) *applier {
	t.Helper()
	a := newApplier(t)
	a.must(TypeCatalogPut, CatalogPut{Entry: catalog.Entry{Type: catalog.TypeDatabase, Name: "pg", SHA256: strings.Repeat("ab", 32), Command: "pg"}})
	a.must(TypeMountPut, MountPut{Mount: Mount{Path: "database", Type: "database", Accessor: "database_00000001"}})
	a.must(TypeConnPut, ConnPut{Connection: Connection{Mount: "database/", Name: "db1", PluginName: "pg", AllowedRoles: []string{"ro"}, Config: []byte("sealed")}})
	return a
}

func TestConnectionLifecycle(t *testing.T) {
	a := base(t)
	if got := a.machineState(fsm.KindConnection, "database/db1"); got != fsm.StateConfigured {
		t.Fatalf("new connection is %q", got)
	}
	if got := a.machineState(fsm.KindPlugin, "database/db1"); got != fsm.StateIdle {
		t.Fatalf("new plugin instance is %q", got)
	}
	// The plugin starts lazily: request → starting → started → running.
	a.must(TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: fsm.EventRequest})
	a.must(TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: fsm.EventStarted})
	// A config update closes the running instance: the plugin goes through stopping.
	r := a.must(TypeConnPut, ConnPut{Connection: Connection{Mount: "database", Name: "db1", PluginName: "pg", AllowedRoles: []string{"ro"}, Config: []byte("sealed2")}})
	if len(r.Transitions) != 2 || r.Transitions[1].To != fsm.StateStopping {
		t.Fatalf("update transitions: %+v", r.Transitions)
	}
	if tr := r.Transitions[0]; tr.EventID == "" || tr.Index == 0 || tr.Source != "api" || tr.Time.IsZero() {
		t.Fatalf("transition lacks its provenance: %+v", tr)
	}
	var gen uint64
	a.s.View(func(d *Data) { gen = d.Connections["database/db1"].Generation })
	if gen != 2 {
		t.Fatalf("generation after update = %d", gen)
	}
}

func TestRotationAndRollback(t *testing.T) {
	a := base(t)
	a.must(TypeRotateBegin, RotateBegin{Mount: "database", Name: "db1", Entry: wal.Entry{ID: "w1", Data: []byte("sealed-old-new")}})
	if got := a.machineState(fsm.KindConnection, "database/db1"); got != fsm.StateRotating {
		t.Fatalf("after rotate.begin: %q", got)
	}
	// A second rotation while one is in flight is refused and changes nothing.
	before := a.snapshot()
	if _, err := a.apply(TypeRotateBegin, RotateBegin{Mount: "database", Name: "db1", Entry: wal.Entry{ID: "w2"}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("second rotate.begin: %v", err)
	}
	if after := a.snapshot(); !bytes.Equal(withoutIndex(t, before), withoutIndex(t, after)) {
		t.Fatal("a refused command changed the state")
	}
	// Failover: the new leader broadcasts failover; the rotation waits for rollback.
	a.must(TypeLifecycleAll, LifecycleBroadcast{Kind: fsm.KindConnection, Event: fsm.EventFailover})
	if got := a.machineState(fsm.KindConnection, "database/db1"); got != fsm.StateRollbackPending {
		t.Fatalf("after failover: %q", got)
	}
	a.must(TypeRollbackStart, RollbackStart{WALID: "w1"})
	a.must(TypeRollbackFail, RollbackFail{WALID: "w1", Reason: "database down"})
	var e wal.Entry
	a.s.View(func(d *Data) { e, _ = d.WAL.Get("w1") })
	if e.Attempts != 1 || e.LastError != "database down" {
		t.Fatalf("failure not recorded on the entry: %+v", e)
	}
	a.must(TypeRollbackStart, RollbackStart{WALID: "w1"})
	a.must(TypeRollbackDone, RollbackDone{WALID: "w1", Config: []byte("restored")})
	if got := a.machineState(fsm.KindConnection, "database/db1"); got != fsm.StateConfigured {
		t.Fatalf("after rollback: %q", got)
	}
	a.s.View(func(d *Data) {
		if len(d.WAL.Entries) != 0 {
			t.Fatalf("WAL entry left after rollback: %+v", d.WAL.Entries)
		}
		if string(d.Connections["database/db1"].Config) != "restored" {
			t.Fatal("rollback did not store the restored config")
		}
	})
	// A successful rotation commits config and deletes the WAL entry in one command.
	a.must(TypeRotateBegin, RotateBegin{Mount: "database", Name: "db1", Entry: wal.Entry{ID: "w3"}})
	a.must(TypeRotateCommit, RotateCommit{Mount: "database", Name: "db1", WALID: "w3", Config: []byte("rotated")})
	a.s.View(func(d *Data) {
		if len(d.WAL.Entries) != 0 || string(d.Connections["database/db1"].Config) != "rotated" {
			t.Fatal("rotate.commit did not store config and delete the WAL entry together")
		}
	})
}

func withoutIndex(t *testing.T, snap []byte) []byte {
	t.Helper()
	s := New()
	if err := s.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	s.d.Index = 0
	b, _ := s.Snapshot()
	return b
}

func TestDuplicateAppliedOnce(t *testing.T) {
	a := base(t)
	c := a.cmd(TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: fsm.EventRequest})
	r1, err := a.applyCmd(c)
	if err != nil || r1.Duplicate {
		t.Fatalf("first apply: %+v %v", r1, err)
	}
	r2, err := a.applyCmd(c)
	if err != nil || !r2.Duplicate || r2.Index != r1.Index || len(r2.Transitions) != 0 {
		t.Fatalf("second apply of the same id: %+v %v", r2, err)
	}
	var hist int
	a.s.View(func(d *Data) { hist = len(d.Machines[MachineKey(fsm.KindPlugin, "database/db1")].History()) })
	if hist != 1 {
		t.Fatalf("history has %d transitions, want 1", hist)
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name    string
		typ     command.Type
		payload any
		want    error
		msg     string
	}{
		{"unknown command", "nope", map[string]string{}, ErrUnknownCommand, "nope"},
		{"mount with a taken accessor", TypeMountPut, MountPut{Mount: Mount{Path: "other", Type: "database", Accessor: "database_00000001"}}, ErrExists, "database_00000001"},
		{"mount twice", TypeMountPut, MountPut{Mount: Mount{Path: "database/", Type: "database"}}, ErrExists, "already in use"},
		{"mount unknown type", TypeMountPut, MountPut{Mount: Mount{Path: "kv", Type: "kv"}}, ErrInvalid, "unknown secrets engine type"},
		{"conn unknown plugin", TypeConnPut, ConnPut{Connection: Connection{Mount: "database", Name: "x", PluginName: "mysql", Config: []byte("c")}}, ErrInvalid, "mysql"},
		{"conn no mount", TypeConnPut, ConnPut{Connection: Connection{Mount: "other", Name: "x", PluginName: "pg", Config: []byte("c")}}, ErrNotFound, "other/"},
		{"conn unregistered version", TypeConnPut, ConnPut{Connection: Connection{Mount: "database", Name: "x", PluginName: "pg", PluginVersion: "v9.0.0", Config: []byte("c")}}, ErrInvalid, "v9.0.0"},
		{"role not allowed", TypeRolePut, RolePut{Role: Role{Mount: "database", Name: "rw", DBName: "db1"}}, ErrInvalid, "not allowed"},
		{"role no connection", TypeRolePut, RolePut{Role: Role{Mount: "database", Name: "ro", DBName: "nope"}}, ErrInvalid, "no such connection"},
		{"role ttl", TypeRolePut, RolePut{Role: Role{Mount: "database", Name: "ro", DBName: "db1", DefaultTTL: time.Hour, MaxTTL: time.Minute}}, ErrInvalid, "max_ttl"},
		{"clear catalog env", TypeCatalogPut, CatalogPut{Entry: catalog.Entry{Type: catalog.TypeDatabase, Name: "x", SHA256: strings.Repeat("ab", 32), Command: "x", Env: []string{"A=b"}}}, ErrInvalid, "sealed"},
		{"refused transition", TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: fsm.EventStarted}, ErrConflict, "idle"},
		{"unknown machine", TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "nope", Event: fsm.EventRequest}, ErrNotFound, "nope"},
		{"broadcast unknown event", TypeLifecycleAll, LifecycleBroadcast{Kind: fsm.KindPlugin, Event: "explode"}, ErrInvalid, "explode"},
		{"rollback unknown wal", TypeRollbackStart, RollbackStart{WALID: "nope"}, ErrNotFound, "nope"},
		{"reload unknown plugin", TypePluginReload, PluginReload{PluginName: "mysql"}, ErrNotFound, `"mysql"`},
		{"reload unknown mount", TypePluginReload, PluginReload{Mount: "nope"}, ErrNotFound, "nope/"},
		{"reload unknown plugin records no reload", TypePluginReload, PluginReload{PluginName: "mysql", ReloadID: "r1"}, ErrNotFound, `"mysql"`},
		{"init twice", TypeInit, Init{Seal: Seal{KeyCheck: []byte("k")}}, ErrExists, "already initialized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base(t)
			a.must(TypeInit, Init{Seal: Seal{KeyCheck: []byte("k")}})
			before := withoutIndex(t, a.snapshot())
			_, err := a.apply(tt.typ, tt.payload)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.msg)
			}
			if after := withoutIndex(t, a.snapshot()); !bytes.Equal(before, after) {
				t.Fatalf("refused command changed the state")
			}
		})
	}
}

func TestMountDeleteDisablesEverything(t *testing.T) {
	a := base(t)
	a.must(TypeRolePut, RolePut{Role: Role{Mount: "database", Name: "ro", DBName: "db1"}})
	a.must(TypeLeasePut, LeasePut{Lease: Lease{ID: "database/creds/ro/l1", Mount: "database/", Role: "ro"}})
	a.must(TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: fsm.EventRequest})
	a.must(TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: fsm.EventStarted})
	r := a.must(TypeMountDelete, MountDelete{Path: "database/"})
	var sawDisable bool
	for _, tr := range r.Transitions {
		if tr.Kind == fsm.KindPlugin && tr.Event == fsm.EventDisable && slicesContains(tr.Effects, fsm.EffectStopProcess) {
			sawDisable = true
		}
	}
	if !sawDisable {
		t.Fatalf("mount delete did not ask to stop the running plugin: %+v", r.Transitions)
	}
	a.s.View(func(d *Data) {
		if len(d.Mounts)+len(d.Connections)+len(d.Roles)+len(d.Leases)+len(d.Machines) != 0 {
			t.Fatalf("mount delete left objects: %+v", d)
		}
	})
}

func slicesContains(effects []fsm.Effect, e fsm.Effect) bool {
	for _, x := range effects {
		if x == e {
			return true
		}
	}
	return false
}

func TestSnapshotRestoreDeterministic(t *testing.T) {
	// Two nodes applying the same log end with byte-identical snapshots, and a restored
	// snapshot gives the same bytes back.
	run := func() []byte {
		a := base(t)
		a.must(TypeRolePut, RolePut{Role: Role{Mount: "database", Name: "ro", DBName: "db1", DefaultTTL: time.Hour}})
		a.must(TypeConnPut, ConnPut{Connection: Connection{Mount: "database", Name: "db2", PluginName: "pg", Config: []byte("c")}})
		a.must(TypeLifecycleAll, LifecycleBroadcast{Kind: fsm.KindPlugin, Event: fsm.EventRequest})
		a.must(TypeRotateBegin, RotateBegin{Mount: "database", Name: "db2", Entry: wal.Entry{ID: "w"}})
		return a.snapshot()
	}
	s1, s2 := run(), run()
	if !bytes.Equal(s1, s2) {
		t.Fatal("same log, different snapshots")
	}
	r := New()
	if err := r.Restore(bytes.NewReader(s1)); err != nil {
		t.Fatal(err)
	}
	back, _ := r.Snapshot()
	if !bytes.Equal(s1, back) {
		t.Fatalf("restore changed the state:\n%s\n%s", s1, back)
	}
}

func TestAppliedBounded(t *testing.T) {
	d := newData()
	for i := 0; i < MaxApplied+10; i++ {
		d.remember(AppliedEvent{ID: fmt.Sprint(i), Index: uint64(i)})
	}
	if len(d.Applied) != MaxApplied || len(d.Log) != MaxApplied {
		t.Fatalf("applied ids not bounded: %d %d", len(d.Applied), len(d.Log))
	}
	if _, ok := d.Applied["0"]; ok {
		t.Fatal("oldest id kept")
	}
}

// TestAppliedBoundedKeepsTheNewestInOrder: far past the bound (through several reallocations of
// the log), the log holds exactly the newest MaxApplied ids in log order and the map exactly
// those ids with their indexes.
func TestAppliedBoundedKeepsTheNewestInOrder(t *testing.T) {
	d := newData()
	const total = 3*MaxApplied + 7
	for i := 0; i < total; i++ {
		d.remember(AppliedEvent{ID: fmt.Sprint(i), Index: uint64(i)})
	}
	if len(d.Applied) != MaxApplied || len(d.Log) != MaxApplied {
		t.Fatalf("applied ids not bounded: %d %d", len(d.Applied), len(d.Log))
	}
	for j, ev := range d.Log {
		i := total - MaxApplied + j
		if ev.ID != fmt.Sprint(i) || ev.Index != uint64(i) {
			t.Fatalf("log[%d] = %+v, want id %d", j, ev, i)
		}
		if idx, ok := d.Applied[ev.ID]; !ok || idx != uint64(i) {
			t.Fatalf("applied[%s] = %d, %v; want %d", ev.ID, idx, ok, i)
		}
	}
}

func TestObserverSeesTransitions(t *testing.T) {
	a := base(t)
	var got []fsm.Transition
	a.s.SetObserver(func(ts []fsm.Transition) { got = append(got, ts...) })
	a.must(TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: fsm.EventRequest})
	if len(got) != 1 || got[0].To != fsm.StateStarting {
		t.Fatalf("observer got %+v", got)
	}
}

func TestBatchAppliesEachCommandOnItsOwn(t *testing.T) {
	a := base(t)
	ok1 := a.cmd(TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: fsm.EventRequest})
	bad := a.cmd(TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "nope", Event: fsm.EventRequest})
	ok2 := a.cmd(TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: fsm.EventStarted})
	batch := a.cmd(TypeBatch, Batch{Commands: []*command.Command{ok1, bad, ok2, ok1}})
	a.index++
	b, _ := command.Marshal(batch)
	dec, _ := command.Unmarshal(b)
	res, ok := a.s.Apply(a.index, dec).(*BatchResult)
	if !ok || len(res.Results) != 4 {
		t.Fatalf("batch result: %#v", res)
	}
	if r, ok := res.Results[0].(*Result); !ok || r.Duplicate || len(r.Transitions) != 1 {
		t.Fatalf("first: %#v", res.Results[0])
	}
	if err, ok := res.Results[1].(error); !ok || !errors.Is(err, ErrNotFound) {
		t.Fatalf("second should fail on its own: %#v", res.Results[1])
	}
	if r, ok := res.Results[2].(*Result); !ok || r.Transitions[0].To != fsm.StateRunning {
		t.Fatalf("third: %#v", res.Results[2])
	}
	if r, ok := res.Results[3].(*Result); !ok || !r.Duplicate {
		t.Fatalf("a repeated id inside a batch is applied once: %#v", res.Results[3])
	}
	var applied bool
	a.s.View(func(d *Data) { _, applied = d.Applied[batch.ID] })
	if applied {
		t.Fatal("the batch's own id was recorded")
	}
}

func TestRoleDeletes(t *testing.T) {
	a := base(t)
	a.must(TypeRolePut, RolePut{Role: Role{Mount: "database", Name: "ro", DBName: "db1"}})
	a.must(TypeRoleDelete, RoleRef{Mount: "database", Name: "ro"})
	if _, err := a.apply(TypeRoleDelete, RoleRef{Mount: "database", Name: "ro"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete of a role: %v", err)
	}
	if _, err := a.apply(TypeStaticRoleDelete, RoleRef{Mount: "database", Name: "ro"}); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "static role") {
		t.Fatalf("delete of a missing static role: %v", err)
	}
}

// TestCatalogDeleteWithoutVersion: OpenBao's client deregisters with an empty version; that
// deletes an entry registered without a version even when the plugin named its own, and
// still refuses to guess among versions an operator named.
func TestCatalogDeleteWithoutVersion(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		entries []catalog.Entry
		want    error    // nil: the delete succeeds
		left    []string // versions still registered afterwards
	}{
		{name: "self-versioned", entries: []catalog.Entry{{Version: "v1.2.0", SelfVersioned: true}}},
		{name: "self-versioned beside an older named version", entries: []catalog.Entry{{Version: "v1.0.0"}, {Version: "v1.2.0", SelfVersioned: true}}, left: []string{"v1.0.0"}},
		{name: "named version", entries: []catalog.Entry{{Version: "v1.2.0"}}, want: ErrInvalid, left: []string{"v1.2.0"}},
		{name: "newest named, older self-versioned", entries: []catalog.Entry{{Version: "v1.0.0", SelfVersioned: true}, {Version: "v1.2.0"}}, want: ErrInvalid, left: []string{"v1.0.0", "v1.2.0"}},
		{name: "unversioned", entries: []catalog.Entry{{}, {Version: "v1.2.0"}}, left: []string{"v1.2.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApplier(t)
			for _, e := range tt.entries {
				e.Type, e.Name, e.SHA256, e.Command = catalog.TypeDatabase, "mysql", sha, "mysql"
				a.must(TypeCatalogPut, CatalogPut{Entry: e})
			}
			before := withoutIndex(t, a.snapshot())
			_, err := a.apply(TypeCatalogDelete, CatalogDelete{Type: string(catalog.TypeDatabase), Name: "mysql"})
			if tt.want != nil {
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "name the version") {
					t.Fatalf("delete = %v, want %v asking for the version", err, tt.want)
				}
				if after := withoutIndex(t, a.snapshot()); !bytes.Equal(before, after) {
					t.Fatal("refused delete changed the state")
				}
			} else if err != nil {
				t.Fatalf("delete: %v", err)
			}
			var left []string
			a.s.View(func(d *Data) {
				for _, e := range d.Catalog.Versions(string(catalog.TypeDatabase), "mysql") {
					left = append(left, e.Version)
				}
			})
			if fmt.Sprint(left) != fmt.Sprint(tt.left) {
				t.Fatalf("left %q, want %q", left, tt.left)
			}
		})
	}
}

// TestLeaseRenewRecordsTheRenewal: a renewal records the command's time as the lease's last
// renewal (what sys/leases/lookup reports), so every node holds the same value.
func TestLeaseRenewRecordsTheRenewal(t *testing.T) {
	a := base(t)
	issued := epoch.Add(time.Minute)
	a.must(TypeLeasePut, LeasePut{Lease: Lease{ID: "database/creds/ro/l1", Mount: "database/", Role: "ro", DBName: "db1", Issued: issued, Expires: issued.Add(time.Hour), MaxExpires: issued.Add(2 * time.Hour)}})
	lease := func() Lease {
		var l Lease
		a.s.View(func(d *Data) { l = d.Leases["database/creds/ro/l1"] })
		return l
	}
	if l := lease(); !l.LastRenewal.IsZero() {
		t.Fatalf("a new lease has a last renewal: %v", l.LastRenewal)
	}
	exp := issued.Add(90 * time.Minute)
	c := a.cmd(TypeLeaseRenew, LeaseRenew{ID: "database/creds/ro/l1", Expires: exp.Format(time.RFC3339Nano)})
	if _, err := a.applyCmd(c); err != nil {
		t.Fatal(err)
	}
	if l := lease(); !l.LastRenewal.Equal(c.Time) || !l.Expires.Equal(exp) {
		t.Fatalf("after renewal: last renewal %v expires %v, want %v and %v", l.LastRenewal, l.Expires, c.Time, exp)
	}
}

// TestReloadRecorded: a reload with a reload id is recorded with its command's time and
// index (several mounts under one id keep the last), a reload without one records nothing,
// and past MaxReloads the oldest id is forgotten.
func TestReloadRecorded(t *testing.T) {
	a := base(t)
	a.must(TypePluginReload, PluginReload{PluginName: "pg"})
	a.s.View(func(d *Data) {
		if len(d.Reloads) != 0 {
			t.Fatalf("a reload without an id was recorded: %v", d.Reloads)
		}
	})
	a.must(TypePluginReload, PluginReload{Mount: "database", ReloadID: "r0"})
	c := a.cmd(TypePluginReload, PluginReload{PluginName: "pg", ReloadID: "r0"})
	if _, err := a.applyCmd(c); err != nil {
		t.Fatal(err)
	}
	a.s.View(func(d *Data) {
		if got, want := d.Reloads["r0"], (Reload{Time: c.Time.UTC(), Index: a.index}); got != want || len(d.ReloadLog) != 1 {
			t.Fatalf("reload r0 = %+v (log %v), want %+v once", got, d.ReloadLog, want)
		}
	})
	for i := 1; i <= MaxReloads; i++ {
		a.must(TypePluginReload, PluginReload{PluginName: "pg", ReloadID: fmt.Sprintf("r%d", i)})
	}
	a.s.View(func(d *Data) {
		if _, ok := d.Reloads["r0"]; ok || len(d.Reloads) != MaxReloads || len(d.ReloadLog) != MaxReloads || d.ReloadLog[0] != "r1" {
			t.Fatalf("after %d more reloads: r0 kept %v, %d recorded, log starts %q", MaxReloads, ok, len(d.Reloads), d.ReloadLog[0])
		}
	})
	before := a.snapshot()
	b := newApplier(t)
	if err := b.s.Restore(bytes.NewReader(before)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.snapshot(), before) {
		t.Fatal("restored reloads encode differently")
	}
}

// TestRotateCommitOfAnotherConnectionsEntry: a commit must name its own connection's root
// rotation. Before this check, committing db2 with db1's entry deleted db1's entry and left
// db1 rotating with nothing for the rollback manager to resolve (the property test found it).
func TestRotateCommitOfAnotherConnectionsEntry(t *testing.T) {
	a := base(t)
	a.must(TypeConnPut, ConnPut{Connection: Connection{Mount: "database/", Name: "db2", PluginName: "pg", Config: []byte("sealed")}})
	a.must(TypeRotateBegin, RotateBegin{Mount: "database", Name: "db1", Entry: wal.Entry{ID: "w1", Data: []byte("sealed-old-new")}})
	a.must(TypeRotateBegin, RotateBegin{Mount: "database", Name: "db2", Entry: wal.Entry{ID: "w2", Data: []byte("sealed-old-new")}})
	before := a.snapshot()
	if _, err := a.apply(TypeRotateCommit, RotateCommit{Mount: "database", Name: "db2", WALID: "w1", Config: []byte("rotated")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("rotate.commit of db2 with db1's entry: %v, want %v", err, ErrInvalid)
	}
	if after := a.snapshot(); !bytes.Equal(withoutIndex(t, before), withoutIndex(t, after)) {
		t.Fatal("a refused rotate.commit changed the state")
	}
	// Its own entry still commits.
	a.must(TypeRotateCommit, RotateCommit{Mount: "database", Name: "db2", WALID: "w2", Config: []byte("rotated")})
	if got := a.machineState(fsm.KindConnection, "database/db1"); got != fsm.StateRotating {
		t.Fatalf("db1 after db2's commit: %q, want %q", got, fsm.StateRotating)
	}
}

// TestSealUpdate: a seal update needs an initialised cluster and the next generation (so of
// two updates made from one keyring the second is refused), and runs the seal observer.
func TestSealUpdate(t *testing.T) {
	s := New()
	calls := 0
	s.SetSealObserver(func() { calls++ })
	apply := func(typ command.Type, p any) any {
		c, err := command.New(typ, fmt.Sprint("seal-", s.Index()), command.SourceAPI, time.Now(), p)
		if err != nil {
			t.Fatal(err)
		}
		return s.Apply(s.Index()+1, c)
	}
	if r := apply(TypeSealUpdate, SealUpdate{KeyCheck: []byte("k2"), Generation: 1}); !errors.Is(asErr(r), ErrInvalid) {
		t.Fatalf("update before init: %v", r)
	}
	apply(TypeInit, Init{Seal: Seal{KeyCheck: []byte("k1"), Shares: 1, Threshold: 1}})
	if r := apply(TypeSealUpdate, SealUpdate{KeyCheck: []byte("k2"), Generation: 1}); asErr(r) != nil {
		t.Fatal(r)
	}
	if r := apply(TypeSealUpdate, SealUpdate{KeyCheck: []byte("k2bis"), Generation: 1}); !errors.Is(asErr(r), ErrConflict) {
		t.Fatalf("stale update: %v", r)
	}
	if r := apply(TypeSealUpdate, SealUpdate{KeyCheck: []byte("k3"), RootKey: []byte("r"), Generation: 2, Shares: 5, Threshold: 3}); asErr(r) != nil {
		t.Fatal(r)
	}
	s.View(func(d *Data) {
		if string(d.Seal.KeyCheck) != "k3" || string(d.Seal.RootKey) != "r" || d.Seal.Shares != 5 || d.Seal.Threshold != 3 || d.Seal.Generation != 2 {
			t.Fatalf("seal = %+v", d.Seal)
		}
	})
	if calls != 3 {
		t.Fatalf("seal observer ran %d times, want 3 (init and two updates)", calls)
	}
}

func asErr(r any) error {
	err, _ := r.(error)
	return err
}
