package state

import (
	"fmt"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/wal"
)

// rotationHandlers change credentials that rotate and the WAL entries that make a rotation
// crash-safe: a connection's root rotation (begin, commit, fail), the rollback manager's
// records (start, done, fail) and a static role's rotation (begin, commit). A WAL entry is
// committed before the database is touched and deleted with the command that stores the
// result, so a rotation cut short is always found and resolved (invariants 5 and 8).
var rotationHandlers = map[command.Type]handler{
	TypeRotateBegin:        on((*txn).rotateBegin),
	TypeRotateCommit:       on((*txn).rotateCommit),
	TypeRotateFail:         on((*txn).rotateFail),
	TypeRollbackStart:      on((*txn).rollbackStart),
	TypeRollbackDone:       on((*txn).rollbackDone),
	TypeRollbackFail:       on((*txn).rollbackFail),
	TypeStaticRotateBegin:  on((*txn).staticRotateBegin),
	TypeStaticRotateCommit: on((*txn).staticRotateCommit),
}

func (t *txn) rotateBegin(p RotateBegin) error {
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

func (t *txn) rotateCommit(p RotateCommit) error {
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

func (t *txn) rotateFail(p RotateFail) error {
	return t.fireConn(Key(p.Mount, p.Name), fsm.EventRotateFailed, p.Reason)
}

func (t *txn) rollbackStart(p RollbackStart) error {
	e, err := t.d.WAL.Get(p.WALID)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return t.fireIfLive(e.Target, fsm.EventRollbackStarted, "rollback of "+e.ID)
}

func (t *txn) rollbackDone(p RollbackDone) error {
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

func (t *txn) rollbackFail(p RollbackFail) error {
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
}

func (t *txn) staticRotateBegin(p StaticRotateBegin) error {
	key := Key(p.Mount, p.Name)
	if _, ok := t.d.StaticRoles[key]; !ok {
		return fmt.Errorf("%w: static role %q", ErrNotFound, key)
	}
	e := p.Entry
	e.Kind, e.Target, e.Created, e.Index = wal.KindStaticRotation, key, t.c.Time, t.index
	if err := t.d.WAL.Put(e); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

func (t *txn) staticRotateCommit(p StaticRotateCommit) error {
	key := Key(p.Mount, p.Name)
	r, ok := t.d.StaticRoles[key]
	if ok {
		r.Password = p.Password
		r.LastRotation = t.c.Time
		t.d.StaticRoles[key] = r
	}
	t.d.WAL.Delete(p.WALID)
	return nil
}
