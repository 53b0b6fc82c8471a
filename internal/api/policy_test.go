package api

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/baton-hq/baton/internal/acl"
)

const appPolicy = "path \"database/creds/ro\" {\n  capabilities = [\"read\"]\n}\n"

func newPolicyServer(n *fakeNode, p *fakePolicies) http.Handler {
	return New(Config{Node: n, Secrets: newFakeSecrets(), Policies: p, Tokens: newFakeTokens(n), Version: "v-test"}).Handler()
}

// TestPolicyEndpoints walks both policy APIs: status codes and OpenBao's shapes.
func TestPolicyEndpoints(t *testing.T) {
	p := newFakePolicies()
	h := newPolicyServer(newFakeNode(), p)

	r := do(t, h, "PUT", "/v1/sys/policies/acl/App", map[string]any{"policy": appPolicy})
	if r.status != http.StatusNoContent {
		t.Fatalf("PUT: %d %s", r.status, r.raw)
	}
	r = do(t, h, "GET", "/v1/sys/policies/acl/app", nil)
	if r.status != 200 {
		t.Fatalf("GET: %d %s", r.status, r.raw)
	}
	if d := r.dataOf(t); d["name"] != "app" || d["policy"] != appPolicy {
		t.Fatalf("GET data = %v, want name and policy", d)
	}
	for _, list := range []struct{ method, path string }{{"LIST", "/v1/sys/policies/acl"}, {"GET", "/v1/sys/policies/acl?list=true"}} {
		r = do(t, h, list.method, list.path, nil)
		if r.status != 200 {
			t.Fatalf("%s %s: %d %s", list.method, list.path, r.status, r.raw)
		}
		if got := r.dataOf(t)["keys"]; !reflect.DeepEqual(got, []any{"app", "default", "root"}) {
			t.Fatalf("%s keys = %v", list.method, got)
		}
	}
	// The older API: "rules", and a GET list with keys and policies.
	r = do(t, h, "POST", "/v1/sys/policy/ops", map[string]any{"rules": appPolicy})
	if r.status != http.StatusNoContent {
		t.Fatalf("old PUT (rules): %d %s", r.status, r.raw)
	}
	r = do(t, h, "PUT", "/v1/sys/policy/ops2", map[string]any{"policy": appPolicy})
	if r.status != http.StatusNoContent {
		t.Fatalf("old PUT (policy): %d %s", r.status, r.raw)
	}
	r = do(t, h, "GET", "/v1/sys/policy/ops", nil)
	if d := r.dataOf(t); r.status != 200 || d["name"] != "ops" || d["rules"] != appPolicy || r.body["rules"] != appPolicy {
		t.Fatalf("old GET: %d %s", r.status, r.raw)
	}
	r = do(t, h, "GET", "/v1/sys/policy", nil)
	want := []any{"app", "default", "ops", "ops2", "root"}
	if d := r.dataOf(t); r.status != 200 || !reflect.DeepEqual(d["keys"], want) || !reflect.DeepEqual(d["policies"], want) || !reflect.DeepEqual(r.body["policies"], want) {
		t.Fatalf("old list: %d %s", r.status, r.raw)
	}
	r = do(t, h, "GET", "/v1/sys/policies/acl/root", nil)
	if d := r.dataOf(t); r.status != 200 || d["name"] != "root" || d["policy"] != "" {
		t.Fatalf("GET root: %d %s", r.status, r.raw)
	}
	r = do(t, h, "DELETE", "/v1/sys/policies/acl/app", nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.status, r.raw)
	}
	r = do(t, h, "GET", "/v1/sys/policies/acl/app", nil)
	if r.status != http.StatusNotFound {
		t.Fatalf("GET after DELETE: %d %s (OpenBao's client reads 404 as no policy)", r.status, r.raw)
	}
	r = do(t, h, "DELETE", "/v1/sys/policy/ops", nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("old DELETE: %d %s", r.status, r.raw)
	}
	if _, ok := p.snapshot()["ops"]; ok {
		t.Fatal("old DELETE did not delete")
	}
}

