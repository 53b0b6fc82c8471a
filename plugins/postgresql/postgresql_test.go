package postgresql

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/test/pgtest"
)

// One server for the whole package: starting one costs about a second, and every test works
// on roles of its own.
var pg pgtest.Shared

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m, &pg)) }

func server(tb testing.TB) *pgtest.Server {
	tb.Helper()
	return pg.Server(tb)
}

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	limit := time.Minute
	if _, ok := tb.(*testing.B); ok {
		limit = 10 * time.Minute // set-up outside the timer makes a benchmark run long
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	tb.Cleanup(cancel)
	return ctx
}

var roleSeq atomic.Int64

// root is a login role the plugin connects as.
type root struct {
	name, password string
}

// newRoot creates a fresh login role with the given attributes (SUPERUSER, CREATEROLE).
func newRoot(tb testing.TB, s *pgtest.Server, attrs string) root {
	tb.Helper()
	r := root{
		name:     fmt.Sprintf("root_%d_%d", os.Getpid(), roleSeq.Add(1)),
		password: fmt.Sprintf("Pw-%d-%d;x", time.Now().UnixNano(), roleSeq.Add(1)),
	}
	ctx := testContext(tb)
	if err := s.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s WITH LOGIN %s PASSWORD '%s'`, r.name, attrs, r.password)); err != nil {
		tb.Fatalf("create root role: %v", err)
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		_ = s.Exec(ctx, fmt.Sprintf(`REASSIGN OWNED BY %s TO CURRENT_USER`, r.name))
		_ = s.Exec(ctx, fmt.Sprintf(`DROP OWNED BY %s`, r.name))
		_ = s.Exec(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %s`, r.name))
	})
	return r
}

func (r root) config(s *pgtest.Server) map[string]interface{} {
	return map[string]interface{}{
		"connection_url": s.URLTemplate(),
		"username":       r.name,
		"password":       r.password,
	}
}

