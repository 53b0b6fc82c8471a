package testplugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/baton-hq/baton/plugins/dbplugin"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	rootUser = "root"
	rootPass = "r00t-secret-Pa55"
)

// rootConfig is a connection config with root credentials and, when stateFile is not empty,
// a state file.
func rootConfig(stateFile, password string) map[string]interface{} {
	cfg := map[string]interface{}{ConfigUsername: rootUser, ConfigPassword: password}
	if stateFile != "" {
		cfg[ConfigStateFile] = stateFile
	}
	return cfg
}

// initDB returns an instance initialized with cfg, closed at the end of the test.
func initDB(t *testing.T, knobs Knobs, cfg map[string]interface{}, verify bool) *DB {
	t.Helper()
	d := New(knobs)
	if _, err := d.Initialize(context.Background(), dbplugin.InitializeRequest{Config: cfg, VerifyConnection: verify}); err != nil {
		t.Fatalf("Initialize: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func newUser(t *testing.T, db dbplugin.Database, password string) string {
	t.Helper()
	resp, err := db.NewUser(context.Background(), dbplugin.NewUserRequest{
		UsernameConfig: dbplugin.UsernameMetadata{DisplayName: "token", RoleName: "readonly"},
		Password:       password,
		Expiration:     time.Now().Add(time.Hour),
	})
	if err != nil {
		t.Fatalf("NewUser: %v", err)
	}
	return resp.Username
}

func setPassword(db dbplugin.Database, user, password string) error {
	_, err := db.UpdateUser(context.Background(), dbplugin.UpdateUserRequest{
		Username: user, Password: &dbplugin.ChangePassword{NewPassword: password},
	})
	return err
}

func statePath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "db.json")
}

// exitCode is what the replaced exit panics with.
type exitCode int

// trapExit makes the crash knob panic with its exit code instead of ending the test binary.
func trapExit(t *testing.T) {
	t.Helper()
	exit = func(code int) { panic(exitCode(code)) }
	t.Cleanup(func() { exit = os.Exit })
}

// exited runs f and reports the exit code the crash knob asked for, or -1.
func exited(f func()) (code int) {
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exitCode)
			if !ok {
				panic(r)
			}
			code = int(c)
		}
	}()
	f()
	return -1
}

var usernameRE = regexp.MustCompile(`^v-[a-z0-9_]{1,8}-[a-z0-9_]{1,8}-[a-z2-7]{20}$`)

func TestUserLifecycle(t *testing.T) {
	path := statePath(t)
	d := initDB(t, DefaultKnobs(), rootConfig(path, rootPass), true)
	ctx := context.Background()

	if typ, err := d.Type(); typ != TypeName || err != nil {
		t.Errorf("Type = %q, %v", typ, err)
	}

	user := newUser(t, d, "pw-1")
	if !usernameRE.MatchString(user) || len(user) > MaxUsernameLength {
		t.Errorf("username %q does not look like v-<display>-<role>-<random>", user)
	}
	if other := newUser(t, d, "pw-2"); other == user {
		t.Errorf("two NewUser calls returned the same name %q", user)
	}
	if err := Login(path, user, "pw-1"); err != nil {
		t.Errorf("Login(new user): %v", err)
	}

	if err := setPassword(d, user, "pw-1b"); err != nil {
		t.Fatalf("UpdateUser(password): %v", err)
	}
	if err := Login(path, user, "pw-1"); !errors.Is(err, ErrLoginFailed) {
		t.Errorf("Login(old password) = %v, want ErrLoginFailed", err)
	}
	if err := Login(path, user, "pw-1b"); err != nil {
		t.Errorf("Login(new password): %v", err)
	}

	exp := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	if _, err := d.UpdateUser(ctx, dbplugin.UpdateUserRequest{Username: user, Expiration: &dbplugin.ChangeExpiration{NewExpiration: exp}}); err != nil {
		t.Fatalf("UpdateUser(expiration): %v", err)
	}
	if u, err := ReadUser(path, user); err != nil || !u.Expiration.Equal(exp) {
		t.Errorf("ReadUser = %+v, %v; want expiration %s", u, err, exp)
	}

	if err := setPassword(d, "v-nobody", "x"); err == nil || !strings.Contains(err.Error(), `"v-nobody" does not exist`) {
		t.Errorf("UpdateUser(unknown user) = %v", err)
	}
	if _, err := d.UpdateUser(ctx, dbplugin.UpdateUserRequest{Username: user}); err == nil {
		t.Errorf("UpdateUser with no change succeeded")
	}

	for i := 0; i < 2; i++ { // idempotent
		if _, err := d.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: user}); err != nil {
			t.Fatalf("DeleteUser #%d: %v", i+1, err)
		}
	}
	if err := Login(path, user, "pw-1b"); !errors.Is(err, ErrLoginFailed) {
		t.Errorf("Login(deleted user) = %v, want ErrLoginFailed", err)
	}
	if _, err := d.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: rootUser}); err == nil {
		t.Errorf("DeleteUser(root) succeeded")
	}
	users, err := Users(path)
	if err != nil || len(users) != 2 || users[0] != rootUser {
		t.Errorf("Users = %v, %v; want root and the second user", users, err)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.NewUser(ctx, dbplugin.NewUserRequest{Password: "x"}); err == nil || !strings.Contains(err.Error(), "not initialized") {
		t.Errorf("NewUser after Close = %v", err)
	}
}

