package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/acl"
)

// fakeTokens resolves the tokens of a map, as the token store would; every other token is
// ErrPermissionDenied. It counts the calls, to show which requests reached it.
type fakeTokens struct {
	ids   map[string]Identity
	err   error // when set, every Resolve fails with it (the store sealed)
	calls int
}

func (f *fakeTokens) Resolve(_ context.Context, token string) (Identity, error) {
	f.calls++
	if f.err != nil {
		return Identity{}, f.err
	}
	id, ok := f.ids[token]
	if !ok || token == "" {
		return Identity{}, fmt.Errorf("token store: %w", ErrPermissionDenied)
	}
	return id, nil
}

const (
	sealerHCL = `path "sys/seal" { capabilities = ["update", "sudo"] }
path "sys/step-down" { capabilities = ["update"] }
`
	catalogNoSudoHCL = `path "sys/plugins/catalog/*" { capabilities = ["create", "update", "read"] }
`
	paramsHCL = `path "database/roles/*" {
  capabilities = ["create", "update"]
  allowed_parameters = { "db_name" = ["pg"], "*" = [] }
}
`
)

// authzFixture is an authoriser over a real policy store holding the test policies, and a
// fake token store with one token per kind.
func authzFixture(t *testing.T) (*Authorizer, *fakeTokens) {
	t.Helper()
	store := NewPolicyStore(newLocal())
	for name, text := range map[string]string{"app": readCreds, "sealer": sealerHCL, "catalog": catalogNoSudoHCL, "params": paramsHCL} {
		if err := store.Put(context.Background(), name, text); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	tokens := &fakeTokens{ids: map[string]Identity{
		"root-tok":    {Policies: []string{"root"}, Root: true, DisplayName: "root"},
		"app-tok":     {Policies: []string{"app", "default"}, DisplayName: "token-app", Accessor: "acc-app"},
		"sealer-tok":  {Policies: []string{"sealer", "default"}},
		"catalog-tok": {Policies: []string{"catalog", "default"}},
		"params-tok":  {Policies: []string{"params"}},
		"default-tok": {Policies: []string{"default"}},
		"nopol-tok":   {Policies: []string{"no-such-policy"}},
		"expired-tok": {Policies: []string{"root"}, Root: true, ExpireTime: time.Now().Add(-time.Minute)},
		"live-tok":    {Policies: []string{"app"}, ExpireTime: time.Now().Add(time.Hour)},
		"node-tok":    {Internal: true, Policies: []string{"root"}, Root: true},
	}}
	return NewAuthorizer(tokens, store), tokens
}

func TestAuthorize(t *testing.T) {
	a, _ := authzFixture(t)
	type req = acl.Request
	read := func(p string) req { return req{Operation: acl.OpRead, Path: p} }
	update := func(p string) req { return req{Operation: acl.OpUpdate, Path: p} }
	create := func(p string) req { return req{Operation: acl.OpCreate, Path: p} }
	del := func(p string) req { return req{Operation: acl.OpDelete, Path: p} }
	list := func(p string) req { return req{Operation: acl.OpList, Path: p} }
	cases := []struct {
		name  string
		token string
		req   req
		allow bool
	}{
		// The root token may do anything, sudo paths included.
		{"root reads creds", "root-tok", read("database/creds/ro"), true},
		{"root seals", "root-tok", update("sys/seal"), true},
		{"root registers a plugin", "root-tok", update("sys/plugins/catalog/database/pg"), true},
		{"root lists accessors", "root-tok", list("auth/token/accessors"), true},
		// An application token: its one grant, the default policy's, and nothing else.
		{"app reads its creds", "app-tok", read("database/creds/ro"), true},
		{"app cannot read another role's creds", "app-tok", read("database/creds/rw"), false},
		{"app cannot write its creds path", "app-tok", update("database/creds/ro"), false},
		{"app cannot read the connection config", "app-tok", read("database/config/pg"), false},
		{"app cannot register a plugin", "app-tok", update("sys/plugins/catalog/database/pg"), false},
		{"app cannot seal", "app-tok", update("sys/seal"), false},
		{"app cannot step down", "app-tok", update("sys/step-down"), false},
		{"app cannot delete a mount", "app-tok", del("sys/mounts/database"), false},
		{"app looks itself up (default policy)", "app-tok", read("auth/token/lookup-self"), true},
		{"app renews a lease (default policy)", "app-tok", update("sys/leases/renew"), true},
		{"app checks its capabilities (default policy)", "app-tok", update("sys/capabilities-self"), true},
		{"app cannot look up leases by prefix (sudo)", "app-tok", list("sys/leases/lookup/database/creds/ro"), false},
		// Sudo: the capability alone is not enough on a sudo path.
		{"sealer seals (update+sudo)", "sealer-tok", update("sys/seal"), true},
		{"sealer cannot step down (update without sudo)", "sealer-tok", update("sys/step-down"), false},
		{"catalog token cannot register without sudo", "catalog-tok", update("sys/plugins/catalog/database/pg"), false},
		{"catalog token cannot create without sudo", "catalog-tok", create("sys/plugins/catalog/database/pg"), false},
		{"catalog token cannot read without sudo", "catalog-tok", read("sys/plugins/catalog/database/pg"), false},
		// Parameter constraints apply to the request's data.
		{"params: allowed value", "params-tok", req{Operation: acl.OpCreate, Path: "database/roles/r", Data: map[string]any{"db_name": "pg", "ttl": "1h"}}, true},
		{"params: value not allowed", "params-tok", req{Operation: acl.OpCreate, Path: "database/roles/r", Data: map[string]any{"db_name": "other"}}, false},
		// Tokens that grant nothing.
		{"default only cannot read creds", "default-tok", read("database/creds/ro"), false},
		{"a policy that does not exist grants nothing", "nopol-tok", read("database/creds/ro"), false},
		{"unknown token", "not-a-token", read("auth/token/lookup-self"), false},
		{"empty token", "", read("auth/token/lookup-self"), false},
		{"expired token, even root", "expired-tok", read("database/creds/ro"), false},
		{"live token with an expiry", "live-tok", read("database/creds/ro"), true},
		{"a client token never speaks as the node", "node-tok", read("database/creds/ro"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := a.Authorize(context.Background(), tc.token, tc.req)
			if tc.allow {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				want := authzFixtureToken(t, a, tc.token)
				if id.DisplayName != want.DisplayName || id.Root != want.Root || len(id.Policies) != len(want.Policies) {
					t.Fatalf("identity %+v, want the token's %+v", id, want)
				}
				return
			}
			if !errors.Is(err, ErrPermissionDenied) {
				t.Fatalf("err = %v, want permission denied", err)
			}
			if err.Error() != "permission denied" {
				t.Fatalf("refusal says %q: it must say only \"permission denied\"", err)
			}
			var de *DeniedError
			if !errors.As(err, &de) || de.Reason == "" {
				t.Fatalf("refusal %v carries no reason for the log", err)
			}
			if id.DisplayName != "" || id.Policies != nil || id.Root {
				t.Fatalf("a refusal returned an identity: %+v", id)
			}
		})
	}
}

func authzFixtureToken(t *testing.T, a *Authorizer, token string) Identity {
	t.Helper()
	return a.tokens.(*fakeTokens).ids[token]
}

// An empty token is refused before the token store is asked (a store that counts uses or
// logs lookups never sees it); a store failure is not a refusal but the node's error.
func TestAuthorizeEmptyTokenAndStoreErrors(t *testing.T) {
	a, tokens := authzFixture(t)
	if _, err := a.Authorize(context.Background(), "", acl.Request{Operation: acl.OpRead, Path: "sys/mounts"}); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("empty token: %v", err)
	}
	if tokens.calls != 0 {
		t.Fatalf("the token store was asked about an empty token")
	}
	sealed := errors.New("barrier sealed")
	tokens.err = sealed
	_, err := a.Authorize(context.Background(), "root-tok", acl.Request{Operation: acl.OpRead, Path: "sys/mounts"})
	if !errors.Is(err, sealed) || errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("store failure: %v, want the store's error and not a refusal", err)
	}
}

