// Package testplugin is Baton's bundled test database plugin: a dbplugin.Database over an
// in-memory user table (optionally persisted in a state file, so that root rotation can be
// tested across plugin restarts), with fault knobs for the tests that must see a plugin crash,
// hang, run slowly, lie about its version, corrupt its handshake or fail a rotation.
//
// It behaves as a real database plugin does: the root credentials given to Initialize must log
// in to the table on every call, NewUser invents a username, UpdateUser on the root user
// changes the root password, DeleteUser is idempotent. Its main is cmd/baton-test-plugin.
package testplugin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baton-hq/baton/plugins/dbplugin"
)

// Version is the plugin's real version, reported unless the version knob says otherwise.
const Version = "v0.1.0"

// TypeName is what Type returns.
const TypeName = "baton-test"

// Connection config keys (besides the knobs').
const (
	// ConfigUsername is the root user; the first Initialize of a new database creates it.
	ConfigUsername = "username"
	// ConfigPassword is the root user's password.
	ConfigPassword = "password"
	// ConfigStateFile is an absolute path where the table persists across processes.
	ConfigStateFile = "state_file"
)

// MaxUsernameLength bounds generated usernames, as PostgreSQL's identifiers are bounded.
const MaxUsernameLength = 63

// processCalls counts the database calls of this process, for the crash knob.
var processCalls atomic.Int64

// exit ends the process; tests replace it to see the crash knob fire.
var exit = os.Exit

// DB is one test database instance (one connection of the host).
type DB struct {
	knobs Knobs

	mu          sync.Mutex
	initialized bool
	username    string // root user; empty: the table has no root and calls need no login
	password    string
	stateFile   string
	faults      configKnobs
	calls       int       // calls on this instance since Initialize, for the config crash knob
	mem         *table    // the table when there is no state file
	store       *logStore // the state file's table, when there is one
	compactMin  int       // compact the state file after this many changes (0: the default)
}

// New returns an uninitialized instance with the given process knobs. Plugin mains serve
// NewDatabase instead, which also sanitizes errors and reports the version.
func New(knobs Knobs) *DB {
	return &DB{knobs: knobs, faults: configKnobs{slowCalls: knobs.SlowCalls, failUpdateUser: knobs.FailUpdateUser}}
}

var _ dbplugin.Database = (*DB)(nil)

// secrets lists the values the error sanitizer must hide: the root password, as it is now.
func (d *DB) secrets() map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.password == "" {
		return nil
	}
	return map[string]string{d.password: "[password]"}
}

// enter runs the fault knobs every database call goes through: the crash counters, then the
// delay (outside the lock, so that slow calls overlap as on a real database).
func (d *DB) enter(ctx context.Context) error {
	if n := processCalls.Add(1); d.knobs.CrashOnCall > 0 && n == int64(d.knobs.CrashOnCall) {
		exit(2)
	}
	d.mu.Lock()
	d.calls++
	crash := d.faults.crashOnCall > 0 && d.calls == d.faults.crashOnCall+1
	slow := d.faults.slowCalls
	d.mu.Unlock()
	if crash {
		exit(2)
	}
	if slow <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(slow)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("slow call (%s) abandoned: %w", slow, ctx.Err())
	case <-timer.C:
		return nil
	}
}