// TestPolicyRefusals: bad HCL and the built-ins are 400 with a clear message; nothing changes.
func TestPolicyRefusals(t *testing.T) {
	cases := []struct {
		name, method, path string
		body               any
		want               int
		msg                string
	}{
		{"bad hcl", "PUT", "/v1/sys/policies/acl/p", map[string]any{"policy": "path \"a\" {\n  capabilities = [\"read\"\n}\n"}, 400, "line 3, column 1"},
		{"bad capability", "PUT", "/v1/sys/policy/p", map[string]any{"rules": "path \"a\" {\n  capabilities = [\"fly\"]\n}\n"}, 400, "line 2"},
		{"no text", "PUT", "/v1/sys/policies/acl/p", map[string]any{}, 400, "policy"},
		{"write root", "PUT", "/v1/sys/policies/acl/root", map[string]any{"policy": appPolicy}, 400, "built-in"},
		{"write ROOT old", "PUT", "/v1/sys/policy/ROOT", map[string]any{"rules": appPolicy}, 400, "built-in"},
		{"delete root", "DELETE", "/v1/sys/policies/acl/root", nil, 400, "built-in"},
		{"delete default", "DELETE", "/v1/sys/policy/default", nil, 400, "built-in"},
		{"name with slash", "PUT", "/v1/sys/policies/acl/a/b", map[string]any{"policy": appPolicy}, 400, "/"},
		{"list with PUT", "PUT", "/v1/sys/policies/acl", map[string]any{"policy": appPolicy}, 405, "LIST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakePolicies()
			before := p.snapshot()
			r := do(t, newPolicyServer(newFakeNode(), p), tc.method, tc.path, tc.body)
			if r.status != tc.want || !strings.Contains(r.errs(), tc.msg) {
				t.Fatalf("%d %q, want %d containing %q", r.status, r.errs(), tc.want, tc.msg)
			}
			if !reflect.DeepEqual(before, p.snapshot()) {
				t.Fatal("a refused request changed the store")
			}
		})
	}
}

// TestPolicyUnknownFieldIgnored: as on every write, an unknown field is accepted with OpenBao's
// warning and never stored; the policy itself is stored as sent.
func TestPolicyUnknownFieldIgnored(t *testing.T) {
	p := newFakePolicies()
	r := do(t, newPolicyServer(newFakeNode(), p), "PUT", "/v1/sys/policies/acl/p", map[string]any{"policy": appPolicy, "x": 1})
	if r.status != 200 || !strings.Contains(r.raw, "Endpoint ignored these unrecognized parameters: [x]") {
		t.Fatalf("%d %s, want 200 with the warning", r.status, r.raw)
	}
	got, err := p.Get("p")
	if err != nil || got.Text != appPolicy {
		t.Fatalf("stored %+v, %v; want the policy as sent", got, err)
	}
}

// TestPolicyDoorAttacker walks into the new door without a token, with a wrong one (both
// headers) and with a replayed PUT: 403 with OpenBao's words and nothing stored, and the replay
// changes nothing beyond the first write.
func TestPolicyDoorAttacker(t *testing.T) {
	for _, path := range []string{"/v1/sys/policies/acl/evil", "/v1/sys/policy/evil"} {
		for _, hdr := range [][]string{
			{TokenHeader, ""},
			{TokenHeader, "not-the-root-token"},
			{TokenHeader, "", "Authorization", "Bearer not-the-root-token"},
		} {
			for _, method := range []string{"PUT", "POST", "DELETE", "GET", "LIST"} {
				p := newFakePolicies()
				before := p.snapshot()
				h := newPolicyServer(newFakeNode(), p)
				r := do(t, h, method, path, map[string]any{"policy": appPolicy, "rules": appPolicy}, hdr...)
				if r.status != http.StatusForbidden || r.errs() != "permission denied" {
					t.Fatalf("%s %s %v: %d %s, want 403 permission denied", method, path, hdr, r.status, r.raw)
				}
				if len(p.got()) != 0 || !reflect.DeepEqual(before, p.snapshot()) {
					t.Fatalf("%s %s %v reached the store: %v", method, path, hdr, p.got())
				}
			}
		}
	}
	for _, path := range []string{"/v1/sys/policies/acl", "/v1/sys/policy"} {
		r := do(t, newPolicyServer(newFakeNode(), newFakePolicies()), "LIST", path, nil, TokenHeader, "")
		if r.status != http.StatusForbidden {
			t.Fatalf("LIST %s without a token: %d", path, r.status)
		}
	}

	// A replayed PUT (same request twice) is idempotent.
	p := newFakePolicies()
	h := newPolicyServer(newFakeNode(), p)
	for i := 0; i < 2; i++ {
		if r := do(t, h, "PUT", "/v1/sys/policies/acl/app", map[string]any{"policy": appPolicy}); r.status != http.StatusNoContent {
			t.Fatalf("PUT %d: %d %s", i, r.status, r.raw)
		}
		want := map[string]string{acl.DefaultName: acl.DefaultPolicyHCL, "app": appPolicy}
		if got := p.snapshot(); !reflect.DeepEqual(got, want) {
			t.Fatalf("after PUT %d: %v", i, got)
		}
	}
}
