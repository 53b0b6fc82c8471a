package acl

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// compile parses each text as policy p0, p1, … and compiles them now.
func compile(t testing.TB, texts ...string) *ACL {
	t.Helper()
	ps := make([]*Policy, 0, len(texts))
	for i, s := range texts {
		p, err := Parse(fmt.Sprintf("p%d", i), []byte(s))
		if err != nil {
			t.Fatalf("Parse p%d: %v", i, err)
		}
		ps = append(ps, p)
	}
	a, err := Compile(time.Now(), ps...)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return a
}

// check is one expected decision.
type check struct {
	op    Operation
	path  string
	allow bool
}

func runChecks(t *testing.T, a *ACL, checks []check) {
	t.Helper()
	for _, c := range checks {
		d := a.Allowed(c.op, c.path)
		if d.Allowed != c.allow {
			t.Errorf("%s %q: allowed=%v (reason %q), want %v", c.op, c.path, d.Allowed, d.Reason, c.allow)
		}
	}
}

// TestDocumentedMatching walks the examples of OpenBao's policy page ("Policy syntax"): exact
// paths, globs and "+" segments.
func TestDocumentedMatching(t *testing.T) {
	a := compile(t, `
path "secret/foo" { capabilities = ["read"] }
path "secret/bar/*" { capabilities = ["read"] }
path "secret/zip-*" { capabilities = ["read"] }
path "secret/+/teamb" { capabilities = ["read"] }
path "secret/+/+/teamb" { capabilities = ["read"] }
`)
	runChecks(t, a, []check{
		{OpRead, "secret/foo", true},
		{OpRead, "secret/food", false},
		{OpRead, "secret/foo/bar", false},
		{OpUpdate, "secret/foo", false},
		{OpRead, "secret/bar/zip", true},
		{OpRead, "secret/bar/zip/zap", true},
		{OpRead, "secret/bars/zip", false},
		{OpRead, "secret/zip-zap", true},
		{OpRead, "secret/zip-zap/zong", true},
		{OpRead, "secret/zip/zap", false},
		{OpRead, "secret/foo/teamb", true},
		{OpRead, "secret/bar/teamb", true},
		{OpRead, "secret/foo/bar/teamb", true},
		{OpRead, "secret/foo/bar/baz/teamb", false},
		{OpRead, "secret/teamb", false},
		{OpRead, "/secret/foo", true}, // a leading slash is ignored
		{OpRead, "other/foo", false},  // deny by default
	})
}

// TestDocumentedPolicy is the commented policy of OpenBao's page: a broad grant on secret/*, a
// deny on secret/super-secret that takes precedence, and parameter constraints.
func TestDocumentedPolicy(t *testing.T) {
	a := compile(t, `
path "secret/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list", "scan"]
}
path "secret/super-secret" {
  capabilities = ["deny"]
}
path "secret/restricted" {
  capabilities = ["create"]
  allowed_parameters = {
    "foo" = []
    "bar" = ["zip", "zap"]
  }
}
`)
	runChecks(t, a, []check{
		{OpRead, "secret/anything", true},
		{OpScan, "secret/", true},
		{OpRead, "secret/super-secret", false},
		{OpUpdate, "secret/super-secret", false},
		{OpRead, "secret/super-secret/child", true}, // deny names the exact path only
		{OpRead, "secret/restricted", false},        // the exact stanza governs: create only
	})
	for _, tc := range []struct {
		data  map[string]any
		allow bool
	}{
		{nil, true},
		{map[string]any{"foo": "anything"}, true},
		{map[string]any{"bar": "zip"}, true},
		{map[string]any{"bar": "zap", "foo": 1}, true},
		{map[string]any{"bar": "zop"}, false},
		{map[string]any{"baz": "x"}, false},
	} {
		d := a.Check(Request{Operation: OpCreate, Path: "secret/restricted", Data: tc.data})
		if d.Allowed != tc.allow {
			t.Errorf("create secret/restricted %v: allowed=%v (%s), want %v", tc.data, d.Allowed, d.Reason, tc.allow)
		}
	}
}