func TestNewUserCredentialTypes(t *testing.T) {
	d := initDB(t, DefaultKnobs(), nil, false)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		req     dbplugin.NewUserRequest
		wantErr string
	}{
		{"password", dbplugin.NewUserRequest{Password: "p"}, ""},
		{"empty password", dbplugin.NewUserRequest{}, "password is empty"},
		{"rsa", dbplugin.NewUserRequest{CredentialType: dbplugin.CredentialTypeRSAPrivateKey, PublicKey: []byte("pk")}, ""},
		{"rsa without key", dbplugin.NewUserRequest{CredentialType: dbplugin.CredentialTypeRSAPrivateKey}, "public key is empty"},
		{"certificate", dbplugin.NewUserRequest{CredentialType: dbplugin.CredentialTypeClientCertificate, Subject: "CN=x"}, ""},
		{"certificate without subject", dbplugin.NewUserRequest{CredentialType: dbplugin.CredentialTypeClientCertificate}, "subject is empty"},
		{"unknown type", dbplugin.NewUserRequest{CredentialType: 7, Password: "p"}, "unsupported credential type 7"},
		{"long names are cut", dbplugin.NewUserRequest{Password: "p", UsernameConfig: dbplugin.UsernameMetadata{
			DisplayName: strings.Repeat("Display Name!", 10), RoleName: strings.Repeat("ROLE", 20)}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := d.NewUser(ctx, tc.req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewUser = %v, %v; want %q", resp, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Username) > MaxUsernameLength || !usernameRE.MatchString(resp.Username) {
				t.Errorf("username %q", resp.Username)
			}
		})
	}
}

