package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/test/testutil"
)

// lifecycleStream opens GET path on m (a sys/lifecycle?stream=true request) and returns the
// first transition it writes, read in the background so that the caller can cause it.
func lifecycleStream(t *testing.T, ctx context.Context, c *Cluster, m *Member, path string) <-chan fsm.Transition {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(m.Client.Addr, "/")+"/v1/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("%s: status %d, content type %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan fsm.Transition, 1)
	go func() {
		defer close(out)
		lines := bufio.NewScanner(resp.Body)
		if !lines.Scan() {
			return
		}
		var tr fsm.Transition
		if json.Unmarshal(lines.Bytes(), &tr) == nil {
			out <- tr
		}
	}()
	return out
}

// TestLifecycleStreamSeesTransitions opens sys/lifecycle?stream=true on a standby, both from
// its own state (local=true) and forwarded to the active node, then configures a database and updates it:
// each stream writes a transition of the kind it filters on, caused after it opened. A watch
// on the active node that is never read is dropped, and the writes still complete: a slow
// reader never blocks Apply.
func TestLifecycleStreamSeesTransitions(t *testing.T) {
	c := New(t, 3, Options{})
	a := c.Active()
	sb := c.Nodes[0]
	if sb == a {
		sb = c.Nodes[1]
	}
	slow := a.S.Node.WatchLifecycle(1)
	t.Cleanup(slow.Close)
	ctx := testutil.Context(t, 90*time.Second)
	local := lifecycleStream(t, ctx, c, sb, "sys/lifecycle?stream=true&local=true&kind=plugin")
	forwarded := lifecycleStream(t, ctx, c, sb, "sys/lifecycle?stream=true&kind=connection")
	_, before := a.S.Node.RaftStatus()

	setupDB(t, c, a) // every write returns although slow is never read
	// A connection machine is born without a transition; writing its config again fires one.
	a.Client.Must(t, ctx, "POST", "database/config/db1", map[string]any{"allowed_roles": "ro,app"})
	a.Client.Must(t, ctx, "GET", "database/creds/ro", nil)

	for name, tc := range map[string]struct {
		ch   <-chan fsm.Transition
		kind fsm.Kind
	}{"standby, local": {local, fsm.KindPlugin}, "forwarded": {forwarded, fsm.KindConnection}} {
		select {
		case tr, ok := <-tc.ch:
			if !ok || tr.Kind != tc.kind || tr.ID == "" || tr.Index <= before {
				t.Errorf("%s stream: %+v (ok %v), want a %s transition after index %d", name, tr, ok, tc.kind, before)
			}
		case <-ctx.Done():
			t.Fatalf("%s stream wrote nothing", name)
		}
	}
	testutil.Eventually(t, 30*time.Second, "the unread watch is dropped", func() bool {
		return errors.Is(slow.Err(), core.ErrWatchTooSlow)
	})
	n := 0
	for range slow.C {
		n++
	}
	if n != 1 {
		t.Errorf("the dropped watch held %d transitions, want its buffer's 1", n)
	}
}
