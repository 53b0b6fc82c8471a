package api

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/baton-hq/baton/plugins/database"
)

// TestLeasesByPrefix: revoke-prefix and revoke-force reach RevokePrefix with the prefix as
// given and the force flag; LIST lookup answers OpenBao's keys, or 404 with no errors when
// nothing is under the prefix; a caller without the token, or with a wrong or replayed-looking
// one, changes nothing.
func TestLeasesByPrefix(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		hdr    []string
		keys   []string
		fail   error
		want   int
		msg    string
		calls  []string
		listed []string
	}{
		{name: "revoke prefix", method: "PUT", path: "/v1/sys/leases/revoke-prefix/database/creds/ro", want: 204,
			calls: []string{"RevokePrefix database/creds/ro false"}},
		{name: "revoke prefix with slash", method: "POST", path: "/v1/sys/leases/revoke-prefix/database/", want: 204,
			calls: []string{"RevokePrefix database/ false"}},
		{name: "revoke force", method: "PUT", path: "/v1/sys/leases/revoke-force/database/creds/ro", want: 204,
			calls: []string{"RevokePrefix database/creds/ro true"}},
		{name: "revoke prefix without prefix", method: "PUT", path: "/v1/sys/leases/revoke-prefix/", want: 400, msg: "needs a prefix"},
		{name: "revoke prefix with GET", method: "GET", path: "/v1/sys/leases/revoke-prefix/database/", want: 405},
		{name: "revoke prefix incomplete", method: "PUT", path: "/v1/sys/leases/revoke-prefix/database/",
			fail: fmt.Errorf("revoke database/: %w: 2 users could not be deleted", database.ErrRevokeIncomplete), want: 500, msg: "2 users",
			calls: []string{"RevokePrefix database/ false"}},
		{name: "revoke prefix bad prefix", method: "PUT", path: "/v1/sys/leases/revoke-prefix/database/x",
			fail: fmt.Errorf("%w: lease prefix holds a control character", database.ErrInvalid), want: 400, msg: "control character",
			calls: []string{"RevokePrefix database/x false"}},
		{name: "lookup list", method: "LIST", path: "/v1/sys/leases/lookup/database/", keys: []string{"creds/"}, want: 200,
			calls: []string{"LookupPrefix database/"}, listed: []string{"creds/"}},
		{name: "lookup list by query", method: "GET", path: "/v1/sys/leases/lookup/database/creds/ro?list=true", keys: []string{"abc", "def"}, want: 200,
			calls: []string{"LookupPrefix database/creds/ro"}, listed: []string{"abc", "def"}},
		{name: "lookup list of nothing", method: "LIST", path: "/v1/sys/leases/lookup/nothing/", want: 404,
			calls: []string{"LookupPrefix nothing/"}},
		{name: "no token", method: "PUT", path: "/v1/sys/leases/revoke-prefix/database/", hdr: []string{TokenHeader, ""}, want: 403, msg: "permission denied"},
		{name: "wrong token", method: "PUT", path: "/v1/sys/leases/revoke-force/database/", hdr: []string{TokenHeader, "root-token-old"}, want: 403, msg: "permission denied"},
		{name: "bearer of a wrong token", method: "LIST", path: "/v1/sys/leases/lookup/database/", hdr: []string{TokenHeader, "", "Authorization", "Bearer nope"}, want: 403, msg: "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := newFakeSecrets()
			sec.leaseKeys = tt.keys
			if tt.fail != nil {
				sec.fail("RevokePrefix", tt.fail)
			}
			r := do(t, newTestServer(newFakeNode(), sec), tt.method, tt.path, nil, tt.hdr...)
			if r.status != tt.want || !strings.Contains(r.errs(), tt.msg) {
				t.Fatalf("%s %s: %d %q, want %d %q", tt.method, tt.path, r.status, r.errs(), tt.want, tt.msg)
			}
			if got := sec.got(); !slices.Equal(got, tt.calls) {
				t.Fatalf("calls %q, want %q", got, tt.calls)
			}
			if tt.want == 404 {
				if errs, ok := r.body["errors"].([]any); !ok || len(errs) != 0 {
					t.Fatalf("empty list answered %s, want OpenBao's 404 {\"errors\":[]}", r.raw)
				}
			}
			if tt.listed != nil {
				keys, _ := r.dataOf(t)["keys"].([]any)
				if fmt.Sprint(keys) != fmt.Sprint(tt.listed) {
					t.Fatalf("keys %v, want %v", keys, tt.listed)
				}
			}
		})
	}
}