// newDB initialises a sanitizer-wrapped database, as the plugin serves it, and closes it at
// the end of the test.
func newDB(tb testing.TB, cfg map[string]interface{}) dbplugin.Database {
	tb.Helper()
	raw, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	db := raw.(dbplugin.Database)
	if _, err := db.Initialize(testContext(tb), dbplugin.InitializeRequest{Config: cfg, VerifyConnection: true}); err != nil {
		tb.Fatalf("initialize: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

func newUser(tb testing.TB, db dbplugin.Database, password string, stmts ...string) string {
	tb.Helper()
	resp, err := db.NewUser(testContext(tb), dbplugin.NewUserRequest{
		UsernameConfig: dbplugin.UsernameMetadata{DisplayName: "token", RoleName: "readonly"},
		Password:       password,
		Expiration:     time.Now().Add(time.Hour),
		Statements:     dbplugin.Statements{Commands: stmts},
	})
	if err != nil {
		tb.Fatalf("NewUser: %v", err)
	}
	return resp.Username
}

func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func TestInitialize(t *testing.T) {
	s := server(t)
	r := newRoot(t, s, "SUPERUSER")
	unreachable := fmt.Sprintf("postgres://{{username}}:{{password}}@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", closedPort(t))
	with := func(changes map[string]interface{}) map[string]interface{} {
		cfg := r.config(s)
		for k, v := range changes {
			if v == nil {
				delete(cfg, k)
			} else {
				cfg[k] = v
			}
		}
		return cfg
	}
	for _, tc := range []struct {
		name       string
		cfg        map[string]interface{}
		verify     bool
		wantErr    string // substring; "" means success
		wantConfig bool
	}{
		{name: "verify ok", cfg: with(nil), verify: true},
		{name: "verify ok with numbers as a Struct sends them", cfg: with(map[string]interface{}{
			"max_open_connections": float64(8), "max_idle_connections": float64(2), "max_connection_lifetime": "30s",
		}), verify: true},
		{name: "bad password", cfg: with(map[string]interface{}{"password": "wrong-secret-pw"}), verify: true,
			wantErr: "cannot connect"},
		{name: "bad password, not verified: lazy", cfg: with(map[string]interface{}{"password": "wrong-secret-pw"})},
		{name: "unreachable", cfg: with(map[string]interface{}{"connection_url": unreachable}), verify: true,
			wantErr: "cannot connect"},
		{name: "unreachable, not verified: lazy", cfg: with(map[string]interface{}{"connection_url": unreachable})},
		{name: "no connection_url", cfg: with(map[string]interface{}{"connection_url": nil}), wantErr: "connection_url cannot be empty"},
		{name: "bad password_authentication", cfg: with(map[string]interface{}{"password_authentication": "md5"}),
			wantErr: "password_authentication"},
		{name: "scram-sha-256 accepted", cfg: with(map[string]interface{}{"password_authentication": "scram-sha-256"}), verify: true},
		{name: "bad max_open_connections", cfg: with(map[string]interface{}{"max_open_connections": "many"}),
			wantErr: "max_open_connections"},
		{name: "bad username_template", cfg: with(map[string]interface{}{"username_template": "{{ nosuchfunc }}"}),
			wantErr: "username_template"},
		{name: "bad connection_url", cfg: with(map[string]interface{}{"connection_url": "postgres://{{username}}:{{password}}@127.0.0.1:notaport/x"}),
			wantErr: "connection_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := New()
			db := raw.(dbplugin.Database)
			defer db.Close()
			resp, err := db.Initialize(testContext(t), dbplugin.InitializeRequest{Config: tc.cfg, VerifyConnection: tc.verify})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Initialize: %v", err)
				}
				if fmt.Sprint(resp.Config) != fmt.Sprint(tc.cfg) {
					t.Fatalf("config changed: %v, want %v", resp.Config, tc.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Initialize error = %v, want one mentioning %q", err, tc.wantErr)
			}
			for _, secret := range []string{r.password, "wrong-secret-pw"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows a password: %v", err)
				}
			}
		})
	}
}

func TestInitializeErrorsAreTyped(t *testing.T) {
	raw, _ := New()
	db := raw.(dbplugin.Database)
	_, err := db.Initialize(testContext(t), dbplugin.InitializeRequest{Config: map[string]interface{}{"max_idle_connections": -1, "connection_url": "postgres://x"}})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	if _, err := db.NewUser(testContext(t), dbplugin.NewUserRequest{Password: "p"}); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("NewUser before Initialize: %v, want ErrNotInitialized", err)
	}
}

func TestNewUser(t *testing.T) {
	s := server(t)
	r := newRoot(t, s, "SUPERUSER")
	db := newDB(t, r.config(s))
	ctx := testContext(t)

	name := newUser(t, db, "user-pw-1")
	if !strings.HasPrefix(name, "v-token-readonly-") || len(name) > 63 {
		t.Fatalf("username %q: want v-token-readonly-…, at most 63 bytes", name)
	}
	if err := s.CanLogin(ctx, name, "user-pw-1"); err != nil {
		t.Fatalf("new user cannot log in: %v", err)
	}
	if err := s.CanLogin(ctx, name, "other"); err == nil {
		t.Fatalf("new user logs in with a wrong password")
	}

	// An expiration in the past is written as given: PostgreSQL refuses the login.
	resp, err := db.NewUser(ctx, dbplugin.NewUserRequest{
		UsernameConfig: dbplugin.UsernameMetadata{DisplayName: "token", RoleName: "expired"},
		Password:       "user-pw-2",
		Expiration:     time.Now().Add(-time.Minute),
	})
	if err != nil {
		t.Fatalf("NewUser: %v", err)
	}
	if err := s.CanLogin(ctx, resp.Username, "user-pw-2"); err == nil {
		t.Fatalf("expired user logs in")
	}

	if _, err := db.NewUser(ctx, dbplugin.NewUserRequest{Password: "x", CredentialType: dbplugin.CredentialTypeRSAPrivateKey}); !errors.Is(err, ErrUnsupportedCredential) {
		t.Fatalf("RSA credential: %v, want ErrUnsupportedCredential", err)
	}
}

