package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

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
	// sealObs runs after the seal changed (init, a seal update, a snapshot restored).
	sealObs func()
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

// SetSealObserver installs f, run (outside the lock, on the applying goroutine) each time
// the cluster's seal may have changed: a node installs a rotated or rekeyed keyring with it.
func (s *State) SetSealObserver(f func()) {
	s.mu.Lock()
	s.sealObs = f
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

// apply is the dispatcher: deduplicate, look the handler up, run it under the undo log,
// record. A refused command is rolled back and not recorded (a retry with the same id is
// applied afresh); the log index moves either way, as the entry was in the log.
func (s *State) apply(index uint64, c *command.Command) any {
	s.mu.Lock()
	if index > s.d.Index {
		s.d.Index = index
	}
	if prev, ok := s.d.Applied[c.ID]; ok {
		s.mu.Unlock()
		return &Result{Index: prev, Duplicate: true}
	}
	h, ok := handlers[c.Type]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownCommand, c.Type)
	}
	tx := &txn{d: s.d, c: c, index: index}
	if err := h(tx); err != nil {
		// The error goes back to the caller as it is (an API shows it): it names what is
		// wrong, not the command's internals.
		tx.rollback()
		s.mu.Unlock()
		return err
	}
	s.d.remember(AppliedEvent{ID: c.ID, Type: string(c.Type), Index: index})
	obs, sealObs := s.observer, s.sealObs
	s.mu.Unlock()
	if obs != nil && len(tx.transitions) > 0 {
		obs(slices.Clone(tx.transitions))
	}
	if sealObs != nil && (c.Type == TypeInit || c.Type == TypeSealUpdate) {
		sealObs()
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
		// Reslice, not copy: a copy of the whole log per command made every Apply past
		// MaxApplied ids cost milliseconds (BenchmarkApplyNoop). append reallocates the array
		// once its spare capacity is used up, copying only the live ids; the forgotten ones are
		// cleared so their strings are not kept alive until then.
		clear(d.Log[:over])
		d.Log = d.Log[over:]
	}
}

// Snapshot encodes the whole state (format 2, snapshot.go); it satisfies raftstore.Dispatcher.
func (s *State) Snapshot() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b bytes.Buffer
	// About 110 bytes a lease: one allocation for the usual state instead of a doubling series.
	b.Grow(64<<10 + 128*len(s.d.Leases) + 48*len(s.d.Log))
	if err := writeSnapshot(&b, s.d); err != nil {
		return nil, fmt.Errorf("state: snapshot: %w", err)
	}
	return b.Bytes(), nil
}

// Restore replaces the state with a snapshot of either format; it satisfies
// raftstore.Dispatcher.
func (s *State) Restore(r io.Reader) error {
	d, err := readSnapshot(r)
	if err != nil {
		return fmt.Errorf("state: restore: %w", err)
	}
	s.mu.Lock()
	s.d = d
	sealObs := s.sealObs
	s.mu.Unlock()
	if sealObs != nil {
		sealObs()
	}
	return nil
}

// RestorePrepared replaces the state with a *State that was built by New and Restore from a
// snapshot and never used since (raftstore.Preparer: the restore's check decoded it already).
func (s *State) RestorePrepared(v any) error {
	p, ok := v.(*State)
	if !ok || p == s {
		return fmt.Errorf("state: restore: prepared value is a %T, not a fresh *State", v)
	}
	p.mu.RLock()
	d := p.d
	p.mu.RUnlock()
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
	orEmpty(&d.Tokens)
	orEmpty(&d.TokenAccessors)
	orEmpty(&d.PasswordPolicies)
	if d.Policies == nil {
		// A snapshot from before the policy store: the cluster has only the built-in default.
		d.Policies = defaultPolicies()
	}
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