// TestPrecedence checks each of OpenBao's documented priority rules between two matching
// patterns, P1 (lower priority) and P2 (higher), in both compile orders, by giving P1 read and
// P2 update.
func TestPrecedence(t *testing.T) {
	for _, tc := range []struct {
		rule, lower, higher, path string
	}{
		{"documented example: more + segments lose", "secret/+/+/foo/*", "secret/*", "secret/a/b/foo/c"},
		{"exact beats every glob", "secret/foo*", "secret/foo", "secret/foo"},
		{"exact beats + segments", "secret/+", "secret/foo", "secret/foo"},
		{"longest glob prefix wins", "secret/*", "secret/foo/*", "secret/foo/bar"},
		{"1: first wildcard earlier loses", "secret/+/bar", "secret/foo/+", "secret/foo/bar"},
		{"1: a glob earlier loses to a later +", "secret/*", "secret/foo/+", "secret/foo/bar"},
		{"1: a + earlier loses to a later glob", "secret/+/bar", "secret/foo/b*", "secret/foo/bar"},
		{"2: ending in * loses", "secret/+/bar*", "secret/+/bar", "secret/x/bar"},
		{"2: a glob loses to + at the same place", "foo/*", "foo/+", "foo/x"},
		{"3: more + segments lose", "secret/+/+/baz", "secret/+/bar/baz", "secret/x/bar/baz"},
		{"4: shorter loses", "secret/+/bar/b*", "secret/+/bar/ba*", "secret/x/bar/baz"},
		{"5: lexicographically smaller loses", "secret/+/+/b", "secret/+/a/+", "secret/x/a/b"},
		{"edge: '*' beats '+/*' (same place, fewer +)", "+/*", "*", "foo/bar/bar/baz"},
		{"edge: '+/*' loses to 'foo/+/*'", "+/*", "foo/+/*", "foo/bar/bar/baz"},
		{"3: more + loses to a literal, glob or not", "foo/+/+/*", "foo/+/bar/baz", "foo/bar/bar/baz"},
		{"1: position, not lexicographic order", "foo/+/(ar/baz", "foo/(ar/+/baz", "foo/(ar/(ar/baz"},
		{"a literal '+b' segment ranks from its '+' and as a glob", "a/+b/c*", "a/+/c/d", "a/+b/c/d"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			lower := fmt.Sprintf("path %q { capabilities = [\"read\"] }\n", tc.lower)
			higher := fmt.Sprintf("path %q { capabilities = [\"update\"] }\n", tc.higher)
			for _, order := range [][]string{{lower, higher}, {higher, lower}, {lower + higher}} {
				a := compile(t, order...)
				runChecks(t, a, []check{{OpUpdate, tc.path, true}, {OpRead, tc.path, false}})
			}
		})
	}
}

// TestSegments covers "+" matching: one whole segment, never a part of one or none at all, and
// "+" patterns ending in a glob.
func TestSegments(t *testing.T) {
	a := compile(t, `
path "db/+/creds" { capabilities = ["read"] }
path "kv/+/team/*" { capabilities = ["read"] }
path "+/open" { capabilities = ["read"] }
path "x/+/y+z" { capabilities = ["read"] }
path "lit/a+b" { capabilities = ["read"] }
`)
	runChecks(t, a, []check{
		{OpRead, "db/one/creds", true},
		{OpRead, "db//creds", true}, // an empty segment is a segment, as in OpenBao
		{OpRead, "db/one/two/creds", false},
		{OpRead, "db/creds", false},
		{OpRead, "db/one/creds/more", false},
		{OpRead, "kv/a/team/", true},
		{OpRead, "kv/a/team/x/y", true},
		{OpRead, "kv/a/team", false},
		{OpRead, "kv/a/teams/x", false},
		{OpRead, "anything/open", true},
		{OpRead, "a/b/open", false},
		{OpRead, "x/q/y+z", true}, // "+" inside a segment is a literal
		{OpRead, "x/q/yaz", false},
		{OpRead, "lit/a+b", true},
		{OpRead, "lit/aab", false},
	})
}

