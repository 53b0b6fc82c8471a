package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/acl"
	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/internal/core"
)

// rootResolver resolves the root token, and no other, to the root identity: the token store
// that implements auth.TokenResolver for every token replaces it (issue 11 item 1).
type rootResolver struct{ node *core.Node }

// Resolve admits the root token from sys/init (checked against its hash in the replicated
// state); any other token is auth.ErrPermissionDenied.
func (r rootResolver) Resolve(_ context.Context, token string) (auth.Identity, error) {
	if err := r.node.CheckRootToken(token); err != nil {
		if errors.Is(err, core.ErrPermissionDenied) {
			return auth.Identity{}, fmt.Errorf("root token check: %w", auth.ErrPermissionDenied)
		}
		return auth.Identity{}, err
	}
	return auth.Identity{Policies: []string{acl.RootName}, Root: true, DisplayName: "root"}, nil
}

// tokenResolver asks the configured resolver first, then the root-token check, so that the
// root token works beside a resolver that does not know it.
type tokenResolver struct {
	tokens auth.TokenResolver // nil: none
	root   rootResolver
}

// Resolve is the configured resolver's answer, or the root check's when it does not know the
// token.
func (r tokenResolver) Resolve(ctx context.Context, token string) (auth.Identity, error) {
	if r.tokens != nil {
		id, err := r.tokens.Resolve(ctx, token)
		if !errors.Is(err, auth.ErrPermissionDenied) {
			return id, err
		}
	}
	return r.root.Resolve(ctx, token)
}

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
