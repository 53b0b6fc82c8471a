package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/wal"
)

// Sentinel errors callers branch on (an API maps them to status codes).
var (
	// ErrNotFound: the command names something that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the command would create something that exists already.
	ErrExists = errors.New("already exists")
	// ErrInvalid: the command is malformed or breaks a rule; the message says which.
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the object's lifecycle state does not allow the change now.
	ErrConflict = errors.New("conflict")
	// ErrUnknownCommand: this build does not know the command type.
	ErrUnknownCommand = errors.New("unknown command type")
)

// Result is what Apply returns for a command it applied.
type Result struct {
	// Index is the Raft index of the command.
	Index uint64
	// Duplicate is set when the command id was applied before: nothing changed.
	Duplicate bool
	// Transitions are the lifecycle transitions the command caused, in order.
	Transitions []fsm.Transition
}

// Observer is told the transitions of every applied command, on every node, from raft's
// apply goroutine: it must not block (the node's publisher buffers).
type Observer func([]fsm.Transition)

// State is the replicated state. It is safe for concurrent use: Apply serialises writers and
// readers use View.
type State struct {
	mu       sync.RWMutex
	d        *Data
	observer Observer
}

// New returns an empty state.
func New() *State { return &State{d: newData()} }

// Reset empties the state. A node reopening Raft (after an unseal) starts from nothing and
// is rebuilt from the snapshot and the log, exactly as every other node built its own.
func (s *State) Reset() {
	s.mu.Lock()
	s.d = newData()
	s.mu.Unlock()
}

// SetObserver installs the transition observer.
func (s *State) SetObserver(o Observer) {
	s.mu.Lock()
	s.observer = o
	s.mu.Unlock()
}

// View runs f with the state read-locked. f must not keep or modify what it is given.
func (s *State) View(f func(d *Data)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f(s.d)
}

// Index is the index of the last applied command.
func (s *State) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.d.Index
}

// BatchResult answers a Batch: one *Result or error per command, in order.
type BatchResult struct {
	Results []any
}

// Apply applies one committed command; it satisfies raftstore.Dispatcher. It returns a
// *Result, or an error for a business failure (the state is then unchanged), or a
// *BatchResult for a Batch.
func (s *State) Apply(index uint64, c *command.Command) any {
	if c.Type == TypeBatch {
		var b Batch
		if err := c.Decode(&b); err != nil {
			return fmt.Errorf("%s %s: %w: %w", c.Type, c.ID, ErrInvalid, err)
		}
		out := &BatchResult{Results: make([]any, len(b.Commands))}
		for i, sub := range b.Commands {
			if sub == nil || sub.Type == TypeBatch || sub.ID == "" {
				out.Results[i] = fmt.Errorf("%w: batch element %d is not a command", ErrInvalid, i)
				continue
			}
			out.Results[i] = s.apply(index, sub)
		}
		return out
	}
	return s.apply(index, c)
}

func (s *State) apply(index uint64, c *command.Command) any {
	s.mu.Lock()
	if index > s.d.Index {
		s.d.Index = index
	}
	if prev, ok := s.d.Applied[c.ID]; ok {
		s.mu.Unlock()
		return &Result{Index: prev, Duplicate: true}
	}
	tx := &txn{d: s.d, c: c, index: index}
	err := tx.apply()
	if err != nil {
		// The error goes back to the caller as it is (an API shows it): it names what is
		// wrong, not the command's internals.
		tx.rollback()
		s.mu.Unlock()
		return err
	}
	s.d.remember(AppliedEvent{ID: c.ID, Type: string(c.Type), Index: index})
	obs := s.observer
	s.mu.Unlock()
	if obs != nil && len(tx.transitions) > 0 {
		obs(slices.Clone(tx.transitions))
	}
	return &Result{Index: index, Transitions: tx.transitions}
}

func (d *Data) remember(ev AppliedEvent) {
	d.Applied[ev.ID] = ev.Index
	d.Log = append(d.Log, ev)
	if over := len(d.Log) - MaxApplied; over > 0 {
		for _, old := range d.Log[:over] {
			delete(d.Applied, old.ID)
		}
		d.Log = slices.Clone(d.Log[over:])
	}
}

