package cluster

import (
	"testing"
	"time"

	"github.com/baton-hq/baton/plugins/testplugin"
	"github.com/baton-hq/baton/test/testutil"
)

func TestStaticRoleRotation(t *testing.T) {
	c := New(t, 3, Options{})
	a := c.Active()
	stateFile := setupDB(t, c, a)
	ctx := testutil.Context(t, 60*time.Second)
	// A user that exists in the database before Baton manages it.
	user := a.Client.Must(t, ctx, "GET", "database/creds/ro", nil).Data()["username"].(string)
	a.Client.Must(t, ctx, "POST", "database/config/db1", map[string]any{"allowed_roles": "ro,app"})
	a.Client.Must(t, ctx, "POST", "database/static-roles/app", map[string]any{"db_name": "db1", "username": user, "rotation_period": "1h"})
	first := c.Nodes[1].Client.Must(t, ctx, "GET", "database/static-creds/app", nil).Data()
	pw1 := first["password"].(string)
	if first["username"] != user || pw1 == "" {
		t.Fatalf("static creds: %+v", first)
	}
	if err := testplugin.Login(stateFile, user, pw1); err != nil {
		t.Fatalf("the static password Baton set does not log in: %v", err)
	}
	a.Client.Must(t, ctx, "POST", "database/rotate-role/app", nil)
	pw2 := a.Client.Must(t, ctx, "GET", "database/static-creds/app", nil).Data()["password"].(string)
	if pw2 == pw1 {
		t.Fatal("rotate-role kept the password")
	}
	if err := testplugin.Login(stateFile, user, pw1); err == nil {
		t.Fatal("the old static password still logs in")
	}
	if err := testplugin.Login(stateFile, user, pw2); err != nil {
		t.Fatalf("the new static password does not log in: %v", err)
	}
	r, _ := a.Client.Do(ctx, "POST", "database/static-roles/bad", map[string]any{"db_name": "db1", "username": user})
	if r.Status != 400 {
		t.Fatalf("static role not in allowed_roles: status %d %s", r.Status, r.Raw)
	}
}
