package state

import (
	"errors"
	"maps"
	"slices"
	"sort"
	"testing"
)

func (a *applier) leases() map[string]Lease {
	a.t.Helper()
	var out map[string]Lease
	a.s.View(func(d *Data) { out = maps.Clone(d.Leases) })
	return out
}

// TestLeaseRevokeMark: the mark takes exactly the leases under the prefix (not a sibling
// whose name only starts the same), force is sticky, the empty prefix is refused, a prefix
// that matches nothing commits and changes nothing; LeaseDeleteMany forgets the leases named
// and skips those already gone, so a batch replayed after a failover is harmless.
func TestLeaseRevokeMark(t *testing.T) {
	a := base(t)
	a.must(TypeRolePut, RolePut{Role: Role{Mount: "database", Name: "ro", DBName: "db1"}})
	for _, id := range []string{"database/creds/ro/a", "database/creds/ro/b", "database/creds/ro2/c"} {
		a.must(TypeLeasePut, LeasePut{Lease: Lease{ID: id, Mount: "database/", Role: "ro"}})
	}
	marked := func() (ids []string, forced []string) {
		for id, l := range a.leases() {
			if l.Revoking {
				ids = append(ids, id)
			}
			if l.ForceRevoke {
				forced = append(forced, id)
			}
		}
		sort.Strings(ids)
		sort.Strings(forced)
		return ids, forced
	}

	if _, err := a.apply(TypeLeaseRevokeMark, LeaseRevokeMark{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty prefix: %v, want ErrInvalid", err)
	}
	a.must(TypeLeaseRevokeMark, LeaseRevokeMark{Prefix: "nothing/"})
	if ids, _ := marked(); len(ids) != 0 {
		t.Fatalf("a prefix matching nothing marked %v", ids)
	}
	a.must(TypeLeaseRevokeMark, LeaseRevokeMark{Prefix: "database/creds/ro/", Force: true})
	ids, forced := marked()
	if want := []string{"database/creds/ro/a", "database/creds/ro/b"}; !slices.Equal(ids, want) || !slices.Equal(forced, want) {
		t.Fatalf("marked %v forced %v, want both %v", ids, forced, want)
	}
	// A later plain revocation of a wider prefix keeps force on the forced ones.
	a.must(TypeLeaseRevokeMark, LeaseRevokeMark{Prefix: "database/"})
	ids, forced = marked()
	if len(ids) != 3 || !slices.Equal(forced, []string{"database/creds/ro/a", "database/creds/ro/b"}) {
		t.Fatalf("after the wider mark: marked %v forced %v", ids, forced)
	}

	a.must(TypeLeaseDeleteMany, LeaseDeleteMany{IDs: []string{"database/creds/ro/a", "database/creds/ro/b"}})
	a.must(TypeLeaseDeleteMany, LeaseDeleteMany{IDs: []string{"database/creds/ro/a", "database/creds/ro/b"}})
	if got := slices.Sorted(maps.Keys(a.leases())); !slices.Equal(got, []string{"database/creds/ro2/c"}) {
		t.Fatalf("leases left %v", got)
	}
}
