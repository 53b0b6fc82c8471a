package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

// TestLeaderActiveSince checks that a real node's sys/leader reports active_time as the RFC 3339
// time it became active (so `bao status` prints "Active Since"): not the zero time, not before
// the node was started and not after the answer.
func TestLeaderActiveSince(t *testing.T) {
	started := time.Now().Add(-time.Second) // RFC 3339 without a monotonic clock; allow rounding
	c := harness.Start(t, harness.Options{Nodes: 1})
	ctx := testutil.Context(t, 2*callTimeout)
	r := c.Nodes[0].Client.Must(t, ctx, "GET", "sys/leader", nil, http.StatusOK)
	answered := time.Now()
	raw, _ := r.Body["active_time"].(string)
	at, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		t.Fatalf("active_time %q is not RFC 3339: %v (%s)", raw, err, r.Raw)
	}
	if at.IsZero() || at.Before(started) || at.After(answered) {
		t.Fatalf("active_time %s is not between the node's start %s and the answer %s", at, started, answered)
	}
	if r.Body["is_self"] != true {
		t.Fatalf("the only node is not active: %s", r.Raw)
	}
}
