package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/wal"
)

// sequences is how many random sequences TestReplicatedLifecycleProperties runs when
// -rapid.checks is not given: a few hundred in CI; -state.sequences=5000 (or -rapid.checks)
// for a longer search.
var sequences = flag.Int("state.sequences", 300, "random command sequences of the lifecycle property test (unless -rapid.checks is set)")

// The small universe the sequences draw from: two mounts, two connection names, two roles, so
// that commands collide often; draws favour the first of each (three to one), so that most
// commands of a sequence meet the same connection.
var (
	propMounts = []string{"database/", "other/"}
	propConns  = []string{"c1", "c2"}
	propRoles  = []string{"r1", "r2"}
)

// favour draws from xs, the first element three times as often as each other one.
func favour[T any](t *rapid.T, xs []T, label string) T {
	return rapid.SampledFrom(append([]T{xs[0], xs[0]}, xs...)).Draw(t, label)
}

// driver applies commands to one state as a node's Raft log would: increasing indexes, each
// command through the codec.
type driver struct {
	t      *rapid.T
	s      *State
	index  uint64
	n      int
	prefix string // of command ids: a teardown on a clone must not collide with the log's ids
	// verify compares the state before and after each refused or duplicate command. Only the
	// sequence under test pays for it; the teardowns on clones must succeed anyway.
	verify bool
}

func (d *driver) command(typ command.Type, src command.Source, payload any) *command.Command {
	d.t.Helper()
	d.n++
	c, err := command.New(typ, fmt.Sprintf("%s%d", d.prefix, d.n), src, epoch.Add(time.Duration(d.n)*time.Second), payload)
	if err != nil {
		d.t.Fatalf("command %s: %v", typ, err)
	}
	return c
}

// applyCmd applies c and says what Apply said. A refused command must change nothing and
// name a sentinel callers branch on.
func (d *driver) applyCmd(c *command.Command) (*Result, error) {
	d.t.Helper()
	var before map[string]json.RawMessage
	if d.verify {
		before = snapshotWithoutIndex(d.t, d.s)
	}
	b, err := command.Marshal(c)
	if err != nil {
		d.t.Fatalf("marshal %s: %v", c.Type, err)
	}
	dec, err := command.Unmarshal(b)
	if err != nil {
		d.t.Fatalf("unmarshal %s: %v", c.Type, err)
	}
	d.index++
	switch r := d.s.Apply(d.index, dec).(type) {
	case *Result:
		if r.Duplicate && d.verify {
			if after := snapshotWithoutIndex(d.t, d.s); !sameSnapshot(before, after) {
				d.t.Fatalf("a redelivered %s (id %s) changed the state", c.Type, c.ID)
			}
		}
		return r, nil
	case error:
		if !d.verify {
			return nil, r
		}
		if after := snapshotWithoutIndex(d.t, d.s); !sameSnapshot(before, after) {
			d.t.Fatalf("refused %s changed the state: %v", c.Type, r)
		}
		if !slices.ContainsFunc([]error{ErrNotFound, ErrExists, ErrInvalid, ErrConflict}, func(s error) bool { return errors.Is(r, s) }) {
			d.t.Fatalf("%s refused without a sentinel: %v", c.Type, r)
		}
		return nil, r
	default:
		d.t.Fatalf("Apply of %s returned %T", c.Type, r)
		return nil, nil
	}
}

func (d *driver) apply(typ command.Type, src command.Source, payload any) (*Result, error) {
	d.t.Helper()
	return d.applyCmd(d.command(typ, src, payload))
}

// must applies a command that has to succeed (a teardown step).
func (d *driver) must(what string, typ command.Type, payload any) {
	d.t.Helper()
	if _, err := d.apply(typ, command.SourceInternal, payload); err != nil {
		d.t.Fatalf("%s: %s refused: %v", what, typ, err)
	}
}

// snapshotWithoutIndex is the whole state by top-level field (format 1's JSON, which
// holds every field by name), less the last applied index (which a refused command moves too:
// it was in the log).
func snapshotWithoutIndex(t *rapid.T, s *State) map[string]json.RawMessage {
	t.Helper()
	b, err := legacySnapshot(s)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("snapshot is not JSON: %v", err)
	}
	delete(m, "index")
	return m
}

