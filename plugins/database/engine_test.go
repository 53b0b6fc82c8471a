package database

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/wal"
)

// The engine's unit tests: the real engine over the real runtime, a replicated state applied
// in process (localCluster) and a database in memory (fakeServer). No PostgreSQL, NATS or Raft.

// TestConfigWriteReadDelete: a config is verified against the database before it is stored,
// sealed, shown redacted, merged on update, and deleted (twice is still success).
// TestEnableMountAccessor: enabling a mount stores the description given and an accessor
// drawn before the proposal, shaped as OpenBao's and different for each mount.
func TestEnableMountAccessor(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	seen := map[string]bool{}
	for _, p := range []string{"db2", "team/db3"} {
		if err := f.e.EnableMount(ctx, Mount{Path: p, Type: "database", Description: "desc " + p}); err != nil {
			t.Fatal(err)
		}
		m, ok := f.e.ReadMount(p)
		if !ok {
			t.Fatalf("mount %s missing", p)
		}
		if !regexp.MustCompile(`^database_[0-9a-f]{8}$`).MatchString(m.Accessor) || seen[m.Accessor] || m.Description != "desc "+p {
			t.Fatalf("mount %s: accessor %q (seen before: %v), description %q", p, m.Accessor, seen[m.Accessor], m.Description)
		}
		seen[m.Accessor] = true
	}
}

func TestConfigWriteReadDelete(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	if err := f.e.WriteConfig(ctx, "database", "db1", rootConfig(rootPW, "ro"), APISource); err != nil {
		t.Fatalf("WriteConfig: %v", err)
	}
	if n := f.srv.count(f.srv.opens, connKey); n != 0 {
		t.Fatalf("the connection's own instance was opened %d times by a config write; want only a throwaway one", n)
	}
	got, err := f.e.ReadConfig("database", "db1")
	if err != nil {
		t.Fatalf("ReadConfig: %v", err)
	}
	details, _ := got["connection_details"].(map[string]any)
	if _, ok := details["password"]; ok || got["plugin_name"] != "pg" || details["username"] != rootUser ||
		!slices.Equal(got["allowed_roles"].([]string), []string{"ro"}) || got["verify_connection"] != true {
		t.Fatalf("ReadConfig = %v", got)
	}
	if cfg := f.storedConfig(t); cfg["password"] != rootPW {
		t.Fatalf("stored config has password %v", cfg["password"])
	}
	if st, _ := f.machine(fsm.KindPlugin, connKey); st != fsm.StateIdle {
		t.Fatalf("plugin machine %q after the first write, want idle", st)
	}

	// An update names only what changes; the rest (the password) is kept.
	if err := f.e.WriteConfig(ctx, "database", "db1", ConfigInput{AllowedRoles: []string{"ro", "rw"}}, APISource); err != nil {
		t.Fatalf("update: %v", err)
	}
	if cfg := f.storedConfig(t); cfg["password"] != rootPW || cfg["username"] != rootUser {
		t.Fatalf("stored config after update: %v", cfg)
	}
	got, _ = f.e.ReadConfig("database", "db1")
	if !slices.Equal(got["allowed_roles"].([]string), []string{"ro", "rw"}) {
		t.Fatalf("allowed_roles after update: %v", got["allowed_roles"])
	}
	if l := f.e.ListConfigs("database"); !slices.Equal(l, []string{"db1"}) {
		t.Fatalf("ListConfigs = %v", l)
	}

	for i := range 2 {
		if err := f.e.DeleteConfig(ctx, "database", "db1", APISource); err != nil {
			t.Fatalf("DeleteConfig #%d: %v", i+1, err)
		}
	}
	if _, err := f.e.ReadConfig("database", "db1"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("ReadConfig after delete: %v", err)
	}
	if st, _ := f.machine(fsm.KindPlugin, connKey); st != "" {
		t.Fatalf("plugin machine %q after delete, want none", st)
	}
}

