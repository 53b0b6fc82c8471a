package cluster

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/test/testutil"
)

// TestDisableMountRightAfterSetup is issue 9 item 1 as a new user meets it: a node set up as
// the dev node sets itself up (catalog, database/ with the test plugin's dev-test connection
// and the dev role), then, before any credential was issued (the connection's plugin never
// started), DELETE sys/mounts/database. It answered 409 "plugin "database/dev-test" is
// disabled (terminal): event conn_delete refused" on every retry and the mount stayed. It must
// answer 204, again 204 when repeated, and leave nothing behind; the same path can be mounted
// and disabled again, after a credential too.
func TestDisableMountRightAfterSetup(t *testing.T) {
	c := New(t, 1, Options{})
	a := c.Active()
	ctx := testutil.Context(t, 2*time.Minute)
	a.Client.Must(t, ctx, "PUT", "sys/plugins/catalog/database/baton-test-plugin", map[string]any{
		"sha256": c.Plugin.SHA256, "command": "baton-test-plugin"})
	devSetup := func() {
		t.Helper()
		a.Client.Must(t, ctx, "POST", "sys/mounts/database", map[string]any{"type": "database"})
		a.Client.Must(t, ctx, "POST", "database/config/dev-test", map[string]any{
			"plugin_name": "baton-test-plugin", "allowed_roles": "dev", "username": "root", "password": "dev-root",
			"state_file": filepath.Join(c.Dir, "test-db.json")})
		a.Client.Must(t, ctx, "POST", "database/roles/dev", map[string]any{"db_name": "dev-test", "default_ttl": "1h", "max_ttl": "24h"})
	}
	disable := func(what string) {
		t.Helper()
		for round := 1; round <= 2; round++ {
			r, err := a.Client.Do(ctx, "DELETE", "sys/mounts/database", nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != http.StatusNoContent {
				t.Fatalf("%s: DELETE sys/mounts/database (round %d): %d %s", what, round, r.Status, r.Raw)
			}
		}
		r := a.Client.Must(t, ctx, "GET", "sys/mounts", nil)
		if _, ok := r.Body["database/"]; ok {
			t.Fatalf("%s: database/ still mounted: %s", what, r.Raw)
		}
		r = a.Client.Must(t, ctx, "GET", "sys/lifecycle", nil)
		if ms, _ := r.Data()["machines"].([]any); len(ms) != 0 {
			t.Fatalf("%s: lifecycle machines left: %s", what, r.Raw)
		}
	}

	devSetup()
	disable("connection never started")

	devSetup()
	r := a.Client.Must(t, ctx, "GET", "database/creds/dev", nil)
	if r.Data()["username"] == nil {
		t.Fatalf("creds: %s", r.Raw)
	}
	disable("after a credential")

	// The same teardowns as NATS events, each twice with its own id: a connection or mount
	// already gone is a no-op success there too, as over HTTP, not a rejection.
	devSetup()
	nc := natsConn(t, c)
	for i, ev := range []events.Event{
		{Kind: events.KindConnDelete, Target: events.Target{Type: events.TargetConnection, ID: "database/dev-test"}},
		{Kind: events.KindConnDelete, Target: events.Target{Type: events.TargetConnection, ID: "database/dev-test"}},
		{Kind: events.KindDisable, Target: events.Target{Type: events.TargetMount, ID: "database"}},
		{Kind: events.KindDisable, Target: events.Target{Type: events.TargetMount, ID: "database"}},
	} {
		ev.V, ev.ID, ev.Source = events.Version, fmt.Sprintf("teardown-%d", i), "test"
		if _, err := events.InjectSync(ctx, nc, c.Name, ev, events.WithToken(c.Token)); err != nil {
			t.Fatalf("NATS %s of %s (event %d): %v", ev.Kind, ev.Target.ID, i, err)
		}
	}
	r = a.Client.Must(t, ctx, "GET", "sys/mounts", nil)
	if _, ok := r.Body["database/"]; ok {
		t.Fatalf("NATS: database/ still mounted: %s", r.Raw)
	}
}
