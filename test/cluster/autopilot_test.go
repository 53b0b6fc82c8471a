package cluster

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/testutil"
)

// member reports whether id is in the Raft configuration m knows, and as a voter.
func member(m *Member, id string) (in, voter bool) {
	servers, err := m.S.Node.Store().Configuration()
	if err != nil {
		return false, false
	}
	for _, s := range servers {
		if s.ID == id {
			return true, s.Voter
		}
	}
	return false, false
}

// autopilotServer is one server of sys/storage/raft/autopilot/state.
func autopilotServer(t *testing.T, ctx context.Context, m *Member, id string) map[string]any {
	t.Helper()
	r := m.Client.Must(t, ctx, "GET", "sys/storage/raft/autopilot/state", nil)
	servers, _ := r.Data()["servers"].(map[string]any)
	s, _ := servers[id].(map[string]any)
	return s
}

// TestAutopilotConfigAndState round-trips the configuration, refuses values OpenBao refuses
// (and malformed ones) with 400 and nothing changed, refuses callers without the root token,
// and reads the state in OpenBao's shape.
func TestAutopilotConfigAndState(t *testing.T) {
	c := New(t, 3, Options{})
	a := c.Active()
	ctx := testutil.Context(t, 2*time.Minute)
	r := a.Client.Must(t, ctx, "GET", "sys/storage/raft/autopilot/configuration", nil)
	def := r.Data()
	for k, want := range map[string]any{"cleanup_dead_servers": false, "last_contact_threshold": "10s",
		"dead_server_last_contact_threshold": "24h0m0s", "server_stabilization_time": "10s"} {
		if def[k] != want {
			t.Fatalf("default %s = %v, want %v (%s)", k, def[k], want, r.Raw)
		}
	}
	// Through a standby, forwarded; a POST changes only the fields it names.
	c.Nodes[1].Client.Must(t, ctx, "POST", "sys/storage/raft/autopilot/configuration", map[string]any{
		"cleanup_dead_servers": true, "min_quorum": 3, "dead_server_last_contact_threshold": "2m", "max_trailing_logs": "500"})
	want := map[string]any{"cleanup_dead_servers": true, "min_quorum": "3", "dead_server_last_contact_threshold": "2m0s",
		"max_trailing_logs": "500", "last_contact_threshold": "10s", "server_stabilization_time": "10s"}
	check := func(t *testing.T, m *Member) {
		t.Helper()
		got := m.Client.Must(t, ctx, "GET", "sys/storage/raft/autopilot/configuration", nil).Data()
		for k, w := range want {
			if fmt.Sprint(got[k]) != fmt.Sprint(w) {
				t.Fatalf("%s: %s = %v, want %v", m.ID, k, got[k], w)
			}
		}
	}
	check(t, a)
	// Replicated: every node holds it in its own state.
	for _, m := range c.Nodes {
		testutil.Eventually(t, 10*time.Second, m.ID+" has the configuration", func() bool {
			return m.S.Node.AutopilotConfiguration().MinQuorum == 3
		})
	}

	for _, tc := range []struct {
		name string
		body map[string]any
		says string
	}{
		{"min_quorum below 3 with cleanup", map[string]any{"min_quorum": 2}, "min_quorum"},
		{"dead threshold below 1m", map[string]any{"dead_server_last_contact_threshold": "30s"}, "less than 1m"},
		{"zero last contact threshold", map[string]any{"last_contact_threshold": "0s"}, "last_contact_threshold"},
		{"malformed duration", map[string]any{"server_stabilization_time": "soon"}, "server_stabilization_time"},
		{"negative count", map[string]any{"max_trailing_logs": -1}, "max_trailing_logs"},
		{"not a bool", map[string]any{"cleanup_dead_servers": "maybe"}, "cleanup_dead_servers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := a.Client.Do(ctx, "POST", "sys/storage/raft/autopilot/configuration", tc.body)
			if err != nil || r.Status != http.StatusBadRequest || !strings.Contains(r.Raw, tc.says) {
				t.Fatalf("got %v %d %s, want 400 naming %s", err, r.Status, r.Raw, tc.says)
			}
			check(t, a)
		})
	}
	for _, tok := range []string{"", "wrong-token"} {
		cl := &testutil.Client{Addr: a.Client.Addr, Token: tok}
		for _, req := range [][2]string{{"GET", "configuration"}, {"POST", "configuration"}, {"GET", "state"}} {
			r, err := cl.Do(ctx, req[0], "sys/storage/raft/autopilot/"+req[1], map[string]any{"cleanup_dead_servers": false})
			if err != nil || r.Status != http.StatusForbidden {
				t.Fatalf("%s %s with token %q: %v %d %s", req[0], req[1], tok, err, r.Status, r.Raw)
			}
		}
	}
	check(t, a)

	// The state is refreshed every update interval: it soon shows the promoted voters.
	testutil.Eventually(t, 30*time.Second, "the state shows three voters and the leader", func() bool {
		st := c.Nodes[2].Client.Must(t, ctx, "GET", "sys/storage/raft/autopilot/state", nil).Data()
		voters, _ := st["voters"].([]any)
		return st["leader"] == a.ID && len(voters) == 3 && st["non_voters"] == nil
	})
	for _, m := range c.Nodes {
		s := autopilotServer(t, ctx, a, m.ID)
		if s["node_status"] != "alive" || s["address"] == "" || s["last_contact"] == nil || s["status"] == nil {
			t.Fatalf("state of %s: %v", m.ID, s)
		}
	}
	testutil.Eventually(t, 30*time.Second, "a healthy cluster", func() bool {
		return a.Client.Must(t, ctx, "GET", "sys/storage/raft/autopilot/state", nil).Data()["healthy"] == true
	})
}