// TestWriteConfigErrors: bad input is refused with a sentinel the HTTP edge maps and a clear
// message that never shows the password; nothing is stored.
func TestWriteConfigErrors(t *testing.T) {
	bad := func(s string) *string { return &s }
	tests := []struct {
		name        string
		mount, conn string
		in          ConfigInput
		want        error
		msg         string
	}{
		{"no mount there", "other", "db1", rootConfig(rootPW), state.ErrNotFound, "no database secrets engine is mounted at other/"},
		{"no plugin name", "database", "db1", ConfigInput{Details: map[string]any{"username": rootUser}}, state.ErrInvalid, "plugin_name is required"},
		{"plugin not in the catalog", "database", "db1", ConfigInput{PluginName: "mysql"}, state.ErrInvalid, `plugin "mysql" is not registered`},
		{"bad plugin version", "database", "db1", ConfigInput{PluginName: "pg", PluginVersion: bad("one")}, state.ErrInvalid, "plugin_version"},
		{"unknown plugin version", "database", "db1", ConfigInput{PluginName: "pg", PluginVersion: bad("v9.9.9")}, state.ErrInvalid, "version v9.9.9 is not registered"},
		{"home-made password policy string", "database", "db1", ConfigInput{PluginName: "pg", PasswordPolicy: bad("length=3")}, state.ErrInvalid, "sys/policies/password"},
		{"password policy that does not exist", "database", "db1", ConfigInput{PluginName: "pg", PasswordPolicy: bad("strong")}, state.ErrInvalid, "password policy \"strong\" does not exist"},
		{"root login fails", "database", "db1", rootConfig("wrong-pw"), state.ErrInvalid, "error creating database object"},
		{"name with a slash", "database", "a/b", rootConfig(rootPW), state.ErrInvalid, "have no '/'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false)
			err := f.e.WriteConfig(context.Background(), tt.mount, tt.conn, tt.in, APISource)
			wantErr(t, err, tt.want, tt.msg)
			if l := f.e.ListConfigs(tt.mount); len(l) != 0 {
				t.Fatalf("a refused write stored %v", l)
			}
		})
	}
}

// TestRoles: roles are written, read, listed and deleted; the state's rules on the connection
// they name reach the caller as ErrInvalid.
func TestRoles(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		role state.Role
		want error
		msg  string
	}{
		{"allowed role", state.Role{Mount: "database", Name: "ro", DBName: "db1", DefaultTTL: time.Minute}, nil, ""},
		{"unknown connection", state.Role{Mount: "database", Name: "ro", DBName: "nope"}, state.ErrInvalid, `db_name "nope": no such connection`},
		{"role not allowed on the connection", state.Role{Mount: "database", Name: "admin", DBName: "db1"}, state.ErrInvalid, `role "admin" is not allowed`},
		{"no db_name", state.Role{Mount: "database", Name: "ro"}, state.ErrInvalid, "db_name is required"},
		{"no mount", state.Role{Mount: "other", Name: "ro", DBName: "db1"}, state.ErrNotFound, "no secrets engine is mounted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false)
			if err := f.e.WriteConfig(ctx, "database", "db1", rootConfig(rootPW, "ro"), APISource); err != nil {
				t.Fatal(err)
			}
			_, err := f.e.WriteRole(ctx, tt.role)
			wantErr(t, err, tt.want, tt.msg)
			if tt.want != nil {
				if l := f.e.ListRoles("database"); len(l) != 0 {
					t.Fatalf("a refused role was stored: %v", l)
				}
				return
			}
			r, err := f.e.ReadRole("database", "ro")
			if err != nil || r.DBName != "db1" || r.DefaultTTL != time.Minute {
				t.Fatalf("ReadRole = %+v, %v", r, err)
			}
			if l := f.e.ListRoles("database"); !slices.Equal(l, []string{"ro"}) {
				t.Fatalf("ListRoles = %v", l)
			}
			if err := f.e.DeleteRole(ctx, "database", "ro"); err != nil {
				t.Fatalf("DeleteRole: %v", err)
			}
			if _, err := f.e.ReadRole("database", "ro"); !errors.Is(err, state.ErrNotFound) {
				t.Fatalf("ReadRole after delete: %v", err)
			}
		})
	}
}

