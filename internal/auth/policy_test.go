package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/acl"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// localCluster applies every proposal to a replicated state in process, as a one-node
// cluster would, and counts the proposals.
type localCluster struct {
	st       *state.State
	index    uint64
	proposed int
	// now, when set, is the leader's clock the commands carry (time.Unix(0, 0) otherwise).
	now func() time.Time
}

func newLocal() *localCluster { return &localCluster{st: state.New()} }

func (c *localCluster) State() *state.State { return c.st }

func (c *localCluster) Propose(_ context.Context, typ command.Type, id string, src command.Source, payload any) (*state.Result, error) {
	c.proposed++
	c.index++
	if id == "" {
		id = fmt.Sprintf("p-%d", c.index)
	}
	at := time.Unix(0, 0)
	if c.now != nil {
		at = c.now()
	}
	cmd, err := command.New(typ, id, src, at, payload)
	if err != nil {
		return nil, err
	}
	switch r := c.st.Apply(c.index, cmd).(type) {
	case *state.Result:
		return r, nil
	case error:
		return nil, r
	default:
		return nil, fmt.Errorf("unexpected %T", r)
	}
}

const readCreds = `path "database/creds/ro" {
  capabilities = ["read"]
}
`

func TestPutParseErrors(t *testing.T) {
	cases := []struct {
		name, policy, text string
		want               error
		wantPos            bool
	}{
		{"unclosed block", "p", "path \"a\" {\n  capabilities = [\"read\"]\n", acl.ErrInvalidPolicy, true},
		{"unknown capability", "p", "path \"a\" {\n  capabilities = [\"fly\"]\n}\n", acl.ErrInvalidPolicy, true},
		{"empty text", "p", "  \n", ErrInvalid, false},
		{"root", "Root", readCreds, acl.ErrImmutablePolicy, false},
		{"empty name", " ", readCreds, ErrInvalid, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newLocal()
			s := NewPolicyStore(c)
			err := s.Put(context.Background(), tc.policy, tc.text)
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, tc.want) {
				t.Fatalf("Put = %v, want ErrInvalid and %v", err, tc.want)
			}
			var pe *acl.ParseError
			if tc.wantPos && (!errors.As(err, &pe) || pe.Line == 0 || !strings.Contains(err.Error(), "line ")) {
				t.Fatalf("Put = %v, want a parse error with its line and column", err)
			}
			if c.proposed != 0 {
				t.Fatalf("a refused policy was proposed (%d proposals)", c.proposed)
			}
			if got := s.List(); !slices.Equal(got, []string{"default", "root"}) {
				t.Fatalf("List = %v after a refusal", got)
			}
		})
	}
}

func TestPutGetListDelete(t *testing.T) {
	ctx := context.Background()
	s := NewPolicyStore(newLocal())
	if err := s.Put(ctx, "Read-Creds", readCreds); err != nil {
		t.Fatal(err)
	}
	// A replayed write (the same request again) leaves the same policy.
	if err := s.Put(ctx, "read-creds", readCreds); err != nil {
		t.Fatalf("replayed Put: %v", err)
	}
	p, err := s.Get("READ-creds")
	if err != nil || p.Name != "read-creds" || p.Text != readCreds {
		t.Fatalf("Get = %+v, %v", p, err)
	}
	if got := s.List(); !slices.Equal(got, []string{"default", "read-creds", "root"}) {
		t.Fatalf("List = %v", got)
	}
	if p, err := s.Get("root"); err != nil || p.Name != "root" || p.Text != "" {
		t.Fatalf("Get(root) = %+v, %v", p, err)
	}
	if p, err := s.Get("default"); err != nil || p.Text != acl.DefaultPolicyHCL {
		t.Fatalf("Get(default) = %+v, %v", p, err)
	}
	for _, n := range []string{"root", "default"} {
		if err := s.Delete(ctx, n); !errors.Is(err, ErrInvalid) || !errors.Is(err, acl.ErrImmutablePolicy) {
			t.Fatalf("Delete(%s) = %v, want ErrInvalid", n, err)
		}
	}
	if err := s.Delete(ctx, "read-creds"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("read-creds"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "read-creds"); err != nil {
		t.Fatalf("deleting a missing policy = %v, want success", err)
	}
}

func TestACLForCacheInvalidation(t *testing.T) {
	ctx := context.Background()
	c := newLocal()
	s := NewPolicyStore(c)
	if err := s.Put(ctx, "app", readCreds); err != nil {
		t.Fatal(err)
	}
	a1, err := s.ACLFor([]string{"default", "APP"})
	if err != nil {
		t.Fatal(err)
	}
	if !a1.Allowed(acl.OpRead, "database/creds/ro").Allowed {
		t.Fatal("app policy does not grant its path")
	}
	a2, err := s.ACLFor([]string{"app", "default", "app"})
	if err != nil {
		t.Fatal(err)
	}
	if a1 != a2 {
		t.Fatal("the same policy set (other order, case, duplicates) was compiled again instead of cached")
	}
	// A change to any stored policy makes the cached set stale.
	if err := s.Put(ctx, "app", `path "database/creds/rw" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	a3, err := s.ACLFor([]string{"app", "default"})
	if err != nil {
		t.Fatal(err)
	}
	if a3 == a1 || a3.Allowed(acl.OpRead, "database/creds/ro").Allowed || !a3.Allowed(acl.OpRead, "database/creds/rw").Allowed {
		t.Fatal("ACLFor served the policy as it was before the change")
	}
	if err := s.Delete(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	a4, err := s.ACLFor([]string{"app", "default"})
	if err != nil {
		t.Fatal(err)
	}
	if a4.Allowed(acl.OpRead, "database/creds/rw").Allowed {
		t.Fatal("a deleted policy still grants")
	}
	if !a4.Allowed(acl.OpRead, "auth/token/lookup-self").Allowed {
		t.Fatal("default policy lost")
	}
	// A change replicated from another node (applied to the state directly) also invalidates.
	cmd, err := command.New(state.TypePolicyPut, "from-peer", command.SourceAPI, time.Unix(0, 0), state.PolicyPut{Name: "app", Policy: readCreds})
	if err != nil {
		t.Fatal(err)
	}
	c.index++
	if _, ok := c.st.Apply(c.index, cmd).(*state.Result); !ok {
		t.Fatal("apply failed")
	}
	a5, err := s.ACLFor([]string{"default", "app"})
	if err != nil {
		t.Fatal(err)
	}
	if !a5.Allowed(acl.OpRead, "database/creds/ro").Allowed {
		t.Fatal("a replicated change was not seen")
	}
}

func TestACLForRootAndMissing(t *testing.T) {
	s := NewPolicyStore(newLocal())
	a, err := s.ACLFor([]string{"root"})
	if err != nil || !a.IsRoot() {
		t.Fatalf("ACLFor(root) = %v, %v", a, err)
	}
	if _, err := s.ACLFor([]string{"root", "default"}); !errors.Is(err, acl.ErrRootWithOthers) {
		t.Fatalf("root with others = %v, want ErrRootWithOthers", err)
	}
	a, err = s.ACLFor([]string{"nope"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Allowed(acl.OpRead, "auth/token/lookup-self").Allowed {
		t.Fatal("a missing policy granted something")
	}
}
