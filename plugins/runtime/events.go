package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// ownEvents are the plugin-level events the runtime applies itself; every other kind goes to
// the handler an engine registered for it.
var ownEvents = map[events.Kind]func(r *Runtime, ctx context.Context, ev events.Event) (uint64, error){
	events.KindWALRollback: (*Runtime).walRollbackEvent,
	events.KindCrashed:     (*Runtime).crashedEvent,
	events.KindRequest:     (*Runtime).requestEvent,
}

// HandleEvent applies a plugin- or connection-level event injected over NATS; part of
// core.Runtime. The event's id is the first command's id, so a redelivered event is applied
// once. A business refusal wraps events.ErrRejected so the event is not redelivered.
func (r *Runtime) HandleEvent(ctx context.Context, ev events.Event) (uint64, error) {
	idx, err := r.handleEvent(ctx, ev)
	return idx, rejectIfBusiness(err)
}

func (r *Runtime) handleEvent(ctx context.Context, ev events.Event) (uint64, error) {
	if h, ok := ownEvents[ev.Kind]; ok {
		return h(r, ctx, ev)
	}
	if h, ok := r.handlers.Events[ev.Kind]; ok {
		return h(ctx, ev)
	}
	return 0, fmt.Errorf("%w: the database engine does not take %s events", state.ErrInvalid, ev.Kind)
}

func (r *Runtime) walRollbackEvent(ctx context.Context, ev events.Event) (uint64, error) {
	if _, _, err := EventConn(ev); err != nil {
		return 0, err
	}
	res, err := r.cluster.Propose(ctx, state.TypeNoop, ev.ID, command.SourceNATS, nil)
	if err == nil && !res.Duplicate {
		r.KickRollback()
	}
	return index(res), err
}

func (r *Runtime) crashedEvent(ctx context.Context, ev events.Event) (uint64, error) {
	mount, name, err := EventConn(ev)
	if err != nil {
		return 0, err
	}
	if ev.Target.Type != events.TargetConnection {
		return 0, fmt.Errorf("%w: crashed events name a connection (mount/name)", state.ErrInvalid)
	}
	key := state.Key(mount, name)
	r.closeLive(ctx, key)
	res, err := r.cluster.Propose(ctx, state.TypeLifecycleFire, ev.ID, command.SourceNATS, state.LifecycleFire{
		Kind: fsm.KindPlugin, ID: key, Event: fsm.EventCrashed, Reason: "crash reported by event",
	})
	return index(res), err
}

func (r *Runtime) requestEvent(ctx context.Context, ev events.Event) (uint64, error) {
	mount, name, err := EventConn(ev)
	if err != nil {
		return 0, err
	}
	if ev.Target.Type != events.TargetConnection {
		return 0, fmt.Errorf("%w: request events name a connection (mount/name)", state.ErrInvalid)
	}
	res, err := r.cluster.Propose(ctx, state.TypeNoop, ev.ID, command.SourceNATS, nil)
	if err != nil || res.Duplicate {
		return index(res), err
	}
	if _, err := r.conn(ctx, state.Key(mount, name)); err != nil {
		return res.Index, err
	}
	return res.Index, nil
}

func index(r *state.Result) uint64 {
	if r == nil {
		return 0
	}
	return r.Index
}

// EventConn is the connection an event's target names ("mount/name"; the mount may have
// slashes: the name is the last element). A target id of another shape is an error only
// when the target is a connection.
func EventConn(ev events.Event) (mount, name string, err error) {
	id := ev.Target.ID
	i := strings.LastIndex(id, "/")
	if i <= 0 || i == len(id)-1 {
		if ev.Target.Type == events.TargetConnection {
			return "", "", fmt.Errorf("%w: connection %q: want mount/name, e.g. database/my-postgres", state.ErrInvalid, id)
		}
		return "", "", nil
	}
	return id[:i], id[i+1:], nil
}

func rejectIfBusiness(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{state.ErrInvalid, state.ErrNotFound, state.ErrExists, state.ErrConflict, state.ErrUnknownCommand} {
		if errors.Is(err, s) {
			return fmt.Errorf("%w: %w", events.ErrRejected, err)
		}
	}
	return err
}