func validUntil(t *testing.T, s *pgtest.Server, name string) time.Time {
	t.Helper()
	conn, err := pgx.Connect(testContext(t), s.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var until time.Time
	if err := conn.QueryRow(testContext(t), `SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1`, name).Scan(&until); err != nil {
		t.Fatal(err)
	}
	return until
}

func TestUpdateUser(t *testing.T) {
	s := server(t)
	r := newRoot(t, s, "SUPERUSER")
	db := newDB(t, r.config(s))
	ctx := testContext(t)
	name := newUser(t, db, "old-pw")

	t.Run("password", func(t *testing.T) {
		_, err := db.UpdateUser(ctx, dbplugin.UpdateUserRequest{Username: name, Password: &dbplugin.ChangePassword{NewPassword: "new-pw"}})
		if err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		if err := s.CanLogin(ctx, name, "old-pw"); err == nil {
			t.Errorf("old password still works")
		}
		if err := s.CanLogin(ctx, name, "new-pw"); err != nil {
			t.Errorf("new password fails: %v", err)
		}
	})
	t.Run("expiration", func(t *testing.T) {
		want := time.Now().Add(48 * time.Hour).Truncate(time.Second)
		_, err := db.UpdateUser(ctx, dbplugin.UpdateUserRequest{Username: name, Expiration: &dbplugin.ChangeExpiration{NewExpiration: want}})
		if err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		if got := validUntil(t, s, name); !got.Equal(want) {
			t.Fatalf("valid until %v, want %v", got, want)
		}
		past := time.Now().Add(-time.Hour)
		if _, err := db.UpdateUser(ctx, dbplugin.UpdateUserRequest{Username: name, Expiration: &dbplugin.ChangeExpiration{NewExpiration: past}}); err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		if err := s.CanLogin(ctx, name, "new-pw"); err == nil {
			t.Fatalf("login works after expiration moved to the past")
		}
	})
	t.Run("both at once, in one transaction", func(t *testing.T) {
		want := time.Now().Add(time.Hour).Truncate(time.Second)
		_, err := db.UpdateUser(ctx, dbplugin.UpdateUserRequest{
			Username:   name,
			Password:   &dbplugin.ChangePassword{NewPassword: "third-pw"},
			Expiration: &dbplugin.ChangeExpiration{NewExpiration: want, Statements: dbplugin.Statements{Commands: []string{`ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'; SELECT 1/0`}}},
		})
		if err == nil {
			t.Fatalf("UpdateUser with a failing statement succeeded")
		}
		if err := s.CanLogin(ctx, name, "third-pw"); err == nil {
			t.Fatalf("password changed although the transaction failed")
		}
	})
	for _, tc := range []struct {
		name string
		req  dbplugin.UpdateUserRequest
	}{
		{"no username", dbplugin.UpdateUserRequest{Password: &dbplugin.ChangePassword{NewPassword: "x"}}},
		{"no change", dbplugin.UpdateUserRequest{Username: name}},
		{"empty password", dbplugin.UpdateUserRequest{Username: name, Password: &dbplugin.ChangePassword{}}},
		{"public key", dbplugin.UpdateUserRequest{Username: name, PublicKey: &dbplugin.ChangePublicKey{NewPublicKey: []byte("k")}}},
		{"unknown user", dbplugin.UpdateUserRequest{Username: "no-such-user", Password: &dbplugin.ChangePassword{NewPassword: "x"}}},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			if _, err := db.UpdateUser(ctx, tc.req); err == nil {
				t.Fatalf("UpdateUser succeeded")
			}
		})
	}
}

