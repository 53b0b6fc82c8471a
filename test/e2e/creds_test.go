package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/testutil"
)

// TestCredentialLifecycle is an operator's day with PostgreSQL, on one node and on three:
// register the plugin by SHA-256, mount, configure a verified connection, add a role, issue
// a credential and log in with it, renew it (the lease and PostgreSQL's VALID UNTIL move),
// revoke it (the user is gone), let one expire (the active node drops the user), and rotate
// the root credential (the old password fails, Baton still works with the new one, which no
// API reply and no log ever shows). On three nodes every call goes through a standby, and
// after the rotation the active node is killed: its successor issues credentials with the
// rotated password.
func TestCredentialLifecycle(t *testing.T) {
	pg := pgtest.Start(t)
	for _, nodes := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d nodes", nodes), func(t *testing.T) {
			c := harness.Start(t, harness.Options{Nodes: nodes, PGServer: pg, PerformanceMultiplier: testMultiplier})
			rec := newRecorder()
			rec.attach(c)
			c.SetupPGDB(t)
			ctx := testutil.Context(t, 3*callTimeout)
			active := c.WaitActive(t, nil, failoverTimeout)
			via := active
			for _, n := range c.Nodes {
				if n != active {
					via = n // a standby: it forwards every call to the active node
					break
				}
			}
			cl := via.Client
			checkSetup(t, ctx, c, cl)

			user, password, lease := creds(t, ctx, cl, harness.PGRole)
			mustLogin(t, ctx, pg, user, password, "issued credential")
			checkRenew(t, ctx, cl, pg, user, lease)
			revokeAndCheck(t, ctx, cl, pg, lease, user, password)
			checkExpiry(t, ctx, cl, pg)

			cl.Must(t, ctx, "POST", harness.Mount+"/rotate-root/"+harness.PGConn, nil, http.StatusNoContent)
			mustNotLogin(t, ctx, pg, c.PGRootUser, c.PGRootPassword, "old root password after rotate-root")
			user, password, lease = creds(t, ctx, cl, harness.PGRole)
			mustLogin(t, ctx, pg, user, password, "credential issued with the rotated root password")
			revokeAndCheck(t, ctx, cl, pg, lease, user, password)
			checkConfigHidesPassword(t, ctx, cl)

			if nodes > 1 {
				c.Kill(active)
				next := c.WaitActive(t, active, failoverTimeout)
				user, password, lease = creds(t, ctx, next.Client, harness.PGRole)
				mustLogin(t, ctx, pg, user, password, "credential issued by the new active node")
				revokeAndCheck(t, ctx, next.Client, pg, lease, user, password)
			}
			checkNoRootPassword(t, pg, c.PGRootUser, c.PGRootPassword, append(rec.replies(), logs(t, c)...)...)
		})
	}
}

// checkSetup reads back what SetupPGDB wrote: the catalog entry with its SHA-256, the mount,
// and the connection, verified, with its URL template and no password.
func checkSetup(t *testing.T, ctx context.Context, c *harness.Cluster, cl *testutil.Client) {
	t.Helper()
	r := cl.Must(t, ctx, "GET", "sys/plugins/catalog/database/baton-postgresql-plugin", nil)
	if d := r.Data(); d["sha256"] != c.PGPlugin.SHA256 || d["command"] != "baton-postgresql-plugin" || d["type"] != "database" {
		t.Fatalf("catalog entry: %s", r.Raw)
	}
	r = cl.Must(t, ctx, "GET", "sys/mounts", nil)
	if m, _ := r.Data()[harness.Mount+"/"].(map[string]any); m == nil || m["type"] != "database" {
		t.Fatalf("sys/mounts has no database mount at %s/: %s", harness.Mount, r.Raw)
	}
	r = cl.Must(t, ctx, "GET", harness.Mount+"/config/"+harness.PGConn, nil)
	d := r.Data()
	details, _ := d["connection_details"].(map[string]any)
	if d["plugin_name"] != "baton-postgresql-plugin" || d["verify_connection"] != true ||
		fmt.Sprint(d["allowed_roles"]) != "["+harness.PGRole+"]" || details == nil ||
		details["connection_url"] != c.PG.URLTemplate() || details["username"] != c.PGRootUser {
		t.Fatalf("config read: %s", r.Raw)
	}
	if _, ok := details["password"]; ok || strings.Contains(r.Raw, c.PGRootPassword) {
		t.Fatalf("config read shows the password: %s", r.Raw)
	}
}

