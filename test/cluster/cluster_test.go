package cluster

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/testutil"
)

// setupDB registers the test plugin, mounts database/ and writes a connection and a role.
func setupDB(t *testing.T, c *Cluster, m *Member) string {
	t.Helper()
	ctx := testutil.Context(t, 60*time.Second)
	m.Client.Must(t, ctx, "PUT", "sys/plugins/catalog/database/baton-test-plugin", map[string]any{
		"sha256": c.Plugin.SHA256, "command": "baton-test-plugin"})
	m.Client.Must(t, ctx, "POST", "sys/mounts/database", map[string]any{"type": "database"})
	state := filepath.Join(c.Dir, "db.json")
	m.Client.Must(t, ctx, "POST", "database/config/db1", map[string]any{
		"plugin_name": "baton-test-plugin", "allowed_roles": "ro", "username": "root", "password": "rootpw",
		"state_file": state})
	m.Client.Must(t, ctx, "POST", "database/roles/ro", map[string]any{"db_name": "db1", "default_ttl": "1h", "max_ttl": "24h"})
	return state
}

func TestClusterFormsAndIssuesCreds(t *testing.T) {
	c := New(t, 3, Options{})
	a := c.Active()
	setupDB(t, c, a)
	ctx := testutil.Context(t, 60*time.Second)
	// Through a standby: forwarded to the active node.
	r := c.Nodes[1].Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	d := r.Data()
	if d["username"] == "" || d["password"] == "" || r.Body["lease_id"] == "" {
		t.Fatalf("creds reply: %s", r.Raw)
	}
	r = c.Nodes[2].Client.Must(t, ctx, "GET", "sys/storage/raft/configuration", nil)
	servers := r.Data()["config"].(map[string]any)["servers"].([]any)
	if len(servers) != 3 {
		t.Fatalf("configuration: %s", r.Raw)
	}
}
