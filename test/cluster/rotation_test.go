package cluster

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"crypto/rand"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/testutil"
	"github.com/baton-hq/baton/wal"
)

// pgSetup is a PostgreSQL connection "database/pg" whose root is a fresh login role.
type pgSetup struct {
	pg             *pgtest.Server
	user, password string
}

func hexID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setupPG registers the PostgreSQL plugin, mounts database/ and configures connection pg
// and role ro with a root role of its own (the pgtest superuser is never rotated).
func setupPG(t *testing.T, c *Cluster, m *Member, pg *pgtest.Server) pgSetup {
	t.Helper()
	ctx := testutil.Context(t, 2*time.Minute)
	bin, err := testutil.Build(c.PluginDir, "./cmd/baton-postgresql-plugin", "baton-postgresql-plugin")
	if err != nil {
		t.Fatal(err)
	}
	s := pgSetup{pg: pg, user: "baton_root_" + hexID(4), password: hexID(12)}
	if err := pg.Exec(ctx, fmt.Sprintf("CREATE ROLE %s WITH LOGIN CREATEROLE PASSWORD '%s'", s.user, s.password)); err != nil {
		t.Fatal(err)
	}
	m.Client.Must(t, ctx, "PUT", "sys/plugins/catalog/database/baton-postgresql-plugin", map[string]any{"sha256": bin.SHA256, "command": "baton-postgresql-plugin"})
	m.Client.Must(t, ctx, "POST", "sys/mounts/database", map[string]any{"type": "database"})
	m.Client.Must(t, ctx, "POST", "database/config/pg", map[string]any{
		"plugin_name": "baton-postgresql-plugin", "allowed_roles": "ro", "verify_connection": true,
		"connection_url": pg.URLTemplate(), "username": s.user, "password": s.password})
	m.Client.Must(t, ctx, "POST", "database/roles/ro", map[string]any{"db_name": "pg", "default_ttl": "1h", "max_ttl": "24h"})
	return s
}

// interruptRotation leaves exactly what an active node killed inside rotate-root leaves: the
// rotation's WAL entry committed through Raft (the connection rotating) and, when
// dbPassword is set, the root password in PostgreSQL changed to it (as UpdateUser does).
// The rotation's new password is newPW. An in-process node cannot SIGKILL itself at a fault
// point without taking the test with it; the chaos suite's interrupted-rotation scenario
// does that with real processes.
func interruptRotation(t *testing.T, ctx context.Context, m *Member, s pgSetup, newPW, dbPassword string) {
	t.Helper()
	plain, err := json.Marshal(map[string]string{"connection": state.Key("database", "pg"), "username": s.user, "old": s.password, "new": newPW})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := m.S.Node.Barrier().Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.S.Node.Propose(ctx, state.TypeRotateBegin, "", command.SourceAPI, state.RotateBegin{
		Mount: "database", Name: "pg", Entry: wal.Entry{ID: "rotate-" + hexID(8), Data: sealed},
	}); err != nil {
		t.Fatal(err)
	}
	if dbPassword != "" {
		if err := s.pg.Exec(ctx, fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", s.user, dbPassword)); err != nil {
			t.Fatal(err)
		}
	}
}

// rotationSettled reports the WAL entries left and the connection machine's state.
func rotationSettled(m *Member) (int, fsm.State) {
	var n int
	var st fsm.State
	m.S.Node.State().View(func(d *state.Data) {
		n = len(d.WAL.List())
		if mc, ok := d.Machines[state.MachineKey(fsm.KindConnection, state.Key("database", "pg"))]; ok {
			st = mc.State()
		}
	})
	return n, st
}