func TestDeleteUser(t *testing.T) {
	s := server(t)
	ctx := testContext(t)
	for _, tc := range []struct {
		name  string
		attrs string // the root's
	}{
		// A superuser holds every role: REASSIGN OWNED and DROP OWNED.
		{"superuser root", "SUPERUSER"},
		// A CREATEROLE root holds none of its users' privileges: the per-schema revocation.
		{"createrole root", "CREATEROLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRoot(t, s, tc.attrs)
			schema := r.name + "_app"
			for _, q := range []string{
				fmt.Sprintf(`CREATE SCHEMA %s AUTHORIZATION %s`, schema, r.name),
				fmt.Sprintf(`CREATE TABLE %s.t (id int)`, schema),
				fmt.Sprintf(`ALTER TABLE %s.t OWNER TO %s`, schema, r.name),
				fmt.Sprintf(`CREATE SEQUENCE %s.s`, schema),
				fmt.Sprintf(`ALTER SEQUENCE %s.s OWNER TO %s`, schema, r.name),
				fmt.Sprintf(`GRANT CONNECT ON DATABASE postgres TO %s WITH GRANT OPTION`, r.name),
			} {
				if err := s.Exec(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			db := newDB(t, r.config(s))
			name := newUser(t, db, "pw",
				`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
				 GRANT USAGE ON SCHEMA `+schema+` TO "{{name}}";
				 GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA `+schema+` TO "{{name}}";
				 GRANT USAGE ON ALL SEQUENCES IN SCHEMA `+schema+` TO "{{name}}";
				 GRANT CONNECT ON DATABASE postgres TO "{{name}}";`)
			if err := s.CanLogin(ctx, name, "pw"); err != nil {
				t.Fatalf("cannot log in: %v", err)
			}
			if tc.attrs == "SUPERUSER" {
				// A user that owns a table: REASSIGN OWNED hands it to the root.
				if err := s.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s.mine (id int)`, schema)); err != nil {
					t.Fatal(err)
				}
				if err := s.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s.mine OWNER TO "%s"`, schema, name)); err != nil {
					t.Fatal(err)
				}
			}

			for i := range 2 { // the second delete finds no role: not an error
				if _, err := db.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: name}); err != nil {
					t.Fatalf("DeleteUser #%d: %v", i+1, err)
				}
			}
			if err := s.CanLogin(ctx, name, "pw"); err == nil {
				t.Fatalf("deleted user logs in")
			}
			if ok, err := s.RoleExists(ctx, name); err != nil || ok {
				t.Fatalf("RoleExists = %v, %v after delete", ok, err)
			}
			if tc.attrs == "SUPERUSER" {
				if owner := tableOwner(t, s, schema+".mine"); owner != r.name {
					t.Fatalf("the deleted user's table belongs to %q, want the root %q", owner, r.name)
				}
			}
		})
	}
	t.Run("never existed", func(t *testing.T) {
		r := newRoot(t, s, "SUPERUSER")
		db := newDB(t, r.config(s))
		if _, err := db.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: "v-never-was"}); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
	})
}

