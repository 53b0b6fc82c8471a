package api

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/test/testutil"
)

// lifecycleFixture is two plugins and a connection, with transitions at indexes 3 to 12.
func lifecycleFixture() core.Lifecycle {
	tr := func(k fsm.Kind, id string, from, to fsm.State, idx uint64) fsm.Transition {
		return fsm.Transition{Kind: k, ID: id, Event: "e", From: from, To: to, Index: idx}
	}
	return core.Lifecycle{Machines: []core.Machine{
		{Kind: fsm.KindConnection, ID: "database/db1", State: fsm.StateConfigured, History: []fsm.Transition{
			tr(fsm.KindConnection, "database/db1", fsm.StateIdle, fsm.StateConfigured, 5)}},
		{Kind: fsm.KindPlugin, ID: "database/a", State: fsm.StateRunning, History: []fsm.Transition{
			tr(fsm.KindPlugin, "database/a", fsm.StateIdle, fsm.StateStarting, 3),
			tr(fsm.KindPlugin, "database/a", fsm.StateStarting, fsm.StateRunning, 12)}},
		{Kind: fsm.KindPlugin, ID: "database/b", State: fsm.StateDisabled, History: []fsm.Transition{
			tr(fsm.KindPlugin, "database/b", fsm.StateIdle, fsm.StateDisabled, 4)}},
	}}
}

// TestLifecycleFilters checks that kind, id, state and since select the machines (since
// trimming each history to the transitions at or after it), that the reply keeps its shape
// (machines, wal, diagrams), and that a value the filter cannot use is a 400 naming it.
func TestLifecycleFilters(t *testing.T) {
	tests := []struct {
		query   string
		want    []string // machine ids, in order
		history int      // total transitions listed
	}{
		{query: "", want: []string{"database/db1", "database/a", "database/b"}, history: 4},
		{query: "kind=plugin", want: []string{"database/a", "database/b"}, history: 3},
		{query: "kind=connection", want: []string{"database/db1"}, history: 1},
		{query: "id=database/b", want: []string{"database/b"}, history: 1},
		{query: "state=running", want: []string{"database/a"}, history: 2},
		{query: "state=deleted", want: []string{}, history: 0},
		{query: "since=5", want: []string{"database/db1", "database/a"}, history: 2},
		{query: "since=12&kind=plugin", want: []string{"database/a"}, history: 1},
		{query: "since=13", want: []string{}, history: 0},
		{query: "kind=plugin&id=database/db1", want: []string{}, history: 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			n := newFakeNode()
			n.lifecycle = lifecycleFixture()
			r := do(t, newTestServer(n, newFakeSecrets()), "GET", "/v1/sys/lifecycle?"+tt.query, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			var got struct {
				Data struct {
					Machines []core.Machine   `json:"machines"`
					WAL      []map[string]any `json:"wal"`
					Diagrams map[string]string
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(r.raw), &got); err != nil {
				t.Fatal(err)
			}
			ids, history := []string{}, 0
			for _, m := range got.Data.Machines {
				ids = append(ids, m.ID)
				history += len(m.History)
			}
			if !slices.Equal(ids, tt.want) || history != tt.history {
				t.Errorf("machines %v with %d transitions, want %v with %d", ids, history, tt.want, tt.history)
			}
			if got.Data.Diagrams["plugin"] == "" || got.Data.Diagrams["connection"] == "" || !strings.Contains(r.raw, `"machines":[`) {
				t.Errorf("reply lost its shape: %s", r.raw)
			}
		})
	}
	bad := []struct{ query, msg string }{
		{"kind=role", "kind must be"},
		{"state=flying", "is not a lifecycle state"},
		{"since=-1", "since must be a Raft index"},
		{"since=ten", "since must be a Raft index"},
		{"stream=yes", "stream must be true or false"},
		{"stream=true&kind=x", "kind must be"},
	}
	for _, tt := range bad {
		t.Run("bad "+tt.query, func(t *testing.T) {
			n := newFakeNode()
			r := do(t, newTestServer(n, newFakeSecrets()), "GET", "/v1/sys/lifecycle?"+tt.query, nil)
			if r.status != http.StatusBadRequest || !strings.Contains(r.raw, tt.msg) {
				t.Errorf("status %d %s, want 400 with %q", r.status, r.raw, tt.msg)
			}
			if got := n.got(); slices.Contains(got, "WatchLifecycle") || slices.ContainsFunc(got, func(c string) bool { return strings.HasPrefix(c, "Lifecycle") }) {
				t.Errorf("a refused query read the lifecycle: %v", got)
			}
		})
	}
}

// TestLifecycleStreamRefused checks that the stream's door is shut without the root token
// and with a wrong one, and that a write method is refused: no watch is opened.
func TestLifecycleStreamRefused(t *testing.T) {
	tests := []struct {
		name, method string
		hdr          []string
		want         int
	}{
		{"no token", "GET", []string{TokenHeader, ""}, http.StatusForbidden},
		{"wrong token", "GET", []string{TokenHeader, "nope"}, http.StatusForbidden},
		{"post", "POST", nil, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFakeNode()
			r := do(t, newTestServer(n, newFakeSecrets()), tt.method, "/v1/sys/lifecycle?stream=true", nil, tt.hdr...)
			if r.status != tt.want {
				t.Errorf("status %d %s, want %d", r.status, r.raw, tt.want)
			}
			if slices.Contains(n.got(), "WatchLifecycle") || n.watches.Watching() != 0 {
				t.Errorf("a refused request opened a watch: %v", n.got())
			}
		})
	}
}