// checkRenew renews a lease twice, shorter then longer than it was, and checks both the
// lease's expire_time and the user's VALID UNTIL in PostgreSQL follow.
func checkRenew(t *testing.T, ctx context.Context, cl *testutil.Client, pg *pgtest.Server, user, lease string) {
	t.Helper()
	expire := func() time.Time {
		t.Helper()
		r := cl.Must(t, ctx, "PUT", "sys/leases/lookup", map[string]any{"lease_id": lease})
		s, _ := r.Data()["expire_time"].(string)
		e, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("lookup: expire_time: %v: %s", err, r.Raw)
		}
		return e
	}
	// VALID UNTIL is written to the second ({{expiration}} has no fraction).
	near := func(a, b time.Time) bool {
		d := a.Sub(b)
		return d > -1500*time.Millisecond && d < 1500*time.Millisecond
	}
	prev := expire()
	if v, err := validUntil(ctx, pg, user); err != nil || !near(v, prev) {
		t.Fatalf("before renew: VALID UNTIL %v (%v), lease expires %v", v, err, prev)
	}
	for _, inc := range []time.Duration{10 * time.Minute, 2 * time.Hour} {
		before := time.Now()
		r := cl.Must(t, ctx, "PUT", "sys/leases/renew", map[string]any{"lease_id": lease, "increment": int(inc.Seconds())})
		after := time.Now()
		if got, _ := r.Body["lease_duration"].(float64); time.Duration(got)*time.Second > inc || time.Duration(got)*time.Second < inc-5*time.Second {
			t.Fatalf("renew by %s: lease_duration %v: %s", inc, r.Body["lease_duration"], r.Raw)
		}
		e := expire()
		if e.Equal(prev) || e.Before(before.Add(inc).Add(-time.Second)) || e.After(after.Add(inc).Add(time.Second)) {
			t.Fatalf("renew by %s between %v and %v: lease expires %v (was %v)", inc, before, after, e, prev)
		}
		v, err := validUntil(ctx, pg, user)
		if err != nil || !near(v, e) {
			t.Fatalf("renew by %s: VALID UNTIL %v (%v), lease expires %v", inc, v, err, e)
		}
		prev = e
	}
}

// checkExpiry lets a 2-second credential expire: the active node revokes it by itself.
func checkExpiry(t *testing.T, ctx context.Context, cl *testutil.Client, pg *pgtest.Server) {
	t.Helper()
	cl.Must(t, ctx, "POST", harness.Mount+"/config/"+harness.PGConn, map[string]any{"allowed_roles": harness.PGRole + ",short"}, http.StatusNoContent)
	cl.Must(t, ctx, "POST", harness.Mount+"/roles/short", map[string]any{"db_name": harness.PGConn, "default_ttl": "2s", "max_ttl": "10s"}, http.StatusNoContent)
	user, password, lease := creds(t, ctx, cl, "short")
	mustLogin(t, ctx, pg, user, password, "short-lived credential")
	testutil.Eventually(t, expiryTimeout, "the expired user to be dropped", func() bool {
		ok, err := pg.RoleExists(ctx, user)
		return err == nil && !ok
	})
	// The user goes first, then its lease (one more commit): poll for the lease too.
	testutil.Eventually(t, expiryTimeout, "the expired lease to be gone (lookup answers 400)", func() bool {
		r, err := cl.Do(ctx, "PUT", "sys/leases/lookup", map[string]any{"lease_id": lease})
		return err == nil && r.Status == http.StatusBadRequest
	})
}

// checkConfigHidesPassword reads the connection after a rotation: no password, anywhere.
func checkConfigHidesPassword(t *testing.T, ctx context.Context, cl *testutil.Client) {
	t.Helper()
	r := cl.Must(t, ctx, "GET", harness.Mount+"/config/"+harness.PGConn, nil)
	details, _ := r.Data()["connection_details"].(map[string]any)
	if _, ok := details["password"]; ok || details == nil {
		t.Fatalf("config read after rotate-root: %s", r.Raw)
	}
	if strings.Contains(strings.ToLower(r.Raw), `"password"`) {
		t.Fatalf("config read after rotate-root has a password field: %s", r.Raw)
	}
}
