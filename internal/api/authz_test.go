package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/acl"
	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/plugins/database"
)

// fakeResolver is a token store with fixed tokens; any other token is refused as the real one
// refuses it.
type fakeResolver map[string]auth.Identity

func (f fakeResolver) Resolve(_ context.Context, token string) (auth.Identity, error) {
	id, ok := f[token]
	if !ok {
		return auth.Identity{}, fmt.Errorf("token store: %w", auth.ErrPermissionDenied)
	}
	return id, nil
}

// ACLFor compiles the fake store's texts, as the real store does (without its cache).
func (f *fakePolicies) ACLFor(names []string) (*acl.ACL, error) {
	var ps []*acl.Policy
	for _, n := range names {
		if n == acl.RootName {
			ps = append(ps, acl.RootPolicy())
			continue
		}
		f.mu.Lock()
		text, ok := f.texts[n]
		f.mu.Unlock()
		if !ok {
			continue
		}
		p, err := acl.Parse(n, []byte(text))
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return acl.Compile(time.Now(), ps...)
}

const (
	appToken     = "app-token"
	catalogToken = "catalog-token"
	sudoToken    = "sudo-token"
)

// authzServer is a server with the real authoriser over a fake token store: root-token is
// root; app-token holds only read on database/creds/ro (and the default policy);
// catalog-token holds create+update without sudo on sys/plugins/catalog/*; sudo-token holds
// create+update+sudo there.
func authzServer(t testing.TB, n *fakeNode, sec *fakeSecrets) (http.Handler, *fakePolicies) {
	t.Helper()
	return authzServerMemo(t, n, sec, false)
}

// authzServerMemo is authzServer, with the policy sets' ACLs compiled once when memo is set.
func authzServerMemo(t testing.TB, n *fakeNode, sec *fakeSecrets, memo bool) (http.Handler, *fakePolicies) {
	t.Helper()
	return authzServerFull(t, n, sec, memo, nil)
}

// authzServerWith is authzServer for a standby that forwards through fw.
func authzServerWith(t testing.TB, n *fakeNode, sec *fakeSecrets, fw Forwarder) (http.Handler, *fakePolicies) {
	t.Helper()
	return authzServerFull(t, n, sec, false, fw)
}

func authzServerFull(t testing.TB, n *fakeNode, sec *fakeSecrets, memo bool, fw Forwarder) (http.Handler, *fakePolicies) {
	t.Helper()
	pol := newFakePolicies()
	for name, text := range map[string]string{
		"app":          `path "database/creds/ro" { capabilities = ["read"] }`,
		"catalog":      `path "sys/plugins/catalog/*" { capabilities = ["create", "update"] }`,
		"catalog-sudo": `path "sys/plugins/catalog/*" { capabilities = ["create", "update", "sudo"] }`,
	} {
		if err := pol.Put(context.Background(), name, text); err != nil {
			t.Fatal(err)
		}
	}
	pol.calls = calls{}
	tokens := fakeResolver{
		"root-token": {Policies: []string{"root"}, Root: true, DisplayName: "root"},
		appToken:     {Policies: []string{"app", "default"}, DisplayName: "token-app"},
		catalogToken: {Policies: []string{"catalog", "default"}, DisplayName: "token"},
		sudoToken:    {Policies: []string{"catalog-sudo"}, DisplayName: "token"},
	}
	var acls auth.ACLSource = pol
	if memo {
		acls = &memoACL{src: pol, cache: map[string]*acl.ACL{}}
	}
	az := auth.NewAuthorizer(tokens, acls)
	return New(Config{Node: n, Secrets: sec, Policies: pol, Authorizer: az, Forwarder: fw, Version: "v-test", MaxRequestSize: testMaxRequestSize}).Handler(), pol
}

// memoACL compiles each policy set once, as the policy store's cache does (the fake store
// compiles on every call), for benchmarks.
type memoACL struct {
	src   *fakePolicies
	cache map[string]*acl.ACL
}

func (m *memoACL) ACLFor(names []string) (*acl.ACL, error) {
	key := strings.Join(names, "\x00")
	if a, ok := m.cache[key]; ok {
		return a, nil
	}
	a, err := m.src.ACLFor(names)
	if err == nil {
		m.cache[key] = a
	}
	return a, err
}

// authRoutes is one request on every authenticated route of the table, and the catch-all
// database engine's endpoints.
var authRoutes = []struct{ method, path string }{
	{"PUT", "/v1/sys/seal"},
	{"PUT", "/v1/sys/step-down"},
	{"GET", "/v1/sys/storage/raft/configuration"},
	{"POST", "/v1/sys/storage/raft/remove-peer"},
	{"PUT", "/v1/sys/plugins/catalog/database/pg"},
	{"GET", "/v1/sys/plugins/catalog"},
	{"DELETE", "/v1/sys/plugins/catalog/database/pg"},
	{"PUT", "/v1/sys/plugins/reload/backend"},
	{"GET", "/v1/sys/mounts"},
	{"POST", "/v1/sys/mounts/database"},
	{"DELETE", "/v1/sys/mounts/database"},
	{"PUT", "/v1/sys/leases/lookup"},
	{"PUT", "/v1/sys/leases/renew"},
	{"PUT", "/v1/sys/leases/revoke/database/creds/ro/x"},
	{"PUT", "/v1/sys/policies/acl/p"},
	{"GET", "/v1/sys/policies/acl/p"},
	{"DELETE", "/v1/sys/policy/p"},
	{"GET", "/v1/sys/lifecycle"},
	{"GET", "/v1/sys/nats/credentials"},
	{"POST", "/v1/sys/capabilities-self"},
	{"POST", "/v1/sys/capabilities"},
	{"POST", "/v1/database/config/pg"},
	{"GET", "/v1/database/config/pg"},
	{"DELETE", "/v1/database/config/pg"},
	{"POST", "/v1/database/roles/ro"},
	{"GET", "/v1/database/creds/ro"},
	{"POST", "/v1/database/rotate-root/pg"},
	{"POST", "/v1/database/reset/pg"},
	{"POST", "/v1/database/static-roles/app"},
	{"GET", "/v1/database/static-creds/app"},
}

// An attacker without a token, with a wrong one, with a wrong bearer token or with a token
// whose policies grant nothing there gets 403 "permission denied" on every authenticated
// route, and nothing behind the API is asked anything.
func TestEveryAuthRouteRefusesBadTokens(t *testing.T) {
	attempts := []struct {
		name string
		hdr  []string
	}{
		{"no token", []string{TokenHeader, ""}},
		{"wrong token", []string{TokenHeader, "root-token-not"}},
		{"wrong bearer", []string{TokenHeader, "", "Authorization", "Bearer guess"}},
		{"token of another prefix", []string{TokenHeader, "root"}},
	}
	for _, rt := range authRoutes {
		for _, a := range attempts {
			t.Run(rt.method+" "+rt.path+" "+a.name, func(t *testing.T) {
				n, sec := newFakeNode(), newFakeSecrets()
				h, pol := authzServer(t, n, sec)
				r := do(t, h, rt.method, rt.path, map[string]any{"paths": []string{"sys/seal"}, "token": "root-token", "type": "database", "command": "x", "sha256": "ab"}, a.hdr...)
				if r.status != http.StatusForbidden || strings.TrimSpace(r.raw) != `{"errors":["permission denied"]}` {
					t.Fatalf("status %d %s, want 403 {\"errors\":[\"permission denied\"]}", r.status, r.raw)
				}
				if got := append(append(n.got(), sec.got()...), pol.got()...); len(got) != 0 {
					t.Fatalf("a refused request reached the node or the engine: %v", got)
				}
			})
		}
	}
}

// The route table's unauthenticated paths are OpenBao's: they answer without a token.
func TestUnauthenticatedRoutes(t *testing.T) {
	for _, p := range []string{"sys/init", "sys/seal-status", "sys/unseal", "sys/health", "sys/leader", "sys/storage/raft/join", "sys/storage/raft/bootstrap/challenge", "sys/storage/raft/bootstrap/answer"} {
		s := New(Config{Node: newFakeNode(), Secrets: newFakeSecrets()})
		rt, _ := s.match(p)
		if rt == nil || rt.auth {
			t.Errorf("%s: want an unauthenticated route", p)
		}
	}
	for _, rt := range authRoutes {
		s := New(Config{Node: newFakeNode(), Secrets: newFakeSecrets()})
		r, _ := s.match(strings.TrimPrefix(rt.path, "/v1/"))
		if r == nil || !r.auth {
			t.Errorf("%s: want an authenticated route", rt.path)
		}
	}
}

// A token whose only policy is read on database/creds/ro gets its credential (the engine sees
// its display name) and is refused everything else: the connection config, another role,
// registering a plugin, sealing, stepping down, mounts, policies, NATS credentials.
func TestNarrowTokenGetsCredsAndNothingElse(t *testing.T) {
	n, sec := newFakeNode(), newFakeSecrets()
	h, _ := authzServer(t, n, sec)
	r := do(t, h, "GET", "/v1/database/creds/ro", nil, TokenHeader, appToken)
	if r.status != http.StatusOK {
		t.Fatalf("creds: %d %s", r.status, r.raw)
	}
	if got := sec.got(); !slices.Equal(got, []string{"Creds database/ ro token-app"}) {
		t.Fatalf("engine calls %v, want the creds call under the token's display name", got)
	}
	refused := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/database/config/pg", nil},
		{"GET", "/v1/database/creds/rw", nil},
		{"POST", "/v1/database/config/pg", map[string]any{"plugin_name": "pg"}},
		{"POST", "/v1/database/rotate-root/pg", nil},
		{"PUT", "/v1/sys/plugins/catalog/database/evil", map[string]any{"sha256": "ab", "command": "evil"}},
		{"PUT", "/v1/sys/seal", nil},
		{"PUT", "/v1/sys/step-down", nil},
		{"POST", "/v1/sys/mounts/other", map[string]any{"type": "database"}},
		{"PUT", "/v1/sys/policies/acl/app", map[string]any{"policy": `path "*" { capabilities = ["sudo","update"] }`}},
		{"GET", "/v1/sys/nats/credentials", nil},
		{"LIST", "/v1/sys/leases/lookup/database/creds/ro", nil},
	}
	// acted lists the calls that do something: the existence check's reads of a known
	// token's write (OpenBao runs it before the ACL check) are not actions.
	acted := func() []string {
		var out []string
		for _, c := range append(n.got(), sec.got()...) {
			if !strings.HasPrefix(c, "ReadConfig ") {
				out = append(out, c)
			}
		}
		return out
	}
	for _, q := range refused {
		before := len(acted())
		r := do(t, h, q.method, q.path, q.body, TokenHeader, appToken)
		if r.status != http.StatusForbidden {
			t.Errorf("%s %s: %d %s, want 403", q.method, q.path, r.status, r.raw)
		}
		if len(acted()) != before {
			t.Errorf("%s %s: refused but the node or engine acted: %v", q.method, q.path, acted())
		}
	}
	// The default policy's grants work as in OpenBao.
	if r := do(t, h, "PUT", "/v1/sys/leases/renew", map[string]any{"lease_id": "database/creds/ro/x"}, TokenHeader, appToken); r.status != http.StatusOK {
		t.Errorf("renew (default policy): %d %s", r.status, r.raw)
	}
}

