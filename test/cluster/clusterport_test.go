package cluster

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

// TestStandbyForwardsOnlyToTheAuthenticatedLeader writes a stranger's address into the state
// as the active node's api_addr (what a replayed join could once do) and sends client requests
// to a standby: they are served by the active node, reached over the cluster port with mutual
// TLS, and the stranger's server sees nothing, token included. After a failover the standby
// forwards to the new active node the same way.
func TestStandbyForwardsOnlyToTheAuthenticatedLeader(t *testing.T) {
	c := New(t, 3, Options{})
	ctx := testutil.Context(t, 3*time.Minute)
	var got atomic.Int64
	stranger := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(stranger.Close)

	leader := c.Nodes[0]
	if _, err := leader.S.Node.Propose(ctx, state.TypeNodeJoin, "", command.SourceAPI, state.NodeJoin{Node: state.Node{
		ID: leader.ID, APIAddr: stranger.URL, RaftAddr: leader.Cfg.Core.RaftAdvertise,
	}}); err != nil {
		t.Fatal(err)
	}
	standby := c.Nodes[1]
	testutil.Eventually(t, 30*time.Second, "the standby to read the stranger's api_addr", func() bool {
		r, err := standby.Client.Do(ctx, "GET", "sys/leader", nil)
		return err == nil && strings.Contains(r.Raw, stranger.URL)
	})
	for range 5 {
		r := standby.Client.Must(t, ctx, "GET", "sys/mounts", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("a forwarded sys/mounts: %d %s", r.Status, r.Raw)
		}
	}
	if n := got.Load(); n != 0 {
		t.Fatalf("%d forwarded requests went to the api_addr in the state", n)
	}

	c.Halt(leader)
	next := c.WaitActive(leader, 30*time.Second)
	other := c.Nodes[1]
	if next == other {
		other = c.Nodes[2]
	}
	testutil.Eventually(t, 30*time.Second, "the standby to forward to the new active node", func() bool {
		r, err := other.Client.Do(ctx, "GET", "sys/mounts", nil)
		return err == nil && r.Status == http.StatusOK
	})
	if n := got.Load(); n != 0 {
		t.Fatalf("%d forwarded requests went to the stranger", n)
	}
}