// Snapshot encodes the whole state; it satisfies raftstore.Dispatcher.
func (s *State) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return json.Marshal(s.d)
}

// Restore replaces the state with a snapshot; it satisfies raftstore.Dispatcher.
func (s *State) Restore(r io.Reader) error {
	d := newData()
	if err := json.NewDecoder(r).Decode(d); err != nil {
		return fmt.Errorf("state: restore: %w", err)
	}
	d.fill()
	s.mu.Lock()
	s.d = d
	s.mu.Unlock()
	return nil
}

// fill gives nil maps of a decoded snapshot (a "null" in its JSON) their empty value.
func (d *Data) fill() {
	orEmpty(&d.Nodes)
	orEmpty(&d.Mounts)
	orEmpty(&d.Connections)
	orEmpty(&d.Roles)
	orEmpty(&d.StaticRoles)
	orEmpty(&d.Leases)
	orEmpty(&d.Machines)
	orEmpty(&d.Applied)
	if d.Catalog == nil {
		d.Catalog = &catalog.Catalog{}
	}
	if d.WAL == nil {
		d.WAL = wal.NewTable()
	}
	orEmpty(&d.WAL.Entries)
}

func orEmpty[K comparable, V any](m *map[K]V) {
	if *m == nil {
		*m = map[K]V{}
	}
}

// txn applies one command. Handlers validate everything before they change anything, except
// lifecycle fires, which txn undoes on failure by restoring the touched machines.
type txn struct {
	d           *Data
	c           *command.Command
	index       uint64
	transitions []fsm.Transition
	undo        []func()
}

func (t *txn) meta(reason string) fsm.Meta {
	return fsm.Meta{EventID: t.c.ID, Source: string(t.c.Source), Index: t.index, Time: t.c.Time, Reason: reason}
}

func (t *txn) rollback() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
	t.transitions = nil
}

