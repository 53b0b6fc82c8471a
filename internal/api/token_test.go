package api

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/auth"
)

func newTokenServer() (http.Handler, *fakeTokens, *fakeRootGen) {
	n := newFakeNode()
	tk := newFakeTokens(n)
	tk.ids["s.app"] = auth.Identity{Accessor: "app-acc", Policies: []string{"app", "default"}, DisplayName: "token-app"}
	g := &fakeRootGen{}
	return New(Config{Node: n, Secrets: newFakeSecrets(), Tokens: tk, RootGenerator: g, Version: "v-test"}).Handler(), tk, g
}

// TestTokenEndpoints: each auth/token endpoint calls its one token-store method with what the
// request said, and answers in OpenBao's shape.
func TestTokenEndpoints(t *testing.T) {
	h, tk, _ := newTokenServer()
	tk.auth = auth.Auth{ClientToken: "s.new", Accessor: "acc-new", Policies: []string{"app", "default"}, TokenPolicies: []string{"app", "default"},
		LeaseDuration: time.Hour, Renewable: true, NumUses: 2, Metadata: map[string]string{"k": "v"}}
	tk.info = auth.TokenInfo{ID: "s.new", Accessor: "acc-new", Policies: []string{"default"}, Path: "auth/token/create", DisplayName: "token",
		TTL: 59 * time.Minute, CreationTTL: time.Hour, ExpireTime: time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC), NumUses: 1, Renewable: true}
	tk.accessors = []string{"a1", "a2"}

	r := do(t, h, "POST", "/v1/auth/token/create", map[string]any{"policies": []string{"app"}, "ttl": "1h", "num_uses": 2,
		"meta": map[string]string{"k": "v"}, "display_name": "x", "no_default_policy": false, "renewable": true})
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	a, _ := r.body["auth"].(map[string]any)
	if a["client_token"] != "s.new" || a["accessor"] != "acc-new" || a["lease_duration"] != float64(3600) || a["renewable"] != true ||
		!reflect.DeepEqual(a["policies"], []any{"app", "default"}) || !reflect.DeepEqual(a["token_policies"], []any{"app", "default"}) ||
		a["num_uses"] != float64(2) || a["token_type"] != "service" || a["orphan"] != false {
		t.Fatalf("create auth = %v", a)
	}
	if req := tk.lastReq; !slices.Equal(req.Policies, []string{"app"}) || req.TTL != time.Hour || req.NumUses != 2 || req.DisplayName != "x" || req.Meta["k"] != "v" || req.Orphan {
		t.Fatalf("create request = %+v", req)
	}
	// The body OpenBao's Go client sends for TokenCreateRequest{Policies, TTL, DisplayName,
	// Metadata}: its empty type and entity_alias and zero num_uses are always there.
	if r := do(t, h, "POST", "/v1/auth/token/create", map[string]any{"policies": []string{"app"}, "meta": map[string]string{"k": "v"},
		"ttl": "1h", "display_name": "bao", "num_uses": 0, "type": "", "entity_alias": ""}); r.status != 200 ||
		tk.lastReq.DisplayName != "bao" || tk.lastReq.TTL != time.Hour {
		t.Fatalf("create with OpenBao's client body: %d %s %+v", r.status, r.raw, tk.lastReq)
	}
	if r := do(t, h, "POST", "/v1/auth/token/create-orphan", map[string]any{}); r.status != 200 || !tk.lastReq.Orphan {
		t.Fatalf("create-orphan: %d %s %+v", r.status, r.raw, tk.lastReq)
	}
	r = do(t, h, "POST", "/v1/auth/token/lookup", map[string]any{"token": "s.new"})
	d := r.dataOf(t)
	if r.status != 200 || d["id"] != "s.new" || d["accessor"] != "acc-new" || d["ttl"] != float64(3540) || d["creation_ttl"] != float64(3600) ||
		d["expire_time"] != "2026-12-01T01:00:00Z" || d["num_uses"] != float64(1) || d["path"] != "auth/token/create" || d["renewable"] != true {
		t.Fatalf("lookup: %d %v", r.status, d)
	}
	if r := do(t, h, "LIST", "/v1/auth/token/accessors", nil); r.status != 200 || !reflect.DeepEqual(r.dataOf(t)["keys"], []any{"a1", "a2"}) {
		t.Fatalf("accessors: %d %s", r.status, r.raw)
	}
	for _, c := range []struct {
		method, path string
		body         map[string]any
		status       int
		call         string
	}{
		{"POST", "/v1/auth/token/lookup-accessor", map[string]any{"accessor": "acc-new"}, 200, "LookupAccessor acc-new"},
		{"POST", "/v1/auth/token/renew", map[string]any{"token": "s.new", "increment": "30m"}, 200, "Renew s.new 30m0s"},
		{"POST", "/v1/auth/token/revoke", map[string]any{"token": "s.new"}, 204, "Revoke s.new"},
		{"POST", "/v1/auth/token/revoke-orphan", map[string]any{"token": "s.new"}, 204, "RevokeOrphan s.new"},
		{"POST", "/v1/auth/token/revoke-accessor", map[string]any{"accessor": "acc-new"}, 204, "RevokeAccessor acc-new"},
		{"GET", "/v1/auth/token/lookup-self", nil, 200, "Lookup root-token"},
		{"POST", "/v1/auth/token/renew-self", map[string]any{"increment": 60}, 200, "Renew root-token 1m0s"},
		{"POST", "/v1/auth/token/revoke-self", nil, 204, "Revoke root-token"},
	} {
		r := do(t, h, c.method, c.path, c.body)
		got := tk.got()
		if r.status != c.status || len(got) == 0 || got[len(got)-1] != c.call {
			t.Errorf("%s %s: %d %s, last call %v, want %d and %q", c.method, c.path, r.status, r.raw, got, c.status, c.call)
		}
	}
}

