package state

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/baton-hq/baton/internal/acl"
)

func (a *applier) policies() map[string]Policy {
	a.t.Helper()
	var out map[string]Policy
	a.s.View(func(d *Data) { out = maps.Clone(d.Policies) })
	return out
}

func TestPolicyStoreStartsWithDefault(t *testing.T) {
	a := newApplier(t)
	got := a.policies()
	if len(got) != 1 || got[acl.DefaultName].Text != acl.DefaultPolicyHCL {
		t.Fatalf("new state's policies = %v, want only default with OpenBao's text", got)
	}
}

func TestPolicyPutDelete(t *testing.T) {
	a := newApplier(t)
	a.must(TypePolicyPut, PolicyPut{Name: "  Read-Creds ", Policy: `path "database/creds/ro" { capabilities = ["read"] }`})
	p, ok := a.policies()["read-creds"]
	if !ok || p.Name != "read-creds" {
		t.Fatalf("policy not stored under its lower-cased name: %v", a.policies())
	}
	a.must(TypePolicyPut, PolicyPut{Name: "read-creds", Policy: `path "x" { capabilities = ["list"] }`})
	if got := a.policies()["read-creds"].Text; got != `path "x" { capabilities = ["list"] }` {
		t.Fatalf("rewrite not applied: %q", got)
	}
	a.must(TypePolicyPut, PolicyPut{Name: "DEFAULT", Policy: `path "y" { capabilities = ["read"] }`})
	if got := a.policies()["default"].Text; got != `path "y" { capabilities = ["read"] }` {
		t.Fatalf("default not updatable: %q", got)
	}
	a.must(TypePolicyDelete, PolicyDelete{Name: "READ-CREDS"})
	if _, ok := a.policies()["read-creds"]; ok {
		t.Fatal("policy still there after delete")
	}
	// Deleting what is gone succeeds and changes nothing.
	before := a.snapshotPolicies()
	a.must(TypePolicyDelete, PolicyDelete{Name: "read-creds"})
	if !bytes.Equal(before, a.snapshotPolicies()) {
		t.Fatal("deleting a missing policy changed the store")
	}
}

func (a *applier) snapshotPolicies() []byte {
	a.t.Helper()
	var b bytes.Buffer
	a.s.View(func(d *Data) { fmt.Fprintf(&b, "v%d\x00", d.PoliciesVersion) })
	ps := a.policies()
	for _, k := range slices.Sorted(maps.Keys(ps)) {
		p := ps[k]
		b.WriteString(p.Name + "\x00" + p.Text + "\x00")
	}
	return b.Bytes()
}

func TestPolicyRefusalsChangeNothing(t *testing.T) {
	cases := []struct {
		name string
		typ  any
	}{
		{"write root", PolicyPut{Name: "root", Policy: `path "*" { capabilities = ["sudo"] }`}},
		{"write Root", PolicyPut{Name: " Root ", Policy: `path "*" { capabilities = ["sudo"] }`}},
		{"write empty name", PolicyPut{Name: "  ", Policy: `path "*" { capabilities = ["read"] }`}},
		{"write empty text", PolicyPut{Name: "p", Policy: ""}},
		{"delete root", PolicyDelete{Name: "root"}},
		{"delete default", PolicyDelete{Name: "Default"}},
		{"delete empty name", PolicyDelete{Name: ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := newApplier(t)
			a.must(TypePolicyPut, PolicyPut{Name: "p", Policy: `path "a" { capabilities = ["read"] }`})
			before := a.snapshotPolicies()
			var err error
			switch p := tc.typ.(type) {
			case PolicyPut:
				_, err = a.apply(TypePolicyPut, p)
			case PolicyDelete:
				_, err = a.apply(TypePolicyDelete, p)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !bytes.Equal(before, a.snapshotPolicies()) {
				t.Fatal("a refused command changed the policy store")
			}
		})
	}
}

func TestPolicySnapshotRoundTrip(t *testing.T) {
	a := newApplier(t)
	a.must(TypePolicyPut, PolicyPut{Name: "ops", Policy: `path "sys/*" { capabilities = ["read"] }`})
	a.must(TypePolicyPut, PolicyPut{Name: "default", Policy: `path "z" { capabilities = ["read"] }`})
	snap := a.snapshot()
	b := newApplier(t)
	if err := b.s.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.snapshotPolicies(), b.snapshotPolicies()) {
		t.Fatalf("restored policies %v, want %v", b.policies(), a.policies())
	}
	// A snapshot from before the policy store restores with the built-in default.
	v1, err := legacySnapshot(a.s)
	if err != nil {
		t.Fatal(err)
	}
	old := bytes.Replace(v1, []byte(`"policies":`), []byte(`"x_policies":`), 1)
	c := newApplier(t)
	if err := c.s.Restore(bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	if got := c.policies(); len(got) != 1 || got["default"].Text != acl.DefaultPolicyHCL {
		t.Fatalf("old snapshot restored policies %v, want only the built-in default", got)
	}
}
