package api

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/baton-hq/baton/plugins/database"
)

// TestPasswordPolicyEndpoints: OpenBao's sys/policies/password paths reach the engine with the
// name and the text (raw or base64, as OpenBao takes it); a bad text is a 400 with the
// parser's line and column; without a token nothing is read, written or generated.
func TestPasswordPolicyEndpoints(t *testing.T) {
	const hcl = "length = 20\nrule \"charset\" { charset = \"abc\" }\n"
	b64 := "bGVuZ3RoID0gMjAKcnVsZSAiY2hhcnNldCIgeyBjaGFyc2V0ID0gImFiYyIgfQo="
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		hdr    []string
		fail   error
		keys   []string
		want   int
		msg    string
		calls  []string
		field  string
		value  string
	}{
		{name: "write", method: "PUT", path: "strong", body: map[string]any{"policy": hcl}, want: 204, calls: []string{"PutPasswordPolicy strong " + hcl}},
		{name: "write base64", method: "POST", path: "strong", body: map[string]any{"policy": b64}, want: 204, calls: []string{"PutPasswordPolicy strong " + hcl}},
		{name: "write without policy", method: "PUT", path: "strong", body: map[string]any{}, want: 400, msg: "policy is required"},
		{name: "write bad HCL", method: "PUT", path: "strong", body: map[string]any{"policy": "length = "},
			fail: fmt.Errorf("%w: password policy, line 1, column 10: Invalid expression", database.ErrInvalid), want: 400, msg: "line 1, column 10",
			calls: []string{"PutPasswordPolicy strong length = "}},
		{name: "read", method: "GET", path: "strong", want: 200, calls: []string{"ReadPasswordPolicy strong"}, field: "policy", value: "length = 20"},
		{name: "generate", method: "GET", path: "strong/generate", want: 200, calls: []string{"GeneratePassword strong"}, field: "password", value: "generated-pw"},
		{name: "list", method: "LIST", path: "", keys: []string{"strong"}, want: 200, calls: []string{"ListPasswordPolicies"}},
		{name: "list empty", method: "LIST", path: "", want: 404, calls: []string{"ListPasswordPolicies"}},
		{name: "delete", method: "DELETE", path: "strong", want: 204, calls: []string{"DeletePasswordPolicy strong"}},
		{name: "no token write", method: "PUT", path: "strong", body: map[string]any{"policy": hcl}, hdr: []string{TokenHeader, ""}, want: 403, msg: "permission denied"},
		{name: "wrong token generate", method: "GET", path: "strong/generate", hdr: []string{TokenHeader, "nope"}, want: 403, msg: "permission denied"},
		{name: "wrong token delete", method: "DELETE", path: "strong", hdr: []string{TokenHeader, "root-token "}, want: 403, msg: "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := newFakeSecrets()
			sec.leaseKeys = tt.keys
			if tt.fail != nil {
				sec.fail("PutPasswordPolicy", tt.fail)
			}
			r := do(t, newTestServer(newFakeNode(), sec), tt.method, "/v1/sys/policies/password/"+tt.path, tt.body, tt.hdr...)
			if r.status != tt.want || !strings.Contains(r.errs(), tt.msg) {
				t.Fatalf("%d %q, want %d %q (%s)", r.status, r.errs(), tt.want, tt.msg, r.raw)
			}
			if got := sec.got(); !slices.Equal(got, tt.calls) {
				t.Fatalf("calls %q, want %q", got, tt.calls)
			}
			if tt.field != "" && r.dataOf(t)[tt.field] != tt.value {
				t.Fatalf("%s = %v, want %q", tt.field, r.dataOf(t)[tt.field], tt.value)
			}
		})
	}
}