// TestCredsRenewRevoke follows one credential: the user is created in the database with the
// returned password and its lease recorded (the plugin started lazily, recorded request →
// started), renewed in the database and in the lease, and revoked: the user deleted, then
// the lease.
func TestCredsRenewRevoke(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	sec, err := f.e.Creds(ctx, "database", "ro", "token")
	if err != nil {
		t.Fatalf("Creds: %v", err)
	}
	user, _ := sec.Data["username"].(string)
	pw, _ := sec.Data["password"].(string)
	if got, ok := f.srv.password(user); !ok || got != pw || pw == "" {
		t.Fatalf("database user %q: password %q (exists %v), want the issued one %q", user, got, ok, pw)
	}
	if sec.LeaseDuration != time.Hour || !sec.Renewable {
		t.Fatalf("secret %+v, want a renewable one-hour lease", sec)
	}
	l, err := f.e.Lookup(sec.LeaseID)
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	if l.Username != user || l.Mount != "database/" || l.Role != "ro" || l.DBName != "db1" ||
		!l.Expires.Equal(clock.Add(time.Hour)) || !l.MaxExpires.Equal(clock.Add(2*time.Hour)) {
		t.Fatalf("lease %+v", l)
	}
	if st, evs := f.machine(fsm.KindPlugin, connKey); st != fsm.StateRunning || !slices.Equal(evs, []fsm.Event{fsm.EventRequest, fsm.EventStarted}) {
		t.Fatalf("plugin machine %s after %v, want running after request, started", st, evs)
	}

	// A second credential uses the running instance: no second start.
	if _, err := f.e.Creds(ctx, "database", "ro", "token"); err != nil {
		t.Fatalf("second Creds: %v", err)
	}
	if n := f.srv.count(f.srv.opens, connKey); n != 1 {
		t.Fatalf("instance opened %d times for two credentials, want 1", n)
	}

	renewed, err := f.e.Renew(ctx, sec.LeaseID, 30*time.Minute)
	if err != nil {
		t.Fatalf("Renew: %v", err)
	}
	want := clock.Add(30 * time.Minute)
	f.srv.mu.Lock()
	dbExp := f.srv.expires[user]
	f.srv.mu.Unlock()
	if l, _ := f.e.Lookup(sec.LeaseID); !l.Expires.Equal(want) || !dbExp.Equal(want) || renewed.LeaseDuration != 30*time.Minute {
		t.Fatalf("after renew: lease expires %v, database %v, secret %+v; want %v", l.Expires, dbExp, renewed, want)
	}

	if err := f.e.Revoke(ctx, sec.LeaseID); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if _, ok := f.srv.password(user); ok {
		t.Fatalf("user %q still in the database after revoke", user)
	}
	if _, err := f.e.Lookup(sec.LeaseID); !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("Lookup after revoke: %v", err)
	}
	if err := f.e.Revoke(ctx, sec.LeaseID); !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("second Revoke: %v, want ErrInvalid", err)
	}
}

