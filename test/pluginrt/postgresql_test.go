package pluginrt

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/plugins/postgresql"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/pluginrt/pluginbin"
)

// TestPostgreSQLPluginEndToEnd registers the real PostgreSQL plugin (catalog rules and the
// metadata-mode version check), spawns it and manages a user on a real server: the user logs
// in, logs in with its new password only, then cannot log in once deleted. A SIGKILL of the
// plugin between two requests is invisible to the caller.
func TestPostgreSQLPluginEndToEnd(t *testing.T) {
	b := binary(t, pluginbin.PostgreSQLPlugin)
	srv := pgtest.Start(t)
	pool := newPool(t, nil)
	ctx := testContext(t)

	entry, md, err := pool.Verify(ctx, b.Entry("postgresql-database-plugin", "v0.1.0"))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if entry.Version != postgresql.Version || !md.Multiplexed {
		t.Fatalf("registered %s, metadata %+v: want version %s, multiplexed", entry, md, postgresql.Version)
	}

	conn, _, err := pool.Open(ctx, "pg", entry, dbplugin.InitializeRequest{
		Config: map[string]interface{}{
			"connection_url": srv.URLTemplate(),
			"username":       srv.SuperUser,
			"password":       srv.SuperPassword,
		},
		VerifyConnection: true,
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if ps := pool.Processes(); len(ps) != 1 || !ps[0].Multiplexed {
		t.Fatalf("processes = %+v, want one multiplexed", ps)
	}

	const pw1, pw2 = "First-password-1", "Second-password-2"
	user, err := conn.NewUser(ctx, dbplugin.NewUserRequest{
		UsernameConfig: dbplugin.UsernameMetadata{DisplayName: "token", RoleName: "e2e"},
		Password:       pw1,
		Expiration:     time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatalf("NewUser: %v", err)
	}
	if err := srv.CanLogin(ctx, user.Username, pw1); err != nil {
		t.Fatalf("the new user cannot log in: %v", err)
	}

	if _, err := conn.UpdateUser(ctx, dbplugin.UpdateUserRequest{
		Username: user.Username,
		Password: &dbplugin.ChangePassword{NewPassword: pw2},
	}); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if err := srv.CanLogin(ctx, user.Username, pw2); err != nil {
		t.Fatalf("the new password does not log in: %v", err)
	}
	if err := srv.CanLogin(ctx, user.Username, pw1); err == nil {
		t.Fatal("the old password still logs in")
	}

	// The plugin dies between two requests; the next one succeeds anyway.
	pid := conn.PID()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: user.Username}); err != nil {
		t.Fatalf("DeleteUser right after a SIGKILL of the plugin: %v", err)
	}
	if conn.PID() == pid {
		t.Errorf("still on the killed process %d", pid)
	}
	if err := srv.CanLogin(ctx, user.Username, pw2); err == nil {
		t.Fatal("the deleted user still logs in")
	}
	if ok, err := srv.RoleExists(ctx, user.Username); err != nil || ok {
		t.Fatalf("role exists after DeleteUser: %v %v", ok, err)
	}
	if err := pool.CloseConn(ctx, "pg"); err != nil {
		t.Fatal(err)
	}
}

func TestPostgreSQLPluginVersionMismatch(t *testing.T) {
	b := binary(t, pluginbin.PostgreSQLPlugin)
	pool := newPool(t, nil)
	_, _, err := pool.Verify(testContext(t), b.Entry("postgresql-database-plugin", "v9.9.9"))
	if !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("Verify: %v, want catalog.ErrInvalid", err)
	}
	for _, v := range []string{"v9.9.9", postgresql.Version} {
		if !strings.Contains(err.Error(), v) {
			t.Errorf("error %q does not name %s", err, v)
		}
	}
}
