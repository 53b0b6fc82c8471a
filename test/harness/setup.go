package harness

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/testutil"
)

// Names SetupTestDB and SetupPGDB give what they configure.
const (
	// TestConn and TestRole are the test-plugin connection and its role.
	TestConn, TestRole = "db1", "ro"
	// PGConn and PGRole are the PostgreSQL connection and its role.
	PGConn, PGRole = "pg", "readonly"
	// Mount is where both live.
	Mount = "database"
)

// setupTimeout bounds each Setup call (a config write starts the plugin and logs in).
const setupTimeout = 60 * time.Second

// SetupTestDB registers baton-test-plugin, mounts database/ (when absent), configures
// connection db1 on the test plugin (state kept in a file under Dir, username root, a random
// password, allowed_roles ro) and role ro. It returns the plugin's state file.
func (c *Cluster) SetupTestDB(t testing.TB) (stateFile string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	c.register(t, ctx, testPluginName, c.TestPlugin.SHA256)
	c.mount(t, ctx)
	stateFile = filepath.Join(c.Dir, "test-db.json")
	c.setupWrite(t, ctx, "POST", Mount+"/config/"+TestConn, map[string]any{
		"plugin_name": testPluginName, "allowed_roles": TestRole, "verify_connection": true,
		"username": "root", "password": strings.ToLower(rand.Text()), "state_file": stateFile,
	})
	c.setupWrite(t, ctx, "POST", Mount+"/roles/"+TestRole, map[string]any{"db_name": TestConn, "default_ttl": "1h", "max_ttl": "24h"})
	return stateFile
}

// SetupPGDB registers baton-postgresql-plugin, mounts database/ (when absent), creates a
// fresh login role with CREATEROLE in the cluster's PostgreSQL (not the server's superuser,
// so that a rotate-root cannot lock the harness out), configures connection pg with it
// (connection_url with {{username}} and {{password}}, verify_connection, allowed_roles
// readonly) and role readonly. The role's name and first password are PGRootUser and
// PGRootPassword.
func (c *Cluster) SetupPGDB(t testing.TB) {
	t.Helper()
	if c.PG == nil {
		t.Fatal(ErrNoPostgres)
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	user, password := "baton_root_"+strings.ToLower(rand.Text()), strings.ToLower(rand.Text())
	// Identifiers and literals are lower-case base32: nothing to quote.
	if err := c.PG.Exec(ctx, fmt.Sprintf("CREATE ROLE %s WITH LOGIN CREATEROLE PASSWORD '%s'", user, password)); err != nil {
		t.Fatalf("harness: create the root role in PostgreSQL: %v", err)
	}
	c.PGRootUser, c.PGRootPassword = user, password
	c.register(t, ctx, pgPluginName, c.PGPlugin.SHA256)
	c.mount(t, ctx)
	c.setupWrite(t, ctx, "POST", Mount+"/config/"+PGConn, map[string]any{
		"plugin_name": pgPluginName, "allowed_roles": PGRole, "verify_connection": true,
		"connection_url": c.PG.URLTemplate(), "username": user, "password": password,
	})
	c.setupWrite(t, ctx, "POST", Mount+"/roles/"+PGRole, map[string]any{"db_name": PGConn, "default_ttl": "1h", "max_ttl": "24h"})
}

func (c *Cluster) register(t testing.TB, ctx context.Context, name, sum string) {
	t.Helper()
	c.setupWrite(t, ctx, "PUT", "sys/plugins/catalog/database/"+name, map[string]any{"sha256": sum, "command": name})
}

// mount mounts database/ unless it is there; a retried mount finds the first try's work done.
func (c *Cluster) mount(t testing.TB, ctx context.Context) {
	t.Helper()
	c.setup(t, ctx, "mount "+Mount, func(cl *testutil.Client) error {
		r, err := cl.Do(ctx, "GET", "sys/mounts/"+Mount, nil)
		switch {
		case err != nil:
			return err
		case r.Status == http.StatusOK:
			return nil
		case r.Status != http.StatusNotFound:
			return fmt.Errorf("GET sys/mounts/%s: status %d: %s", Mount, r.Status, r.Raw)
		}
		r, err = cl.Do(ctx, "POST", "sys/mounts/"+Mount, map[string]any{"type": "database"})
		return replyErr("POST sys/mounts/"+Mount, r, err)
	})
}

// A setup step is tried again, on the then active node, until it succeeds or the setup's
// deadline (setupTimeout) passes. The steps are idempotent, and one can fail with no fault in
// Baton: on a loaded machine the fast Raft profile's 100 ms lease can lapse and leadership
// move in the middle of a step, several times in a row (seen under a CPU hog: "not the
// active node and no active node is known", "leadership lost while committing log", and a
// plugin start the guard stopped on the deposed node, "plugin handshake failed"). A step
// that fails until the deadline is a real failure.

// setupWrite sends an idempotent setup write to the active node, again to the then active
// node if it fails, and fails the test if every try does.
func (c *Cluster) setupWrite(t testing.TB, ctx context.Context, method, path string, body any) {
	t.Helper()
	c.setup(t, ctx, method+" "+path, func(cl *testutil.Client) error {
		r, err := cl.Do(ctx, method, path, body)
		return replyErr(method+" "+path, r, err)
	})
}

// setup runs one setup step against the active node until it succeeds or ctx ends.
func (c *Cluster) setup(t testing.TB, ctx context.Context, what string, step func(*testutil.Client) error) {
	t.Helper()
	for try := 1; ; try++ {
		n := c.WaitActive(t, nil, formTimeout)
		err := step(n.Client)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("harness: setup step %s, try %d: %v", what, try, err)
		}
		t.Logf("harness: setup step %s through %s failed (try %d), trying again on the active node: %v", what, n.ID, try, err)
		select {
		case <-ctx.Done():
		case <-time.After(pollEvery):
		}
	}
}

// replyErr turns a reply into an error unless its status is 2xx.
func replyErr(what string, r testutil.Reply, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if r.Status < 200 || r.Status > 299 {
		return fmt.Errorf("%s: status %d: %s", what, r.Status, r.Raw)
	}
	return nil
}
