package cluster

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/testutil"
)

// TestPluginCrashReachesTheLifecycle crashes a real plugin process in the middle of a
// credential request and checks that the crash and the pool's lazy restart are recorded on the
// instance's lifecycle machine, in order, through real Raft.
func TestPluginCrashReachesTheLifecycle(t *testing.T) {
	c := New(t, 1, Options{})
	a := c.Active()
	ctx := testutil.Context(t, 120*time.Second)
	a.Client.Must(t, ctx, "PUT", "sys/plugins/catalog/database/baton-test-plugin", map[string]any{
		"sha256": c.Plugin.SHA256, "command": "baton-test-plugin"})
	a.Client.Must(t, ctx, "POST", "sys/mounts/database", map[string]any{"type": "database"})
	// The process exits on its third call (Initialize, one NewUser, then the next one): the
	// second credential meets the crash, and the pool restarts the process and retries.
	a.Client.Must(t, ctx, "POST", "database/config/db1", map[string]any{
		"plugin_name": "baton-test-plugin", "allowed_roles": "ro", "username": "root", "password": "rootpw",
		"state_file": filepath.Join(c.Dir, "db.json"), "crash_on_call": 2})
	a.Client.Must(t, ctx, "POST", "database/roles/ro", map[string]any{"db_name": "db1", "default_ttl": "1h", "max_ttl": "24h"})
	for i := 0; i < 2; i++ {
		a.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	}

	var last string
	testutil.Eventually(t, 60*time.Second, "the crash and the lazy restart on the lifecycle", func() bool {
		r := a.Client.Must(t, ctx, "GET", "sys/lifecycle", nil)
		ms, _ := r.Data()["machines"].([]any)
		for _, raw := range ms {
			m, _ := raw.(map[string]any)
			if m["kind"] != "plugin" || m["id"] != "database/db1" {
				continue
			}
			var evs []string
			hist, _ := m["history"].([]any)
			for _, h := range hist {
				tr, _ := h.(map[string]any)
				evs = append(evs, fmt.Sprint(tr["event"]))
			}
			last = fmt.Sprintf("%v %v", m["state"], evs)
			n := len(evs)
			return m["state"] == "running" && n >= 3 &&
				evs[n-3] == "crashed" && evs[n-2] == "request" && evs[n-1] == "started"
		}
		return false
	})
	t.Logf("plugin database/db1: %s", last)
}
