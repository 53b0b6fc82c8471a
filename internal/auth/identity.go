package auth

import (
	"context"
	"errors"
	"time"
)

// ErrPermissionDenied is a request its token does not allow: no token, an unknown, revoked,
// expired or used-up token, or a token whose policies do not grant the operation on the path.
// The HTTP API answers 403 "permission denied" and the NATS consumer refuses the event; the
// error's text never says which of these it was, nor what exists.
var ErrPermissionDenied = errors.New("permission denied")

// Identity is what a client token speaks for: what the authoriser checks and what audit
// devices and leases record. It never holds the token itself.
type Identity struct {
	// Accessor is the token's accessor (a handle that can look up or revoke the token but not
	// use it); audit devices HMAC it unless told otherwise.
	Accessor string
	// Policies are the token's policy names, default included unless it was left out.
	Policies []string
	// DisplayName is the token's display name ("token", "root", "token-app", …).
	DisplayName string
	// Root: the token carries the root policy.
	Root bool
	// ExpireTime is when the token stops working; zero for a token that never expires.
	ExpireTime time.Time
	// Meta is the token's metadata, as given at creation.
	Meta map[string]string
	// Internal: the node itself acting (events raised inside the node); never a client.
	Internal bool
}

// TokenResolver resolves a client token to the identity it speaks for. It fails with an
// error wrapping ErrPermissionDenied when the token is empty, unknown, revoked, expired or out
// of uses; a token with a use limit spends one use per successful Resolve. The token store
// implements it; the authoriser consumes it.
type TokenResolver interface {
	Resolve(ctx context.Context, token string) (Identity, error)
}

type identityKey struct{}

// WithIdentity returns a context carrying the identity the authoriser admitted, so that the
// handler behind it (creds, the token endpoints, audit) knows who asked.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom reads the identity WithIdentity put in ctx; ok is false when there is none.
func IdentityFrom(ctx context.Context) (id Identity, ok bool) {
	id, ok = ctx.Value(identityKey{}).(Identity)
	return id, ok
}