// openStream GETs path from srv with the root token and returns a line reader.
func openStream(t *testing.T, ctx context.Context, srv *httptest.Server, path string) (*http.Response, *bufio.Scanner) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(TokenHeader, "root-token")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("stream: status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, bufio.NewScanner(resp.Body)
}

// TestLifecycleStream checks that the stream writes the transitions published after it
// opened, one JSON object a line, that its filters apply, and that the watch is closed once
// the client goes away.
func TestLifecycleStream(t *testing.T) {
	n := newFakeNode()
	srv := httptest.NewServer(newTestServer(n, newFakeSecrets()))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, lines := openStream(t, ctx, srv, "/v1/sys/lifecycle?stream=true&kind=connection&since=7")
	testutil.Eventually(t, 10*time.Second, "the stream opened a watch", func() bool { return n.watches.Watching() == 1 })
	n.watches.Publish([]fsm.Transition{
		{Kind: fsm.KindPlugin, ID: "database/a", From: fsm.StateIdle, To: fsm.StateStarting, Index: 8},
		{Kind: fsm.KindConnection, ID: "database/old", From: fsm.StateIdle, To: fsm.StateConfigured, Index: 6},
		{Kind: fsm.KindConnection, ID: "database/db1", From: fsm.StateIdle, To: fsm.StateConfigured, Index: 9},
	})
	if !lines.Scan() {
		t.Fatalf("no line: %v", lines.Err())
	}
	var got fsm.Transition
	if err := json.Unmarshal(lines.Bytes(), &got); err != nil {
		t.Fatalf("line %q: %v", lines.Text(), err)
	}
	if got.Kind != fsm.KindConnection || got.ID != "database/db1" || got.To != fsm.StateConfigured || got.Index != 9 {
		t.Errorf("first line %s, want database/db1's transition at 9 (the others are filtered out)", lines.Text())
	}
	cancel()
	testutil.Eventually(t, 10*time.Second, "the watch closed when the client went away", func() bool { return n.watches.Watching() == 0 })
}

// TestLifecycleStreamSlowReader checks that a watch dropped for falling behind ends the
// stream with what it had buffered, then a last line carrying the error.
func TestLifecycleStreamSlowReader(t *testing.T) {
	n := newFakeNode()
	n.watchBuffer = 1
	n.preload = []fsm.Transition{
		{Kind: fsm.KindPlugin, ID: "database/a", To: fsm.StateStarting, Index: 1},
		{Kind: fsm.KindPlugin, ID: "database/a", To: fsm.StateRunning, Index: 2},
	}
	srv := httptest.NewServer(newTestServer(n, newFakeSecrets()))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, lines := openStream(t, ctx, srv, "/v1/sys/lifecycle?stream=true")
	var got []string
	for lines.Scan() {
		got = append(got, lines.Text())
	}
	if len(got) != 2 || !strings.Contains(got[0], `"index":1`) || !strings.Contains(got[1], `"error":"`+core.ErrWatchTooSlow.Error()+`"`) {
		t.Errorf("stream %q, want the buffered transition then the error line", got)
	}
}
