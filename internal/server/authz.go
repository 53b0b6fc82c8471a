package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/acl"
	"github.com/baton-hq/baton/internal/auth"
)

// eventAuthorizer is the one authoriser behind the NATS event intake: an event is authorised
// as the HTTP request of the same action (events.ActionOf), so a token gets the same answer
// through either door.
type eventAuthorizer struct{ a *auth.Authorizer }

// AuthorizeEvent maps the event to its action and asks the authoriser; a refusal wraps
// events.ErrPermissionDenied.
func (e eventAuthorizer) AuthorizeEvent(ctx context.Context, token string, ev events.Event) error {
	act, err := events.ActionOf(ev)
	if err != nil {
		return err
	}
	op, err := acl.ParseOperation(act.Operation)
	if err != nil {
		return fmt.Errorf("event %s: %w", ev.Kind, err)
	}
	_, err = e.a.Authorize(ctx, token, acl.Request{Operation: op, Path: act.Path})
	if errors.Is(err, auth.ErrPermissionDenied) {
		return events.ErrPermissionDenied
	}
	return err
}