// TestAutopilotRemovesDeadServer runs a 5-node cluster with cleanup_dead_servers (min_quorum
// 4, dead after 1 minute, OpenBao's shortest). node4 is killed for good: autopilot removes it.
// node3 is killed at the same time and restarted inside the threshold: it stays a voter. Then
// node3 is killed for good: autopilot sees it dead but keeps it, as removing it would leave
// fewer than min_quorum voters. The cluster keeps its quorum and takes writes throughout.
func TestAutopilotRemovesDeadServer(t *testing.T) {
	c := New(t, 5, Options{})
	a := c.Active()
	ctx := testutil.Context(t, 6*time.Minute)
	a.Client.Must(t, ctx, "POST", "sys/storage/raft/autopilot/configuration", map[string]any{
		"cleanup_dead_servers": true, "min_quorum": 4, "dead_server_last_contact_threshold": "1m"})
	back, dead := c.Nodes[3], c.Nodes[4]

	c.Halt(dead)
	killed := time.Now()
	// node3 is restarted at once: while a node is down its peers keep dialling its Raft port,
	// and on loopback such a dial can connect to itself and hold the port.
	c.Halt(back)
	c.Restart(back)
	testutil.Eventually(t, 30*time.Second, "autopilot sees node4 unhealthy", func() bool {
		return autopilotServer(t, ctx, a, dead.ID)["healthy"] == false
	})
	testutil.Eventually(t, 3*time.Minute, "autopilot removes node4", func() bool {
		in, _ := member(a, dead.ID)
		return !in
	})
	if d := time.Since(killed); d < time.Minute {
		t.Fatalf("node4 removed %s after its death, before dead_server_last_contact_threshold", d)
	}
	if in, voter := member(a, back.ID); !in || !voter {
		t.Fatalf("node3, restarted inside the threshold, is member %t voter %t", in, voter)
	}
	a.Client.Must(t, ctx, "POST", "sys/mounts/after-removal", map[string]any{"type": "database"})

	// Four voters left, min_quorum 4: a dead node3 is seen dead but never removed.
	c.Halt(back)
	testutil.Eventually(t, 3*time.Minute, "autopilot sees node3 dead", func() bool {
		return autopilotServer(t, ctx, a, back.ID)["node_status"] == "left"
	})
	// It would be removed at the next reconcile (every second in this profile): give it
	// several, then check it is still there.
	for range 5 {
		time.Sleep(time.Second)
		if in, voter := member(a, back.ID); !in || !voter {
			t.Fatalf("autopilot removed node3 below min_quorum: member %t voter %t", in, voter)
		}
	}
	a.Client.Must(t, ctx, "POST", "sys/mounts/below-min-quorum", map[string]any{"type": "database"})
	if c.Active() != a {
		t.Fatal("the active node changed")
	}
}
