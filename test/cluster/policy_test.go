package cluster

import (
	"net/http"
	"testing"
	"time"

	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

const opsPolicy = "path \"database/creds/ro\" {\n  capabilities = [\"read\"]\n}\n"

func localPolicy(m *Member, name string) (string, bool) {
	var (
		p  state.Policy
		ok bool
	)
	m.S.Node.State().View(func(d *state.Data) { p, ok = d.Policies[name] })
	return p.Text, ok
}

// TestPolicyReplicatedAcrossFailover: a policy written through a standby (forwarded to the
// active node) is applied on every node, and is read on a former standby after the active
// node is killed; a caller with a wrong token changes nothing, even through a standby.
func TestPolicyReplicatedAcrossFailover(t *testing.T) {
	c := New(t, 3, Options{})
	old := c.Active()
	var standby *Member
	for _, m := range c.Nodes {
		if m != old {
			standby = m
			break
		}
	}
	ctx := testutil.Context(t, 90*time.Second)
	standby.Client.Must(t, ctx, "PUT", "sys/policies/acl/Ops", map[string]any{"policy": opsPolicy}, http.StatusNoContent)
	for _, m := range c.Nodes {
		testutil.Eventually(t, 20*time.Second, m.ID+" applied the policy", func() bool {
			text, ok := localPolicy(m, "ops")
			return ok && text == opsPolicy
		})
	}

	wrong := &testutil.Client{Addr: standby.Client.Addr, Token: "not-the-root-token"}
	if r, err := wrong.Do(ctx, "PUT", "sys/policies/acl/evil", map[string]any{"policy": opsPolicy}); err != nil || r.Status != http.StatusForbidden {
		t.Fatalf("PUT with a wrong token through a standby: %v %d %s", err, r.Status, r.Raw)
	}

	c.Halt(old)
	nl := c.WaitActive(old, 30*time.Second)
	for _, m := range c.Nodes {
		if m == old {
			continue
		}
		r := m.Client.Must(t, ctx, "GET", "sys/policies/acl/ops", nil)
		if r.Data()["policy"] != opsPolicy || r.Data()["name"] != "ops" {
			t.Fatalf("%s (active: %v) read %s", m.ID, m == nl, r.Raw)
		}
		if _, ok := localPolicy(m, "evil"); ok {
			t.Fatalf("%s stored the policy written with a wrong token", m.ID)
		}
	}
	r := nl.Client.Must(t, ctx, "GET", "sys/policy", nil)
	keys, _ := r.Data()["policies"].([]any)
	if len(keys) != 3 {
		t.Fatalf("sys/policy after failover lists %v, want default, ops, root", keys)
	}
}
