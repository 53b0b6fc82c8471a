package database

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/plugins/runtime"
	"github.com/baton-hq/baton/raftstore/state"
)

// fakeServer is a database in memory: its users with their passwords and expirations. Every
// fake plugin instance talks to it, as every PostgreSQL plugin instance talks to one server.
type fakeServer struct {
	mu       sync.Mutex
	users    map[string]string // username → password
	expires  map[string]time.Time
	next     int
	opens    map[string]int // by pool connection id (throwaway instances have their own)
	closed   map[string]int // CloseConn calls by connection id
	onUpdate func(req dbplugin.UpdateUserRequest) error
	onDelete func(user string) error
}

func newFakeServer(root, password string) *fakeServer {
	return &fakeServer{
		users:   map[string]string{root: password},
		expires: map[string]time.Time{},
		opens:   map[string]int{},
		closed:  map[string]int{},
	}
}

// login checks a config's username and password as the database would.
func (s *fakeServer) login(cfg map[string]any) error {
	user, _ := cfg["username"].(string)
	pw, _ := cfg["password"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	if got, ok := s.users[user]; !ok || got != pw {
		return fmt.Errorf("password authentication failed for user %q", user)
	}
	return nil
}

func (s *fakeServer) password(user string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pw, ok := s.users[user]
	return pw, ok
}

func (s *fakeServer) userCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}

func (s *fakeServer) count(m map[string]int, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m[id]
}

// fakePool is the runtime's Pool over a fakeServer: no processes.
type fakePool struct{ srv *fakeServer }

func (p fakePool) Open(ctx context.Context, connID string, _ catalog.Entry, req dbplugin.InitializeRequest) (runtime.Instance, dbplugin.InitializeResponse, error) {
	p.srv.mu.Lock()
	p.srv.opens[connID]++
	p.srv.mu.Unlock()
	in := &fakeInstance{srv: p.srv}
	resp, err := in.Initialize(ctx, req)
	if err != nil {
		return nil, resp, err
	}
	return in, resp, nil
}

func (p fakePool) CloseConn(_ context.Context, connID string) error {
	p.srv.mu.Lock()
	p.srv.closed[connID]++
	p.srv.mu.Unlock()
	return nil
}

func (p fakePool) KillAll() {}

// Verify accepts every entry: the catalog's rules are the plugins package's, tested there.
func (p fakePool) Verify(_ context.Context, entry catalog.Entry) (catalog.Entry, error) {
	return entry, nil
}
func (p fakePool) Shutdown(ctx context.Context) error { return nil }

// fakeInstance is a dbplugin.Database in memory.
type fakeInstance struct {
	srv *fakeServer
	cfg map[string]any
}

func (f *fakeInstance) Initialize(_ context.Context, req dbplugin.InitializeRequest) (dbplugin.InitializeResponse, error) {
	if req.VerifyConnection {
		if err := f.srv.login(req.Config); err != nil {
			return dbplugin.InitializeResponse{}, err
		}
	}
	f.cfg = maps.Clone(req.Config)
	return dbplugin.InitializeResponse{Config: maps.Clone(req.Config)}, nil
}

func (f *fakeInstance) NewUser(_ context.Context, req dbplugin.NewUserRequest) (dbplugin.NewUserResponse, error) {
	f.srv.mu.Lock()
	defer f.srv.mu.Unlock()
	f.srv.next++
	u := fmt.Sprintf("v-%s-%s-%d", req.UsernameConfig.DisplayName, req.UsernameConfig.RoleName, f.srv.next)
	f.srv.users[u] = req.Password
	f.srv.expires[u] = req.Expiration
	return dbplugin.NewUserResponse{Username: u}, nil
}

func (f *fakeInstance) UpdateUser(_ context.Context, req dbplugin.UpdateUserRequest) (dbplugin.UpdateUserResponse, error) {
	f.srv.mu.Lock()
	hook := f.srv.onUpdate
	f.srv.mu.Unlock()
	if hook != nil {
		if err := hook(req); err != nil {
			return dbplugin.UpdateUserResponse{}, err
		}
	}
	f.srv.mu.Lock()
	defer f.srv.mu.Unlock()
	if _, ok := f.srv.users[req.Username]; !ok {
		return dbplugin.UpdateUserResponse{}, fmt.Errorf("role %q does not exist", req.Username)
	}
	if req.Password != nil {
		f.srv.users[req.Username] = req.Password.NewPassword
	}
	if req.Expiration != nil {
		f.srv.expires[req.Username] = req.Expiration.NewExpiration
	}
	return dbplugin.UpdateUserResponse{}, nil
}