// TestCredsErrors: every refusal of a credential request, and what it leaves in the
// database: a request refused before NewUser creates nobody, a lease that cannot be recorded
// takes its user back.
func TestCredsErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		role  string
		want  error
		msg   string
	}{
		{"unknown role", nil, "nope", state.ErrNotFound, "unknown role: nope"},
		{"role no longer allowed on its connection", func(t *testing.T, f *fixture) {
			if err := f.e.WriteConfig(context.Background(), "database", "db1", ConfigInput{AllowedRoles: []string{"rw"}}, APISource); err != nil {
				t.Fatal(err)
			}
		}, "ro", state.ErrInvalid, `"ro" is not an allowed role for connection "db1"`},
		{"mount being disabled", func(t *testing.T, f *fixture) {
			f.c.must(t, state.TypeMountDisable, state.MountDelete{Path: "database"})
		}, "ro", state.ErrConflict, "the mount database/ is being disabled"},
		{"lease not recorded: the user is taken back", func(t *testing.T, f *fixture) {
			f.c.fail = func(typ command.Type) error {
				if typ == state.TypeLeasePut {
					return errors.New("raft: leadership lost while committing log")
				}
				return nil
			}
		}, "ro", nil, "record lease"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			if tt.setup != nil {
				tt.setup(t, f)
			}
			_, err := f.e.Creds(context.Background(), "database", tt.role, "token")
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("Creds: %v, want an error saying %q", err, tt.msg)
				}
			} else {
				wantErr(t, err, tt.want, tt.msg)
			}
			if n := f.srv.userCount(); n != 1 {
				t.Fatalf("%d users in the database after a refused request, want only root", n)
			}
		})
	}
}

// TestRenewErrors: a lease that does not exist, or is at its max TTL, is not renewed.
func TestRenewErrors(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	if _, err := f.e.Renew(ctx, "database/creds/ro/nope", time.Minute); !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("Renew of an unknown lease: %v", err)
	}
	sec, err := f.e.Creds(ctx, "database", "ro", "token")
	if err != nil {
		t.Fatal(err)
	}
	f.e.cfg.Now = func() time.Time { return clock.Add(3 * time.Hour) } // past the max TTL
	_, err = f.e.Renew(ctx, sec.LeaseID, time.Minute)
	wantErr(t, err, state.ErrInvalid, "has reached its max TTL")
}

// TestRotateRoot: the WAL entry is committed before the database is touched, UpdateUser sets
// the new root password, and the commit stores it and deletes the entry; a failed UpdateUser
// leaves the entry for the rollback manager and the stored password as it was.
func TestRotateRoot(t *testing.T) {
	tests := []struct {
		name     string
		updErr   error
		wantConn fsm.State
	}{
		{"rotation commits", nil, fsm.StateConfigured},
		{"UpdateUser fails: the entry waits for rollback", errors.New("connection reset by peer"), fsm.StateRollbackPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			var walAtUpdate []wal.Entry
			f.srv.onUpdate = func(req dbplugin.UpdateUserRequest) error {
				f.c.s.View(func(d *state.Data) { walAtUpdate = d.WAL.List() })
				return tt.updErr
			}
			err := f.e.RotateRoot(context.Background(), "database", "db1", APISource)
			if len(walAtUpdate) != 1 || walAtUpdate[0].Kind != wal.KindRootRotation || walAtUpdate[0].Target != connKey {
				t.Fatalf("WAL when UpdateUser ran: %+v, want the root-rotation entry of %s", walAtUpdate, connKey)
			}
			var after []wal.Entry
			f.c.s.View(func(d *state.Data) { after = d.WAL.List() })
			stored := f.storedConfig(t)["password"]
			inDB, _ := f.srv.password(rootUser)
			if st, _ := f.machine(fsm.KindConnection, connKey); st != tt.wantConn {
				t.Fatalf("connection machine %s, want %s", st, tt.wantConn)
			}
			if tt.updErr != nil {
				wantErr(t, err, tt.updErr, "rotate root credentials of \"db1\"")
				if len(after) != 1 || stored != rootPW || inDB != rootPW {
					t.Fatalf("after a failed UpdateUser: WAL %v, stored %v, database %v; want the entry kept and the old password", after, stored != rootPW, inDB != rootPW)
				}
				return
			}
			if err != nil {
				t.Fatalf("RotateRoot: %v", err)
			}
			if len(after) != 0 || stored != inDB || inDB == rootPW {
				t.Fatalf("after the rotation: WAL %v, stored = database: %v, changed: %v", after, stored == inDB, inDB != rootPW)
			}
		})
	}
}

