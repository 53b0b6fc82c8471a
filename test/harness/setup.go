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
	cl := c.WaitActive(t, nil, formTimeout).Client
	c.register(t, ctx, testPluginName, c.TestPlugin.SHA256)
	c.mount(t, ctx)
	stateFile = filepath.Join(c.Dir, "test-db.json")
	cl.Must(t, ctx, "POST", Mount+"/config/"+TestConn, map[string]any{
		"plugin_name": testPluginName, "allowed_roles": TestRole, "verify_connection": true,
		"username": "root", "password": strings.ToLower(rand.Text()), "state_file": stateFile,
	})
	cl.Must(t, ctx, "POST", Mount+"/roles/"+TestRole, map[string]any{"db_name": TestConn, "default_ttl": "1h", "max_ttl": "24h"})
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
	cl := c.WaitActive(t, nil, formTimeout).Client
	c.register(t, ctx, pgPluginName, c.PGPlugin.SHA256)
	c.mount(t, ctx)
	cl.Must(t, ctx, "POST", Mount+"/config/"+PGConn, map[string]any{
		"plugin_name": pgPluginName, "allowed_roles": PGRole, "verify_connection": true,
		"connection_url": c.PG.URLTemplate(), "username": user, "password": password,
	})
	cl.Must(t, ctx, "POST", Mount+"/roles/"+PGRole, map[string]any{"db_name": PGConn, "default_ttl": "1h", "max_ttl": "24h"})
}

func (c *Cluster) register(t testing.TB, ctx context.Context, name, sum string) {
	t.Helper()
	cl := c.WaitActive(t, nil, formTimeout).Client
	cl.Must(t, ctx, "PUT", "sys/plugins/catalog/database/"+name, map[string]any{"sha256": sum, "command": name})
}

func (c *Cluster) mount(t testing.TB, ctx context.Context) {
	t.Helper()
	cl := c.WaitActive(t, nil, formTimeout).Client
	r := cl.Must(t, ctx, "GET", "sys/mounts/"+Mount, nil, http.StatusOK, http.StatusNotFound)
	if r.Status == http.StatusNotFound {
		cl.Must(t, ctx, "POST", "sys/mounts/"+Mount, map[string]any{"type": "database"})
	}
}
