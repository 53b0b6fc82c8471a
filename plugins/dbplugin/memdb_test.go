package dbplugin

import (
	"context"
	"sync"
)

// memDB is a small in-memory Database for tests: it records the last request it received,
// answers predictably, and fails every method with failWith when that is set.
type memDB struct {
	mu       sync.Mutex
	last     any
	config   map[string]any
	closed   bool
	failWith error
}

var _ Database = (*memDB)(nil)

// versionedMemDB is a memDB that reports a version.
type versionedMemDB struct{ *memDB }

const testVersion = "v1.2.3"

func (versionedMemDB) PluginVersion() PluginVersion { return PluginVersion{Version: testVersion} }

func (m *memDB) record(req any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last = req
	return m.failWith
}

func (m *memDB) lastRequest() any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

func (m *memDB) Initialize(_ context.Context, req InitializeRequest) (InitializeResponse, error) {
	if err := m.record(req); err != nil {
		return InitializeResponse{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.config = req.Config
	out := map[string]any{"initialized": true}
	for k, v := range req.Config {
		out[k] = v
	}
	return InitializeResponse{Config: out}, nil
}

func (m *memDB) NewUser(_ context.Context, req NewUserRequest) (NewUserResponse, error) {
	if err := m.record(req); err != nil {
		return NewUserResponse{}, err
	}
	return NewUserResponse{Username: "v-" + req.UsernameConfig.RoleName + "-" + req.UsernameConfig.DisplayName}, nil
}

func (m *memDB) UpdateUser(_ context.Context, req UpdateUserRequest) (UpdateUserResponse, error) {
	return UpdateUserResponse{}, m.record(req)
}

func (m *memDB) DeleteUser(_ context.Context, req DeleteUserRequest) (DeleteUserResponse, error) {
	return DeleteUserResponse{}, m.record(req)
}

func (m *memDB) Type() (string, error) {
	if err := m.record("Type"); err != nil {
		return "", err
	}
	return "memdb", nil
}

func (m *memDB) Close() error {
	if err := m.record("Close"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memDB) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

func (m *memDB) initializedWith() map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.config
}

// memFactory is a Factory that keeps every memDB it made, in order.
type memFactory struct {
	mu        sync.Mutex
	made      []*memDB
	versioned bool
}

func (f *memFactory) New() (interface{}, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	db := &memDB{}
	f.made = append(f.made, db)
	if f.versioned {
		return versionedMemDB{db}, nil
	}
	return db, nil
}

func (f *memFactory) products() []*memDB {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*memDB(nil), f.made...)
}
