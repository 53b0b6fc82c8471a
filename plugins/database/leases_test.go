package database

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// issue makes n credentials of a role and returns their lease ids and usernames.
func (f *fixture) issue(t *testing.T, role string, n int) (ids, users []string) {
	t.Helper()
	for range n {
		sec, err := f.e.Creds(context.Background(), "database", role, "token")
		if err != nil {
			t.Fatalf("Creds %s: %v", role, err)
		}
		ids = append(ids, sec.LeaseID)
		users = append(users, sec.Data["username"].(string))
	}
	return ids, users
}

func (f *fixture) leaseIDs() []string {
	var ids []string
	f.c.s.View(func(d *state.Data) { ids = slices.Sorted(maps.Keys(d.Leases)) })
	return ids
}

// TestRevokePrefix: revoke-prefix deletes the users and forgets the leases under the prefix
// only (not a sibling role whose name starts the same); a user that cannot be deleted keeps
// its lease, marked, and the call says so; revoke-force forgets it anyway; a lease id revokes
// that lease alone; a prefix that matches nothing succeeds; the empty prefix is refused.
func TestRevokePrefix(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	if err := f.e.WriteConfig(ctx, "database", "db1", rootConfig(rootPW, "ro", "ro2"), APISource); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.WriteRole(ctx, state.Role{Mount: "database", Name: "ro2", DBName: "db1", CreationStatements: []string{"CREATE ROLE"}}); err != nil {
		t.Fatal(err)
	}
	roIDs, roUsers := f.issue(t, "ro", 5)
	ro2IDs, ro2Users := f.issue(t, "ro2", 2)
	slices.Sort(ro2IDs)

	if err := f.e.RevokePrefix(ctx, "", false); !errors.Is(err, state.ErrInvalid) {
		t.Fatalf("empty prefix: %v, want ErrInvalid", err)
	}
	if err := f.e.RevokePrefix(ctx, "database/creds/nothing", false); err != nil {
		t.Fatalf("prefix matching nothing: %v", err)
	}
	if got := len(f.leaseIDs()); got != 7 {
		t.Fatalf("%d leases after refused and empty revocations, want 7", got)
	}

	stuck := roUsers[2]
	f.srv.onDelete = func(user string) error {
		if user == stuck {
			return errors.New("database unreachable")
		}
		return nil
	}
	err := f.e.RevokePrefix(ctx, "database/creds/ro", false)
	if !errors.Is(err, ErrRevokeIncomplete) || !strings.Contains(err.Error(), "1 users") {
		t.Fatalf("revoke with one stuck user: %v, want ErrRevokeIncomplete for 1", err)
	}
	left := append([]string{roIDs[2]}, ro2IDs...)
	slices.Sort(left)
	if got := f.leaseIDs(); !slices.Equal(got, left) {
		t.Fatalf("leases %v, want %v", got, left)
	}
	if l, _ := f.e.Lookup(roIDs[2]); !l.Revoking || l.ForceRevoke {
		t.Fatalf("stuck lease %+v, want marked revoking, not forced", l)
	}
	for i, u := range roUsers {
		if _, ok := f.srv.password(u); ok != (i == 2) {
			t.Fatalf("user %s exists=%v after revoke", u, ok)
		}
	}

	if err := f.e.RevokePrefix(ctx, "database/creds/ro/", true); err != nil {
		t.Fatalf("revoke-force: %v", err)
	}
	if got := f.leaseIDs(); !slices.Equal(got, ro2IDs) {
		t.Fatalf("after revoke-force: leases %v, want only ro2's %v", got, ro2IDs)
	}
	if _, ok := f.srv.password(stuck); !ok {
		t.Fatal("the stuck user vanished: the fake should have kept it")
	}
	for _, u := range ro2Users {
		if _, ok := f.srv.password(u); !ok {
			t.Fatalf("ro2 user %s deleted by a revocation of ro", u)
		}
	}

	// A lease id revokes that lease alone.
	if err := f.e.RevokePrefix(ctx, ro2IDs[0], false); err != nil {
		t.Fatal(err)
	}
	if got := f.leaseIDs(); !slices.Equal(got, ro2IDs[1:]) {
		t.Fatalf("after revoking one id: %v", got)
	}
}