func (f *fakeInstance) DeleteUser(_ context.Context, req dbplugin.DeleteUserRequest) (dbplugin.DeleteUserResponse, error) {
	f.srv.mu.Lock()
	defer f.srv.mu.Unlock()
	if f.srv.onDelete != nil {
		if err := f.srv.onDelete(req.Username); err != nil {
			return dbplugin.DeleteUserResponse{}, err
		}
	}
	delete(f.srv.users, req.Username)
	delete(f.srv.expires, req.Username)
	return dbplugin.DeleteUserResponse{}, nil
}

func (f *fakeInstance) Type() (string, error) { return "fake", nil }
func (f *fakeInstance) Close() error          { return nil }
func (f *fakeInstance) PID() int              { return 4242 }

// Fixture values: the fake database's root login and the time the engine's clock reads.
const (
	rootUser = "root"
	rootPW   = "root-secret-pw"
	connKey  = "database/db1"
)

var clock = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture is an engine over the real runtime, a localCluster and a fakeServer.
type fixture struct {
	e   *Engine
	rt  *runtime.Runtime
	c   *localCluster
	srv *fakeServer
}

// newFixture builds an engine with the catalog entry "pg" and a database mount; with conn it
// also writes the connection database/db1 (allowed role "ro", root login) and the role "ro".
func newFixture(t *testing.T, conn bool) *fixture {
	t.Helper()
	c := newLocalCluster(t)
	c.must(t, state.TypeCatalogPut, state.CatalogPut{Entry: catalog.Entry{Type: catalog.TypeDatabase, Name: "pg", SHA256: strings.Repeat("ab", 32), Command: "pg"}})
	c.must(t, state.TypeMountPut, state.MountPut{Mount: state.Mount{Path: "database", Type: "database"}})
	srv := newFakeServer(rootUser, rootPW)
	rt, err := runtime.New(runtime.Config{Cluster: c, Pool: fakePool{srv}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Close(context.Background()) })
	c.effects = rt.Effects
	e, err := New(Config{Cluster: c, Runtime: rt, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{e: e, rt: rt, c: c, srv: srv}
	if conn {
		if err := e.WriteConfig(context.Background(), "database", "db1", rootConfig(rootPW, "ro"), APISource); err != nil {
			t.Fatalf("WriteConfig: %v", err)
		}
		if _, err := e.WriteRole(context.Background(), state.Role{Mount: "database", Name: "ro", DBName: "db1",
			CreationStatements: []string{"CREATE ROLE"}, DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour}); err != nil {
			t.Fatalf("WriteRole: %v", err)
		}
	}
	return f
}

// rootConfig is a config write for database/db1 logging in as root with password.
func rootConfig(password string, roles ...string) ConfigInput {
	return ConfigInput{
		PluginName:   "pg",
		AllowedRoles: roles,
		Details: map[string]any{
			"connection_url": "postgres://{{username}}:{{password}}@db:5432/app",
			"username":       rootUser,
			"password":       password,
		},
	}
}

// storedConfig opens the config stored for database/db1.
func (f *fixture) storedConfig(t *testing.T) map[string]any {
	t.Helper()
	var sealed []byte
	f.c.s.View(func(d *state.Data) { sealed = d.Connections[connKey].Config })
	cfg, err := f.rt.OpenConfig(sealed)
	if err != nil {
		t.Fatalf("open stored config: %v", err)
	}
	return cfg
}

// machine is the state and the events so far of a lifecycle machine ("" when there is none).
func (f *fixture) machine(kind fsm.Kind, key string) (fsm.State, []fsm.Event) {
	var st fsm.State
	var evs []fsm.Event
	f.c.s.View(func(d *state.Data) {
		m, ok := d.Machines[state.MachineKey(kind, key)]
		if !ok {
			return
		}
		st = m.State()
		for _, tr := range m.History() {
			evs = append(evs, tr.Event)
		}
	})
	return st, evs
}

// wantErr fails unless err wraps want (nil: no error) and its text holds msg; no error text
// ever holds a password.
func wantErr(t *testing.T, err, want error, msg string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want one wrapping %v", err, want)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q does not say %q", err, msg)
	}
	for _, secret := range []string{rootPW, "wrong-pw"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q shows a password", err)
		}
	}
}