func TestStatementsAreRendered(t *testing.T) {
	path := statePath(t)
	d := initDB(t, DefaultKnobs(), rootConfig(path, rootPass), false)
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	resp, err := d.NewUser(context.Background(), dbplugin.NewUserRequest{
		Password:   "pw",
		Expiration: exp,
		Statements: dbplugin.Statements{Commands: []string{`CREATE ROLE "{{name}}" PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := ReadUser(path, resp.Username)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`CREATE ROLE "%s" PASSWORD 'pw' VALID UNTIL '2030-01-02T03:04:05Z'`, resp.Username)
	if len(u.Statements) != 1 || u.Statements[0] != want {
		t.Errorf("statements = %q, want %q", u.Statements, want)
	}
}

func TestLoginRefusesExpiredUsers(t *testing.T) {
	path := statePath(t)
	d := initDB(t, DefaultKnobs(), rootConfig(path, rootPass), false)
	resp, err := d.NewUser(context.Background(), dbplugin.NewUserRequest{Password: "pw", Expiration: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := Login(path, resp.Username, "pw"); !errors.Is(err, ErrLoginFailed) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("Login(expired) = %v", err)
	}
	if err := Login(filepath.Join(t.TempDir(), "none.json"), "x", "y"); !errors.Is(err, ErrLoginFailed) {
		t.Errorf("Login without a database = %v", err)
	}
}

func TestInitialize(t *testing.T) {
	path := statePath(t)
	initDB(t, DefaultKnobs(), rootConfig(path, rootPass), true) // creates the database
	ctx := context.Background()

	for _, tc := range []struct {
		name    string
		cfg     map[string]interface{}
		verify  bool
		wantErr string
	}{
		{"right root password, verified", rootConfig(path, rootPass), true, ""},
		{"wrong root password, verified", rootConfig(path, "wrong"), true, `authentication failed for user "root"`},
		{"wrong root password, not verified", rootConfig(path, "wrong"), false, ""},
		{"unknown root user, verified", map[string]interface{}{ConfigUsername: "admin", ConfigPassword: "x", ConfigStateFile: path}, true, `authentication failed for user "admin"`},
		{"relative state file", rootConfig("db.json", rootPass), false, `state_file "db.json" is not an absolute path`},
		{"password without user", map[string]interface{}{ConfigPassword: "x"}, false, "password is set but username is not"},
		{"username of the wrong type", map[string]interface{}{ConfigUsername: 3.0}, false, "config username has type float64"},
		{"bad knob", map[string]interface{}{ConfigSlowCalls: "x"}, false, "slow_calls"},
		{"no credentials at all", map[string]interface{}{}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := New(DefaultKnobs())
			resp, err := d.Initialize(ctx, dbplugin.InitializeRequest{Config: tc.cfg, VerifyConnection: tc.verify})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Initialize = %v; want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Initialize: %v", err)
			}
			if fmt.Sprint(resp.Config) != fmt.Sprint(tc.cfg) {
				t.Errorf("Initialize returned config %v, want %v", resp.Config, tc.cfg)
			}
		})
	}

	// A connection configured with a wrong root password fails on first use, as a real one does.
	d := initDB(t, DefaultKnobs(), rootConfig(path, "wrong"), false)
	if _, err := d.NewUser(ctx, dbplugin.NewUserRequest{Password: "p"}); !errors.Is(err, ErrLoginFailed) {
		t.Errorf("NewUser with a wrong root password = %v, want ErrLoginFailed", err)
	}
}

// TestRootRotationAcrossRestarts plays root rotation as the engine does it, with a new
// instance (a new plugin process) reading the state file after each step.
func TestRootRotationAcrossRestarts(t *testing.T) {
	path := statePath(t)
	first := initDB(t, DefaultKnobs(), rootConfig(path, rootPass), true)
	user := newUser(t, first, "user-pw")

	const newRoot = "n3w-r00t-Pa55"
	if err := setPassword(first, rootUser, newRoot); err != nil {
		t.Fatalf("rotate root: %v", err)
	}
	// The rotating instance keeps working with the new password, as an open connection does.
	newUser(t, first, "another")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	if err := Login(path, rootUser, rootPass); !errors.Is(err, ErrLoginFailed) {
		t.Errorf("Login(root, old password) = %v, want ErrLoginFailed", err)
	}
	if err := Login(path, rootUser, newRoot); err != nil {
		t.Errorf("Login(root, new password): %v", err)
	}

	// A restarted plugin with the old stored config cannot connect; with the new one it can,
	// and it sees the users created before the restart.
	stale := New(DefaultKnobs())
	if _, err := stale.Initialize(context.Background(), dbplugin.InitializeRequest{Config: rootConfig(path, rootPass), VerifyConnection: true}); !errors.Is(err, ErrLoginFailed) {
		t.Errorf("Initialize(old root password) = %v, want ErrLoginFailed", err)
	}
	second := initDB(t, DefaultKnobs(), rootConfig(path, newRoot), true)
	if err := setPassword(second, user, "user-pw-2"); err != nil {
		t.Errorf("UpdateUser of a user created before the restart: %v", err)
	}

	// Rollback: set the old password back with the new one.
	if err := setPassword(second, rootUser, rootPass); err != nil {
		t.Fatal(err)
	}
	if err := Login(path, rootUser, rootPass); err != nil {
		t.Errorf("Login after rollback: %v", err)
	}

	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp-*"))
	if len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

func TestInMemoryTableWithoutStateFile(t *testing.T) {
	d := initDB(t, DefaultKnobs(), rootConfig("", rootPass), true)
	user := newUser(t, d, "p")
	if err := setPassword(d, rootUser, "rotated"); err != nil {
		t.Fatal(err)
	}
	if err := setPassword(d, user, "p2"); err != nil {
		t.Errorf("calls after an in-memory root rotation: %v", err)
	}
	// Re-initializing the same instance keeps its table: the old root password no longer works.
	if _, err := d.Initialize(context.Background(), dbplugin.InitializeRequest{Config: rootConfig("", rootPass), VerifyConnection: true}); !errors.Is(err, ErrLoginFailed) {
		t.Errorf("re-Initialize with the old root password = %v, want ErrLoginFailed", err)
	}
	if _, err := d.Initialize(context.Background(), dbplugin.InitializeRequest{Config: rootConfig("", "rotated"), VerifyConnection: true}); err != nil {
		t.Errorf("re-Initialize with the new root password: %v", err)
	}
}

// TestConcurrentInstancesShareTheStateFile runs two instances (two processes' worth) against
// one state file at once: the file lock keeps every write.
func TestConcurrentInstancesShareTheStateFile(t *testing.T) {
	path := statePath(t)
	a := initDB(t, DefaultKnobs(), rootConfig(path, rootPass), true)
	b := initDB(t, DefaultKnobs(), rootConfig(path, rootPass), true)
	const perInstance = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*perInstance)
	for _, d := range []*DB{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perInstance; i++ {
				if _, err := d.NewUser(context.Background(), dbplugin.NewUserRequest{Password: "p"}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	users, err := Users(path)
	if err != nil || len(users) != 2*perInstance+1 {
		t.Errorf("Users = %d users, %v; want %d", len(users), err, 2*perInstance+1)
	}
}

func TestSanitizerHidesRootPassword(t *testing.T) {
	ctx := context.Background()
	db := NewDatabase(DefaultKnobs())
	if _, err := db.Initialize(ctx, dbplugin.InitializeRequest{Config: rootConfig(statePath(t), rootPass), VerifyConnection: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })

	// An error text that would carry the password: a user named like it.
	err := setPassword(db, rootPass, "x")
	if err == nil || strings.Contains(err.Error(), rootPass) || !strings.Contains(err.Error(), "[password]") {
		t.Errorf("error = %v; want the root password replaced by [password]", err)
	}
	// After a rotation the new password is the secret.
	const rotated = "rotated-Secret-99"
	if err := setPassword(db, rootUser, rotated); err != nil {
		t.Fatal(err)
	}
	err = setPassword(db, rotated, "x")
	if err == nil || strings.Contains(err.Error(), rotated) {
		t.Errorf("error after rotation = %v; want the new root password hidden", err)
	}
}

func TestVersionKnob(t *testing.T) {
	for _, tc := range []struct {
		knob        string
		wantVersion string
		wantService bool
	}{
		{"", Version, true},
		{"v2.3.4", "v2.3.4", true},
		{VersionNone, "", false},
	} {
		db := NewDatabase(Knobs{Version: tc.knob})
		v, ok := db.(dbplugin.PluginVersioner)
		if ok != tc.wantService {
			t.Errorf("VERSION=%q: implements PluginVersioner = %v, want %v", tc.knob, ok, tc.wantService)
			continue
		}
		if ok && v.PluginVersion().Version != tc.wantVersion {
			t.Errorf("VERSION=%q: reports %q, want %q", tc.knob, v.PluginVersion().Version, tc.wantVersion)
		}
	}
}

func TestFactoryMakesSeparateInstances(t *testing.T) {
	f := Factory(DefaultKnobs())
	a, _ := f()
	b, _ := f()
	ctx := context.Background()
	da, db := a.(dbplugin.Database), b.(dbplugin.Database)
	for _, d := range []dbplugin.Database{da, db} {
		if _, err := d.Initialize(ctx, dbplugin.InitializeRequest{Config: rootConfig("", rootPass)}); err != nil {
			t.Fatal(err)
		}
	}
	user := newUser(t, da, "p")
	if err := setPassword(db, user, "q"); err == nil {
		t.Errorf("a user of one in-memory instance is visible in another")
	}
}

func TestCrashOnCallFromEnv(t *testing.T) {
	trapExit(t)
	d := New(DefaultKnobs())
	// The process counter is shared by every instance; crash on the second call from now.
	d.knobs.CrashOnCall = int(processCalls.Load()) + 2
	ctx := context.Background()
	if code := exited(func() { _, _ = d.Initialize(ctx, dbplugin.InitializeRequest{Config: rootConfig("", rootPass)}) }); code != -1 {
		t.Fatalf("the first call exited with %d", code)
	}
	if code := exited(func() { _, _ = d.NewUser(ctx, dbplugin.NewUserRequest{Password: "p"}) }); code != 2 {
		t.Errorf("the second call: exit code %d, want 2", code)
	}
}

func TestCrashOnCallFromConfig(t *testing.T) {
	trapExit(t)
	cfg := rootConfig("", rootPass)
	cfg[ConfigCrashOnCall] = float64(2)
	d := initDB(t, DefaultKnobs(), cfg, true)
	ctx := context.Background()
	if code := exited(func() { newUser(t, d, "p") }); code != -1 {
		t.Fatalf("the first call after Initialize exited with %d", code)
	}
	if _, err := d.Type(); err != nil { // Type does not count
		t.Fatal(err)
	}
	if code := exited(func() { _, _ = d.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: "x"}) }); code != 2 {
		t.Errorf("the second call after Initialize: exit code %d, want 2", code)
	}
}

func TestSlowCallsHonourContext(t *testing.T) {
	// From the environment: every call waits, and gives up when its context ends.
	d := New(Knobs{SlowCalls: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := d.Initialize(ctx, dbplugin.InitializeRequest{Config: rootConfig("", rootPass)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow Initialize = %v, want DeadlineExceeded", err)
	}

	// From the config: a short delay lets calls through; a long one is cut by the context.
	cfg := rootConfig("", rootPass)
	cfg[ConfigSlowCalls] = "1ms"
	d = initDB(t, DefaultKnobs(), cfg, true)
	newUser(t, d, "p")
	cfg[ConfigSlowCalls] = "1h"
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := d.Initialize(ctx, dbplugin.InitializeRequest{Config: cfg}); !errors.Is(err, context.Canceled) {
		t.Errorf("slow Initialize with a cancelled context = %v, want Canceled", err)
	}
}

func TestFailUpdateUser(t *testing.T) {
	for _, tc := range []struct {
		name  string
		knobs Knobs
		cfg   map[string]interface{}
		fail  bool
	}{
		{"off", DefaultKnobs(), nil, false},
		{"environment", Knobs{FailUpdateUser: true}, nil, true},
		{"config", DefaultKnobs(), map[string]interface{}{ConfigFailUpdateUser: true}, true},
		{"config turns the environment off", Knobs{FailUpdateUser: true}, map[string]interface{}{ConfigFailUpdateUser: "false"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := statePath(t)
			cfg := rootConfig(path, rootPass)
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			d := initDB(t, tc.knobs, cfg, true)
			user := newUser(t, d, "p")
			err := setPassword(d, rootUser, "new-root")
			if tc.fail != (err != nil) {
				t.Fatalf("rotate root = %v, want failure %v", err, tc.fail)
			}
			if tc.fail {
				// Nothing changed: the old root password still logs in, the user is untouched.
				if err := Login(path, rootUser, rootPass); err != nil {
					t.Errorf("a failed rotation changed the root password: %v", err)
				}
				if err := setPassword(d, user, "q"); err == nil {
					t.Errorf("UpdateUser of a user succeeded with the knob on")
				}
			}
		})
	}
}
