// Package wal holds the shape of Baton's write-ahead entries and the table that keeps them
// inside the replicated state. An entry is committed through Raft before the database is
// touched, so that a rotation that fails half-way (a crash, a failover) can be rolled back by
// the rollback manager on whichever node leads next.
//
// The table is not safe for concurrent use: the replicated state serialises access to it.
package wal

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Kind names what an entry protects; the rollback manager picks the handler by it.
type Kind string

// Kinds of entries.
const (
	// KindRootRotation protects a root-credential rotation of a database connection.
	KindRootRotation Kind = "root-rotation"
	// KindStaticRotation protects the password rotation of a static role: its handler rolls
	// the rotation forward (sets the entry's password again and stores it).
	KindStaticRotation Kind = "static-rotation"
)

// ErrNotFound is returned when no entry has the asked id.
var ErrNotFound = errors.New("wal: entry not found")

// ErrExists is returned by Put for an id that is already in the table with other content.
var ErrExists = errors.New("wal: entry already exists")

// Entry is one write-ahead record.
type Entry struct {
	// ID is unique; it is chosen on the active node before proposing.
	ID string `json:"id"`
	// Kind selects the rollback handler.
	Kind Kind `json:"kind"`
	// Target names what the entry protects (for a root rotation, the connection's key), so
	// that the lifecycle of that object can follow the entry.
	Target string `json:"target,omitempty"`
	// Data is the handler's payload. Secrets in it are sealed by the active node before
	// proposing, so the table never holds them in clear.
	Data []byte `json:"data"`
	// Created is the leader's clock when the entry was proposed; the rollback manager waits
	// until an entry is older than its minimum age.
	Created time.Time `json:"created"`
	// Index is the Raft index that committed the entry.
	Index uint64 `json:"index"`
	// Attempts counts failed rollback attempts, so retries back off and are visible.
	Attempts int `json:"attempts,omitempty"`
	// LastError is the last rollback failure, without secrets.
	LastError string `json:"last_error,omitempty"`
}

// Table is the set of live entries.
type Table struct {
	Entries map[string]Entry `json:"entries"`
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{Entries: map[string]Entry{}} }

// Put stores an entry. Putting the same id twice with the same kind is idempotent (a retried
// Raft Apply); the second copy does not overwrite the first.
func (t *Table) Put(e Entry) error {
	if e.ID == "" {
		return fmt.Errorf("wal: put: empty id")
	}
	if e.Kind == "" {
		return fmt.Errorf("wal: put %s: empty kind", e.ID)
	}
	if t.Entries == nil {
		t.Entries = map[string]Entry{}
	}
	if old, ok := t.Entries[e.ID]; ok {
		if old.Kind != e.Kind {
			return fmt.Errorf("%w: %s has kind %s, not %s", ErrExists, e.ID, old.Kind, e.Kind)
		}
		return nil
	}
	t.Entries[e.ID] = e
	return nil
}

// Get returns the entry with the id.
func (t *Table) Get(id string) (Entry, error) {
	e, ok := t.Entries[id]
	if !ok {
		return Entry{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return e, nil
}

// List returns every entry, oldest first (by index, then id), so that rollback runs in the
// order the rotations began.
func (t *Table) List() []Entry {
	out := make([]Entry, 0, len(t.Entries))
	for _, e := range t.Entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Index != out[j].Index {
			return out[i].Index < out[j].Index
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Delete removes an entry. Deleting an absent entry is not an error: the rollback manager
// and a finishing rotation may both try.
func (t *Table) Delete(id string) {
	delete(t.Entries, id)
}

// RecordFailure notes a failed rollback attempt on an entry.
func (t *Table) RecordFailure(id, reason string) error {
	e, ok := t.Entries[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	e.Attempts++
	e.LastError = reason
	t.Entries[id] = e
	return nil
}
