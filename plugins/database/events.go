package database

import (
	"context"
	"slices"
	"strconv"
	"strings"

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

// connUpdateEvent changes the settings events.ConnUpdateParams lists, and nothing else: no
// event may change where the stored root credential is sent. events.Decode already refused any
// other param; connUpdateInput refuses them again, so that a caller that skipped decoding
// cannot get past this handler either. Both refusals come before the config is written, so no
// plugin is initialised with it.
func (e *Engine) connUpdateEvent(ctx context.Context, ev events.Event) (uint64, error) {
	mount, name, err := runtime.EventConn(ev)
	if err != nil {
		return 0, err
	}
	in, err := connUpdateInput(ev.Params)
	if err != nil {
		return 0, err
	}
	if err := e.WriteConfig(ctx, mount, name, in, natsSource(ev)); err != nil {
		return 0, err
	}
	return e.cluster.State().Index(), nil
}

// connUpdateInput maps a conn_update event's params to a config write; a param outside
// events.ConnUpdateParams is refused by name.
func connUpdateInput(params map[string]string) (ConfigInput, error) {
	in := ConfigInput{Details: map[string]any{}}
	for k, v := range params {
		if !slices.Contains(events.ConnUpdateParams, k) {
			return ConfigInput{}, invalid("params.%s: conn_update cannot change %s over NATS; change it over the HTTP API", k, k)
		}
		switch k {
		case "allowed_roles":
			in.AllowedRoles = splitList(v)
		case "verify_connection":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return ConfigInput{}, invalid("params.verify_connection: want true or false")
			}
			in.VerifyConnection = &b
		case "password_policy":
			in.PasswordPolicy = &v
		default:
			in.Details[k] = v
		}
	}
	return in, nil
}

// splitList splits a comma-separated list, as the HTTP API accepts allowed_roles.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
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