// TestMerge: the same pattern in several policies unites their capabilities, and a deny in any
// of them wins whatever the order; different patterns do not merge.
func TestMerge(t *testing.T) {
	read := `path "secret/app" { capabilities = ["read"] }`
	update := `path "secret/app" { capabilities = ["update", "sudo"] }`
	deny := `path "secret/app" { capabilities = ["deny"] }`
	glob := `path "secret/*" { capabilities = ["create"] }`

	a := compile(t, read, update, glob)
	runChecks(t, a, []check{
		{OpRead, "secret/app", true},
		{OpUpdate, "secret/app", true},
		{OpCreate, "secret/app", false}, // the exact pattern governs; the glob's create does not add
		{OpCreate, "secret/other", true},
	})
	d := a.Allowed(OpRead, "secret/app")
	if !d.Sudo || d.Capabilities != CapRead|CapUpdate|CapSudo {
		t.Errorf("merged decision = %+v, want read+update+sudo", d)
	}
	if !reflect.DeepEqual(d.GrantingPolicies, []string{"p0"}) {
		t.Errorf("read granted by %v, want [p0]", d.GrantingPolicies)
	}
	if d := a.Allowed(OpUpdate, "secret/app"); !reflect.DeepEqual(d.GrantingPolicies, []string{"p1"}) {
		t.Errorf("update granted by %v, want [p1]", d.GrantingPolicies)
	}

	for _, order := range [][]string{{read, deny, update}, {deny, read, update}, {read, update, deny}} {
		a := compile(t, order...)
		for _, op := range []Operation{OpRead, OpUpdate, OpCreate, OpDelete, OpList} {
			d := a.Allowed(op, "secret/app")
			if d.Allowed || d.Reason != ReasonDenied || d.Sudo {
				t.Errorf("order %d: %s secret/app = %+v, want denied", len(order), op, d)
			}
		}
	}

	// Deny in one stanza of a policy beats every other capability in the same stanza.
	a = compile(t, `path "x" { capabilities = ["read", "deny", "sudo"] }`)
	runChecks(t, a, []check{{OpRead, "x", false}})

	// A deny on a glob pattern applies under it unless a more specific pattern governs.
	a = compile(t, `path "secret/*" { capabilities = ["deny"] }`, `path "secret/ok" { capabilities = ["read"] }`)
	runChecks(t, a, []check{{OpRead, "secret/ok", true}, {OpRead, "secret/other", false}})
}

// TestRootAndDefault checks the built-in policies.
func TestRootAndDefault(t *testing.T) {
	root, err := Compile(time.Now(), RootPolicy())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sys/seal", "sys/plugins/catalog/database/pg", "database/creds/ro", "auth/token/accessors/"} {
		for _, op := range []Operation{OpRead, OpUpdate, OpDelete, OpList} {
			if d := root.Allowed(op, p); !d.Allowed || !d.Root || !d.Sudo {
				t.Errorf("root %s %s = %+v", op, p, d)
			}
		}
	}
	if got := root.Capabilities("anything"); !reflect.DeepEqual(got, []string{"root"}) {
		t.Errorf("root capabilities = %v", got)
	}
	if _, err := Compile(time.Now(), RootPolicy(), DefaultPolicy()); !errors.Is(err, ErrRootWithOthers) {
		t.Errorf("root with default: err = %v, want ErrRootWithOthers", err)
	}

	def, err := Compile(time.Now(), DefaultPolicy())
	if err != nil {
		t.Fatal(err)
	}
	runChecks(t, def, []check{
		{OpRead, "auth/token/lookup-self", true},
		{OpUpdate, "auth/token/lookup-self", false},
		{OpUpdate, "auth/token/renew-self", true},
		{OpUpdate, "auth/token/revoke-self", true},
		{OpUpdate, "sys/capabilities-self", true},
		{OpRead, "sys/internal/ui/resultant-acl", true},
		{OpUpdate, "sys/leases/renew", true},
		{OpUpdate, "sys/leases/lookup", true},
		{OpList, "sys/leases/lookup/database/", false}, // sudo-protected, and not granted
		{OpList, "cubbyhole/", true},
		{OpUpdate, "sys/tools/hash/sha2-256", true},
		{OpRead, "identity/oidc/provider/p/authorize", true},
		{OpRead, "identity/entity/id/anything", false}, // templated: no identity in Baton
		{OpRead, "identity/entity/id/{{identity.entity.id}}", false},
		{OpUpdate, "auth/token/create", false},
		{OpRead, "database/creds/ro", false},
		{OpUpdate, "sys/seal", false},
	})
	if !DefaultPolicy().Templated {
		t.Error("default policy not marked templated")
	}

	if err := CheckWrite("Root "); !errors.Is(err, ErrImmutablePolicy) {
		t.Errorf("CheckWrite(root) = %v", err)
	}
	if err := CheckWrite("default"); err != nil {
		t.Errorf("CheckWrite(default) = %v, want nil (default can be rewritten)", err)
	}
	for _, n := range []string{"root", "DEFAULT"} {
		if err := CheckDelete(n); !errors.Is(err, ErrImmutablePolicy) {
			t.Errorf("CheckDelete(%s) = %v", n, err)
		}
	}
	if err := CheckDelete("app"); err != nil {
		t.Errorf("CheckDelete(app) = %v", err)
	}
}

