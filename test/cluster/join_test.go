package cluster

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/testutil"
)

// TestRetryJoinNodeReportsInitialized starts a node with retry_join to an initialised
// cluster and leaves it sealed: as OpenBao's does while its raft join is in progress, it
// reports initialized=true and sealed on sys/init, sys/seal-status and sys/health (503, not
// 501), and refuses sys/init with a 400 that says why, so that a script running init on
// every node that says it is not initialised never starts a second cluster. Unsealed with
// the cluster's key, it then joins as a standby.
func TestRetryJoinNodeReportsInitialized(t *testing.T) {
	c := New(t, 1, Options{})
	m := c.AddRetryJoin(Options{})
	ctx := testutil.Context(t, 2*time.Minute)

	testutil.Eventually(t, 30*time.Second, "the joining node to report initialized on GET sys/init", func() bool {
		r, err := m.Client.Do(ctx, "GET", "sys/init", nil)
		return err == nil && r.Status == http.StatusOK && r.Body["initialized"] == true
	})
	r := m.Client.Must(t, ctx, "GET", "sys/seal-status", nil)
	if r.Body["initialized"] != true || r.Body["sealed"] != true {
		t.Errorf("sys/seal-status of the joining node: %s, want initialized and sealed", r.Raw)
	}
	r, err := m.Client.Do(ctx, "GET", "sys/health", nil)
	if err != nil || r.Status != http.StatusServiceUnavailable || r.Body["initialized"] != true || r.Body["sealed"] != true {
		t.Errorf("sys/health of the joining node: %d %v %s, want 503 initialized and sealed", r.Status, err, r.Raw)
	}
	r, err = m.Client.Do(ctx, "PUT", "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
	if err != nil || r.Status != http.StatusBadRequest ||
		!strings.Contains(r.Errors(), "already initialized") || !strings.Contains(r.Errors(), c.Nodes[0].Cfg.Core.APIAddr) {
		t.Errorf("PUT sys/init on the joining node: %d %v %s, want 400 already initialized, naming the cluster it joins", r.Status, err, r.Raw)
	}
	if r, err := m.Client.Do(ctx, "GET", "sys/seal-status", nil); err != nil || r.Body["sealed"] != true {
		t.Fatalf("the refused sys/init changed the joining node: %v %s", err, r.Raw)
	}

	m.Client.Must(t, ctx, "PUT", "sys/unseal", map[string]any{"key": c.Key})
	testutil.Eventually(t, 30*time.Second, "the joined node to answer sys/health as a standby", func() bool {
		r, err := m.Client.Do(ctx, "GET", "sys/health", nil)
		return err == nil && r.Status == http.StatusTooManyRequests
	})
	r = c.Nodes[0].Client.Must(t, ctx, "GET", "sys/storage/raft/configuration", nil)
	if !strings.Contains(r.Raw, `"node_id":"`+m.ID+`"`) {
		t.Fatalf("raft configuration after the join lacks %s: %s", m.ID, r.Raw)
	}
}