func sameSnapshot(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// clone restores a copy of d's state from snapshot b (taken of d), as a follower or a
// restarted node would, for a teardown that must not touch the sequence under test.
func (d *driver) clone(b []byte, prefix string) *driver {
	d.t.Helper()
	s := New()
	if err := s.Restore(bytes.NewReader(b)); err != nil {
		d.t.Fatalf("restore: %v", err)
	}
	return &driver{t: d.t, s: s, index: d.index, n: d.n, prefix: prefix}
}

// view reads the state.
func (d *driver) view(f func(*Data)) { d.s.View(f) }

// machinesIn lists the ids of the machines of kind in any of states, sorted.
func (d *driver) machinesIn(kind fsm.Kind, states ...fsm.State) []string {
	var ids []string
	d.view(func(data *Data) {
		for _, m := range data.Machines {
			if m.Kind() == kind && slices.Contains(states, m.State()) {
				ids = append(ids, m.ID())
			}
		}
	})
	sort.Strings(ids)
	return ids
}

// reconcile is what a new active node proposes on taking over (engine.Activate): instances the
// previous leader ran are recorded crashed, its stops stopped, and a rotation or rollback in
// flight is abandoned to the rollback manager by a failover broadcast.
func (d *driver) reconcile(strict bool) {
	d.t.Helper()
	fire := func(id string, ev fsm.Event) {
		_, err := d.apply(TypeLifecycleFire, command.SourceInternal, LifecycleFire{Kind: fsm.KindPlugin, ID: id, Event: ev, Reason: "previous active node's process"})
		if err != nil && strict {
			d.t.Fatalf("reconcile: %s on %s refused: %v", ev, id, err)
		}
	}
	for _, id := range d.machinesIn(fsm.KindPlugin, fsm.StateStarting, fsm.StateRunning) {
		fire(id, fsm.EventCrashed)
	}
	for _, id := range d.machinesIn(fsm.KindPlugin, fsm.StateStopping, fsm.StateDisabling) {
		fire(id, fsm.EventStopped)
	}
	if len(d.machinesIn(fsm.KindConnection, fsm.StateRotating, fsm.StateRollingBack)) > 0 {
		_, err := d.apply(TypeLifecycleAll, command.SourceInternal, LifecycleBroadcast{Kind: fsm.KindConnection, Event: fsm.EventFailover})
		if err != nil && strict {
			d.t.Fatalf("reconcile: failover refused: %v", err)
		}
	}
}

// model is the sequence under test: the driver plus the commands it applied (for redelivery).
type model struct {
	*driver
	applied []*command.Command
	wals    int
}

func (m *model) propose(typ command.Type, src command.Source, payload any) {
	m.t.Helper()
	c := m.command(typ, src, payload)
	if r, err := m.applyCmd(c); err == nil && !r.Duplicate {
		m.applied = append(m.applied, c)
	}
}

func (m *model) source() command.Source {
	return rapid.SampledFrom([]command.Source{command.SourceAPI, command.SourceNATS}).Draw(m.t, "source")
}

func (m *model) mount() string { return favour(m.t, propMounts, "mount") }

func (m *model) conn() (mount, name string) {
	return m.mount(), favour(m.t, propConns, "conn")
}

// walID draws the id of an existing WAL entry, or one that never existed.
func (m *model) walID() string {
	var ids []string
	m.view(func(d *Data) {
		for _, e := range d.WAL.List() {
			ids = append(ids, e.ID)
		}
	})
	sort.Strings(ids)
	if len(ids) == 0 {
		return "w-none"
	}
	return favour(m.t, append(ids, "w-none"), "wal")
}

// disableMount is engine.DisableMount's commands: mark, revoke every lease, delete.
func (d *driver) disableMount(path string, strict bool) {
	d.t.Helper()
	check := func(err error, what string) {
		if err != nil && strict {
			d.t.Fatalf("disable %s: %s refused: %v", path, what, err)
		}
	}
	_, err := d.apply(TypeMountDisable, command.SourceAPI, MountDelete{Path: path})
	check(err, "mount.disable")
	var leases []string
	d.view(func(data *Data) {
		for id, l := range data.Leases {
			if l.Mount == path {
				leases = append(leases, id)
			}
		}
	})
	sort.Strings(leases)
	for _, id := range leases {
		_, err := d.apply(TypeLeaseDelete, command.SourceInternal, LeaseDelete{ID: id})
		check(err, "lease.delete "+id)
	}
	_, err = d.apply(TypeMountDelete, command.SourceAPI, MountDelete{Path: path})
	check(err, "mount.delete")
}

// actions are what the node proposes, grouped so that related commands share one action
// (rapid picks actions uniformly: fewer, broader actions make the sequences that matter, such
// as begin a rotation, delete the connection, write it again, more likely).
func (m *model) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"mount enable": func(*rapid.T) {
			m.propose(TypeMountPut, m.source(), MountPut{Mount: Mount{Path: m.mount(), Type: "database"}})
		},
		"mount disable": func(*rapid.T) {
			path := m.mount()
			if rapid.Bool().Draw(m.t, "interrupted") {
				// The active node lost leadership between the mark and the delete.
				m.propose(TypeMountDisable, m.source(), MountDelete{Path: path})
				return
			}
			m.disableMount(path, false)
		},
		"conn write": func(*rapid.T) {
			mount, name := m.conn()
			m.propose(TypeConnPut, m.source(), ConnPut{Connection: Connection{Mount: mount, Name: name, PluginName: "pg",
				AllowedRoles: []string{"*"}, Config: []byte(fmt.Sprintf("sealed-%d", m.n))}})
		},
		"conn reset": func(*rapid.T) {
			mount, name := m.conn()
			m.propose(TypeConnReset, m.source(), ConnRef{Mount: mount, Name: name})
		},
		"conn delete": func(*rapid.T) {
			mount, name := m.conn()
			m.propose(TypeConnDelete, m.source(), ConnRef{Mount: mount, Name: name})
		},
		"role write": func(*rapid.T) {
			mount, name := m.conn()
			m.propose(TypeRolePut, command.SourceAPI, RolePut{Role: Role{Mount: mount, Name: favour(m.t, propRoles, "role"), DBName: name}})
		},
		"creds or revoke": func(*rapid.T) {
			if rapid.Bool().Draw(m.t, "revoke") {
				var ids []string
				m.view(func(d *Data) {
					for id := range d.Leases {
						ids = append(ids, id)
					}
				})
				sort.Strings(ids)
				m.propose(TypeLeaseDelete, command.SourceAPI, LeaseDelete{ID: rapid.SampledFrom(append(ids, "none")).Draw(m.t, "lease")})
				return
			}
			mount, name := m.conn()
			role := favour(m.t, propRoles, "role")
			m.propose(TypeLeasePut, command.SourceAPI, LeasePut{Lease: Lease{ID: fmt.Sprintf("%screds/%s/l%d", mount, role, m.n),
				Mount: mount, Role: role, DBName: name, Username: "u"}})
		},
		"rotate begin": func(*rapid.T) {
			mount, name := m.conn()
			m.wals++
			m.propose(TypeRotateBegin, m.source(), RotateBegin{Mount: mount, Name: name,
				Entry: wal.Entry{ID: fmt.Sprintf("w-%d", m.wals), Data: []byte("sealed-old-new")}})
		},
		"rotate end": func(*rapid.T) {
			mount, name := m.conn()
			if rapid.Bool().Draw(m.t, "failed") {
				m.propose(TypeRotateFail, command.SourceInternal, RotateFail{Mount: mount, Name: name, Reason: "UpdateUser failed"})
				return
			}
			m.propose(TypeRotateCommit, command.SourceInternal, RotateCommit{Mount: mount, Name: name, WALID: m.walID(), Config: []byte("rotated")})
		},
		"rollback": func(*rapid.T) {
			id := m.walID()
			switch rapid.SampledFrom([]string{"start", "done", "fail"}).Draw(m.t, "rollback") {
			case "start":
				m.propose(TypeRollbackStart, command.SourceInternal, RollbackStart{WALID: id})
			case "done":
				m.propose(TypeRollbackDone, command.SourceInternal, RollbackDone{WALID: id, Config: []byte("restored")})
			default:
				m.propose(TypeRollbackFail, command.SourceInternal, RollbackFail{WALID: id, Reason: "database down"})
			}
		},
		"reload": func(*rapid.T) {
			if rapid.Bool().Draw(m.t, "by mount") {
				m.propose(TypePluginReload, m.source(), PluginReload{Mount: m.mount()})
				return
			}
			m.propose(TypePluginReload, m.source(), PluginReload{PluginName: "pg"})
		},
		// The runtime's own records: lazy starts, their outcome, plugin exits, answers to stops.
		"plugin record": func(*rapid.T) {
			mount, name := m.conn()
			ev := rapid.SampledFrom([]fsm.Event{fsm.EventRequest, fsm.EventStarted, fsm.EventStartFailed, fsm.EventCrashed, fsm.EventStopped}).Draw(m.t, "record")
			m.propose(TypeLifecycleFire, command.SourceInternal, LifecycleFire{Kind: fsm.KindPlugin, ID: Key(mount, name), Event: ev})
		},
		"node event": func(*rapid.T) {
			ev := rapid.SampledFrom([]fsm.Event{fsm.EventStepDown, fsm.EventSeal, fsm.EventShutdown}).Draw(m.t, "node event")
			m.propose(TypeLifecycleAll, m.source(), LifecycleBroadcast{Kind: fsm.KindPlugin, Event: ev})
		},
		"failover": func(*rapid.T) { m.reconcile(false) },
		// Policy writes and deletes, the built-ins' refusals among them.
		"policy": func(*rapid.T) {
			name := rapid.SampledFrom([]string{"app", "App", "default", "root", ""}).Draw(m.t, "policy")
			if rapid.Bool().Draw(m.t, "delete") {
				m.propose(TypePolicyDelete, command.SourceAPI, PolicyDelete{Name: name})
				return
			}
			m.propose(TypePolicyPut, command.SourceAPI, PolicyPut{Name: name, Policy: rapid.SampledFrom([]string{"", `path "a" { capabilities = ["read"] }`}).Draw(m.t, "text")})
		},
		// JetStream redelivers an event the old leader applied but did not ack.
		"redeliver": func(*rapid.T) {
			if len(m.applied) == 0 {
				m.t.Skip("nothing applied yet")
			}
			c := rapid.SampledFrom(m.applied).Draw(m.t, "redelivered")
			r, err := m.applyCmd(c)
			if err != nil || !r.Duplicate {
				m.t.Fatalf("redelivered %s (id %s): %+v, %v; want a duplicate", c.Type, c.ID, r, err)
			}
		},
		"": func(*rapid.T) { m.check() },
	}
}