// TestSudo: root-protected paths need sudo on top of the operation's capability.
func TestSudo(t *testing.T) {
	for _, tc := range []struct {
		path string
		sudo bool
	}{
		{"sys/plugins/catalog/database/pg", true},
		{"sys/plugins/catalog/database", true},
		{"sys/plugins/catalog", false},
		{"sys/audit", true},
		{"sys/audit/file", true},
		{"sys/audit-hash/file", false},
		{"sys/seal", true},
		{"sys/step-down", true},
		{"sys/rotate", true},
		{"sys/rotate/root", true},
		{"sys/rotate/other", false},
		{"sys/raw/x", true},
		{"sys/auth/userpass", true},
		{"sys/auth", false},
		{"sys/remount", true},
		{"sys/leases", true},
		{"sys/leases/lookup/database/creds/ro/", true},
		{"sys/leases/lookup", false},
		{"sys/leases/renew", false},
		{"sys/leases/revoke-prefix/database/", true},
		{"sys/leases/revoke-force/database/", true},
		{"sys/revoke-prefix/x", true},
		{"sys/config/auditing/request-headers/x", true},
		{"auth/token/accessors", true},
		{"auth/token/accessors/", true},
		{"auth/token/revoke-orphan", true},
		{"auth/token/create", false},
		{"sys/mounts/database", false},
		{"/sys/seal", true},
		{"database/rotate-root/pg", false},
		{"secret/sys/seal", false},
		{"auth/token/create-orphan", true},
		{"sys/storage/raft/snapshot-auto/config/daily", true},
		{"sys/storage/raft/remove-peer", false},
		{"sys/plugins/runtimes/catalog/container/r1", true},
		// Baton's own.
		{"sys/shutdown", true},
		{"sys/nats/credentials", true},
		{"sys/capabilities-self", false},
	} {
		if got := SudoRequired(tc.path); got != tc.sudo {
			t.Errorf("SudoRequired(%q) = %v, want %v", tc.path, got, tc.sudo)
		}
	}

	noSudo := compile(t, `path "sys/plugins/catalog/*" { capabilities = ["create", "update", "read", "list"] }
path "sys/seal" { capabilities = ["update"] }`)
	withSudo := compile(t, `path "sys/plugins/catalog/*" { capabilities = ["create", "update", "sudo"] }
path "sys/seal" { capabilities = ["update", "sudo"] }`)
	for _, tc := range []struct {
		op   Operation
		path string
	}{{OpUpdate, "sys/plugins/catalog/database/pg"}, {OpCreate, "sys/plugins/catalog/database/pg"}, {OpUpdate, "sys/seal"}} {
		if d := noSudo.Allowed(tc.op, tc.path); d.Allowed || d.Reason != ReasonSudo {
			t.Errorf("without sudo %s %s = %+v, want refused for sudo", tc.op, tc.path, d)
		}
		if d := withSudo.Allowed(tc.op, tc.path); !d.Allowed || !d.Sudo {
			t.Errorf("with sudo %s %s = %+v, want allowed", tc.op, tc.path, d)
		}
	}
	// Sudo does not stand in for the operation's capability.
	if d := withSudo.Allowed(OpDelete, "sys/plugins/catalog/database/pg"); d.Allowed || d.Reason != ReasonCapability {
		t.Errorf("sudo without delete = %+v", d)
	}
	// The older shorthand: policy = "sudo" grants sudo, "write" does not.
	a := compile(t, `path "sys/seal" { policy = "sudo" }`)
	runChecks(t, a, []check{{OpUpdate, "sys/seal", true}})
	a = compile(t, `path "sys/seal" { policy = "write" }`)
	runChecks(t, a, []check{{OpUpdate, "sys/seal", false}})
}

