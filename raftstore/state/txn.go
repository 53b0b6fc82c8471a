package state

import (
	"errors"
	"fmt"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/command"
)

// txn applies one command: the undo log a handler writes as it goes. Handlers validate
// everything before they change anything, except lifecycle fires and changes that span
// several objects, which they record in undo; on a refusal rollback runs it newest first, so
// a refused command changes nothing.
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

// fireIfLive fires a connection event when the connection still exists; the rollback of a
// deleted connection only cleans its WAL entry.
func (t *txn) fireIfLive(key string, ev fsm.Event, reason string) error {
	if _, ok := t.d.Machines[MachineKey(fsm.KindConnection, key)]; !ok {
		return nil
	}
	return t.fireConn(key, ev, reason)
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