// TestTokenEndpointsBadInput: bad fields are a 400 naming the field, and nothing is called.
func TestTokenEndpointsBadInput(t *testing.T) {
	h, tk, _ := newTokenServer()
	for _, c := range []struct {
		path string
		body any
		want string
	}{
		{"/v1/auth/token/create", map[string]any{"ttl": "forever"}, "ttl"},
		{"/v1/auth/token/create", map[string]any{"num_uses": "-1"}, "num_uses"},
		{"/v1/auth/token/create", map[string]any{"meta": "x"}, "meta"},
		{"/v1/auth/token/create", map[string]any{"policies": 5}, "policies"},
		{"/v1/auth/token/create", map[string]any{"bogus": 1}, "bogus"},
		{"/v1/auth/token/create", map[string]any{"type": "batch"}, "type"},
		{"/v1/auth/token/create", map[string]any{"entity_alias": "web"}, "entity_alias"},
		{"/v1/auth/token/create", "not json", "JSON"},
		{"/v1/auth/token/lookup", map[string]any{}, "missing token"},
		{"/v1/auth/token/revoke-accessor", map[string]any{}, "missing accessor"},
	} {
		r := do(t, h, "POST", c.path, c.body)
		if r.status != 400 || !strings.Contains(r.errs(), c.want) {
			t.Errorf("%s %v: %d %q, want 400 naming %q", c.path, c.body, r.status, r.errs(), c.want)
		}
	}
	if got := tk.got(); len(got) != 0 {
		t.Fatalf("bad input reached the token store: %v", got)
	}
}

