package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// TokenHeader is the NATS message header that carries an event's Baton token, under the name
// of OpenBao's HTTP header. It is read from the JetStream events subject and the inject
// subject alike; the token is never copied into a reply, a rejection, a log line or the
// replicated state.
const TokenHeader = "X-Vault-Token"

// ErrPermissionDenied is wrapped by the refusal of an event whose token is missing, unknown,
// expired or lacks the capability. Its text is OpenBao's; the reason after it names the
// event's action (which the submitter chose), never what exists.
var ErrPermissionDenied = errors.New("permission denied")

// Authorizer decides whether token may carry out ev: the event is authorised as the same
// action over HTTP (ActionOf). It fails with an error wrapping ErrPermissionDenied when the
// token may not; any other error (the node sealed, its token store unreachable) is passing
// and the event is redelivered. The node wires the one authoriser (internal/auth) into it.
type Authorizer interface {
	AuthorizeEvent(ctx context.Context, token string, ev Event) error
}

// Action is the HTTP request an event is authorised as: an operation ("update", "delete", as
// OpenBao names them) on an API path without /v1/.
type Action struct {
	Operation string
	Path      string
}

// actions is the one table from event kind to the HTTP action whose capability the event's
// token needs. It sits beside the kinds so that a new kind cannot be added without deciding
// who may send it (TestEveryKindHasAnAction). sys/seal, sys/step-down and sys/shutdown are
// sudo paths (internal/acl), so those events need sudo as over HTTP. The kinds that have no
// HTTP twin are mapped to the nearest action:
//   - shutdown: sys/shutdown update (Baton's own sudo path; OpenBao has no endpoint);
//   - wal_rollback: <mount>/rotate-root/<name> update (it resolves an interrupted root
//     rotation: whoever may rotate the root credential may ask for that);
//   - crashed and request on a connection: <mount>/reset/<name> update (both act on the
//     connection's live plugin instance as a reset does); on a plugin or a mount:
//     sys/plugins/reload/backend update (the action on a plugin's instances).
var actions = map[Kind]func(t Target) (Action, error){
	KindSeal:        fixed("update", "sys/seal"),
	KindStepDown:    fixed("update", "sys/step-down"),
	KindShutdown:    fixed("update", "sys/shutdown"),
	KindReload:      fixed("update", "sys/plugins/reload/backend"),
	KindDisable:     mountAction("delete", "sys/mounts/"),
	KindConnUpdate:  connAction("update", "config"),
	KindConnDelete:  connAction("delete", "config"),
	KindConnReset:   connAction("update", "reset"),
	KindRootRotate:  connAction("update", "rotate-root"),
	KindWALRollback: connAction("update", "rotate-root"),
	KindCrashed:     instanceAction,
	KindRequest:     instanceAction,
}

func fixed(op, path string) func(Target) (Action, error) {
	return func(Target) (Action, error) { return Action{Operation: op, Path: path}, nil }
}

func mountAction(op, prefix string) func(Target) (Action, error) {
	return func(t Target) (Action, error) {
		m := strings.Trim(t.ID, "/")
		if m == "" {
			return Action{}, invalid("target.id", "missing mount path")
		}
		return Action{Operation: op, Path: prefix + m}, nil
	}
}

// connAction maps a connection "mount/name" to <mount>/<endpoint>/<name>, the database
// engine's path for it.
func connAction(op, endpoint string) func(Target) (Action, error) {
	return func(t Target) (Action, error) {
		mount, name, err := splitConn(t.ID)
		if err != nil {
			return Action{}, err
		}
		return Action{Operation: op, Path: mount + "/" + endpoint + "/" + name}, nil
	}
}

func instanceAction(t Target) (Action, error) {
	if t.Type == TargetConnection {
		return connAction("update", "reset")(t)
	}
	return Action{Operation: "update", Path: "sys/plugins/reload/backend"}, nil
}

// splitConn splits a connection id at its last '/' (the mount may itself hold '/').
func splitConn(id string) (mount, name string, err error) {
	i := strings.LastIndex(id, "/")
	if i <= 0 || i == len(id)-1 {
		return "", "", invalid("target.id", "connection %q: want mount/name, e.g. database/my-postgres", clip(id, 64))
	}
	return strings.Trim(id[:i], "/"), id[i+1:], nil
}

// ActionOf is the HTTP action an event is authorised as. ev must be valid (Decode).
func ActionOf(ev Event) (Action, error) {
	f, ok := actions[ev.Kind]
	if !ok {
		return Action{}, invalid("kind", "unknown kind %q", clip(string(ev.Kind), 64))
	}
	return f(ev.Target)
}

// authorizeEvent runs a, or refuses every event when the node has none (fail closed). The
// error of a refusal wraps ErrPermissionDenied and says what the token needed.
func authorizeEvent(ctx context.Context, a Authorizer, token string, ev Event) error {
	act, err := ActionOf(ev)
	if err != nil {
		return err
	}
	switch {
	case a == nil:
		return fmt.Errorf("%w: this node authorises no events", ErrPermissionDenied)
	case token == "":
		return fmt.Errorf("%w: no %s header: an event needs a Baton token allowing %s on %s", ErrPermissionDenied, TokenHeader, act.Operation, act.Path)
	}
	err = a.AuthorizeEvent(ctx, token, ev)
	if errors.Is(err, ErrPermissionDenied) {
		return fmt.Errorf("%w: the %s token does not allow %s on %s", ErrPermissionDenied, TokenHeader, act.Operation, act.Path)
	}
	return err
}