func tableOwner(t *testing.T, s *pgtest.Server, table string) string {
	t.Helper()
	conn, err := pgx.Connect(testContext(t), s.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var owner string
	if err := conn.QueryRow(testContext(t), `SELECT tableowner FROM pg_tables WHERE schemaname || '.' || tablename = $1`, table).Scan(&owner); err != nil {
		t.Fatalf("owner of %s: %v", table, err)
	}
	return owner
}

func TestCustomStatements(t *testing.T) {
	s := server(t)
	r := newRoot(t, s, "SUPERUSER")
	db := newDB(t, r.config(s))
	ctx := testContext(t)
	logTable := r.name + "_log"
	if err := s.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (name text, at text)`, logTable)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Exec(context.Background(), `DROP TABLE IF EXISTS `+logTable) })
	logged := func(name, at string) bool {
		t.Helper()
		var n int
		conn, err := pgx.Connect(ctx, s.ConnString())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+logTable+` WHERE name = $1 AND at = $2`, name, at).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}

	// Several statements, a dollar-quoted block holding ';', a password holding ';'.
	name := newUser(t, db, "pw;with;semicolons",
		`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}'`,
		`DO $$ BEGIN INSERT INTO `+logTable+` VALUES ('{{name}}', 'create'); END $$; ALTER ROLE "{{name}}" CONNECTION LIMIT 5`)
	if err := s.CanLogin(ctx, name, "pw;with;semicolons"); err != nil {
		t.Fatalf("custom-created user cannot log in: %v", err)
	}
	if !logged(name, "create") {
		t.Fatalf("the DO block did not run")
	}

	t.Run("failure rolls the transaction back and runs the rollback statements", func(t *testing.T) {
		resp, err := db.NewUser(ctx, dbplugin.NewUserRequest{
			UsernameConfig:     dbplugin.UsernameMetadata{DisplayName: "tok", RoleName: "bad"},
			Password:           "rollback-pw",
			Expiration:         time.Now().Add(time.Hour),
			Statements:         dbplugin.Statements{Commands: []string{`CREATE ROLE "{{name}}" LOGIN PASSWORD '{{password}}'; GRANT SELECT ON no_such_table TO "{{name}}"`}},
			RollbackStatements: dbplugin.Statements{Commands: []string{`INSERT INTO ` + logTable + ` VALUES ('{{name}}', 'rollback')`}},
		})
		if err == nil {
			t.Fatalf("NewUser succeeded: %+v", resp)
		}
		if strings.Contains(err.Error(), "rollback-pw") {
			t.Fatalf("error shows the password: %v", err)
		}
		var n int
		conn, err := pgx.Connect(ctx, s.ConnString())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-tok-bad-%'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d half-created roles (%v): the transaction did not roll back", n, err)
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+logTable+` WHERE at = 'rollback' AND name LIKE 'v-tok-bad-%'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("rollback statements ran %d times (%v), want 1", n, err)
		}
	})

	t.Run("custom revocation", func(t *testing.T) {
		_, err := db.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: name, Statements: dbplugin.Statements{Commands: []string{
			`INSERT INTO ` + logTable + ` VALUES ('{{username}}', 'delete'); DROP ROLE "{{name}}"`,
		}}})
		if err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if ok, _ := s.RoleExists(ctx, name); ok || !logged(name, "delete") {
			t.Fatalf("custom revocation did not run: role exists %v", ok)
		}
	})

	t.Run("statements without a command", func(t *testing.T) {
		_, err := db.NewUser(ctx, dbplugin.NewUserRequest{Password: "a-user-password", Statements: dbplugin.Statements{Commands: []string{" ; ;"}}})
		if !errors.Is(err, ErrEmptyStatements) {
			t.Fatalf("err = %v, want ErrEmptyStatements", err)
		}
	})
}

func TestRootRotation(t *testing.T) {
	s := server(t)
	r := newRoot(t, s, "SUPERUSER")
	db := newDB(t, r.config(s))
	ctx := testContext(t)
	newUser(t, db, "warm-the-pool") // the pool now holds connections made with the old password

	const newRootPW = "rotated-root-pw;1"
	if _, err := db.UpdateUser(ctx, dbplugin.UpdateUserRequest{Username: r.name, Password: &dbplugin.ChangePassword{NewPassword: newRootPW}}); err != nil {
		t.Fatalf("rotate root: %v", err)
	}
	if err := s.CanLogin(ctx, r.name, r.password); err == nil {
		t.Fatalf("old root password still works")
	}
	if err := s.CanLogin(ctx, r.name, newRootPW); err != nil {
		t.Fatalf("new root password fails: %v", err)
	}
	// Further calls connect afresh, with the new password.
	name := newUser(t, db, "after-rotation")
	if err := s.CanLogin(ctx, name, "after-rotation"); err != nil {
		t.Fatalf("user created after rotation cannot log in: %v", err)
	}
	if _, err := db.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: name}); err != nil {
		t.Fatalf("delete after rotation: %v", err)
	}
	// The new root password is masked too.
	_, err := db.NewUser(ctx, dbplugin.NewUserRequest{Password: "a-user-password", Statements: dbplugin.Statements{Commands: []string{
		`DO $$ BEGIN RAISE EXCEPTION 'leak <%>', ` + quoteLiteral(newRootPW) + `; END $$`,
	}}})
	if err == nil || strings.Contains(err.Error(), newRootPW) || !strings.Contains(err.Error(), "[password]") {
		t.Fatalf("error after rotation = %v, want the new root password masked", err)
	}
}

// TestRootRotationUnderLoad rotates the root password while other calls run: none of them
// may fail for lack of a valid password.
func TestRootRotationUnderLoad(t *testing.T) {
	s := server(t)
	r := newRoot(t, s, "SUPERUSER")
	db := newDB(t, r.config(s))
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 4 {
				resp, err := db.NewUser(ctx, dbplugin.NewUserRequest{
					UsernameConfig: dbplugin.UsernameMetadata{DisplayName: "load", RoleName: fmt.Sprint(i)},
					Password:       "pw", Expiration: time.Now().Add(time.Hour),
				})
				if err == nil {
					_, err = db.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: resp.Username})
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d call %d: %w", i, j, err)
				}
			}
		}()
	}
	for i := range 3 {
		pw := fmt.Sprintf("rotation-%d", i)
		if _, err := db.UpdateUser(ctx, dbplugin.UpdateUserRequest{Username: r.name, Password: &dbplugin.ChangePassword{NewPassword: pw}}); err != nil {
			t.Errorf("rotation %d: %v", i, err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := s.CanLogin(ctx, r.name, "rotation-2"); err != nil {
		t.Fatalf("last root password fails: %v", err)
	}
}

func TestSanitizer(t *testing.T) {
	s := server(t)
	r := newRoot(t, s, "SUPERUSER")
	db := newDB(t, r.config(s))
	ctx := testContext(t)
	// The connection URL as the plugin renders it from the template, credentials included.
	rendered := strings.NewReplacer("{{username}}", escapeUser(r.name), "{{password}}", escapePassword(r.password)).Replace(s.URLTemplate())
	for _, tc := range []struct {
		name, leaked, placeholder string
	}{
		{"root password", r.password, "[password]"},
		{"connection URL with credentials", rendered, "[connection_url]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.NewUser(ctx, dbplugin.NewUserRequest{Password: "a-user-password", Statements: dbplugin.Statements{Commands: []string{
				`DO $$ BEGIN RAISE EXCEPTION 'leak <%>', ` + quoteLiteral(tc.leaked) + `; END $$`,
			}}})
			if err == nil {
				t.Fatal("RAISE did not fail")
			}
			if strings.Contains(err.Error(), r.password) {
				t.Fatalf("error shows the root password: %v", err)
			}
			if !strings.Contains(err.Error(), tc.placeholder) {
				t.Fatalf("error %q lacks the placeholder %q", err, tc.placeholder)
			}
		})
	}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func TestTypeAndVersion(t *testing.T) {
	raw, _ := New()
	db := raw.(dbplugin.Database)
	if typ, err := db.Type(); err != nil || typ != "postgresql" {
		t.Fatalf("Type = %q, %v", typ, err)
	}
	v, ok := raw.(dbplugin.PluginVersioner)
	if !ok || v.PluginVersion().Version != "v0.1.0" {
		t.Fatalf("PluginVersion: %v %+v", ok, v)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close before Initialize: %v", err)
	}
}