// TestListTrailingSlash: a list of "dir/" is governed by a pattern for "dir", as in OpenBao.
func TestListTrailingSlash(t *testing.T) {
	a := compile(t, `path "database/roles" { capabilities = ["list"] }
path "kv/team*" { capabilities = ["list"] }`)
	runChecks(t, a, []check{
		{OpList, "database/roles/", true},
		{OpList, "database/roles", true},
		{OpRead, "database/roles/", false},
		{OpList, "kv/team/", true},
		{OpList, "kv/teams/", true},
	})
}

// TestListDenySubtree: list and scan of "dir/" under a denied glob subtree, and a grant inside it.
func TestListDenySubtree(t *testing.T) {
	a := compile(t, `
path "foo/metadata/*" { capabilities = ["list", "scan"] }
path "foo/metadata/private/*" { capabilities = ["deny"] }
path "foo/metadata/private/granted/*" { capabilities = ["list", "scan"] }
path "*" { capabilities = [] }
`)
	for _, tc := range []struct {
		path  string
		allow bool
	}{
		{"foo/", false},
		{"foo/metadata/", true},
		{"foo/metadata/test/", true},
		{"foo/metadata/private/", false},
		{"foo/metadata/private/internal/", false},
		{"foo/metadata/private/granted/", true},
		{"foo/metadata/private/granted/test/", true},
	} {
		for _, op := range []Operation{OpList, OpScan} {
			if d := a.Allowed(op, tc.path); d.Allowed != tc.allow {
				t.Errorf("%s %q: allowed=%v (%s), want %v", op, tc.path, d.Allowed, d.Reason, tc.allow)
			}
		}
	}
}

// TestShorthand: `policy = "…"` maps to OpenBao's capability sets and adds to capabilities.
func TestShorthand(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want Capability
	}{
		{`policy = "read"`, CapRead | CapList},
		{`policy = "write"`, CapCreate | CapRead | CapUpdate | CapDelete | CapList},
		{`policy = "sudo"`, CapCreate | CapRead | CapUpdate | CapDelete | CapList | CapSudo},
		{`policy = "deny"`, CapDeny},
		{"policy = \"read\"\ncapabilities = [\"patch\"]", CapRead | CapList | CapPatch},
		{"policy = \"deny\"\ncapabilities = [\"read\"]", CapDeny},
		{`capabilities = []`, 0},
	} {
		p, err := Parse("p", []byte("path \"x\" {\n"+tc.src+"\n}\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if got := p.Paths[0].Capabilities; got != tc.want {
			t.Errorf("%s: capabilities %v, want %v", tc.src, got, tc.want)
		}
	}
}