// TestInterruptedRotationResolvedAtOnce kills (halts) the active node of a 3-node cluster in
// the middle of rotate-root, with real PostgreSQL, and checks that the new active node
// resolves the rotation long before the WAL's minimum age (ten minutes here): rolled forward
// when the new password is in force, rolled back after the window when it is not, and that a
// rotate-root sent while the rotation is pending waits for the resolution and succeeds (it
// was refused with 409 before). Where neither password logs in, rotate-root answers 503 with
// Retry-After and the entry is kept until the database is repaired.
func TestInterruptedRotationResolvedAtOnce(t *testing.T) {
	pg := pgtest.Start(t)
	cases := []struct {
		name string
		// db is what PostgreSQL holds when the leader dies: "new", "old" or "other".
		db string
		// rotateAtOnce sends rotate-root right after the failover, before the resolution.
		rotateAtOnce bool
	}{
		{name: "killed after PostgreSQL changed the password: rolled forward", db: "new"},
		{name: "killed before PostgreSQL changed the password: rolled back", db: "old"},
		{name: "rotate-root during rollback_pending waits and runs", db: "old", rotateAtOnce: true},
		{name: "rotate-root during roll forward waits and runs", db: "new", rotateAtOnce: true},
		{name: "neither password logs in: 503 with Retry-After, entry kept", db: "other"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := New(t, 3, Options{RollbackMinAge: 10 * time.Minute, RollbackWindow: 2 * time.Second})
			old := c.Active()
			s := setupPG(t, c, old, pg)
			ctx := testutil.Context(t, 3*time.Minute)
			old.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
			newPW := hexID(12)
			switch tc.db {
			case "new":
				interruptRotation(t, ctx, old, s, newPW, newPW)
			case "old":
				interruptRotation(t, ctx, old, s, newPW, "")
			case "other":
				interruptRotation(t, ctx, old, s, newPW, hexID(12))
			}
			c.Halt(old)
			nl := c.WaitActive(old, 30*time.Second)

			if tc.db == "other" {
				r, err := nl.Client.Do(ctx, "POST", "database/rotate-root/pg", nil)
				if err != nil {
					t.Fatal(err)
				}
				ra, _ := strconv.Atoi(r.Header.Get("Retry-After"))
				if r.Status != http.StatusServiceUnavailable || ra < 1 || !strings.Contains(r.Errors(), "still being resolved") {
					t.Fatalf("rotate-root while the rotation cannot be resolved: status %d, Retry-After %q: %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
				}
				testutil.Eventually(t, 30*time.Second, "the failing rollback is recorded and retried, the entry kept", func() bool {
					var attempts int
					nl.S.Node.State().View(func(d *state.Data) {
						for _, e := range d.WAL.List() {
							attempts = e.Attempts
						}
					})
					return attempts >= 2
				})
				// The operator repairs the database: the entry goes on the next retry.
				if err := pg.Exec(ctx, fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", s.user, s.password)); err != nil {
					t.Fatal(err)
				}
			}

			if tc.rotateAtOnce {
				nl.Client.Must(t, ctx, "POST", "database/rotate-root/pg", nil)
			}
			testutil.Eventually(t, 60*time.Second, "the interrupted rotation resolved (WAL empty, connection configured)", func() bool {
				n, st := rotationSettled(nl)
				return n == 0 && st == fsm.StateConfigured
			})
			if !tc.rotateAtOnce {
				want, wrong := s.password, newPW
				if tc.db == "new" {
					want, wrong = newPW, s.password
				}
				if err := pg.CanLogin(ctx, s.user, want); err != nil {
					t.Fatalf("after the resolution the expected root password does not log in: %v", err)
				}
				if err := pg.CanLogin(ctx, s.user, wrong); err == nil {
					t.Fatal("after the resolution the other root password logs in")
				}
				nl.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
				nl.Client.Must(t, ctx, "POST", "database/rotate-root/pg", nil)
			}
			// The stored root credential works after the next rotation.
			nl.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
			if err := pg.CanLogin(ctx, s.user, s.password); err == nil {
				t.Fatal("the original root password still logs in after a successful rotate-root")
			}
		})
	}
}