// create+update without sudo on sys/plugins/catalog/* cannot register a plugin (OpenBao's sudo
// path); the same grant with sudo can.
func TestCatalogNeedsSudo(t *testing.T) {
	n, sec := newFakeNode(), newFakeSecrets()
	h, _ := authzServer(t, n, sec)
	entry := map[string]any{"sha256": strings.Repeat("ab", 32), "command": "pg"}
	if r := do(t, h, "PUT", "/v1/sys/plugins/catalog/database/pg", entry, TokenHeader, catalogToken); r.status != http.StatusForbidden {
		t.Fatalf("without sudo: %d %s, want 403", r.status, r.raw)
	}
	if got := sec.got(); len(got) != 0 {
		t.Fatalf("registered without sudo: %v", got)
	}
	if r := do(t, h, "PUT", "/v1/sys/plugins/catalog/database/pg", entry, TokenHeader, sudoToken); r.status/100 != 2 {
		t.Fatalf("with sudo: %d %s", r.status, r.raw)
	}
	if got := sec.got(); len(got) != 1 || !strings.HasPrefix(got[0], "RegisterPlugin database pg") {
		t.Fatalf("engine calls %v, want the registration", got)
	}
}

// A write to a connection that does not exist is a create: a token with update only may
// change an existing one but not create one (OpenBao's existence check).
func TestCreateVersusUpdate(t *testing.T) {
	n, sec := newFakeNode(), newFakeSecrets()
	_, pol := authzServer(t, n, sec)
	if err := pol.Put(context.Background(), "updater", `path "database/config/*" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	// A server whose token store holds a token with it.
	az := auth.NewAuthorizer(fakeResolver{"u": {Policies: []string{"updater"}}}, pol)
	h := New(Config{Node: n, Secrets: sec, Policies: pol, Authorizer: az}).Handler()
	body := map[string]any{"plugin_name": "pg"}
	if r := do(t, h, "POST", "/v1/database/config/pg", body, TokenHeader, "u"); r.status != http.StatusNoContent {
		t.Fatalf("update of an existing connection: %d %s", r.status, r.raw)
	}
	sec.fail("ReadConfig", fmt.Errorf("no such connection: %w", database.ErrNotFound))
	if r := do(t, h, "POST", "/v1/database/config/new", body, TokenHeader, "u"); r.status != http.StatusForbidden {
		t.Fatalf("create with update only: %d %s, want 403", r.status, r.raw)
	}
}

// sys/capabilities-self and sys/capabilities answer OpenBao's shape.
func TestCapabilitiesEndpoints(t *testing.T) {
	n, sec := newFakeNode(), newFakeSecrets()
	h, _ := authzServer(t, n, sec)
	r := do(t, h, "POST", "/v1/sys/capabilities-self", map[string]any{"paths": []string{"database/creds/ro", "sys/seal"}}, TokenHeader, appToken)
	if r.status != http.StatusOK {
		t.Fatalf("capabilities-self: %d %s", r.status, r.raw)
	}
	d, _ := r.body["data"].(map[string]any)
	if fmt.Sprint(d["database/creds/ro"]) != "[read]" || fmt.Sprint(d["sys/seal"]) != "[deny]" || d["capabilities"] != nil {
		t.Fatalf("capabilities-self data %v", d)
	}
	r = do(t, h, "POST", "/v1/sys/capabilities-self", map[string]any{"path": "database/creds/ro"}, TokenHeader, appToken)
	if fmt.Sprint(r.body["capabilities"]) != "[read]" {
		t.Fatalf("one path: %s", r.raw)
	}
	// sys/capabilities is not in the default policy: the app token may not ask about others.
	if r := do(t, h, "POST", "/v1/sys/capabilities", map[string]any{"token": "root-token", "paths": "sys/seal"}, TokenHeader, appToken); r.status != http.StatusForbidden {
		t.Fatalf("sys/capabilities with the default policy: %d", r.status)
	}
	r = do(t, h, "POST", "/v1/sys/capabilities", map[string]any{"token": appToken, "paths": "database/creds/ro"}, TokenHeader, "root-token")
	if r.status != http.StatusOK || fmt.Sprint(r.body["capabilities"]) != "[read]" {
		t.Fatalf("sys/capabilities for the app token: %d %s", r.status, r.raw)
	}
	if r := do(t, h, "POST", "/v1/sys/capabilities", map[string]any{"token": "nope", "paths": "a"}, TokenHeader, "root-token"); r.status != http.StatusBadRequest {
		t.Fatalf("sys/capabilities for an unknown token: %d %s", r.status, r.raw)
	}
}

// A standby never acts on a request: it forwards, and the active node refuses an
// unauthorised one; the standby's node and engine see nothing.
func TestStandbyForwardsAndActiveRefuses(t *testing.T) {
	an, asec := newFakeNode(), newFakeSecrets()
	ah, _ := authzServer(t, an, asec)
	active := httptest.NewServer(ah)
	t.Cleanup(active.Close)
	sn, ssec := newFakeNode(), newFakeSecrets()
	sn.active, sn.leaderID, sn.leaderAddr = false, "n1", "http://192.0.2.1:1"
	sh, _ := authzServerWith(t, sn, ssec, &fakeForwarder{leaders: map[string]string{"n1": active.URL}})
	for _, tok := range []string{"", "wrong", appToken} {
		r := do(t, sh, "PUT", "/v1/sys/seal", nil, TokenHeader, tok)
		if r.status != http.StatusForbidden {
			t.Fatalf("token %q through the standby: %d %s, want 403", tok, r.status, r.raw)
		}
	}
	if got := append(append(sn.got(), ssec.got()...), append(an.got(), asec.got()...)...); len(got) != 0 {
		t.Fatalf("calls %v, want none", got)
	}
	if r := do(t, sh, "PUT", "/v1/sys/seal", nil); r.status/100 != 2 {
		t.Fatalf("root through the standby: %d %s", r.status, r.raw)
	}
	if got := an.got(); !slices.Equal(got, []string{"Seal"}) || len(sn.got()) != 0 {
		t.Fatalf("active %v, standby %v: want the active node to seal", got, sn.got())
	}
}