// TestRevokeMarkedResumes: leases marked by a revocation that an old leader did not finish
// are revoked by the next pass (what leaseLoop runs on the new active node), in batches.
func TestRevokeMarkedResumes(t *testing.T) {
	f := newFixture(t, true)
	_, users := f.issue(t, "ro", revokeBatch+3)
	f.c.must(t, state.TypeLeaseRevokeMark, state.LeaseRevokeMark{Prefix: "database/creds/ro/"})
	entries := 0
	f.c.fail = func(typ command.Type) error {
		if typ == state.TypeLeaseDeleteMany {
			entries++
		}
		return nil
	}
	failed, err := f.e.revokeMarked(context.Background(), "")
	if err != nil || failed != 0 {
		t.Fatalf("revokeMarked: %d failed, %v", failed, err)
	}
	if got := f.leaseIDs(); len(got) != 0 {
		t.Fatalf("%d leases left", len(got))
	}
	for _, u := range users {
		if _, ok := f.srv.password(u); ok {
			t.Fatalf("user %s left", u)
		}
	}
	if entries != 2 {
		t.Fatalf("%d leases forgotten in %d entries, want 2 batches", len(users), entries)
	}
}

// TestLookupPrefix: OpenBao's LIST sys/leases/lookup keys.
func TestLookupPrefix(t *testing.T) {
	f := newFixture(t, true)
	ids, _ := f.issue(t, "ro", 2)
	tests := []struct{ prefix, want string }{
		{"", "[database/]"},
		{"database", "[creds/]"},
		{"/database/", "[creds/]"},
		{"database/creds", "[ro/]"},
		{"database/creds/ro/", fmt.Sprint(sortedSuffixes(ids, "database/creds/ro/"))},
		{"database/creds/r", "[]"},
		{"elsewhere/", "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(f.e.LookupPrefix(tt.prefix)); got != tt.want {
			t.Errorf("LookupPrefix(%q) = %s, want %s", tt.prefix, got, tt.want)
		}
	}
}

func sortedSuffixes(ids []string, prefix string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, strings.TrimPrefix(id, prefix))
	}
	slices.Sort(out)
	return out
}

// TestReplayedRequestsChangeNothing: the new doors replayed (the same request sent again
// after it succeeded) leave the state as the first one left it: a revoke-prefix or
// revoke-force replayed revokes nothing more (other roles' leases and users stay), a password
// policy or a tune written twice is stored once.
func TestReplayedRequestsChangeNothing(t *testing.T) {
	f := newFixture(t, true)
	ctx := context.Background()
	if err := f.e.WriteConfig(ctx, "database", "db1", rootConfig(rootPW, "ro", "ro2"), APISource); err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.WriteRole(ctx, state.Role{Mount: "database", Name: "ro2", DBName: "db1", CreationStatements: []string{"CREATE ROLE"}}); err != nil {
		t.Fatal(err)
	}
	f.issue(t, "ro", 2)
	keep, keepUsers := f.issue(t, "ro2", 2)
	slices.Sort(keep)
	snapshot := func() string {
		var b strings.Builder
		f.c.s.View(func(d *state.Data) {
			for _, id := range slices.Sorted(maps.Keys(d.Leases)) {
				fmt.Fprintf(&b, "%s %+v\n", id, d.Leases[id])
			}
			for _, n := range slices.Sorted(maps.Keys(d.PasswordPolicies)) {
				fmt.Fprintf(&b, "pp %s %q\n", n, d.PasswordPolicies[n].Text)
			}
			m := d.Mounts["database/"]
			fmt.Fprintf(&b, "mount %s %s %q\n", m.DefaultLeaseTTL, m.MaxLeaseTTL, m.Description)
		})
		return b.String()
	}
	desc := "d"
	steps := []struct {
		name string
		do   func() error
	}{
		{"revoke-prefix", func() error { return f.e.RevokePrefix(ctx, "database/creds/ro", false) }},
		{"revoke-force", func() error { return f.e.RevokePrefix(ctx, "database/creds/ro/", true) }},
		{"password policy", func() error { return f.e.PutPasswordPolicy(ctx, "digits", digitsPolicy) }},
		{"tune", func() error {
			return f.e.TuneMount(ctx, "database", Tune{MaxLeaseTTL: durp(3 * time.Hour), Description: &desc})
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		after := snapshot()
		if err := st.do(); err != nil {
			t.Fatalf("%s replayed: %v", st.name, err)
		}
		if got := snapshot(); got != after {
			t.Fatalf("%s replayed changed the state:\n%s\nwant\n%s", st.name, got, after)
		}
	}
	if got := f.leaseIDs(); !slices.Equal(got, keep) {
		t.Fatalf("leases %v, want only ro2's %v", got, keep)
	}
	for _, u := range keepUsers {
		if _, ok := f.srv.password(u); !ok {
			t.Fatalf("ro2's user %s was deleted", u)
		}
	}
}
