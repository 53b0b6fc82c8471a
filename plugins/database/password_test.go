package database

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/baton-hq/baton/plugins/database/passwordpolicy"
	"github.com/baton-hq/baton/raftstore/state"
)

const digitsPolicy = `length = 12
rule "charset" {
  charset   = "0123456789"
  min-chars = 12
}
`

// TestPasswordPolicies: a policy is written, read, listed, generated from and deleted through
// Raft; a bad text is refused with its line and column and changes nothing; a connection whose
// password_policy names a policy issues credentials and rotates its root with passwords from it.
func TestPasswordPolicies(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	err := f.e.PutPasswordPolicy(ctx, "digits", "length = 12\nrule \"charset\" {\n  charset = \n}\n")
	if !errors.Is(err, state.ErrInvalid) || !errors.Is(err, passwordpolicy.ErrInvalid) || !strings.Contains(err.Error(), "line 3, column") {
		t.Fatalf("bad HCL: %v, want ErrInvalid with line and column", err)
	}
	if got := f.e.ListPasswordPolicies(); len(got) != 0 {
		t.Fatalf("a refused policy was stored: %v", got)
	}
	if err := f.e.PutPasswordPolicy(ctx, "a/b", digitsPolicy); !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("name with a slash: %v", err)
	}
	if err := f.e.PutPasswordPolicy(ctx, "digits", digitsPolicy); err != nil {
		t.Fatal(err)
	}
	if text, err := f.e.ReadPasswordPolicy("digits"); err != nil || text != digitsPolicy {
		t.Fatalf("read: %q %v", text, err)
	}
	if got := f.e.ListPasswordPolicies(); !slices.Equal(got, []string{"digits"}) {
		t.Fatalf("list: %v", got)
	}
	pw, err := f.e.GeneratePassword("digits")
	if err != nil || len(pw) != 12 || strings.Trim(pw, "0123456789") != "" {
		t.Fatalf("generate: %q %v", pw, err)
	}
	if _, err := f.e.GeneratePassword("nope"); !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("generate from a missing policy: %v", err)
	}

	in := rootConfig(rootPW, "ro")
	name := "digits"
	in.PasswordPolicy = &name
	if err := f.e.WriteConfig(ctx, "database", "db1", in, APISource); err != nil {
		t.Fatal(err)
	}
	sec, err := f.e.Creds(ctx, "database", "ro", "token")
	if err != nil {
		t.Fatal(err)
	}
	if p := sec.Data["password"].(string); len(p) != 12 || strings.Trim(p, "0123456789") != "" {
		t.Fatalf("credential's password %q is not from the digits policy", p)
	}
	if err := f.e.RotateRoot(ctx, "database", "db1", APISource); err != nil {
		t.Fatal(err)
	}
	if p, _ := f.srv.password(rootUser); len(p) != 12 || strings.Trim(p, "0123456789") != "" {
		t.Fatalf("rotated root password %q is not from the digits policy", p)
	}

	if err := f.e.DeletePasswordPolicy(ctx, "digits"); err != nil {
		t.Fatal(err)
	}
	if err := f.e.DeletePasswordPolicy(ctx, "digits"); err != nil {
		t.Fatalf("deleting a missing policy: %v", err)
	}
	if _, err := f.e.ReadPasswordPolicy("digits"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
	if _, err := f.e.Creds(ctx, "database", "ro", "token"); !errors.Is(err, state.ErrInvalid) || !strings.Contains(err.Error(), "sys/policies/password/digits") {
		t.Fatalf("creds with the policy gone: %v, want a pointer to sys/policies/password/digits", err)
	}
}