// check is run after every step.
func (m *model) check() {
	m.t.Helper()
	m.checkShape()
	m.checkTeardowns()
}

// checkShape: every connection has its two machines, every machine its connection, and none
// is left terminal (a terminal machine refuses every event but its teardown no-ops: a
// connection stuck there could never be used again).
func (m *model) checkShape() {
	m.t.Helper()
	m.view(func(d *Data) {
		// The built-ins: default is always stored, root never.
		if _, ok := d.Policies["default"]; !ok {
			m.t.Fatalf("the default policy is gone")
		}
		if _, ok := d.Policies["root"]; ok {
			m.t.Fatalf("a root policy was stored")
		}
		for key, c := range d.Connections {
			if _, ok := d.Mounts[c.Mount]; !ok {
				m.t.Fatalf("connection %s outlived its mount", key)
			}
			for _, kind := range fsm.Kinds() {
				if _, ok := d.Machines[MachineKey(kind, key)]; !ok {
					m.t.Fatalf("connection %s has no %s machine", key, kind)
				}
			}
		}
		for mk, mach := range d.Machines {
			if _, ok := d.Connections[mach.ID()]; !ok {
				m.t.Fatalf("machine %s has no connection", mk)
			}
			if mach.Terminal() {
				m.t.Fatalf("machine %s left in terminal %s", mk, mach.State())
			}
			for _, ev := range fsm.Teardown(mach.Kind()) {
				if !mach.Can(ev) {
					m.t.Fatalf("machine %s in %s refuses teardown %s", mk, mach.State(), ev)
				}
			}
		}
	})
}

