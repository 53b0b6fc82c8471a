package acl

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary text to the parser. Properties: Parse never panics and either
// errors with a *ParseError or returns a policy that compiles; Check never panics; and an exact
// deny stanza is never overridden, whatever else the policy says.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		DefaultPolicyHCL,
		`path "secret/*" { capabilities = ["read"] }`,
		"path \"secret/super\" {\n capabilities = [\"deny\"]\n}\npath \"secret/*\" {\n policy = \"sudo\"\n}\n",
		"path \"kv/+/team/*\" {\n capabilities = [\"read\", \"list\"]\n allowed_parameters = { \"a\" = [], \"*\" = [] }\n}\n",
		"path \"p\" {\n capabilities = [\"update\"]\n denied_parameters = { \"x\" = [1, true, \"s*\"] }\n required_parameters = [\"x\"]\n min_wrapping_ttl = 1\n max_wrapping_ttl = \"1h\"\n expiration = \"2040-01-01T00:00:00Z\"\n}\n",
		`{"path": {"a/+/b": {"capabilities": ["read"]}}}`,
		"path \"a\" {\n capabilities = [\"read\"\n",
		"path \"+\" { capabilities = [\"list\"] }",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse("fuzz", []byte(src))
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			return
		}
		a, err := Compile(time.Now(), p)
		if err != nil {
			t.Fatalf("Compile of a parsed policy: %v", err)
		}
		for _, r := range p.Paths {
			probe := strings.TrimSuffix(r.Path, "*")
			for _, op := range []Operation{OpRead, OpUpdate, OpList, OpCreate} {
				d := a.Check(Request{Operation: op, Path: probe, Data: map[string]any{"x": 1}})
				if d.Allowed && d.Capabilities&op.Capability() == 0 {
					t.Fatalf("%s %q allowed without the capability: %+v", op, probe, d)
				}
				exactDeny := r.Capabilities == CapDeny && !r.Templated && r.Expiration.IsZero() &&
					!strings.ContainsAny(r.Path, "*+")
				if exactDeny && d.Allowed {
					t.Fatalf("%s %q allowed despite an exact deny", op, probe)
				}
			}
			_ = a.Capabilities(probe)
		}
	})
}

// FuzzCheck feeds arbitrary paths to a fixed ACL: Check never panics, the compiled lookup agrees
// with the reference, the denied path stays denied, and nothing outside the granted patterns is
// allowed.
func FuzzCheck(f *testing.F) {
	a := compile(f, DefaultPolicyHCL, `
path "secret/*" { capabilities = ["read", "list"] }
path "secret/super-secret" { capabilities = ["deny"] }
path "kv/+/team/*" { capabilities = ["read"] }
path "db/+/creds" { capabilities = ["read"] }
`)
	for _, s := range []string{"secret/x", "secret/super-secret", "kv/a/team/b", "db//creds", "/", "", "+", "kv/+/team/", "sys/seal"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if got, want := a.nonExact(path), refNonExact(a, path); got != want {
			t.Fatalf("path %q: trie and reference disagree", path)
		}
		for _, op := range []Operation{OpRead, OpList, OpUpdate} {
			d := a.Allowed(op, path)
			p := strings.TrimLeft(path, "/")
			if d.Allowed && p == "secret/super-secret" {
				t.Fatalf("%s %q allowed despite deny", op, path)
			}
			if d.Allowed && op == OpRead && !strings.HasPrefix(p, "secret/") && !strings.HasPrefix(p, "kv/") &&
				!strings.HasPrefix(p, "db/") && !strings.HasPrefix(p, "auth/token/") && !strings.HasPrefix(p, "sys/") &&
				!strings.HasPrefix(p, "cubbyhole/") && !strings.HasPrefix(p, "identity/") {
				t.Fatalf("read %q allowed outside every granted pattern: %+v", path, d)
			}
		}
	})
}
