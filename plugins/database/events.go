package database

import (
	"context"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/plugins/runtime"
	"github.com/baton-hq/baton/raftstore/command"
)

// The engine's NATS event handlers, registered with the runtime by kind. Each is the same
// function the HTTP API calls for the action, with the event's id as the command id, so a
// redelivered event is applied once.

func natsSource(ev events.Event) Source { return Source{EventID: ev.ID, From: command.SourceNATS} }

func (e *Engine) disableEvent(ctx context.Context, ev events.Event) (uint64, error) {
	return e.indexOf(e.DisableMount(ctx, ev.Target.ID, natsSource(ev)))
}

func (e *Engine) reloadEvent(ctx context.Context, ev events.Event) (uint64, error) {
	if ev.Target.Type == events.TargetMount {
		return e.Reload(ctx, "", ev.Target.ID, natsSource(ev))
	}
	return e.Reload(ctx, ev.Target.ID, "", natsSource(ev))
}

func (e *Engine) connUpdateEvent(ctx context.Context, ev events.Event) (uint64, error) {
	mount, name, err := runtime.EventConn(ev)
	if err != nil {
		return 0, err
	}
	in := ConfigInput{Details: map[string]any{}}
	for k, v := range ev.Params {
		in.Details[k] = v
	}
	if err := e.WriteConfig(ctx, mount, name, in, natsSource(ev)); err != nil {
		return 0, err
	}
	return e.cluster.State().Index(), nil
}

func (e *Engine) connDeleteEvent(ctx context.Context, ev events.Event) (uint64, error) {
	mount, name, err := runtime.EventConn(ev)
	if err != nil {
		return 0, err
	}
	return e.indexOf(e.DeleteConfig(ctx, mount, name, natsSource(ev)))
}

func (e *Engine) connResetEvent(ctx context.Context, ev events.Event) (uint64, error) {
	mount, name, err := runtime.EventConn(ev)
	if err != nil {
		return 0, err
	}
	return e.indexOf(e.Reset(ctx, mount, name, natsSource(ev)))
}

func (e *Engine) rootRotateEvent(ctx context.Context, ev events.Event) (uint64, error) {
	mount, name, err := runtime.EventConn(ev)
	if err != nil {
		return 0, err
	}
	return e.indexOf(e.RotateRoot(ctx, mount, name, natsSource(ev)))
}

// indexOf is the state's index after an action that reports no result of its own.
func (e *Engine) indexOf(err error) (uint64, error) {
	if err != nil {
		return 0, err
	}
	return e.cluster.State().Index(), nil
}
