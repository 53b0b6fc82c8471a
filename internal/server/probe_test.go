package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/baton-hq/baton/internal/api"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/test/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTarget is a join target's sys/seal-status: it answers reply and counts the calls.
type fakeTarget struct {
	mu    sync.Mutex
	reply string
	calls int
}

func (f *fakeTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if r.URL.Path != "/v1/sys/seal-status" {
		http.NotFound(w, r)
		return
	}
	fmt.Fprint(w, f.reply)
}

func (f *fakeTarget) set(reply string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply, f.calls = reply, 0
}

func (f *fakeTarget) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// newSealedNode returns a fresh sealed node (no NATS), its membership and the API in front
// of them, wired as New wires them, joining through join; all are closed at cleanup.
func newSealedNode(t *testing.T, join ...string) (*core.Node, *api.Server, *httptest.Server) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	raftAddr := l.Addr().String()
	l.Close()
	n, err := core.New(core.Config{NodeID: "joiner", DataDir: t.TempDir(), RaftBind: raftAddr, APIAddr: "http://127.0.0.1:1", NoNATS: true})
	if err != nil {
		t.Fatal(err)
	}
	m := core.NewMembership(n, join)
	s := api.New(api.Config{Node: apiNode{n, m}})
	h := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		h.Close()
		m.Close()
		_ = n.Shutdown(context.Background())
	})
	return n, s, h
}

// reports reads what the node says about itself: GET sys/init's initialized, sys/health's
// status and sys/seal-status's sealed.
func reports(t *testing.T, ctx context.Context, cl *testutil.Client) (initialized bool, health int, sealed bool) {
	t.Helper()
	r := cl.Must(t, ctx, "GET", "sys/init", nil)
	initialized, _ = r.Body["initialized"].(bool)
	hr, err := cl.Do(ctx, "GET", "sys/health", nil)
	if err != nil {
		t.Fatal(err)
	}
	sr := cl.Must(t, ctx, "GET", "sys/seal-status", nil)
	sealed, _ = sr.Body["sealed"].(bool)
	return initialized, hr.Status, sealed
}

// TestJoinTargetProbe checks when a node with a join target starts to report itself
// initialised: not while the target is unreachable, answers garbage or says its own cluster
// is not initialised (the node may then still be initialised itself: 501), and at once when
// it says it is (503 sealed, sys/init refused with 400). A target given later through
// sys/storage/raft/join is probed as well.
func TestJoinTargetProbe(t *testing.T) {
	tests := []struct {
		name, first string
		viaAPI      bool // the target comes through sys/storage/raft/join, not retry_join
	}{
		{name: "target not initialized", first: `{"initialized":false,"sealed":true}`},
		{name: "target answers garbage", first: `not json`},
		{name: "target without the field", first: `{"sealed":false}`},
		{name: "target given by sys/storage/raft/join", first: `{"initialized":false,"sealed":true}`, viaAPI: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testutil.Context(t, time.Minute)
			target := &fakeTarget{reply: tt.first}
			ts := httptest.NewServer(target)
			t.Cleanup(ts.Close)
			var join []string
			if !tt.viaAPI {
				join = []string{ts.URL}
			}
			_, _, h := newSealedNode(t, join...)
			cl := &testutil.Client{Addr: h.URL}
			if tt.viaAPI {
				cl.Must(t, ctx, "POST", "sys/storage/raft/join", map[string]any{"leader_api_addr": ts.URL})
			}
			testutil.Eventually(t, 30*time.Second, "two probes of the join target", func() bool { return target.count() >= 2 })
			if init, health, sealed := reports(t, ctx, cl); init || health != http.StatusNotImplemented || !sealed {
				t.Fatalf("target answered %s: node reports initialized=%v health=%d sealed=%v, want false, 501, true", tt.first, init, health, sealed)
			}

			target.set(`{"initialized":true,"sealed":false}`)
			testutil.Eventually(t, 30*time.Second, "the node to report initialized", func() bool {
				init, _, _ := reports(t, ctx, cl)
				return init
			})
			if init, health, sealed := reports(t, ctx, cl); !init || health != http.StatusServiceUnavailable || !sealed {
				t.Fatalf("after the target said initialized: initialized=%v health=%d sealed=%v, want true, 503, true", init, health, sealed)
			}
			r, err := cl.Do(ctx, "PUT", "sys/init", map[string]any{})
			if err != nil || r.Status != http.StatusBadRequest || !strings.Contains(r.Errors(), "joining the cluster at "+ts.URL) {
				t.Fatalf("PUT sys/init on the joining node: %d %v %s, want 400 naming %s", r.Status, err, r.Raw, ts.URL)
			}
		})
	}
}

// TestNoJoinTargetNoProbe checks that a node without a join target stays uninitialised and
// may be initialised.
func TestNoJoinTargetNoProbe(t *testing.T) {
	ctx := testutil.Context(t, time.Minute)
	n, _, h := newSealedNode(t)
	cl := &testutil.Client{Addr: h.URL}
	if init, health, sealed := reports(t, ctx, cl); init || health != http.StatusNotImplemented || !sealed {
		t.Fatalf("a new node reports initialized=%v health=%d sealed=%v, want false, 501, true", init, health, sealed)
	}
	r := cl.Must(t, ctx, "PUT", "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
	if r.Body["root_token"] == nil || !n.InitializedLocally() {
		t.Fatalf("sys/init on a node without a join target: %s", r.Raw)
	}
}
