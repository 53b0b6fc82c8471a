package e2e

import (
	"net/http"
	"testing"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

// TestDevNodeDisableRightAfterBanner is issue 9 item 1 exactly as it was met: a fresh dev node
// (the built binary with the README's flags), and right after its banner, before any
// credential, DELETE /v1/sys/mounts/database. It answered 409 "plugin "database/dev-test" is
// disabled (terminal): event conn_delete refused" on every retry. It must answer 204, again
// 204 when repeated, and the mount must be gone; the node then stops cleanly on SIGINT.
func TestDevNodeDisableRightAfterBanner(t *testing.T) {
	bins, err := harness.Build()
	if err != nil {
		t.Fatal(err)
	}
	p := startDev(t, []string{bins.Node.Path, "server", "-dev", "-dev-listen-address", "127.0.0.1:0", "-dev-nats-port", "0"})
	out := p.banner(t)
	ctx := testutil.Context(t, 2*callTimeout)
	cl := &testutil.Client{Addr: out.addr, Token: out.token}
	for round := 1; round <= 2; round++ {
		r, err := cl.Do(ctx, "DELETE", "sys/mounts/database", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusNoContent {
			t.Fatalf("DELETE sys/mounts/database right after the banner (round %d): %d %s", round, r.Status, r.Raw)
		}
	}
	r := cl.Must(t, ctx, "GET", "sys/mounts", nil)
	if _, ok := r.Body["database/"]; ok {
		t.Fatalf("database/ still mounted: %s", r.Raw)
	}

	p.interrupt(t, -p.pgid)
}