// fire fires ev on the machine at (kind, id); refusals are ErrConflict.
func (t *txn) fire(kind fsm.Kind, id string, ev fsm.Event, reason string) error {
	key := MachineKey(kind, id)
	m, ok := t.d.Machines[key]
	if !ok {
		return fmt.Errorf("%w: no %s lifecycle %q", ErrNotFound, kind, id)
	}
	tr, err := m.Fire(ev, t.meta(reason))
	if err != nil {
		var ref *fsm.RefusedError
		if errors.As(err, &ref) {
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// Undo is built only when needed: it drops the transition just recorded. A history at
	// its limit loses its oldest entry too; that is deterministic, so every node loses the
	// same one, and it keeps the hot path free of a history copy per event.
	t.undo = append(t.undo, func() {
		h := m.History()
		if len(h) > 0 {
			h = h[:len(h)-1]
		}
		if back, err := fsm.Restore(kind, id, tr.From, h); err == nil {
			t.d.Machines[key] = back
		}
	})
	t.transitions = append(t.transitions, tr)
	return nil
}

// fireConn fires a connection event and, in step, the event its plugin instance takes.
func (t *txn) fireConn(key string, ev fsm.Event, reason string) error {
	if err := t.fire(fsm.KindConnection, key, ev, reason); err != nil {
		return err
	}
	if iev, ok := fsm.InstanceEvent(ev); ok {
		if _, exists := t.d.Machines[MachineKey(fsm.KindPlugin, key)]; exists {
			if err := t.fire(fsm.KindPlugin, key, iev, reason); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *txn) addMachine(kind fsm.Kind, id string) error {
	m, err := fsm.New(kind, id)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	key := MachineKey(kind, id)
	t.d.Machines[key] = m
	t.undo = append(t.undo, func() { delete(t.d.Machines, key) })
	return nil
}

func (t *txn) dropMachine(kind fsm.Kind, id string) {
	key := MachineKey(kind, id)
	if m, ok := t.d.Machines[key]; ok {
		delete(t.d.Machines, key)
		t.undo = append(t.undo, func() { t.d.Machines[key] = m })
	}
}

func decode[T any](c *command.Command) (T, error) {
	var v T
	if err := c.Decode(&v); err != nil {
		return v, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return v, nil
}

func (t *txn) apply() error {
	switch t.c.Type {
	case TypeNoop:
		return nil
	case TypeNodeJoin:
		p, err := decode[NodeJoin](t.c)
		if err != nil {
			return err
		}
		if p.Node.ID == "" {
			return fmt.Errorf("%w: node id is empty", ErrInvalid)
		}
		t.d.Nodes[p.Node.ID] = p.Node
	case TypeNodeRemove:
		p, err := decode[NodeRemove](t.c)
		if err != nil {
			return err
		}
		delete(t.d.Nodes, p.ID)
	case TypeInit:
		p, err := decode[Init](t.c)
		if err != nil {
			return err
		}
		if t.d.Seal.Initialized {
			return fmt.Errorf("%w: the cluster is already initialized", ErrExists)
		}
		p.Seal.Initialized = true
		t.d.Seal = p.Seal
	case TypeCatalogPut:
		return t.catalogPut()
	case TypeCatalogDelete:
		return t.catalogDelete()
	case TypeMountPut:
		return t.mountPut()
	case TypeMountDelete:
		return t.mountDelete()
	case TypeMountDisable:
		p, err := decode[MountDelete](t.c)
		if err != nil {
			return err
		}
		path := NormalizeMount(p.Path)
		m, ok := t.d.Mounts[path]
		if !ok {
			return fmt.Errorf("%w: no mount at %s", ErrNotFound, path)
		}
		m.Disabling = true
		t.d.Mounts[path] = m
	case TypeConnPut:
		return t.connPut()
	case TypeConnDelete:
		p, err := decode[ConnRef](t.c)
		if err != nil {
			return err
		}
		return t.connDelete(Key(p.Mount, p.Name))
	case TypeConnReset:
		p, err := decode[ConnRef](t.c)
		if err != nil {
			return err
		}
		key := Key(p.Mount, p.Name)
		if _, ok := t.d.Connections[key]; !ok {
			return fmt.Errorf("%w: connection %q", ErrNotFound, key)
		}
		return t.fireConn(key, fsm.EventReset, "reset")
	case TypeRolePut:
		return t.rolePut()
	case TypeRoleDelete:
		return deleteRef(t, t.d.Roles, "role")
	case TypeStaticRolePut:
		p, err := decode[StaticRolePut](t.c)
		if err != nil {
			return err
		}
		r := p.Role
		r.Mount = NormalizeMount(r.Mount)
		if err := t.checkConnRef(r.Mount, r.DBName, r.Name); err != nil {
			return err
		}
		if r.Username == "" {
			return fmt.Errorf("%w: username is required for a static role", ErrInvalid)
		}
		t.d.StaticRoles[Key(r.Mount, r.Name)] = r
	case TypeStaticRoleDelete:
		return deleteRef(t, t.d.StaticRoles, "static role")
	case TypeLeasePut:
		p, err := decode[LeasePut](t.c)
		if err != nil {
			return err
		}
		if p.Lease.ID == "" {
			return fmt.Errorf("%w: lease id is empty", ErrInvalid)
		}
		// The mount must still be there and not being disabled: a credential issued while it
		// was disabled must not outlive it.
		if err := t.dbMount(NormalizeMount(p.Lease.Mount)); err != nil {
			return err
		}
		t.d.Leases[p.Lease.ID] = p.Lease
	case TypeLeaseRenew:
		p, err := decode[LeaseRenew](t.c)
		if err != nil {
			return err
		}
		l, ok := t.d.Leases[p.ID]
		if !ok {
			return fmt.Errorf("%w: lease %q", ErrNotFound, p.ID)
		}
		exp, err := time.Parse(time.RFC3339Nano, p.Expires)
		if err != nil {
			return fmt.Errorf("%w: expires: %w", ErrInvalid, err)
		}
		l.Expires = exp
		t.d.Leases[p.ID] = l
	case TypeLeaseDelete:
		p, err := decode[LeaseDelete](t.c)
		if err != nil {
			return err
		}
		delete(t.d.Leases, p.ID)
	case TypeRotateBegin:
		return t.rotateBegin()
	case TypeRotateCommit:
		return t.rotateCommit()
	case TypeRotateFail:
		p, err := decode[RotateFail](t.c)
		if err != nil {
			return err
		}
		return t.fireConn(Key(p.Mount, p.Name), fsm.EventRotateFailed, p.Reason)
	case TypeRollbackStart:
		p, err := decode[RollbackStart](t.c)
		if err != nil {
			return err
		}
		e, err := t.d.WAL.Get(p.WALID)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return t.fireIfLive(e.Target, fsm.EventRollbackStarted, "rollback of "+e.ID)
	case TypeRollbackDone:
		return t.rollbackDone()
	case TypeRollbackFail:
		p, err := decode[RollbackFail](t.c)
		if err != nil {
			return err
		}
		e, err := t.d.WAL.Get(p.WALID)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		before := e
		if err := t.d.WAL.RecordFailure(p.WALID, p.Reason); err != nil {
			return err
		}
		t.undo = append(t.undo, func() { t.d.WAL.Entries[before.ID] = before })
		return t.fireIfLive(e.Target, fsm.EventRollbackFailed, p.Reason)
	case TypeStaticRotateBegin:
		p, err := decode[StaticRotateBegin](t.c)
		if err != nil {
			return err
		}
		key := Key(p.Mount, p.Name)
		if _, ok := t.d.StaticRoles[key]; !ok {
			return fmt.Errorf("%w: static role %q", ErrNotFound, key)
		}
		e := p.Entry
		e.Kind, e.Target, e.Created, e.Index = wal.KindStaticRotation, key, t.c.Time, t.index
		if err := t.d.WAL.Put(e); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	case TypeStaticRotateCommit:
		p, err := decode[StaticRotateCommit](t.c)
		if err != nil {
			return err
		}
		key := Key(p.Mount, p.Name)
		r, ok := t.d.StaticRoles[key]
		if ok {
			r.Password = p.Password
			r.LastRotation = t.c.Time
			t.d.StaticRoles[key] = r
		}
		t.d.WAL.Delete(p.WALID)
	case TypePluginReload:
		p, err := decode[PluginReload](t.c)
		if err != nil {
			return err
		}
		return t.reload(p)
	case TypeLifecycleFire:
		p, err := decode[LifecycleFire](t.c)
		if err != nil {
			return err
		}
		return t.fire(p.Kind, p.ID, p.Event, p.Reason)
	case TypeLifecycleAll:
		p, err := decode[LifecycleBroadcast](t.c)
		if err != nil {
			return err
		}
		return t.broadcast(p)
	default:
		return fmt.Errorf("%w: %q", ErrUnknownCommand, t.c.Type)
	}
	return nil
}

// fireIfLive fires a connection event when the connection still exists; the rollback of a
// deleted connection only cleans its WAL entry.
func (t *txn) fireIfLive(key string, ev fsm.Event, reason string) error {
	if _, ok := t.d.Machines[MachineKey(fsm.KindConnection, key)]; !ok {
		return nil
	}
	return t.fireConn(key, ev, reason)
}

func (t *txn) broadcast(p LifecycleBroadcast) error {
	if fsm.Events(p.Kind) == nil {
		return fmt.Errorf("%w: unknown lifecycle kind %q", ErrInvalid, p.Kind)
	}
	if !slices.Contains(fsm.Events(p.Kind), p.Event) {
		return fmt.Errorf("%w: %s is not an event of %s machines (they take %s)", ErrInvalid, p.Event, p.Kind, joinEvents(fsm.Events(p.Kind)))
	}
	prefix := string(p.Kind) + ":"
	keys := make([]string, 0, len(t.d.Machines))
	for k := range t.d.Machines {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // map order is random; Apply must not be
	for _, k := range keys {
		m := t.d.Machines[k]
		if !m.Can(p.Event) {
			continue
		}
		if err := t.fire(p.Kind, m.ID(), p.Event, p.Reason); err != nil {
			return err
		}
	}
	return nil
}

func joinEvents(evs []fsm.Event) string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func (t *txn) catalogPut() error {
	p, err := decode[CatalogPut](t.c)
	if err != nil {
		return err
	}
	if len(p.Entry.Env) > 0 {
		// Invariant 7: the catalog env may hold secrets; the active node seals it first.
		return fmt.Errorf("%w: catalog env must be sealed before it is proposed", ErrInvalid)
	}
	if err := t.d.Catalog.Put(p.Entry); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func (t *txn) catalogDelete() error {
	p, err := decode[CatalogDelete](t.c)
	if err != nil {
		return err
	}
	e, err := t.d.Catalog.Get(p.Type, p.Name, p.Version)
	if err != nil {
		if errors.Is(err, catalog.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if p.Version == "" && e.Version != "" {
		return fmt.Errorf("%w: %s plugin %q has versions; name the version to delete", ErrInvalid, p.Type, p.Name)
	}
	if err := t.d.Catalog.Delete(p.Type, p.Name, e.Version); err != nil {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return nil
}

func (t *txn) mountPut() error {
	p, err := decode[MountPut](t.c)
	if err != nil {
		return err
	}
	m := p.Mount
	m.Path = NormalizeMount(m.Path)
	if m.Path == "/" || strings.HasPrefix(m.Path, "sys/") {
		return fmt.Errorf("%w: mount path %q is reserved", ErrInvalid, m.Path)
	}
	if m.Type != "database" {
		return fmt.Errorf("%w: unknown secrets engine type %q (Baton serves \"database\")", ErrInvalid, m.Type)
	}
	for existing := range t.d.Mounts {
		if strings.HasPrefix(existing, m.Path) || strings.HasPrefix(m.Path, existing) {
			return fmt.Errorf("%w: path is already in use at %s", ErrExists, existing)
		}
	}
	m.Created = t.c.Time
	t.d.Mounts[m.Path] = m
	return nil
}

func (t *txn) mountDelete() error {
	p, err := decode[MountDelete](t.c)
	if err != nil {
		return err
	}
	path := NormalizeMount(p.Path)
	m, ok := t.d.Mounts[path]
	if !ok {
		return fmt.Errorf("%w: no mount at %s", ErrNotFound, path)
	}
	keys := make([]string, 0)
	for k := range t.d.Connections {
		if strings.HasPrefix(k, path) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := t.d.Machines[MachineKey(fsm.KindPlugin, k)]; ok {
			if err := t.fire(fsm.KindPlugin, k, fsm.EventDisable, "mount "+path+" disabled"); err != nil {
				return err
			}
		}
		if err := t.connDelete(k); err != nil {
			return err
		}
	}
	delete(t.d.Mounts, path)
	t.undo = append(t.undo, func() { t.d.Mounts[path] = m })
	for k, r := range t.d.Roles {
		if strings.HasPrefix(k, path) {
			delete(t.d.Roles, k)
			t.undo = append(t.undo, func() { t.d.Roles[k] = r })
		}
	}
	for k, r := range t.d.StaticRoles {
		if strings.HasPrefix(k, path) {
			delete(t.d.StaticRoles, k)
			t.undo = append(t.undo, func() { t.d.StaticRoles[k] = r })
		}
	}
	for k, l := range t.d.Leases {
		if l.Mount == path {
			delete(t.d.Leases, k)
			t.undo = append(t.undo, func() { t.d.Leases[k] = l })
		}
	}
	return nil
}

func (t *txn) dbMount(path string) error {
	m, ok := t.d.Mounts[path]
	if !ok {
		return fmt.Errorf("%w: no secrets engine is mounted at %s", ErrNotFound, path)
	}
	if m.Disabling {
		return fmt.Errorf("%w: the mount %s is being disabled", ErrConflict, path)
	}
	if m.Type != "database" {
		return fmt.Errorf("%w: %s is a %s mount, not database", ErrInvalid, path, m.Type)
	}
	return nil
}

func (t *txn) connPut() error {
	p, err := decode[ConnPut](t.c)
	if err != nil {
		return err
	}
	c := p.Connection
	c.Mount = NormalizeMount(c.Mount)
	if err := t.dbMount(c.Mount); err != nil {
		return err
	}
	if c.Name == "" || strings.Contains(c.Name, "/") {
		return fmt.Errorf("%w: connection name %q must be non-empty and have no '/'", ErrInvalid, c.Name)
	}
	if c.PluginName == "" {
		return fmt.Errorf("%w: plugin_name is required", ErrInvalid)
	}
	if _, err := t.d.Catalog.Get(string(catalog.TypeDatabase), c.PluginName, c.PluginVersion); err != nil {
		// %v, not %w: a missing catalog entry makes the connection invalid, not itself missing.
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(c.Config) == 0 {
		return fmt.Errorf("%w: connection config is empty", ErrInvalid)
	}
	key := Key(c.Mount, c.Name)
	old, exists := t.d.Connections[key]
	c.Updated = t.c.Time
	if exists {
		c.Generation = old.Generation + 1
		if err := t.fireConn(key, fsm.EventUpdate, "config written"); err != nil {
			return err
		}
	} else {
		c.Generation = 1
		if err := t.addMachine(fsm.KindConnection, key); err != nil {
			return err
		}
		if err := t.addMachine(fsm.KindPlugin, key); err != nil {
			return err
		}
	}
	t.d.Connections[key] = c
	t.undo = append(t.undo, func() {
		if exists {
			t.d.Connections[key] = old
		} else {
			delete(t.d.Connections, key)
		}
	})
	return nil
}

func (t *txn) connDelete(key string) error {
	c, ok := t.d.Connections[key]
	if !ok {
		return fmt.Errorf("%w: connection %q", ErrNotFound, key)
	}
	if err := t.fireConn(key, fsm.EventDelete, "connection deleted"); err != nil {
		return err
	}
	delete(t.d.Connections, key)
	t.undo = append(t.undo, func() { t.d.Connections[key] = c })
	t.dropMachine(fsm.KindConnection, key)
	t.dropMachine(fsm.KindPlugin, key)
	// A root rotation of the connection still in the WAL goes with it: its rollback would find
	// no connection and only delete the entry, and left there it is taken for a rotation of
	// the connection created next under the same name, whose machine refuses its rollback
	// events for ever (found by the state package's property test).
	for _, e := range t.d.WAL.List() {
		if e.Kind == wal.KindRootRotation && e.Target == key {
			t.d.WAL.Delete(e.ID)
			t.undo = append(t.undo, func() { t.d.WAL.Entries[e.ID] = e })
		}
	}
	return nil
}

// checkConnRef checks that a role may use the connection it names.
func (t *txn) checkConnRef(mount, dbName, role string) error {
	if err := t.dbMount(mount); err != nil {
		return err
	}
	if dbName == "" {
		return fmt.Errorf("%w: db_name is required", ErrInvalid)
	}
	c, ok := t.d.Connections[Key(mount, dbName)]
	if !ok {
		return fmt.Errorf("%w: db_name %q: no such connection on %s", ErrInvalid, dbName, mount)
	}
	if !RoleAllowed(c.AllowedRoles, role) {
		return fmt.Errorf("%w: role %q is not allowed on connection %q (allowed_roles: %s)", ErrInvalid, role, dbName, strings.Join(c.AllowedRoles, ","))
	}
	return nil
}

// RoleAllowed applies a connection's allowed_roles: an exact name, or "*" for any.
func RoleAllowed(allowed []string, role string) bool {
	return slices.Contains(allowed, "*") || slices.Contains(allowed, role)
}

func (t *txn) rolePut() error {
	p, err := decode[RolePut](t.c)
	if err != nil {
		return err
	}
	r := p.Role
	r.Mount = NormalizeMount(r.Mount)
	if r.Name == "" || strings.Contains(r.Name, "/") {
		return fmt.Errorf("%w: role name %q must be non-empty and have no '/'", ErrInvalid, r.Name)
	}
	if err := t.checkConnRef(r.Mount, r.DBName, r.Name); err != nil {
		return err
	}
	if r.MaxTTL > 0 && r.DefaultTTL > r.MaxTTL {
		return fmt.Errorf("%w: default_ttl %s is longer than max_ttl %s", ErrInvalid, r.DefaultTTL, r.MaxTTL)
	}
	t.d.Roles[Key(r.Mount, r.Name)] = r
	return nil
}

func (t *txn) rotateBegin() error {
	p, err := decode[RotateBegin](t.c)
	if err != nil {
		return err
	}
	key := Key(p.Mount, p.Name)
	if _, ok := t.d.Connections[key]; !ok {
		return fmt.Errorf("%w: connection %q", ErrNotFound, key)
	}
	e := p.Entry
	e.Kind = wal.KindRootRotation
	e.Target = key
	e.Created = t.c.Time
	e.Index = t.index
	if err := t.fireConn(key, fsm.EventRootRotate, "root rotation "+e.ID); err != nil {
		return err
	}
	if err := t.d.WAL.Put(e); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	t.undo = append(t.undo, func() { t.d.WAL.Delete(e.ID) })
	return nil
}

func (t *txn) rotateCommit() error {
	p, err := decode[RotateCommit](t.c)
	if err != nil {
		return err
	}
	key := Key(p.Mount, p.Name)
	c, ok := t.d.Connections[key]
	if !ok {
		return fmt.Errorf("%w: connection %q", ErrNotFound, key)
	}
	e, err := t.d.WAL.Get(p.WALID)
	if err != nil {
		return fmt.Errorf("%w: %w (the rotation was rolled back)", ErrConflict, err)
	}
	if e.Kind != wal.KindRootRotation || e.Target != key {
		// Committing another connection's entry would delete it and leave that connection
		// rotating with nothing for the rollback manager to resolve (found by the property test).
		return fmt.Errorf("%w: WAL entry %q is not a root rotation of connection %q", ErrInvalid, e.ID, key)
	}
	if len(p.Config) == 0 {
		return fmt.Errorf("%w: rotated config is empty", ErrInvalid)
	}
	if err := t.fireConn(key, fsm.EventRotateSucceeded, "root rotated"); err != nil {
		return err
	}
	next := c
	next.Config = p.Config
	if p.Redacted != nil {
		next.Redacted = p.Redacted
	}
	next.Generation++
	next.Updated = t.c.Time
	t.d.Connections[key] = next
	t.d.WAL.Delete(e.ID)
	t.undo = append(t.undo, func() { t.d.Connections[key] = c; t.d.WAL.Entries[e.ID] = e })
	return nil
}

func (t *txn) rollbackDone() error {
	p, err := decode[RollbackDone](t.c)
	if err != nil {
		return err
	}
	e, err := t.d.WAL.Get(p.WALID)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err := t.fireIfLive(e.Target, fsm.EventRollbackSucceeded, "rolled back "+e.ID); err != nil {
		return err
	}
	if c, ok := t.d.Connections[e.Target]; ok && len(p.Config) > 0 {
		next := c
		next.Config = p.Config
		next.Generation++
		next.Updated = t.c.Time
		t.d.Connections[e.Target] = next
		t.undo = append(t.undo, func() { t.d.Connections[e.Target] = c })
	}
	t.d.WAL.Delete(e.ID)
	t.undo = append(t.undo, func() { t.d.WAL.Entries[e.ID] = e })
	return nil
}

func (t *txn) reload(p PluginReload) error {
	if p.PluginName == "" && p.Mount == "" {
		return fmt.Errorf("%w: reload needs a plugin name or a mount", ErrInvalid)
	}
	mount := ""
	if p.Mount != "" {
		mount = NormalizeMount(p.Mount)
		if _, ok := t.d.Mounts[mount]; !ok {
			return fmt.Errorf("%w: no mount at %s", ErrNotFound, mount)
		}
	}
	keys := make([]string, 0)
	for k, c := range t.d.Connections {
		if (p.PluginName == "" || c.PluginName == p.PluginName) && (mount == "" || c.Mount == mount) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := t.d.Machines[MachineKey(fsm.KindPlugin, k)]; ok {
			if err := t.fire(fsm.KindPlugin, k, fsm.EventReload, "reload"); err != nil {
				return err
			}
		}
	}
	return nil
}

// deleteRef deletes the role (of either kind) a RoleRef command names.
func deleteRef[V any](t *txn, m map[string]V, what string) error {
	p, err := decode[RoleRef](t.c)
	if err != nil {
		return err
	}
	key := Key(p.Mount, p.Name)
	if _, ok := m[key]; !ok {
		return fmt.Errorf("%w: %s %q", ErrNotFound, what, key)
	}
	delete(m, key)
	return nil
}
