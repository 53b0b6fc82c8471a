package auth

import (
	"context"
	"fmt"
	"testing"

	"github.com/baton-hq/baton/internal/acl"
)

// benchRequests is a mix of hits and misses: exact, glob and "+" grants, a parameter-free
// miss and a sudo path.
var benchRequests = []acl.Request{
	{Operation: acl.OpRead, Path: "database/creds/role-0"},
	{Operation: acl.OpUpdate, Path: "secret/app-0/config/deep/key"},
	{Operation: acl.OpRead, Path: "kv/prod/team-0/service"},
	{Operation: acl.OpUpdate, Path: "sys/leases/renew"},
	{Operation: acl.OpRead, Path: "database/creds/unknown-role"},
	{Operation: acl.OpUpdate, Path: "sys/plugins/catalog/database/pg"},
	{Operation: acl.OpRead, Path: "auth/token/lookup-self"},
}

// benchAuthorize measures the whole Authorize: resolve the token (a map lookup here, as an
// in-memory token store), its compiled ACL from the policy store (the cache's hit path, which
// reads the replicated policy version), the check.
func benchAuthorize(b *testing.B, token string, n int) {
	store := NewPolicyStore(newLocal())
	names := []string{acl.DefaultName}
	for i := range n - 1 {
		name := fmt.Sprint("app-", i)
		text := fmt.Sprintf(`path "database/creds/role-%[1]d" { capabilities = ["read"] }
path "database/roles/role-%[1]d" { capabilities = ["read", "list"] }
path "secret/app-%[1]d/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "kv/+/team-%[1]d/*" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }`, i)
		if err := store.Put(context.Background(), name, text); err != nil {
			b.Fatal(err)
		}
		names = append(names, name)
	}
	a := NewAuthorizer(&fakeTokens{ids: map[string]Identity{
		"app":  {Policies: names, DisplayName: "token-app"},
		"root": {Policies: []string{acl.RootName}, Root: true, DisplayName: "root"},
	}}, store)
	ctx := context.Background()
	if _, err := a.Authorize(ctx, token, benchRequests[0]); err != nil && n > 1 {
		b.Fatalf("the first request refused: %v", err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = a.Authorize(ctx, token, benchRequests[i%len(benchRequests)])
		i++
	}
}

// BenchmarkAuthorize100Policies: a token holding the default policy and 99 application
// policies; the goal is ≤ 5 µs per request (issue 11).
func BenchmarkAuthorize100Policies(b *testing.B) { benchAuthorize(b, "app", 100) }

// BenchmarkAuthorizeRoot is the root token's path, for comparison.
func BenchmarkAuthorizeRoot(b *testing.B) { benchAuthorize(b, "root", 100) }
