package cluster

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/plugins/testplugin"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

// leasesUnder counts the leases under prefix in m's replicated state.
func leasesUnder(m *Member, prefix string) int {
	n := 0
	m.S.Node.State().View(func(d *state.Data) {
		for id := range d.Leases {
			if strings.HasPrefix(id, prefix) {
				n++
			}
		}
	})
	return n
}

// TestRevokePrefixSurvivesFailover is issue 14 item 1: a prefix revocation of many leases,
// with the test plugin slowed so that it takes seconds, is cut short by the active node's crash
// after its first batch committed; the new active node revokes the rest: every lease is gone
// and every user deleted from the (shared, file-backed) test database.
func TestRevokePrefixSurvivesFailover(t *testing.T) {
	const n = 110
	c := New(t, 3, Options{})
	old := c.Active()
	db := setupDB(t, c, old)
	ctx := testutil.Context(t, 4*time.Minute)
	for range n {
		old.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	}
	if users, err := testplugin.Users(db); err != nil || len(users) != n+1 {
		t.Fatalf("%d users in the database (%v), want %d and root", len(users), err, n)
	}
	// Slow every database call, so that the revocation is still running when its first
	// batch (revokeBatch leases) has committed.
	old.Client.Must(t, ctx, "POST", "database/config/db1", map[string]any{
		"plugin_name": "baton-test-plugin", "allowed_roles": "ro", "username": "root", "password": "rootpw",
		"state_file": db, "slow_calls": "100ms"})

	standby := c.Nodes[1]
	testutil.Eventually(t, time.Minute, "every lease replicated to the standby", func() bool {
		return leasesUnder(standby, "database/creds/ro/") == n
	})
	revoked := make(chan error, 1)
	go func() {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		_, err := old.Client.Do(rctx, "PUT", "sys/leases/revoke-prefix/database/creds/ro", nil)
		revoked <- err
	}()
	testutil.Eventually(t, 2*time.Minute, "a first batch of leases forgotten", func() bool {
		return leasesUnder(standby, "database/creds/ro/") < n
	})
	c.Halt(old)
	<-revoked // the call is cut off with its node
	left := leasesUnder(standby, "database/creds/ro/")
	if left == 0 {
		t.Fatal("the revocation finished before the crash: nothing left for the new active node to do")
	}
	t.Logf("%d of %d leases left at the crash", left, n)

	a := c.WaitActive(old, time.Minute)
	testutil.Eventually(t, 2*time.Minute, "every lease revoked by the new active node", func() bool {
		return leasesUnder(a, "database/creds/ro/") == 0
	})
	users, err := testplugin.Users(db)
	if err != nil || !slices.Equal(users, []string{"root"}) {
		t.Fatalf("users left in the database: %v (%v), want only root", users, err)
	}
	r, err := a.Client.Do(ctx, "LIST", "sys/leases/lookup/database/creds/ro/", nil)
	if err != nil || r.Status != 404 {
		t.Fatalf("LIST lookup after the revocation: %v %d %s, want 404", err, r.Status, r.Raw)
	}
}
