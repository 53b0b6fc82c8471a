package e2e

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/testutil"
)

// TestPrefixRevokeAndPasswordPolicyWithPostgreSQL is issue 14 items 1 to 3 on a real node with
// real PostgreSQL: the connection's password_policy names an OpenBao password policy and the
// credentials' passwords come from it (and log in); a tuned mount caps the credentials with a
// warning; `baton lease revoke -prefix` (the request bao sends) drops every user it issued;
// LIST sys/leases/lookup then answers OpenBao's 404.
func TestPrefixRevokeAndPasswordPolicyWithPostgreSQL(t *testing.T) {
	pg := pgtest.Start(t)
	c := harness.Start(t, harness.Options{Nodes: 1, PGServer: pg, PerformanceMultiplier: testMultiplier})
	c.SetupPGDB(t)
	ctx := testutil.Context(t, 4*callTimeout)
	cl := c.Nodes[0].Client

	const policy = "length = 24\nrule \"charset\" {\n  charset   = \"abcdefghjkmnpqrstuvwxyz\"\n  min-chars = 4\n}\nrule \"charset\" {\n  charset   = \"23456789\"\n  min-chars = 4\n}\n"
	cl.Must(t, ctx, "PUT", "sys/policies/password/pg", map[string]any{"policy": policy}, http.StatusNoContent)
	cl.Must(t, ctx, "POST", harness.Mount+"/config/"+harness.PGConn, map[string]any{
		"plugin_name": "baton-postgresql-plugin", "allowed_roles": harness.PGRole, "verify_connection": true,
		"connection_url": pg.URLTemplate(), "username": c.PGRootUser, "password": c.PGRootPassword, "password_policy": "pg"})
	cl.Must(t, ctx, "POST", "sys/mounts/"+harness.Mount+"/tune", map[string]any{"max_lease_ttl": "30m"}, http.StatusNoContent)

	type cred struct{ user, password string }
	var issued []cred
	for range 3 {
		r := cl.Must(t, ctx, "GET", harness.Mount+"/creds/"+harness.PGRole, nil)
		user, _ := r.Data()["username"].(string)
		password, _ := r.Data()["password"].(string)
		if len(password) != 24 || strings.Trim(password, "abcdefghjkmnpqrstuvwxyz23456789") != "" {
			t.Fatalf("password %q is not from the policy", password)
		}
		if d, _ := r.Body["lease_duration"].(float64); d != 1800 || !strings.Contains(r.Raw, "capped") {
			t.Fatalf("credential under a 30m mount (role asks 1h): %s", r.Raw)
		}
		mustLogin(t, ctx, pg, user, password, "credential from the password policy")
		issued = append(issued, cred{user, password})
	}

	r := cl.Must(t, ctx, "LIST", "sys/leases/lookup/"+harness.Mount+"/creds/"+harness.PGRole+"/", nil)
	if keys, _ := r.Data()["keys"].([]any); len(keys) != 3 {
		t.Fatalf("LIST lookup: %s", r.Raw)
	}
	cmd := exec.CommandContext(ctx, c.NodeBin.Path, "lease", "revoke", "-prefix", harness.Mount+"/creds/"+harness.PGRole)
	cmd.Env = append(cleanEnv(), "BATON_ADDR="+c.Nodes[0].APIAddr, "BATON_TOKEN="+cl.Token)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("baton lease revoke -prefix: %v\n%s", err, out)
	}
	for _, cr := range issued {
		mustNotLogin(t, ctx, pg, cr.user, cr.password, "credential revoked by prefix")
		if exists, err := pg.RoleExists(ctx, cr.user); err != nil || exists {
			t.Fatalf("role %s still in PostgreSQL after the prefix revocation (%v)", cr.user, err)
		}
	}
	if r, err := cl.Do(ctx, "LIST", "sys/leases/lookup/"+harness.Mount+"/", nil); err != nil || r.Status != http.StatusNotFound {
		t.Fatalf("LIST lookup after the revocation: %v %d %s, want 404", err, r.Status, r.Raw)
	}
}
