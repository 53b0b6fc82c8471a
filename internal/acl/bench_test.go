package acl

import (
	"fmt"
	"testing"
	"time"
)

// appPolicy is a realistic application policy: its own creds and role, a KV subtree, a "+"
// pattern, a shared path that merges across policies, and a parameter constraint.
func appPolicy(i int) string {
	return fmt.Sprintf(`
path "database/creds/role-%[1]d" { capabilities = ["read"] }
path "database/roles/role-%[1]d" { capabilities = ["read", "list"] }
path "secret/app-%[1]d/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "kv/+/team-%[1]d/*" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "auth/token/create" {
  capabilities = ["update"]
  allowed_parameters = { "policies" = ["app-%[1]d"], "ttl" = [] }
}
`, i)
}

// benchRequests is the mix every benchmark evaluates: exact, glob and "+" hits, a deep glob
// hit, a parameter check, a miss and a sudo-protected path.
var benchRequests = []Request{
	{Operation: OpRead, Path: "database/creds/role-0"},
	{Operation: OpUpdate, Path: "secret/app-0/config/deep/nested/key"},
	{Operation: OpRead, Path: "kv/prod/team-0/service"},
	{Operation: OpUpdate, Path: "sys/leases/renew"},
	{Operation: OpUpdate, Path: "auth/token/create", Data: map[string]any{"policies": "app-0", "ttl": "1h"}},
	{Operation: OpRead, Path: "database/creds/unknown-role"},
	{Operation: OpUpdate, Path: "sys/plugins/catalog/database/pg"},
	{Operation: OpRead, Path: "auth/token/lookup-self"},
}

func benchAllowed(b *testing.B, n int) {
	texts := []string{DefaultPolicyHCL}
	for i := 0; i < n-1; i++ {
		texts = append(texts, appPolicy(i))
	}
	a := compile(b, texts...)
	// The requests are the same for every n; the first policy's grants must hold.
	if n > 1 {
		for _, r := range benchRequests[:5] {
			if d := a.Check(r); !d.Allowed {
				b.Fatalf("%s %s refused: %s", r.Operation, r.Path, d.Reason)
			}
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a.Check(benchRequests[i%len(benchRequests)])
		i++
	}
}

// BenchmarkAllowed1Policy is the baseline: the default policy alone.
func BenchmarkAllowed1Policy(b *testing.B) { benchAllowed(b, 1) }

// BenchmarkAllowed100Policies evaluates the same requests against the default policy and 99
// application policies (594 stanzas, 100 "+" patterns); the goal is ≤ 5 µs per check.
func BenchmarkAllowed100Policies(b *testing.B) { benchAllowed(b, 100) }

// BenchmarkAllowed1000Policies shows how the cost grows beyond the goal's size.
func BenchmarkAllowed1000Policies(b *testing.B) { benchAllowed(b, 1000) }

// BenchmarkCompile100Policies is the cost of compiling a token's ACL (to cache per policy set).
func BenchmarkCompile100Policies(b *testing.B) {
	texts := []string{DefaultPolicyHCL}
	for i := 0; i < 99; i++ {
		texts = append(texts, appPolicy(i))
	}
	ps := make([]*Policy, len(texts))
	for i, s := range texts {
		p, err := Parse(fmt.Sprint("p", i), []byte(s))
		if err != nil {
			b.Fatal(err)
		}
		ps[i] = p
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(time.Now(), ps...); err != nil {
			b.Fatal(err)
		}
	}
}