// TestRotateRootErrors: a connection without a root login has nothing to rotate, a missing one
// is not found; neither writes a WAL entry.
func TestRotateRootErrors(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	in := ConfigInput{PluginName: "pg", VerifyConnection: new(bool), Details: map[string]any{"connection_url": "postgres://db/app"}}
	if err := f.e.WriteConfig(ctx, "database", "db2", in, APISource); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.e.RotateRoot(ctx, "database", "db2", APISource), state.ErrInvalid, "no username and password")
	wantErr(t, f.e.RotateRoot(ctx, "database", "nope", APISource), state.ErrNotFound, `connection "database/nope"`)
	f.c.s.View(func(d *state.Data) {
		if n := len(d.WAL.List()); n != 0 {
			t.Fatalf("%d WAL entries after refused rotations", n)
		}
	})
}

// TestReset: a reset closes the connection's instance (the transition's effect, carried out
// by the runtime) and the next request starts a fresh one with the stored config.
func TestReset(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	if _, err := f.e.Creds(ctx, "database", "ro", "token"); err != nil {
		t.Fatal(err)
	}
	closedBefore := f.srv.count(f.srv.closed, connKey)
	if err := f.e.Reset(ctx, "database", "db1", APISource); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if n := f.srv.count(f.srv.closed, connKey); n <= closedBefore {
		t.Fatalf("the instance was not closed by the reset (CloseConn %d times, %d before)", n, closedBefore)
	}
	if _, err := f.e.Creds(ctx, "database", "ro", "token"); err != nil {
		t.Fatalf("Creds after reset: %v", err)
	}
	if n := f.srv.count(f.srv.opens, connKey); n != 2 {
		t.Fatalf("instance opened %d times, want 2 (once before and once after the reset)", n)
	}
	if st, _ := f.machine(fsm.KindPlugin, connKey); st != fsm.StateRunning {
		t.Fatalf("plugin machine %s after the restart, want running", st)
	}
	wantErr(t, f.e.Reset(ctx, "database", "nope", APISource), state.ErrNotFound, `connection "database/nope"`)
}