// TestJSONAndExtras: the JSON form, a top-level name, comments and a leading slash are accepted.
func TestJSONAndExtras(t *testing.T) {
	p, err := Parse("j", []byte(`{"path": {"secret/foo": {"capabilities": ["read"]}, "secret/bar/*": {"policy": "write", "comment": "c"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := Compile(time.Now(), p)
	if err != nil {
		t.Fatal(err)
	}
	runChecks(t, a, []check{{OpRead, "secret/foo", true}, {OpDelete, "secret/bar/x", true}, {OpDelete, "secret/foo", false}})

	a = compile(t, `name = "ignored"
# comment
path "/secret/lead" {
  comment = "a leading slash is dropped"
  capabilities = ["read"]
}`)
	runChecks(t, a, []check{{OpRead, "secret/lead", true}})
}

// TestParameters covers allowed, denied and required parameters with OpenBao's documented
// examples, value globs and merging.
func TestParameters(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		op     Operation
		data   map[string]any
		allow  bool
	}{
		{"required present", `required_parameters = ["name", "id"]`, OpCreate, map[string]any{"name": "a", "id": 1}, true},
		{"required missing", `required_parameters = ["name", "id"]`, OpCreate, map[string]any{"name": "a"}, false},
		{"required without data", `required_parameters = ["name"]`, OpCreate, nil, false},
		{"allowed any value", `allowed_parameters = { "password" = [] }`, OpUpdate, map[string]any{"password": "x"}, true},
		{"allowed other key", `allowed_parameters = { "password" = [] }`, OpUpdate, map[string]any{"token_ttl": "1h"}, false},
		{"allowed value", `allowed_parameters = { "auto_rotate_period" = ["8h", "24h", "5d"] }`, OpUpdate, map[string]any{"auto_rotate_period": "24h"}, true},
		{"allowed wrong value", `allowed_parameters = { "auto_rotate_period" = ["8h", "24h", "5d"] }`, OpUpdate, map[string]any{"auto_rotate_period": "1h"}, false},
		{"allowed star", `allowed_parameters = { "bar" = ["zip", "zap"], "*" = [] }`, OpCreate, map[string]any{"bar": "zip", "other": 1}, true},
		{"allowed star wrong value", `allowed_parameters = { "bar" = ["zip", "zap"], "*" = [] }`, OpCreate, map[string]any{"bar": "zop", "other": 1}, false},
		{"allowed case-insensitive name", `allowed_parameters = { "Bar" = ["zip"] }`, OpCreate, map[string]any{"BAR": "zip"}, true},
		{"allowed list value, all in", `allowed_parameters = { "policies" = ["a", "b"] }`, OpCreate, map[string]any{"policies": []any{"a", "b"}}, true},
		{"allowed list value, one out", `allowed_parameters = { "policies" = ["a", "b"] }`, OpCreate, map[string]any{"policies": []string{"a", "root"}}, false},
		{"allowed object value", `allowed_parameters = { "meta" = ["a"] }`, OpCreate, map[string]any{"meta": map[string]any{"k": "a"}}, false},
		{"denied key", `denied_parameters = { "token_policies" = [], "policies" = [] }`, OpUpdate, map[string]any{"policies": "root"}, false},
		{"denied other key", `denied_parameters = { "token_policies" = [], "policies" = [] }`, OpUpdate, map[string]any{"password": "x"}, true},
		{"denied value", `denied_parameters = { "allowed_policies" = ["admin"] }`, OpCreate, map[string]any{"allowed_policies": "admin"}, false},
		{"denied other value", `denied_parameters = { "allowed_policies" = ["admin"] }`, OpCreate, map[string]any{"allowed_policies": "dev"}, true},
		{"denied value inside a list", `denied_parameters = { "allowed_policies" = ["admin"] }`, OpCreate, map[string]any{"allowed_policies": []any{"dev", "admin"}}, false},
		{"denied object under a value list", `denied_parameters = { "allowed_policies" = ["admin"] }`, OpCreate, map[string]any{"allowed_policies": map[string]any{}}, false},
		{"denied star", `denied_parameters = { "*" = [] }`, OpUpdate, map[string]any{"x": 1}, false},
		{"denied star without data", `denied_parameters = { "*" = [] }`, OpUpdate, nil, true},
		{"denied beats allowed", "allowed_parameters = { \"a\" = [] }\ndenied_parameters = { \"a\" = [\"bad\"] }", OpUpdate, map[string]any{"a": "bad"}, false},
		{"denied typed values", `denied_parameters = { "no_store" = [false, "false"] }`, OpCreate, map[string]any{"no_store": false}, false},
		{"denied typed string", `denied_parameters = { "no_store" = [false, "false"] }`, OpCreate, map[string]any{"no_store": "false"}, false},
		{"denied typed other", `denied_parameters = { "no_store" = [false, "false"] }`, OpCreate, map[string]any{"no_store": true}, true},
		{"number values", `allowed_parameters = { "n" = [3] }`, OpCreate, map[string]any{"n": json.Number("3")}, true},
		{"number values differ", `allowed_parameters = { "n" = [3] }`, OpCreate, map[string]any{"n": 4}, false},
		{"string is not a bool", `allowed_parameters = { "b" = [true] }`, OpCreate, map[string]any{"b": "true"}, false},
		{"glob prefix", `allowed_parameters = { "bar" = ["foo-*"] }`, OpCreate, map[string]any{"bar": "foo-1"}, true},
		{"glob prefix miss", `allowed_parameters = { "bar" = ["foo-*"] }`, OpCreate, map[string]any{"bar": "xfoo-1"}, false},
		{"glob suffix", `allowed_parameters = { "bar" = ["*-prod"] }`, OpCreate, map[string]any{"bar": "db-prod"}, true},
		{"glob infix", `allowed_parameters = { "bar" = ["*mid*"] }`, OpCreate, map[string]any{"bar": "a-mid-b"}, true},
		{"lone star is literal", `allowed_parameters = { "bar" = ["*"] }`, OpCreate, map[string]any{"bar": "x"}, false},
		{"not checked for delete", `allowed_parameters = { "a" = [] }`, OpDelete, map[string]any{"b": 1}, true},
		{"not checked for list", `required_parameters = ["a"]`, OpList, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := compile(t, fmt.Sprintf("path \"p\" {\n capabilities = [\"create\", \"read\", \"update\", \"delete\", \"list\"]\n %s\n}\n", tc.policy))
			d := a.Check(Request{Operation: tc.op, Path: "p", Data: tc.data})
			if d.Allowed != tc.allow {
				t.Errorf("allowed=%v (%s), want %v", d.Allowed, d.Reason, tc.allow)
			}
		})
	}

	// Merging: an empty list (any value) absorbs a value list; required parameters unite; a
	// policy that names the path without constraints does not lift another's.
	a := compile(t,
		`path "p" {
 capabilities = ["update"]
 allowed_parameters = { "a" = ["1"], "b" = ["x"] }
 required_parameters = ["a"]
}`,
		`path "p" {
 capabilities = ["update"]
 allowed_parameters = { "a" = [], "b" = ["y"] }
 required_parameters = ["b"]
}`,
		`path "p" { capabilities = ["update"] }`)
	for _, tc := range []struct {
		data  map[string]any
		allow bool
	}{
		{map[string]any{"a": "anything", "b": "y"}, true},
		{map[string]any{"a": "anything", "b": "x"}, true},
		{map[string]any{"a": "anything", "b": "z"}, false},
		{map[string]any{"a": "1"}, false},
		{map[string]any{"a": "1", "b": "x", "c": 1}, false},
	} {
		if d := a.Check(Request{Operation: OpUpdate, Path: "p", Data: tc.data}); d.Allowed != tc.allow {
			t.Errorf("merged %v: allowed=%v (%s), want %v", tc.data, d.Allowed, d.Reason, tc.allow)
		}
	}

	// A deny merged in drops the parameter lists with everything else.
	a = compile(t, `path "p" {
 capabilities = ["update"]
 allowed_parameters = { "a" = [] }
}`, `path "p" { capabilities = ["deny"] }`)
	if d := a.Check(Request{Operation: OpUpdate, Path: "p", Data: map[string]any{"a": 1}}); d.Allowed {
		t.Errorf("deny merged with parameters: allowed")
	}
}

// TestWrappingTTL: min/max_wrapping_ttl bound the requested wrapping TTL; merged stanzas keep
// the smaller bounds.
func TestWrappingTTL(t *testing.T) {
	a := compile(t, `path "auth/approle/role/my-role/secret-id" {
    capabilities = ["create", "update"]
    min_wrapping_ttl = "1s"
    max_wrapping_ttl = "90s"
}`)
	for _, tc := range []struct {
		ttl   time.Duration
		allow bool
	}{{0, false}, {time.Second, true}, {90 * time.Second, true}, {91 * time.Second, false}, {500 * time.Millisecond, false}} {
		d := a.Check(Request{Operation: OpUpdate, Path: "auth/approle/role/my-role/secret-id", WrapTTL: tc.ttl})
		if d.Allowed != tc.allow {
			t.Errorf("wrap %v: allowed=%v (%s), want %v", tc.ttl, d.Allowed, d.Reason, tc.allow)
		}
	}
	a = compile(t, `path "w" {
 capabilities = ["read"]
 max_wrapping_ttl = 120
}`, `path "w" {
 capabilities = ["read"]
 max_wrapping_ttl = "1m"
}`)
	for _, tc := range []struct {
		ttl   time.Duration
		allow bool
	}{{time.Minute, true}, {2 * time.Minute, false}} {
		if d := a.Check(Request{Operation: OpRead, Path: "w", WrapTTL: tc.ttl}); d.Allowed != tc.allow {
			t.Errorf("merged max wrap %v: allowed=%v, want %v", tc.ttl, d.Allowed, tc.allow)
		}
	}
	// Merging can leave max below min: OpenBao then refuses every request, and so does Baton.
	a = compile(t, `path "w" {
 capabilities = ["read"]
 min_wrapping_ttl = "2m"
}`, `path "w" {
 capabilities = ["read"]
 max_wrapping_ttl = "1m"
}`)
	for _, ttl := range []time.Duration{0, time.Minute, 90 * time.Second, 3 * time.Minute} {
		if d := a.Check(Request{Operation: OpRead, Path: "w", WrapTTL: ttl}); d.Allowed {
			t.Errorf("max<min, wrap %v: allowed", ttl)
		}
	}
}

// TestExpiration: an expired stanza grants and denies nothing; an ACL compiled while a stanza
// was live refuses everything once it has expired, until recompiled.
func TestExpiration(t *testing.T) {
	src := []byte(`path "tmp/*" {
  capabilities = ["read"]
  expiration = "2030-01-02T15:04:05Z"
}
path "keep" { capabilities = ["read"] }
path "keep/denied" {
  capabilities = ["deny"]
  expiration = "2030-01-02T15:04:05Z"
}
path "keep/*" { capabilities = ["read"] }
`)
	p, err := Parse("e", src)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	after, err := Compile(exp, p)
	if err != nil {
		t.Fatal(err)
	}
	runChecks(t, after, []check{{OpRead, "tmp/x", false}, {OpRead, "keep", true}, {OpRead, "keep/denied", true}})
	if !after.ValidUntil().IsZero() {
		t.Errorf("ValidUntil after every expiration = %v", after.ValidUntil())
	}

	// Compiled in the past (2020) with stanzas valid until 2030: live until then.
	before, err := Compile(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), p)
	if err != nil {
		t.Fatal(err)
	}
	if !before.ValidUntil().Equal(exp) {
		t.Fatalf("ValidUntil = %v, want %v", before.ValidUntil(), exp)
	}
	if time.Now().Before(exp) {
		runChecks(t, before, []check{{OpRead, "tmp/x", true}, {OpRead, "keep/denied", false}})
	}

	// A stanza that expired in 2021 on an ACL compiled in 2020: the ACL is stale now.
	old, err := Parse("old", []byte(`path "a" {
  capabilities = ["read"]
  expiration = "2021-01-01T00:00:00Z"
}
path "b" { capabilities = ["read"] }`))
	if err != nil {
		t.Fatal(err)
	}
	stale, err := Compile(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), old)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"a", "b"} {
		if d := stale.Allowed(OpRead, path); d.Allowed || d.Reason != ReasonExpired {
			t.Errorf("stale ACL read %s = %+v, want refused as expired", path, d)
		}
	}
	if got := stale.Capabilities("b"); !reflect.DeepEqual(got, []string{"deny"}) {
		t.Errorf("stale capabilities = %v", got)
	}
}

// TestCapabilities reports what sys/capabilities-self would.
func TestCapabilities(t *testing.T) {
	a := compile(t, `path "a" { capabilities = ["create", "read", "update", "delete", "list", "sudo", "patch", "scan"] }
path "d" { capabilities = ["deny"] }
path "l/*" { capabilities = ["list"] }`)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"a", []string{"sudo", "read", "list", "update", "delete", "create", "patch", "scan"}},
		{"d", []string{"deny"}},
		{"nothing", []string{"deny"}},
		{"l/x/", []string{"list"}},
	} {
		if got := a.Capabilities(tc.path); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Capabilities(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
	var nilACL *ACL
	if d := nilACL.Allowed(OpRead, "a"); d.Allowed {
		t.Error("nil ACL allowed a request")
	}
	if d := a.Allowed(Operation(99), "a"); d.Allowed || d.Reason != ReasonOperation {
		t.Errorf("unknown operation = %+v", d)
	}
	if got := strings.Join(a.Policies(), ","); got != "p0" {
		t.Errorf("Policies = %s", got)
	}
}

func TestOperations(t *testing.T) {
	for _, op := range []Operation{OpRead, OpCreate, OpUpdate, OpDelete, OpList, OpPatch, OpScan} {
		got, err := ParseOperation(op.String())
		if err != nil || got != op {
			t.Errorf("ParseOperation(%s) = %v, %v", op, got, err)
		}
	}
	if _, err := ParseOperation("sudo"); err == nil {
		t.Error("ParseOperation(sudo) accepted")
	}
}