// checkTeardowns applies each teardown, as the node proposes it, to its own restored copy of
// the state: each succeeds and ends where it must.
func (m *model) checkTeardowns() {
	m.t.Helper()
	snap, err := m.s.Snapshot()
	if err != nil {
		m.t.Fatalf("snapshot: %v", err)
	}
	// Disabling every mount removes everything under it.
	c := m.clone(snap, "disable-")
	for _, p := range propMounts {
		if _, ok := mountOf(c, p); ok {
			c.disableMount(p, true)
		}
	}
	c.view(func(d *Data) {
		if n := len(d.Mounts) + len(d.Connections) + len(d.Roles) + len(d.Leases) + len(d.Machines); n != 0 {
			m.t.Fatalf("disabling every mount left %d objects", n)
		}
	})

	// Deleting every connection removes its machines.
	c = m.clone(snap, "delete-")
	var keys []string
	c.view(func(d *Data) {
		for k := range d.Connections {
			keys = append(keys, k)
		}
	})
	sort.Strings(keys)
	for _, k := range keys {
		var cn Connection
		c.view(func(d *Data) { cn = d.Connections[k] })
		c.must("delete "+k, TypeConnDelete, ConnRef{Mount: cn.Mount, Name: cn.Name})
	}
	c.view(func(d *Data) {
		if len(d.Machines) != 0 {
			m.t.Fatalf("deleting every connection left machines %v", d.Machines)
		}
	})

	// Seal, shutdown or step-down (one drawn per check, so every step meets each over the
	// run): the active node records the event, its runtime answers each stop; then a new
	// active node reconciles and its rollback manager resolves every WAL entry. Every instance
	// ends idle, every connection configured, no WAL entry left.
	for _, ev := range []fsm.Event{rapid.SampledFrom([]fsm.Event{fsm.EventSeal, fsm.EventShutdown, fsm.EventStepDown}).Draw(m.t, "node teardown")} {
		c = m.clone(snap, string(ev)+"-")
		c.must(string(ev), TypeLifecycleAll, LifecycleBroadcast{Kind: fsm.KindPlugin, Event: ev})
		for _, id := range c.machinesIn(fsm.KindPlugin, fsm.StateStopping, fsm.StateDisabling) {
			c.must(string(ev)+": stopped "+id, TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: id, Event: fsm.EventStopped})
		}
		c.reconcile(true)
		var entries []wal.Entry
		c.view(func(d *Data) { entries = d.WAL.List() })
		for _, e := range entries {
			c.must("rollback.start "+e.ID, TypeRollbackStart, RollbackStart{WALID: e.ID})
			c.must("rollback.done "+e.ID, TypeRollbackDone, RollbackDone{WALID: e.ID})
		}
		c.view(func(d *Data) {
			for mk, mach := range d.Machines {
				if want := map[fsm.Kind]fsm.State{fsm.KindPlugin: fsm.StateIdle, fsm.KindConnection: fsm.StateConfigured}[mach.Kind()]; mach.State() != want {
					m.t.Fatalf("after %s, a failover and the rollbacks: %s is %s, want %s", ev, mk, mach.State(), want)
				}
			}
			if n := len(d.WAL.Entries); n != 0 {
				m.t.Fatalf("after %s, a failover and the rollbacks: %d WAL entries left", ev, n)
			}
		})
	}
}

