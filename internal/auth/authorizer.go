package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/baton-hq/baton/internal/acl"
)

// ACLSource compiles the ACL of a set of policy names. *PolicyStore implements it (ACLFor,
// cached per set); the authoriser's tests use a fake.
type ACLSource interface {
	ACLFor(policies []string) (*acl.ACL, error)
}

// DeniedError is a refusal by the authoriser. Its text is OpenBao's bare "permission denied",
// whatever the cause, so that a caller learns nothing of what exists; Reason says why, for the
// node's logs and audit only. It wraps ErrPermissionDenied.
type DeniedError struct {
	// Reason is why the request was refused ("no token", "unknown token", or the ACL's reason).
	Reason string
}

func (e *DeniedError) Error() string { return ErrPermissionDenied.Error() }

// Unwrap makes errors.Is(err, ErrPermissionDenied) hold.
func (e *DeniedError) Unwrap() error { return ErrPermissionDenied }

func denied(reason string) error { return &DeniedError{Reason: reason} }

// NodeIdentity is the identity of the node itself. Events and actions raised inside the node
// (crash records, the rollback manager, the expiry of leases, a seal the node decides) never
// cross a door: they call the action's one function directly, with a context carrying this
// identity (WithIdentity) so that what records the caller (leases, audit) names the node. No
// token resolves to it, and Authorize refuses an identity marked Internal that a resolver
// might hand back for a client token: the node's authority is never reachable from outside.
func NodeIdentity() Identity {
	return Identity{Internal: true, DisplayName: "node"}
}

// Authorizer is the one authoriser: it decides whether a token may perform an operation on a
// path. The HTTP edge calls it for every authenticated route and the NATS consumer and inject
// subject for every event (mapped to the path and operation of the same action over HTTP),
// so that a client gets the same answer whichever door it uses.
type Authorizer struct {
	tokens TokenResolver
	acls   ACLSource
	now    func() time.Time
}

// NewAuthorizer returns the authoriser over a token resolver (the token store, or until it
// exists the root-token check) and the policy store.
func NewAuthorizer(tokens TokenResolver, acls ACLSource) *Authorizer {
	return &Authorizer{tokens: tokens, acls: acls, now: time.Now}
}

// Authorize resolves token, compiles its policies and checks req against them: the
// operation's capability on the path, sudo on OpenBao's sudo-protected paths (acl.SudoRequired)
// and the parameter constraints on req.Data. It returns the identity the token speaks for,
// which the caller puts in the request's context (WithIdentity). A refusal is a *DeniedError
// (errors.Is ErrPermissionDenied) that says nothing the caller could learn from; any other
// error (the store sealed, a stored policy that no longer compiles) is the node's fault and
// passes through wrapped.
//
// A token with a use limit spends one use here (in Resolve), even when the check then
// refuses, as OpenBao spends it in CheckToken.
func (a *Authorizer) Authorize(ctx context.Context, token string, req acl.Request) (Identity, error) {
	return a.authorize(ctx, token, req, nil)
}

// AuthorizeWrite is Authorize for a write (POST or PUT) on a path where OpenBao runs an
// existence check: the operation is update, or create when exists reports that the resource
// is not there yet. exists is asked only once the token is known and only when its policies
// are not root, so an unauthenticated request reads nothing; req.Operation is ignored.
func (a *Authorizer) AuthorizeWrite(ctx context.Context, token string, req acl.Request, exists func() bool) (Identity, error) {
	req.Operation = acl.OpUpdate
	return a.authorize(ctx, token, req, exists)
}

func (a *Authorizer) authorize(ctx context.Context, token string, req acl.Request, exists func() bool) (Identity, error) {
	if token == "" {
		return Identity{}, denied("no token")
	}
	id, err := a.tokens.Resolve(ctx, token)
	if errors.Is(err, ErrPermissionDenied) {
		return Identity{}, denied("unknown, expired or revoked token")
	}
	if err != nil {
		return Identity{}, fmt.Errorf("resolving the token: %w", err)
	}
	switch {
	case id.Internal:
		// A resolver bug must not hand the node's authority to a client.
		return Identity{}, denied("a client token resolved to the node's identity")
	case !id.ExpireTime.IsZero() && !a.now().Before(id.ExpireTime):
		return Identity{}, denied("expired token")
	}
	compiled, err := a.acls.ACLFor(id.Policies)
	if err != nil {
		return Identity{}, fmt.Errorf("compiling the token's policies: %w", err)
	}
	if exists != nil && !compiled.IsRoot() && !exists() {
		req.Operation = acl.OpCreate
	}
	if d := compiled.Check(req); !d.Allowed {
		return Identity{}, denied(fmt.Sprintf("%s on %s: %s", req.Operation, req.Path, d.Reason))
	}
	return id, nil
}

// Capabilities resolves token and lists what its policies grant on each path, as OpenBao's
// sys/capabilities and sys/capabilities-self report it (["root"] for a root token, ["deny"]
// where nothing is granted). An empty, unknown or expired token is a *DeniedError. Resolving
// spends a use of a use-limited token, as any request with it does.
func (a *Authorizer) Capabilities(ctx context.Context, token string, paths []string) (map[string][]string, error) {
	if token == "" {
		return nil, denied("no token")
	}
	id, err := a.tokens.Resolve(ctx, token)
	if errors.Is(err, ErrPermissionDenied) {
		return nil, denied("unknown, expired or revoked token")
	}
	if err != nil {
		return nil, fmt.Errorf("resolving the token: %w", err)
	}
	if id.Internal || !id.ExpireTime.IsZero() && !a.now().Before(id.ExpireTime) {
		return nil, denied("expired token, or one that resolved to the node")
	}
	compiled, err := a.acls.ACLFor(id.Policies)
	if err != nil {
		return nil, fmt.Errorf("compiling the token's policies: %w", err)
	}
	out := make(map[string][]string, len(paths))
	for _, p := range paths {
		out[p] = compiled.Capabilities(p)
	}
	return out, nil
}