// Initialize implements dbplugin.Database. A new database (no state file yet, or a fresh
// in-memory table) is created with the configured root user; an existing one is only checked,
// and only with VerifyConnection, as a real plugin connects only when asked to.
func (d *DB) Initialize(ctx context.Context, req dbplugin.InitializeRequest) (dbplugin.InitializeResponse, error) {
	cfg := req.Config
	username, err := configString(cfg, ConfigUsername)
	if err != nil {
		return dbplugin.InitializeResponse{}, err
	}
	password, err := configString(cfg, ConfigPassword)
	if err != nil {
		return dbplugin.InitializeResponse{}, err
	}
	stateFile, err := configString(cfg, ConfigStateFile)
	if err != nil {
		return dbplugin.InitializeResponse{}, err
	}
	if stateFile != "" && !filepath.IsAbs(stateFile) {
		return dbplugin.InitializeResponse{}, fmt.Errorf("%s %q is not an absolute path: give an absolute path", ConfigStateFile, stateFile)
	}
	if username == "" && password != "" {
		return dbplugin.InitializeResponse{}, fmt.Errorf("%s is set but %s is not: give the root user's name", ConfigPassword, ConfigUsername)
	}
	faults, err := parseConfigKnobs(cfg, d.knobs)
	if err != nil {
		return dbplugin.InitializeResponse{}, err
	}

	d.mu.Lock()
	// The new faults apply from this call on; the crash counter restarts with them.
	d.faults, d.calls = faults, 0
	d.mu.Unlock()
	if err := d.enter(ctx); err != nil {
		return dbplugin.InitializeResponse{}, err
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store != nil && d.store.path != stateFile {
		d.store.close()
		d.store = nil
	}
	d.stateFile = stateFile
	err = d.withTable(func(t *table, exists bool) ([]change, error) {
		if !exists {
			created := newTable()
			if username != "" {
				created.RootUsername = username
				created.Users[username] = User{Password: password, CredentialType: dbplugin.CredentialTypePassword.String()}
			}
			return []change{{Snapshot: created}}, nil
		}
		if req.VerifyConnection && username != "" {
			return nil, t.login(username, password, time.Now())
		}
		return nil, nil
	})
	if err != nil {
		d.initialized = false
		return dbplugin.InitializeResponse{}, fmt.Errorf("initialize test database: %w", err)
	}
	d.username, d.password, d.initialized = username, password, true
	return dbplugin.InitializeResponse{Config: cloneConfig(cfg)}, nil
}

// NewUser implements dbplugin.Database.
func (d *DB) NewUser(ctx context.Context, req dbplugin.NewUserRequest) (dbplugin.NewUserResponse, error) {
	if err := d.enter(ctx); err != nil {
		return dbplugin.NewUserResponse{}, err
	}
	u := User{CredentialType: req.CredentialType.String(), Expiration: req.Expiration}
	switch req.CredentialType {
	case dbplugin.CredentialTypePassword:
		if req.Password == "" {
			return dbplugin.NewUserResponse{}, errors.New("new user: the password is empty")
		}
		u.Password = req.Password
	case dbplugin.CredentialTypeRSAPrivateKey:
		if len(req.PublicKey) == 0 {
			return dbplugin.NewUserResponse{}, errors.New("new user: the public key is empty")
		}
		u.PublicKey = req.PublicKey
	case dbplugin.CredentialTypeClientCertificate:
		if req.Subject == "" {
			return dbplugin.NewUserResponse{}, errors.New("new user: the certificate subject is empty")
		}
		u.Subject = req.Subject
	default:
		return dbplugin.NewUserResponse{}, fmt.Errorf("new user: unsupported credential type %d", int(req.CredentialType))
	}
	name := newUsername(req.UsernameConfig)
	u.Statements = render(req.Statements, name, req.Password, req.Expiration)

	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.withLogin(func(t *table) ([]change, error) {
		if _, taken := t.Users[name]; taken {
			return nil, fmt.Errorf("new user: %q already exists", name)
		}
		return []change{{Put: name, User: &u}}, nil
	})
	if err != nil {
		return dbplugin.NewUserResponse{}, err
	}
	return dbplugin.NewUserResponse{Username: name}, nil
}

// UpdateUser implements dbplugin.Database. Changing the root user's password also changes the
// password this instance logs in with, as an open connection survives its own ALTER ROLE.
func (d *DB) UpdateUser(ctx context.Context, req dbplugin.UpdateUserRequest) (dbplugin.UpdateUserResponse, error) {
	if err := d.enter(ctx); err != nil {
		return dbplugin.UpdateUserResponse{}, err
	}
	if req.Username == "" {
		return dbplugin.UpdateUserResponse{}, errors.New("update user: the username is empty")
	}
	if req.Password == nil && req.PublicKey == nil && req.Expiration == nil {
		return dbplugin.UpdateUserResponse{}, fmt.Errorf("update user %q: the request changes nothing", req.Username)
	}
	if req.Password != nil && req.Password.NewPassword == "" {
		return dbplugin.UpdateUserResponse{}, fmt.Errorf("update user %q: the new password is empty", req.Username)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.faults.failUpdateUser {
		return dbplugin.UpdateUserResponse{}, fmt.Errorf("update user %q: refused by the fail_update_user fault knob", req.Username)
	}
	err := d.withLogin(func(t *table) ([]change, error) {
		u, ok := t.Users[req.Username]
		if !ok {
			return nil, fmt.Errorf("update user: user %q does not exist", req.Username)
		}
		if c := req.Password; c != nil {
			u.Password = c.NewPassword
			u.Statements = render(c.Statements, req.Username, c.NewPassword, u.Expiration)
		}
		if c := req.PublicKey; c != nil {
			u.PublicKey = c.NewPublicKey
			u.Statements = render(c.Statements, req.Username, "", u.Expiration)
		}
		if c := req.Expiration; c != nil {
			u.Expiration = c.NewExpiration
			u.Statements = render(c.Statements, req.Username, "", c.NewExpiration)
		}
		return []change{{Put: req.Username, User: &u}}, nil
	})
	if err != nil {
		return dbplugin.UpdateUserResponse{}, err
	}
	if req.Password != nil && req.Username == d.username {
		d.password = req.Password.NewPassword
	}
	return dbplugin.UpdateUserResponse{}, nil
}

// DeleteUser implements dbplugin.Database. A missing user is not an error; the root user this
// instance logs in with cannot be dropped.
func (d *DB) DeleteUser(ctx context.Context, req dbplugin.DeleteUserRequest) (dbplugin.DeleteUserResponse, error) {
	if err := d.enter(ctx); err != nil {
		return dbplugin.DeleteUserResponse{}, err
	}
	if req.Username == "" {
		return dbplugin.DeleteUserResponse{}, errors.New("delete user: the username is empty")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if req.Username == d.username {
		return dbplugin.DeleteUserResponse{}, fmt.Errorf("delete user: %q is the root user this connection logs in with", req.Username)
	}
	err := d.withLogin(func(t *table) ([]change, error) {
		if _, ok := t.Users[req.Username]; !ok {
			return nil, nil
		}
		return []change{{Del: req.Username}}, nil
	})
	return dbplugin.DeleteUserResponse{}, err
}

// Type implements dbplugin.Database.
func (d *DB) Type() (string, error) { return TypeName, nil }

// Close implements dbplugin.Database: the instance needs a new Initialize before further
// calls. Closing twice is fine.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.initialized = false
	if d.store != nil {
		d.store.close()
		d.store = nil
	}
	return nil
}

// withLogin runs fn on the table after logging in with the root credentials, as a real
// plugin's call opens (or reuses) a connection that needs them. Callers hold d.mu.
func (d *DB) withLogin(fn func(t *table) ([]change, error)) error {
	if !d.initialized {
		return errors.New("the test database is not initialized: call Initialize first")
	}
	return d.withTable(func(t *table, exists bool) ([]change, error) {
		if !exists {
			return nil, fmt.Errorf("the test database at %s was removed", d.stateFile)
		}
		if d.username != "" {
			if err := t.login(d.username, d.password, time.Now()); err != nil {
				return nil, err
			}
		}
		return fn(t)
	})
}

// withTable runs fn on the current table (a new empty one when there is none yet, with exists
// false; fn must not change it) and makes the changes fn returns, durably with a state file.
// Without a database, changes create it. With a state file the read-modify-write holds the
// file's lock, and costs what was appended since the last call plus one append, whatever
// the table's size. Callers hold d.mu.
func (d *DB) withTable(fn func(t *table, exists bool) ([]change, error)) error {
	if d.stateFile == "" {
		t, exists := d.mem, d.mem != nil
		if !exists {
			t = newTable()
		}
		changes, err := fn(t, exists)
		if err != nil || len(changes) == 0 {
			return err
		}
		for _, c := range changes {
			if err := t.apply(c); err != nil {
				return err
			}
		}
		d.mem = t
		return nil
	}
	unlock, err := lockState(d.stateFile)
	if err != nil {
		return err
	}
	defer unlock()
	if d.store == nil {
		d.store = newLogStore(d.stateFile)
		if d.compactMin > 0 {
			d.store.compactMin = d.compactMin
		}
	}
	exists, err := d.store.load()
	if err != nil {
		return err
	}
	t := d.store.t
	if !exists {
		t = newTable()
	}
	changes, err := fn(t, exists)
	if err != nil || len(changes) == 0 {
		return err
	}
	return d.store.commit(changes)
}

// newUsername builds "v-<display>-<role>-<random>" as OpenBao's default template does, each
// part reduced to lower-case letters, digits and '_', within MaxUsernameLength.
func newUsername(m dbplugin.UsernameMetadata) string {
	suffix := strings.ToLower(rand.Text()) // 26 base32 characters from crypto/rand
	name := "v-" + usernamePart(m.DisplayName, 8) + "-" + usernamePart(m.RoleName, 8) + "-" + suffix[:20]
	if len(name) > MaxUsernameLength {
		name = name[:MaxUsernameLength]
	}
	return name
}

func usernamePart(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() == max {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// render fills the statement templates the host sent, as a real plugin does before running them.
func render(s dbplugin.Statements, username, password string, expiration time.Time) []string {
	if len(s.Commands) == 0 {
		return nil
	}
	data := map[string]string{"name": username, "username": username, "password": password}
	if !expiration.IsZero() {
		data["expiration"] = expiration.UTC().Format(time.RFC3339)
	}
	out := make([]string, len(s.Commands))
	for i, c := range s.Commands {
		out[i] = dbplugin.QueryHelper(c, data)
	}
	return out
}

func configString(cfg map[string]interface{}, key string) (string, error) {
	raw, ok := cfg[key]
	if !ok || raw == nil {
		return "", nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", fmt.Errorf("config %s has type %T: give a string", key, raw)
	}
	return s, nil
}

func cloneConfig(cfg map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(cfg))
	for k, v := range cfg {
		out[k] = v
	}
	return out
}