// TestDisableMountRevokes: disabling a mount revokes its leases in the database, then removes
// the mount with its connections and roles.
func TestDisableMountRevokes(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	for range 3 {
		if _, err := f.e.Creds(ctx, "database", "ro", "token"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.e.DisableMount(ctx, "database", APISource); err != nil {
		t.Fatalf("DisableMount: %v", err)
	}
	if n := f.srv.userCount(); n != 1 {
		t.Fatalf("%d users left in the database, want only root", n)
	}
	f.c.s.View(func(d *state.Data) {
		if len(d.Mounts) != 0 || len(d.Connections) != 0 || len(d.Roles) != 0 || len(d.Leases) != 0 {
			t.Fatalf("left after disable: mounts %d, connections %d, roles %d, leases %d", len(d.Mounts), len(d.Connections), len(d.Roles), len(d.Leases))
		}
	})
	if err := f.e.DisableMount(ctx, "database", APISource); err != nil {
		t.Fatalf("second DisableMount: %v", err)
	}
}

// TestEventErrors: NATS events reach the engine's handlers through the runtime; bad input is
// a business refusal (events.ErrRejected, not redelivered) that names what is wrong.
func TestEventErrors(t *testing.T) {
	conn := func(id string) events.Target { return events.Target{Type: events.TargetConnection, ID: id} }
	tests := []struct {
		name string
		ev   events.Event
		want error
		msg  string
	}{
		{"connection id without a name", events.Event{ID: "e1", Kind: events.KindConnReset, Target: conn("db1")}, state.ErrInvalid, "want mount/name"},
		{"reset of an unknown connection", events.Event{ID: "e2", Kind: events.KindConnReset, Target: conn("database/nope")}, state.ErrNotFound, `connection "database/nope"`},
		{"rotation of an unknown connection", events.Event{ID: "e3", Kind: events.KindRootRotate, Target: conn("database/nope")}, state.ErrNotFound, `connection "database/nope"`},
		{"update without a mount", events.Event{ID: "e4", Kind: events.KindConnUpdate, Target: conn("other/db1"), Params: map[string]string{"max_open_connections": "4"}}, state.ErrNotFound, "no database secrets engine is mounted"},
		{"a kind nobody takes", events.Event{ID: "e5", Kind: events.Kind("no_such_kind"), Target: conn("database/db1")}, state.ErrInvalid, "does not take no_such_kind events"},
		{"reload of a plugin not in the catalog", events.Event{ID: "e7", Kind: events.KindReload, Target: events.Target{Type: events.TargetPlugin, ID: "mysql"}}, state.ErrNotFound, `no plugin "mysql" in the catalog`},
		{"reload of an unknown mount", events.Event{ID: "e8", Kind: events.KindReload, Target: events.Target{Type: events.TargetMount, ID: "nope"}}, state.ErrNotFound, "nope/"},
		{"reset of a known connection", events.Event{ID: "e6", Kind: events.KindConnReset, Target: conn("database/db1")}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			idx, err := f.rt.HandleEvent(context.Background(), tt.ev)
			if tt.want == nil {
				if err != nil || idx == 0 {
					t.Fatalf("HandleEvent = %d, %v", idx, err)
				}
				return
			}
			wantErr(t, err, tt.want, tt.msg)
			if !errors.Is(err, events.ErrRejected) {
				t.Fatalf("error %v is not a rejection", err)
			}
		})
	}
}

// TestReloadUnknownPluginProposesNothing checks that a reload naming a plugin that is not in
// the catalog, or a mount that does not exist, is refused with ErrNotFound before anything is
// proposed (no Raft entry, no transition), from the API's and from NATS's entry point alike,
// while a reload of a registered plugin still goes through.
func TestReloadUnknownPluginProposesNothing(t *testing.T) {
	tests := []struct {
		name          string
		plugin, mount string
		event         bool
		want          error
	}{
		{name: "api plugin", plugin: "mysql", want: state.ErrNotFound},
		{name: "api mount", mount: "nope", want: state.ErrNotFound},
		{name: "nats plugin", plugin: "mysql", event: true, want: state.ErrNotFound},
		{name: "nats mount", mount: "nope", event: true, want: state.ErrNotFound},
		{name: "api known plugin", plugin: "pg"},
		{name: "nats known mount", mount: "database", event: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, true)
			_, before := f.machine(fsm.KindPlugin, connKey)
			f.c.mu.Lock()
			idx := f.c.index
			f.c.mu.Unlock()
			var err error
			if tt.event {
				target := events.Target{Type: events.TargetPlugin, ID: tt.plugin}
				if tt.mount != "" {
					target = events.Target{Type: events.TargetMount, ID: tt.mount}
				}
				_, err = f.rt.HandleEvent(context.Background(), events.Event{ID: "r1", Kind: events.KindReload, Target: target})
			} else {
				_, err = f.e.Reload(context.Background(), tt.plugin, tt.mount, APISource)
			}
			f.c.mu.Lock()
			proposed := f.c.index - idx
			f.c.mu.Unlock()
			if tt.want == nil {
				if err != nil || proposed != 1 {
					t.Fatalf("reload: %v, %d commands proposed, want nil and 1", err, proposed)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("reload: %v, want %v", err, tt.want)
			}
			if proposed != 0 {
				t.Fatalf("a refused reload proposed %d commands", proposed)
			}
			if _, after := f.machine(fsm.KindPlugin, connKey); !slices.Equal(before, after) {
				t.Fatalf("a refused reload changed the plugin machine: %v -> %v", before, after)
			}
		})
	}
}
