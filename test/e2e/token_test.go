package e2e

import (
	"net/http"
	"testing"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/testutil"
)

// TestRevokingATokenDeletesItsUsers, with real processes and a real PostgreSQL: a root-policy
// child token and its own child get credentials that log in; revoking the child token (which
// takes its child with it) deletes every PostgreSQL user their leases made, and only those. A
// token with two uses gets two credentials, is refused a third time, and its users go with it.
func TestRevokingATokenDeletesItsUsers(t *testing.T) {
	pg := pgtest.Start(t)
	c := harness.Start(t, harness.Options{Nodes: 1, PGServer: pg, PerformanceMultiplier: testMultiplier})
	c.SetupPGDB(t)
	ctx := testutil.Context(t, 3*callTimeout)
	active := c.WaitActive(t, nil, failoverTimeout)
	root := active.Client

	newToken := func(parent *testutil.Client, body map[string]any) *testutil.Client {
		t.Helper()
		r := parent.Must(t, ctx, "POST", "auth/token/create", body)
		a, _ := r.Body["auth"].(map[string]any)
		tok, _ := a["client_token"].(string)
		if tok == "" {
			t.Fatalf("create: no client_token: %s", r.Raw)
		}
		return &testutil.Client{Addr: root.Addr, Token: tok}
	}
	type cred struct{ user, password, lease string }
	issue := func(cl *testutil.Client) cred {
		t.Helper()
		u, p, l := creds(t, ctx, cl, harness.PGRole)
		mustLogin(t, ctx, pg, u, p, "issued credential")
		return cred{u, p, l}
	}
	gone := func(cr cred, what string) {
		t.Helper()
		testutil.Eventually(t, expiryTimeout, what+": user "+cr.user+" dropped", func() bool {
			ok, err := pg.RoleExists(ctx, cr.user)
			return err == nil && !ok
		})
		mustNotLogin(t, ctx, pg, cr.user, cr.password, what)
		if r, err := root.Do(ctx, "PUT", "sys/leases/lookup", map[string]any{"lease_id": cr.lease}); err != nil || r.Status != http.StatusBadRequest {
			t.Fatalf("%s: lookup of the lease: %v %d %s", what, err, r.Status, r.Raw)
		}
	}

	child := newToken(root, map[string]any{"policies": []string{"root"}})
	grandchild := newToken(child, map[string]any{})
	kept := issue(root)
	c1, c2 := issue(child), issue(child)
	g1 := issue(grandchild)

	root.Must(t, ctx, "POST", "auth/token/revoke", map[string]any{"token": child.Token}, http.StatusNoContent)
	for _, cr := range []cred{c1, c2, g1} {
		gone(cr, "after its token was revoked")
	}
	for _, cl := range []*testutil.Client{child, grandchild} {
		if r, err := cl.Do(ctx, "GET", harness.Mount+"/creds/"+harness.PGRole, nil); err != nil || r.Status != http.StatusForbidden {
			t.Fatalf("creds with a revoked token: %v %d %s", err, r.Status, r.Raw)
		}
	}
	mustLogin(t, ctx, pg, kept.user, kept.password, "the root token's credential, untouched")

	// num_uses: two uses, then refused; the last use revoked the token and its users.
	two := newToken(root, map[string]any{"policies": []string{"root"}, "num_uses": 2})
	u1, u2 := issue(two), issue(two)
	r, err := two.Do(ctx, "GET", harness.Mount+"/creds/"+harness.PGRole, nil)
	if err != nil || r.Status != http.StatusForbidden {
		t.Fatalf("third use of a 2-use token: %v %d %s", err, r.Status, r.Raw)
	}
	for _, cr := range []cred{u1, u2} {
		gone(cr, "after its token's last use")
	}
	mustLogin(t, ctx, pg, kept.user, kept.password, "the root token's credential, still untouched")
}