// TestTokenCheckAsAnAttacker: without a token, with a wrong one, or with a non-root token on
// a root route, a request is 403 "permission denied" and reaches nothing; a non-root token
// may use the -self endpoints; Authorization: Bearer is read like X-Vault-Token.
func TestTokenCheckAsAnAttacker(t *testing.T) {
	h, tk, _ := newTokenServer()
	for _, c := range []struct {
		name, method, path string
		hdr                []string
	}{
		{"no token", "POST", "/v1/auth/token/create", []string{TokenHeader, ""}},
		{"wrong token", "POST", "/v1/auth/token/create", []string{TokenHeader, "s.guess"}},
		{"wrong bearer", "POST", "/v1/auth/token/revoke", []string{TokenHeader, "", "Authorization", "Bearer s.guess"}},
		{"no token on lookup-self", "GET", "/v1/auth/token/lookup-self", []string{TokenHeader, ""}},
		{"non-root on create", "POST", "/v1/auth/token/create", []string{TokenHeader, "s.app"}},
		{"non-root on accessors", "LIST", "/v1/auth/token/accessors", []string{TokenHeader, "s.app"}},
		{"non-root on seal", "PUT", "/v1/sys/seal", []string{TokenHeader, "s.app"}},
	} {
		r := do(t, h, c.method, c.path, nil, c.hdr...)
		if r.status != 403 || r.errs() != "permission denied" {
			t.Errorf("%s: %d %q, want 403 permission denied", c.name, r.status, r.errs())
		}
	}
	if got := tk.got(); len(got) != 0 {
		t.Fatalf("refused requests reached the token store: %v", got)
	}
	if r := do(t, h, "GET", "/v1/auth/token/lookup-self", nil, TokenHeader, "s.app"); r.status != 200 {
		t.Fatalf("lookup-self with an app token: %d %s", r.status, r.raw)
	}
	if r := do(t, h, "GET", "/v1/auth/token/lookup-self", nil, TokenHeader, "", "Authorization", "Bearer s.app"); r.status != 200 {
		t.Fatalf("lookup-self with a bearer token: %d %s", r.status, r.raw)
	}
}

// TestGenerateRootEndpoints: unauthenticated as in OpenBao; start without an OTP, update
// with a hex or base64 key; a key that is neither is a 400 and reaches nothing.
func TestGenerateRootEndpoints(t *testing.T) {
	h, _, g := newTokenServer()
	r := do(t, h, "GET", "/v1/sys/generate-root/attempt", nil, TokenHeader, "")
	if r.status != 200 || r.body["otp_length"] != float64(auth.OTPLength) || r.body["started"] != false {
		t.Fatalf("status: %d %s", r.status, r.raw)
	}
	if r := do(t, h, "PUT", "/v1/sys/generate-root/attempt", map[string]any{}, TokenHeader, ""); r.status != 200 || r.body["nonce"] != "n1" {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	if r := do(t, h, "PUT", "/v1/sys/generate-root/update", map[string]any{"key": "!!", "nonce": "n1"}, TokenHeader, ""); r.status != 400 {
		t.Fatalf("bad key: %d %s", r.status, r.raw)
	}
	if r := do(t, h, "PUT", "/v1/sys/generate-root/update", map[string]any{"nonce": "n1"}, TokenHeader, ""); r.status != 400 {
		t.Fatalf("no key: %d %s", r.status, r.raw)
	}
	key := strings.Repeat("ab", 32)
	r = do(t, h, "PUT", "/v1/sys/generate-root/update", map[string]any{"key": key, "nonce": "n1"}, TokenHeader, "")
	if r.status != 200 || r.body["complete"] != true || r.body["encoded_token"] != "enc" || r.body["encoded_root_token"] != "enc" {
		t.Fatalf("update: %d %s", r.status, r.raw)
	}
	if r := do(t, h, "DELETE", "/v1/sys/generate-root/attempt", nil, TokenHeader, ""); r.status != 204 {
		t.Fatalf("cancel: %d %s", r.status, r.raw)
	}
	if got := g.got(); !slices.Equal(got, []string{"Start ", "Update 32 n1", "Cancel"}) {
		t.Fatalf("calls %v", got)
	}
}
