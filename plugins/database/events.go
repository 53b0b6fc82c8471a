package database

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// HandleEvent applies a plugin- or connection-level event injected over NATS; part of
// core.Runtime. The event's id is the first command's id, so a redelivered event is applied
// once. A business refusal wraps events.ErrRejected so the event is not redelivered.
func (e *Engine) HandleEvent(ctx context.Context, ev events.Event) (uint64, error) {
	src := Source{EventID: ev.ID, From: command.SourceNATS}
	idx, err := e.handleEvent(ctx, ev, src)
	return idx, rejectIfBusiness(err)
}

func (e *Engine) handleEvent(ctx context.Context, ev events.Event, src Source) (uint64, error) {
	switch ev.Kind {
	case events.KindDisable:
		return e.indexOf(e.DisableMount(ctx, ev.Target.ID, src))
	case events.KindReload:
		if ev.Target.Type == events.TargetMount {
			return e.Reload(ctx, "", ev.Target.ID, src)
		}
		return e.Reload(ctx, ev.Target.ID, "", src)
	}
	mount, name, err := splitConn(ev.Target.ID)
	if err != nil && (ev.Target.Type == events.TargetConnection) {
		return 0, err
	}
	key := state.Key(mount, name)
	switch ev.Kind {
	case events.KindConnUpdate:
		in := ConfigInput{Details: map[string]any{}}
		for k, v := range ev.Params {
			in.Details[k] = v
		}
		if err := e.WriteConfig(ctx, mount, name, in, src); err != nil {
			return 0, err
		}
		return e.cluster.State().Index(), nil
	case events.KindConnDelete:
		return e.indexOf(e.DeleteConfig(ctx, mount, name, src))
	case events.KindConnReset:
		return e.indexOf(e.Reset(ctx, mount, name, src))
	case events.KindRootRotate:
		return e.indexOf(e.RotateRoot(ctx, mount, name, src))
	case events.KindWALRollback:
		r, err := e.cluster.Propose(ctx, state.TypeNoop, src.EventID, src.From, nil)
		if err == nil && !r.Duplicate {
			e.rollback.Kick()
		}
		return index(r), err
	case events.KindCrashed:
		if ev.Target.Type != events.TargetConnection {
			return 0, fmt.Errorf("%w: crashed events name a connection (mount/name)", state.ErrInvalid)
		}
		e.closeLive(ctx, key)
		r, err := e.cluster.Propose(ctx, state.TypeLifecycleFire, src.EventID, src.From, state.LifecycleFire{
			Kind: fsm.KindPlugin, ID: key, Event: fsm.EventCrashed, Reason: "crash reported by event",
		})
		return index(r), err
	case events.KindRequest:
		if ev.Target.Type != events.TargetConnection {
			return 0, fmt.Errorf("%w: request events name a connection (mount/name)", state.ErrInvalid)
		}
		r, err := e.cluster.Propose(ctx, state.TypeNoop, src.EventID, src.From, nil)
		if err != nil || r.Duplicate {
			return index(r), err
		}
		if _, err := e.conn(ctx, key); err != nil {
			return r.Index, err
		}
		return r.Index, nil
	}
	return 0, fmt.Errorf("%w: the database engine does not take %s events", state.ErrInvalid, ev.Kind)
}

func (e *Engine) indexOf(err error) (uint64, error) {
	if err != nil {
		return 0, err
	}
	return e.cluster.State().Index(), nil
}

func index(r *state.Result) uint64 {
	if r == nil {
		return 0
	}
	return r.Index
}

// splitConn splits "mount/name" (the mount may have slashes: the name is the last element).
func splitConn(id string) (mount, name string, err error) {
	i := strings.LastIndex(id, "/")
	if i <= 0 || i == len(id)-1 {
		return "", "", fmt.Errorf("%w: connection %q: want mount/name, e.g. database/my-postgres", state.ErrInvalid, id)
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

// openEntry opens the sealed env of a catalog entry for a spawn.
func (e *Engine) openEntry(entry catalog.Entry) (catalog.Entry, error) {
	if len(entry.SealedEnv) == 0 {
		return entry, nil
	}
	plain, err := e.cluster.Barrier().Decrypt(entry.SealedEnv)
	if err != nil {
		return entry, fmt.Errorf("open the env of plugin %q: %w", entry.Name, err)
	}
	entry.Env = strings.Split(string(plain), "\x00")
	entry.SealedEnv = nil
	return entry, nil
}
