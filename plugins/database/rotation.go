package database

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/wal"
)

// DefaultRollbackWindow is how long a new active node waits before it rolls back a root
// rotation the old leader left behind with its new password not in force. The old leader's
// lease has expired before this node was elected and a node that loses leadership kills its
// plugins at once (a dead one's die with it by Pdeathsig), so an UpdateUser it had in flight
// ends within a few seconds; the window bounds that for the operator.
const DefaultRollbackWindow = 5 * time.Second

// ErrRotationPending is returned (inside a *PendingError) by RotateRoot when an earlier
// rotation of the same connection is still being resolved after the bounded wait.
var ErrRotationPending = errors.New("a root rotation of this connection is still being resolved")

// PendingError says which connection waits and when to ask again; the HTTP edge answers 503
// with Retry-After.
type PendingError struct {
	Connection string
	State      fsm.State
	RetryAfter time.Duration
}

// Error names the connection, its state and when to retry.
func (e *PendingError) Error() string {
	return fmt.Sprintf("%v: connection %q is %s (an interrupted rotation is resolved within the rollback window): retry in %s",
		ErrRotationPending, e.Connection, e.State, e.RetryAfter)
}

// Unwrap lets callers branch on ErrRotationPending.
func (e *PendingError) Unwrap() error { return ErrRotationPending }

// RetryAfterSeconds is the Retry-After header's value, at least one second.
func (e *PendingError) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// connState is the connection machine's state, "" when the connection is gone.
func (e *Engine) connState(key string) fsm.State {
	var st fsm.State
	e.cluster.State().View(func(d *state.Data) {
		if m, ok := d.Machines[state.MachineKey(fsm.KindConnection, key)]; ok {
			st = m.State()
		}
	})
	return st
}

// rollbackDue tells the rollback manager which entries it may take before their minimum
// age: a root rotation whose connection is no longer `rotating` has been given up by its
// writer (its UpdateUser failed, or leadership changed and the failover moved it to
// rollback_pending), so nothing on this node is still working on it. The handler then rolls
// forward at once, or waits for the window (rollbackNotBefore) before it rolls back.
func (e *Engine) rollbackDue(en wal.Entry) bool {
	if en.Kind != wal.KindRootRotation {
		return false
	}
	switch e.connState(en.Target) {
	case "", fsm.StateRollbackPending, fsm.StateRollingBack:
		return true
	}
	return false
}

// rollbackNotBefore is the earliest time an entry may be rolled back (deleted while its new
// password is not in force): a window after this node became active, or after the entry was
// written, whichever is later. Before it an old leader's UpdateUser may still land.
func (e *Engine) rollbackNotBefore(en wal.Entry) time.Time {
	from := time.Unix(0, e.activated.Load())
	if en.Created.After(from) {
		from = en.Created
	}
	return from.Add(e.cfg.RollbackWindow)
}

// awaitSettled waits, up to until, for the connection to leave the states of a rotation in
// progress (rotating, rollback_pending, rolling_back), asking the rollback manager to run.
// It answers a *PendingError when the deadline passes first.
func (e *Engine) awaitSettled(ctx context.Context, key string, until time.Time) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st := e.connState(key)
		switch st {
		case fsm.StateRotating, fsm.StateRollbackPending, fsm.StateRollingBack:
		default:
			return nil
		}
		if st != fsm.StateRotating {
			e.rt.KickRollback()
		}
		if !time.Now().Before(until) {
			return &PendingError{Connection: key, State: st, RetryAfter: e.cfg.RollbackWindow}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the pending rotation of %q: %w", key, ctx.Err())
		case <-tick.C:
		}
	}
}