func mountOf(d *driver, path string) (Mount, bool) {
	var mt Mount
	var ok bool
	d.view(func(data *Data) { mt, ok = data.Mounts[path] })
	return mt, ok
}

// TestReplicatedLifecycleProperties drives the replicated state with random sequences of what
// the node proposes (issue 9 item 2): API and NATS commands (mounts, connections, roles,
// creds, rotations, reloads, seal, step-down, shutdown), the runtime's records (lazy starts,
// crashes, stops), leader changes (the new leader's reconcile) and redelivered events. After
// every step: a refused command changed nothing, a redelivered one is a duplicate, no machine
// is stuck (terminal or refusing a teardown), and on restored copies every teardown succeeds
// and ends every machine terminal (gone) or idle.
func TestReplicatedLifecycleProperties(t *testing.T) {
	if f := flag.Lookup("rapid.checks"); f != nil && !flagSet("rapid.checks") && os.Getenv("RAPID_CHECKS") == "" {
		old := f.Value.String()
		if err := f.Value.Set(fmt.Sprint(*sequences)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Value.Set(old) })
	}
	rapid.Check(t, func(rt *rapid.T) {
		m := &model{driver: &driver{t: rt, s: New(), prefix: "cmd-", verify: true}}
		m.propose(TypeCatalogPut, command.SourceAPI, CatalogPut{Entry: catalog.Entry{Type: catalog.TypeDatabase, Name: "pg", SHA256: strings.Repeat("ab", 32), Command: "pg"}})
		rt.Repeat(m.actions())
	})
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