// An unknown operation is refused, whoever asks but root (OpenBao's root policy has no
// capability check).
func TestAuthorizeUnknownOperation(t *testing.T) {
	a, _ := authzFixture(t)
	if _, err := a.Authorize(context.Background(), "app-tok", acl.Request{Operation: 0, Path: "database/creds/ro"}); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("unknown operation: %v", err)
	}
}

// A policy change takes effect on the next request: the authoriser holds no stale grant.
func TestAuthorizeSeesPolicyChanges(t *testing.T) {
	store := NewPolicyStore(newLocal())
	ctx := context.Background()
	if err := store.Put(ctx, "app", readCreds); err != nil {
		t.Fatal(err)
	}
	a := NewAuthorizer(&fakeTokens{ids: map[string]Identity{"t": {Policies: []string{"app"}}}}, store)
	r := acl.Request{Operation: acl.OpRead, Path: "database/creds/ro"}
	if _, err := a.Authorize(ctx, "t", r); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, "app", `path "database/creds/ro" { capabilities = ["deny"] }`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authorize(ctx, "t", r); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("after the policy denied it: %v", err)
	}
}

// A write on a path with an existence check is create when the resource is missing and update
// when it is there; the check is never run for an unknown token or for root.
func TestAuthorizeWriteExistenceCheck(t *testing.T) {
	store := NewPolicyStore(newLocal())
	ctx := context.Background()
	if err := store.Put(ctx, "creator", `path "database/roles/*" { capabilities = ["create"] }`); err != nil {
		t.Fatal(err)
	}
	a := NewAuthorizer(&fakeTokens{ids: map[string]Identity{
		"creator": {Policies: []string{"creator"}},
		"root":    {Policies: []string{"root"}, Root: true},
	}}, store)
	req := acl.Request{Path: "database/roles/new", Operation: acl.OpRead} // ignored: a write
	asked := 0
	missing := func() bool { asked++; return false }
	present := func() bool { asked++; return true }
	if _, err := a.AuthorizeWrite(ctx, "creator", req, missing); err != nil {
		t.Fatalf("create of a missing role with create: %v", err)
	}
	if _, err := a.AuthorizeWrite(ctx, "creator", req, present); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("update of an existing role with create only: %v", err)
	}
	if asked != 2 {
		t.Fatalf("existence asked %d times, want 2", asked)
	}
	for _, tok := range []string{"", "unknown", "root"} {
		_, _ = a.AuthorizeWrite(ctx, tok, req, missing)
	}
	if asked != 2 {
		t.Fatalf("existence asked for an empty, unknown or root token")
	}
}
