package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/baton-hq/baton/test/testutil"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/database"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// reply is a decoded response.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// errs is the reply's "errors", joined.
func (r reply) errs() string {
	var out []string
	list, _ := r.body["errors"].([]any)
	for _, e := range list {
		out = append(out, fmt.Sprint(e))
	}
	return strings.Join(out, "; ")
}

// dataOf is the reply's "data" object.
func (r reply) dataOf(t *testing.T) map[string]any {
	t.Helper()
	d, ok := r.body["data"].(map[string]any)
	if !ok {
		t.Fatalf("reply has no data object: %s", r.raw)
	}
	return d
}

// do serves one request through h; body is JSON-encoded unless it is a string; the root
// token of newFakeNode is sent unless the headers set X-Vault-Token themselves.
func do(t *testing.T, h http.Handler, method, path string, body any, hdr ...string) reply {
	t.Helper()
	var rd *strings.Reader
	switch b := body.(type) {
	case nil:
		rd = strings.NewReader("")
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(j))
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set(TokenHeader, "root-token")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := reply{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if strings.TrimSpace(r.raw) != "" {
		if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
			t.Fatalf("%s %s: reply is not a JSON object: %v: %q", method, path, err, r.raw)
		}
	}
	return r
}

func newTestServer(n *fakeNode, s *fakeSecrets) http.Handler {
	return New(Config{Node: n, Secrets: s, Tokens: newFakeTokens(n), Version: "v-test", MaxRequestSize: testMaxRequestSize}).Handler()
}

// TestHealth checks sys/health's status code in each node state, the code overrides of
// OpenBao's query parameters, and the reply's fields.
func TestHealth(t *testing.T) {
	tests := []struct {
		name                           string
		initialized, sealed, active    bool
		query                          string
		want                           int
		wantSealed, wantStandby, wInit bool
	}{
		{name: "active", initialized: true, active: true, want: 200, wInit: true},
		{name: "standby", initialized: true, want: 429, wantStandby: true, wInit: true},
		{name: "standby ok", initialized: true, query: "?standbyok=true", want: 200, wantStandby: true, wInit: true},
		{name: "standby code", initialized: true, query: "?standbycode=299", want: 299, wantStandby: true, wInit: true},
		{name: "sealed", initialized: true, sealed: true, want: 503, wantSealed: true, wInit: true},
		{name: "sealed code", initialized: true, sealed: true, query: "?sealedcode=200", want: 200, wantSealed: true, wInit: true},
		{name: "not initialized", sealed: true, want: 501, wantSealed: true},
		{name: "not initialized code", query: "?uninitcode=200", want: 200, wantSealed: true},
		{name: "active code", initialized: true, active: true, query: "?activecode=204", want: 204, wInit: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFakeNode()
			n.initialized, n.sealed, n.active = tt.initialized, tt.sealed, tt.active
			r := do(t, newTestServer(n, newFakeSecrets()), "GET", "/v1/sys/health"+tt.query, nil, TokenHeader, "")
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.raw)
			}
			if tt.want == http.StatusNoContent {
				return // no body to check
			}
			for k, want := range map[string]any{"initialized": tt.wInit, "sealed": tt.wantSealed, "standby": tt.wantStandby,
				"version": "v-test", "cluster_name": "baton-test", "performance_standby": false} {
				if r.body[k] != want {
					t.Errorf("%s = %v, want %v (%s)", k, r.body[k], want, r.raw)
				}
			}
			if _, ok := r.body["server_time_utc"].(float64); !ok {
				t.Errorf("server_time_utc missing: %s", r.raw)
			}
		})
	}
}

// TestHealthBadCode checks that a status-code override outside 100–599, or not a number,
// answers 400 naming the parameter instead of panicking in WriteHeader or being ignored.
func TestHealthBadCode(t *testing.T) {
	tests := []struct {
		name                        string
		initialized, sealed, active bool
		query                       string
	}{
		{name: "activecode too small", initialized: true, active: true, query: "activecode=1"},
		{name: "activecode too large", initialized: true, active: true, query: "activecode=600"},
		{name: "activecode negative", initialized: true, active: true, query: "activecode=-200"},
		{name: "activecode not a number", initialized: true, active: true, query: "activecode=ok"},
		{name: "standbycode zero", initialized: true, query: "standbycode=0"},
		{name: "sealedcode huge", initialized: true, sealed: true, query: "sealedcode=99999999999999999999"},
		{name: "uninitcode 99", query: "uninitcode=99"},
		{name: "perfstandbyokcode unused but bad", initialized: true, active: true, query: "performancestandbycode=1000"},
		{name: "drsecondarycode bad", initialized: true, active: true, query: "drsecondarycode=x"},
		{name: "bad code for another state", initialized: true, active: true, query: "sealedcode=7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFakeNode()
			n.initialized, n.sealed, n.active = tt.initialized, tt.sealed, tt.active
			r := do(t, newTestServer(n, newFakeSecrets()), "GET", "/v1/sys/health?"+tt.query, nil, TokenHeader, "")
			name := tt.query[:strings.Index(tt.query, "=")]
			if r.status != http.StatusBadRequest || !strings.Contains(r.errs(), name) || !strings.Contains(r.errs(), "100") {
				t.Fatalf("%s: %d %q, want 400 naming %s and the range", tt.query, r.status, r.errs(), name)
			}
		})
	}
}

// TestLeaderActiveTime checks that sys/leader's active_time is, in RFC 3339, when the node
// became active (what `bao status` prints as "Active Since"), and the zero time on a standby,
// as OpenBao's.
func TestLeaderActiveTime(t *testing.T) {
	since := time.Date(2026, 12, 3, 9, 0, 1, 500, time.UTC)
	tests := []struct {
		name   string
		active bool
		want   string
	}{
		{name: "active", active: true, want: "2026-12-03T09:00:01.0000005Z"},
		{name: "standby", active: false, want: "0001-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFakeNode()
			n.active = tt.active
			n.activeSince = since
			r := do(t, newTestServer(n, newFakeSecrets()), "GET", "/v1/sys/leader", nil, TokenHeader, "")
			if r.status != 200 || r.body["active_time"] != tt.want {
				t.Fatalf("active_time = %v, want %s (%d %s)", r.body["active_time"], tt.want, r.status, r.raw)
			}
		})
	}
}

// TestStatusShapes checks OpenBao's shapes of sys/seal-status, sys/leader, GET sys/init and
// sys/storage/raft/configuration, served from the node's status.
func TestStatusShapes(t *testing.T) {
	n := newFakeNode()
	n.peers = []core.RaftServer{{ID: "n1", Address: "10.0.0.1:8201", Leader: true, Voter: true}, {ID: "n2", Address: "10.0.0.2:8201", Voter: true}}
	h := newTestServer(n, newFakeSecrets())

	r := do(t, h, "GET", "/v1/sys/seal-status", nil, TokenHeader, "")
	for k, want := range map[string]any{"type": "shamir", "initialized": true, "sealed": false, "t": 1.0, "n": 1.0,
		"progress": 0.0, "version": "v-test", "cluster_name": "baton-test", "storage_type": "raft", "raft_applied_index": 42.0} {
		if r.status != 200 || r.body[k] != want {
			t.Errorf("seal-status %s = %v, want %v (%d %s)", k, r.body[k], want, r.status, r.raw)
		}
	}

	r = do(t, h, "GET", "/v1/sys/leader", nil, TokenHeader, "")
	for k, want := range map[string]any{"ha_enabled": true, "is_self": true, "leader_address": "http://n1.example:8200",
		"leader_cluster_address": "10.0.0.1:8201", "raft_applied_index": 42.0, "raft_committed_index": 42.0} {
		if r.status != 200 || r.body[k] != want {
			t.Errorf("leader %s = %v, want %v (%d %s)", k, r.body[k], want, r.status, r.raw)
		}
	}

	r = do(t, h, "GET", "/v1/sys/init", nil, TokenHeader, "")
	if r.status != 200 || r.body["initialized"] != true {
		t.Errorf("GET sys/init: %d %s", r.status, r.raw)
	}

	r = do(t, h, "GET", "/v1/sys/storage/raft/configuration", nil)
	cfg, _ := r.dataOf(t)["config"].(map[string]any)
	servers, _ := cfg["servers"].([]any)
	if r.status != 200 || len(servers) != 2 || cfg["index"] != 42.0 {
		t.Fatalf("raft configuration: %d %s", r.status, r.raw)
	}
	first, _ := servers[0].(map[string]any)
	for k, want := range map[string]any{"node_id": "n1", "address": "10.0.0.1:8201", "leader": true, "voter": true, "protocol_version": "3"} {
		if first[k] != want {
			t.Errorf("raft configuration server %s = %v, want %v", k, first[k], want)
		}
	}
	if r.body["request_id"] == "" || r.body["lease_id"] != "" {
		t.Errorf("raft configuration is not in OpenBao's envelope: %s", r.raw)
	}
}

// TestAuthAndSeal checks the token check (X-Vault-Token or a Bearer token; anything else
// 403 "permission denied"), that a sealed node answers 503 to what needs it unsealed, and
// that what a sealed node serves itself needs no token.
func TestAuthAndSeal(t *testing.T) {
	tests := []struct {
		name   string
		sealed bool
		method string
		path   string
		hdr    []string
		want   int
		msg    string
	}{
		{name: "no token", method: "GET", path: "/v1/sys/mounts", hdr: []string{TokenHeader, ""}, want: 403, msg: "permission denied"},
		{name: "wrong token", method: "GET", path: "/v1/sys/mounts", hdr: []string{TokenHeader, "nope"}, want: 403, msg: "permission denied"},
		{name: "bearer token", method: "GET", path: "/v1/sys/mounts", hdr: []string{TokenHeader, "", "Authorization", "Bearer root-token"}, want: 200},
		{name: "vault token", method: "GET", path: "/v1/sys/mounts", want: 200},
		{name: "engine path without token", method: "GET", path: "/v1/database/creds/ro", hdr: []string{TokenHeader, ""}, want: 403, msg: "permission denied"},
		{name: "sealed", sealed: true, method: "GET", path: "/v1/sys/mounts", want: 503, msg: "Baton is sealed"},
		{name: "sealed engine path", sealed: true, method: "GET", path: "/v1/database/creds/ro", want: 503, msg: "Baton is sealed"},
		{name: "sealed seal-status", sealed: true, method: "GET", path: "/v1/sys/seal-status", hdr: []string{TokenHeader, ""}, want: 200},
		{name: "not under v1", method: "GET", path: "/sys/health", want: 404, msg: "API paths start with /v1/"},
		{name: "unknown sys route", method: "GET", path: "/v1/sys/nothing", want: 404, msg: "no handler for route"},
		{name: "nothing mounted", method: "GET", path: "/v1/nowhere/creds/x", want: 404, msg: "nothing is mounted there"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFakeNode()
			n.sealed = tt.sealed
			r := do(t, newTestServer(n, newFakeSecrets()), tt.method, tt.path, nil, tt.hdr...)
			if r.status != tt.want || !strings.Contains(r.errs(), tt.msg) {
				t.Fatalf("%s %s: %d %q, want %d %q", tt.method, tt.path, r.status, r.errs(), tt.want, tt.msg)
			}
		})
	}
}

// leader is an active node's API that records what was forwarded to it.
type leader struct {
	mu  sync.Mutex
	got []*http.Request
}

func (l *leader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.got = append(l.got, r.Clone(context.Background()))
	l.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTeapot)
	fmt.Fprintf(w, `{"served_by":"leader","path":%q}`, r.URL.Path)
}

func (l *leader) requests() []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.got
}

// TestStandbyForwards checks that a standby proxies what needs the active node to it,
// marked with its own id in X-Baton-Forwarded and with the client's token, and passes the
// active node's answer back unchanged; that it serves local routes itself and, with
// ?local=true, sys/lifecycle too; and that it refuses to forward a request that was
// forwarded already (503) or when no active node is known (503).
func TestStandbyForwards(t *testing.T) {
	l := &leader{}
	ts := httptest.NewServer(l)
	t.Cleanup(ts.Close)
	n := newFakeNode()
	// The state's api_addr for the leader is a stranger's: nothing may go there.
	stranger := &leader{}
	ss := httptest.NewServer(stranger)
	t.Cleanup(ss.Close)
	n.active, n.leaderID, n.leaderAddr = false, "n2", ss.URL
	fw := &fakeForwarder{leaders: map[string]string{"n2": ts.URL}}
	h := New(Config{Node: n, Secrets: newFakeSecrets(), Tokens: newFakeTokens(n), Version: "v-test", MaxRequestSize: testMaxRequestSize, Forwarder: fw}).Handler()

	r := do(t, h, "GET", "/v1/database/creds/ro", nil)
	if r.status != http.StatusTeapot || r.body["served_by"] != "leader" || r.body["path"] != "/v1/database/creds/ro" {
		t.Fatalf("forwarded creds: %d %s, want the leader's 418", r.status, r.raw)
	}
	got := l.requests()
	if len(got) != 1 || got[0].Header.Get(forwardedHeader) != "n1" || got[0].Header.Get(TokenHeader) != "root-token" {
		t.Fatalf("the leader got %d requests, first with %s=%q and a token %q; want one, marked n1, with the token",
			len(got), forwardedHeader, got[0].Header.Get(forwardedHeader), got[0].Header.Get(TokenHeader))
	}

	for _, path := range []string{"/v1/sys/health?standbyok=true", "/v1/sys/seal-status", "/v1/sys/leader", "/v1/sys/lifecycle?local=true"} {
		if r := do(t, h, "GET", path, nil); r.status != 200 || r.body["served_by"] != nil {
			t.Errorf("GET %s on a standby: %d %s, want 200 served locally", path, r.status, r.raw)
		}
	}
	if len(l.requests()) != 1 {
		t.Errorf("local routes reached the leader: %d requests", len(l.requests()))
	}

	r = do(t, h, "GET", "/v1/sys/mounts", nil, forwardedHeader, "n3")
	if r.status != 503 || !strings.Contains(r.errs(), "not active") {
		t.Errorf("a forwarded request on a standby: %d %s, want 503", r.status, r.raw)
	}

	n.leaderID = ""
	r = do(t, h, "GET", "/v1/sys/mounts", nil)
	if r.status != 503 || !strings.Contains(r.errs(), "no active node is known") {
		t.Errorf("a standby without a leader: %d %s, want 503", r.status, r.raw)
	}
	if len(l.requests()) != 1 {
		t.Errorf("refused requests reached the leader: %d requests", len(l.requests()))
	}

	// Without a forwarder (no cluster port), a standby forwards nothing, even with an
	// api_addr in the state.
	n.leaderID = "n2"
	r = do(t, newTestServer(n, newFakeSecrets()), "GET", "/v1/database/creds/ro", nil)
	if r.status != 503 || !strings.Contains(r.errs(), "cannot forward") {
		t.Errorf("a standby without a forwarder: %d %s, want 503", r.status, r.raw)
	}
	if len(stranger.requests()) != 0 {
		t.Fatalf("the api_addr in the state got %d forwarded requests", len(stranger.requests()))
	}
}

// fakeForwarder routes a leader id to a test server, as core's forwarder routes it to the
// node Raft names.
type fakeForwarder struct{ leaders map[string]string }

func (f *fakeForwarder) Target(id string) *url.URL {
	u, _ := url.Parse(f.leaders[id])
	return u
}

func (f *fakeForwarder) RoundTrip(r *http.Request) (*http.Response, error) {
	return http.DefaultTransport.RoundTrip(r)
}

// TestErrorMapping checks the status and message each sentinel error of the two interfaces
// becomes, and Retry-After on a pending rotation.
func TestErrorMapping(t *testing.T) {
	pending := &database.PendingError{Connection: "database/pg", State: "rotating", RetryAfter: 1500 * time.Millisecond}
	tests := []struct {
		name       string
		err        error
		want       int
		msg        string
		retryAfter string
	}{
		{name: "not found", err: fmt.Errorf("%w: connection %q", database.ErrNotFound, "pg"), want: 404, msg: `connection "pg"`},
		{name: "catalog not found", err: fmt.Errorf("%w: plugin x", catalog.ErrNotFound), want: 404, msg: "plugin x"},
		{name: "invalid", err: fmt.Errorf("%w: bad ttl", database.ErrInvalid), want: 400, msg: "bad ttl"},
		{name: "catalog invalid", err: fmt.Errorf("%w: built in", catalog.ErrInvalid), want: 400, msg: "built in"},
		{name: "exists", err: database.ErrExists, want: 400},
		{name: "conflict", err: fmt.Errorf("%w: rotating", database.ErrConflict), want: 409, msg: "rotating"},
		{name: "pending rotation", err: pending, want: 503, msg: "still being resolved", retryAfter: "2"},
		{name: "not active", err: &core.NotActiveError{LeaderID: "n2", LeaderAPIAddr: "http://n2"}, want: 503, msg: "no active node is reachable"},
		{name: "sealed", err: core.ErrSealed, want: 503, msg: "Baton is sealed"},
		{name: "barrier sealed", err: fmt.Errorf("open: %w", core.ErrBarrierSealed), want: 503, msg: "Baton is sealed"},
		{name: "permission denied", err: core.ErrPermissionDenied, want: 403, msg: "permission denied"},
		{name: "join refused", err: core.ErrJoinRefused, want: 403},
		{name: "join timed out", err: core.ErrJoinTimedOut, want: 503},
		{name: "wrong key", err: core.ErrWrongKey, want: 400, msg: "does not match"},
		{name: "invalid request", err: fmt.Errorf("x: %w", core.ErrInvalidRequest), want: 400},
		{name: "deadline", err: fmt.Errorf("propose: %w", context.DeadlineExceeded), want: 504},
		{name: "anything else", err: errors.New("disk on fire"), want: 500, msg: "disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeSecrets()
			s.fail("ReadConfig", tt.err)
			r := do(t, newTestServer(newFakeNode(), s), "GET", "/v1/database/config/pg", nil)
			if r.status != tt.want || !strings.Contains(r.errs(), tt.msg) {
				t.Fatalf("%v: %d %q, want %d %q", tt.err, r.status, r.errs(), tt.want, tt.msg)
			}
			if got := r.header.Get("Retry-After"); got != tt.retryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
}

// TestActions checks that each endpoint parses its request into one call of the interface
// that owns the action, with the arguments the request gave, and answers OpenBao's status.
func TestActions(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		hdr    []string
		want   int
		node   []string // the calls the node gets
		sec    []string // the calls the secrets side gets
	}{
		{name: "init", method: "PUT", path: "/v1/sys/init", body: map[string]any{"secret_shares": 1, "secret_threshold": 1, "root_token": "r"},
			want: 200, node: []string{"Init r"}},
		{name: "unseal", method: "PUT", path: "/v1/sys/unseal", body: map[string]any{"key": "abcd"}, want: 200, node: []string{"Unseal abcd"}},
		{name: "unseal reset", method: "PUT", path: "/v1/sys/unseal", body: map[string]any{"reset": true}, want: 200},
		{name: "seal", method: "PUT", path: "/v1/sys/seal", want: 204, node: []string{"Seal"}},
		{name: "raft join", method: "POST", path: "/v1/sys/storage/raft/join", body: map[string]any{"leader_api_addr": "http://n2:8200"},
			want: 200, node: []string{"Join http://n2:8200"}},
		{name: "join challenge", method: "POST", path: "/v1/sys/storage/raft/bootstrap/challenge", hdr: []string{TokenHeader, ""},
			body: map[string]any{"server_id": "n4"}, want: 200, node: []string{"Challenge n4"}},
		{name: "join answer", method: "POST", path: "/v1/sys/storage/raft/bootstrap/answer", hdr: []string{TokenHeader, ""},
			body: map[string]any{"server_id": "n4", "answer": "beef", "cluster_addr": "10.0.0.4:8201", "api_addr": "http://n4", "csr": "Y3Ny"},
			want: 200, node: []string{"Answer n4 beef 10.0.0.4:8201 http://n4 csr"}},
		{name: "remove peer", method: "POST", path: "/v1/sys/storage/raft/remove-peer", body: map[string]any{"server_id": "n3"},
			want: 204, node: []string{"RemovePeer n3"}},
		{name: "register plugin", method: "PUT", path: "/v1/sys/plugins/catalog/database/pg",
			body: map[string]any{"sha256": "abc", "args": "-a, -b", "env": []string{"A=1"}, "version": "v1.0.0"},
			want: 204, sec: []string{"RegisterPlugin database pg v1.0.0 abc pg [-a -b] [A=1]"}},
		{name: "read plugin", method: "GET", path: "/v1/sys/plugins/catalog/database/pg?version=v1", want: 200, sec: []string{"ReadPlugin database pg v1"}},
		{name: "delete plugin", method: "DELETE", path: "/v1/sys/plugins/catalog/database/pg", want: 204, sec: []string{"DeletePlugin database pg "}},
		{name: "delete plugin with an empty version, as bao plugin deregister sends", method: "DELETE", path: "/v1/sys/plugins/catalog/database/pg?version=", want: 204, sec: []string{"DeletePlugin database pg "}},
		{name: "enable mount", method: "POST", path: "/v1/sys/mounts//team/pg", body: map[string]any{"type": "database", "description": "d", "plugin_version": "v2"},
			want: 204, sec: []string{"EnableMount team/pg/ database d  v2"}},
		{name: "disable mount", method: "DELETE", path: "/v1/sys/mounts/database", want: 204, sec: []string{"DisableMount database/ api"}},
		{name: "reload by plugin", method: "PUT", path: "/v1/sys/plugins/reload/backend", body: map[string]any{"plugin": "pg"},
			want: 200, sec: []string{"Reload pg  api true true"}},
		{name: "reload by mounts", method: "PUT", path: "/v1/sys/plugins/reload/backend", body: map[string]any{"mounts": []string{"database", "team/db/"}},
			want: 200, sec: []string{"Reload  database api true true", "Reload  team/db/ api true true"}},
		{name: "write config", method: "POST", path: "/v1/team/db/config/pg",
			body: map[string]any{"plugin_name": "pg", "allowed_roles": "ro,rw", "connection_url": "postgres://{{username}}@h/db"},
			want: 204, sec: []string{"WriteConfig team/db/ pg pg [ro rw] [connection_url=postgres://{{username}}@h/db] api"}},
		{name: "read config", method: "GET", path: "/v1/database/config/pg", want: 200, sec: []string{"ReadConfig database/ pg"}},
		{name: "delete config", method: "DELETE", path: "/v1/database/config/pg", want: 204, sec: []string{"DeleteConfig database/ pg"}},
		{name: "reset", method: "POST", path: "/v1/database/reset/pg", want: 204, sec: []string{"Reset database/ pg"}},
		{name: "rotate root", method: "POST", path: "/v1/database/rotate-root/pg", want: 204, sec: []string{"RotateRoot database/ pg"}},
		{name: "write role", method: "POST", path: "/v1/database/roles/ro",
			body: map[string]any{"db_name": "pg", "creation_statements": "CREATE ROLE x", "default_ttl": "1h", "max_ttl": 7200},
			want: 204, sec: []string{"ReadRole database/ ro", "WriteRole database/ ro pg [CREATE ROLE x] 1h0m0s 2h0m0s"}},
		{name: "delete role", method: "DELETE", path: "/v1/database/roles/ro", want: 204, sec: []string{"DeleteRole database/ ro"}},
		{name: "creds", method: "GET", path: "/v1/database/creds/ro", want: 200, sec: []string{"Creds database/ ro root"}},
		{name: "write static role", method: "POST", path: "/v1/database/static-roles/app",
			body: map[string]any{"db_name": "pg", "username": "app", "rotation_period": 60},
			want: 204, sec: []string{"ReadStaticRole database/ app", "WriteStaticRole database/ app pg app 1m0s"}},
		{name: "static creds", method: "GET", path: "/v1/database/static-creds/app", want: 200, sec: []string{"StaticCreds database/ app"}},
		{name: "rotate role", method: "POST", path: "/v1/database/rotate-role/app", want: 204, sec: []string{"RotateStaticRole database/ app"}},
		{name: "renew", method: "PUT", path: "/v1/sys/leases/renew", body: map[string]any{"lease_id": "database/creds/ro/x", "increment": 30},
			want: 200, sec: []string{"Renew database/creds/ro/x 30s"}},
		{name: "revoke by path", method: "PUT", path: "/v1/sys/leases/revoke/database/creds/ro/x", want: 204, sec: []string{"Revoke database/creds/ro/x"}},
		{name: "lookup", method: "PUT", path: "/v1/sys/leases/lookup", body: map[string]any{"lease_id": "l1"}, want: 200, sec: []string{"Lookup l1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, s := newFakeNode(), newFakeSecrets()
			s.fail("ReadRole", database.ErrNotFound)
			s.fail("ReadStaticRole", database.ErrNotFound)
			r := do(t, newTestServer(n, s), tt.method, tt.path, tt.body, tt.hdr...)
			if r.status != tt.want {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, r.status, r.raw, tt.want)
			}
			if got := n.got(); !reflect.DeepEqual(got, tt.node) {
				t.Errorf("node calls %q, want %q", got, tt.node)
			}
			if got := s.got(); !reflect.DeepEqual(got, tt.sec) {
				t.Errorf("secrets calls %q, want %q", got, tt.sec)
			}
		})
	}
}

// TestReloadStatus: sys/plugins/reload/backend/status answers a recorded reload id in
// OpenBao's shape, and refuses a missing id, an unknown one, another method and a caller
// without the right token, reading nothing then.
func TestReloadStatus(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		method string
		query  string
		hdr    []string
		want   int
		reads  int // ReloadStatus calls
	}{
		{name: "known id", method: "GET", query: "?reload_id=r1", want: 200, reads: 1},
		{name: "unknown id", method: "GET", query: "?reload_id=r2", want: 404, reads: 1},
		{name: "no id", method: "GET", want: 400},
		{name: "put", method: "PUT", query: "?reload_id=r1", want: 405},
		{name: "no token", method: "GET", query: "?reload_id=r1", hdr: []string{TokenHeader, ""}, want: 403},
		{name: "wrong token", method: "GET", query: "?reload_id=r1", hdr: []string{TokenHeader, "nope"}, want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFakeSecrets()
			s.reloads = map[string]database.Reload{"r1": {Time: at, Index: 9}}
			r := do(t, newTestServer(newFakeNode(), s), tt.method, "/v1/sys/plugins/reload/backend/status"+tt.query, nil, tt.hdr...)
			if r.status != tt.want {
				t.Fatalf("status %d, want %d: %s", r.status, tt.want, r.raw)
			}
			if got := len(s.got()); got != tt.reads {
				t.Fatalf("secrets calls %q, want %d ReloadStatus", s.got(), tt.reads)
			}
			if tt.want != 200 {
				return
			}
			want := map[string]any{"reload_id": "r1", "timestamp": "2026-12-03T09:00:00Z",
				"results": map[string]any{"n1": map[string]any{"timestamp": "2026-12-03T09:00:00Z", "error": ""}}}
			if d := r.dataOf(t); !reflect.DeepEqual(d, want) {
				t.Fatalf("data %v, want %v", d, want)
			}
		})
	}
}

// TestStepDownAnswersAtOnce checks that sys/step-down answers 204 and hands over in the
// background, through the node's one step-down action.
func TestStepDownAnswersAtOnce(t *testing.T) {
	n := newFakeNode()
	r := do(t, newTestServer(n, newFakeSecrets()), "PUT", "/v1/sys/step-down", nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("step-down: %d %s", r.status, r.raw)
	}
	testutil.Eventually(t, 30*time.Second, "the step-down carried out in the background", func() bool { return len(n.got()) == 1 })
	if got := n.got(); got[0] != "RequestStepDown" {
		t.Fatalf("node calls %q, want RequestStepDown", got)
	}
}

// TestBadInput checks that malformed requests get a clear 4xx and reach neither interface.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		want   int
		msg    string
	}{
		{name: "not a JSON object", method: "PUT", path: "/v1/sys/mounts/x", body: "[1,2]", want: 400, msg: "not a JSON object"},
		{name: "body too large", method: "PUT", path: "/v1/sys/mounts/x", body: `{"type":"` + strings.Repeat("a", testMaxRequestSize) + `"}`, want: 413, msg: "larger than"},
		{name: "mount without type", method: "PUT", path: "/v1/sys/mounts/x", body: map[string]any{}, want: 400, msg: "type is required"},
		{name: "catalog without sha256", method: "PUT", path: "/v1/sys/plugins/catalog/database/pg", body: map[string]any{}, want: 400, msg: "sha256 is required"},
		{name: "catalog bad type", method: "PUT", path: "/v1/sys/plugins/catalog/widget/pg", body: map[string]any{"sha256": "a"}, want: 400},
		{name: "catalog args not strings", method: "PUT", path: "/v1/sys/plugins/catalog/database/pg", body: map[string]any{"sha256": "a", "args": []any{1}}, want: 400, msg: "args[0] must be a string"},
		{name: "method not allowed", method: "PATCH", path: "/v1/sys/seal", want: 405, msg: "PATCH is not allowed"},
		{name: "init with shares", method: "PUT", path: "/v1/sys/init", body: map[string]any{"secret_shares": 5, "secret_threshold": 3}, want: 400, msg: "single unseal key"},
		{name: "unseal without key", method: "PUT", path: "/v1/sys/unseal", body: map[string]any{}, want: 400, msg: "key is required"},
		{name: "join without address", method: "PUT", path: "/v1/sys/storage/raft/join", body: map[string]any{}, want: 400, msg: "leader_api_addr is required"},
		{name: "the old add-peer is gone", method: "PUT", path: "/v1/sys/storage/raft/add-peer", body: map[string]any{"node_id": "n4"}, want: 404},
		{name: "answer with a csr that is not base64", method: "PUT", path: "/v1/sys/storage/raft/bootstrap/answer", body: map[string]any{"server_id": "n4", "csr": "%%"}, want: 400, msg: "csr must be the base64"},
		{name: "remove peer without id", method: "PUT", path: "/v1/sys/storage/raft/remove-peer", body: map[string]any{}, want: 400, msg: "server_id is required"},
		{name: "reload both", method: "PUT", path: "/v1/sys/plugins/reload/backend", body: map[string]any{"plugin": "pg", "mounts": "a/"}, want: 400, msg: "exactly one"},
		{name: "reload of an unknown mount", method: "PUT", path: "/v1/sys/plugins/reload/backend", body: map[string]any{"mounts": "database/,nope"}, want: 404, msg: `no mount at "nope/"`},
		{name: "reload scope", method: "PUT", path: "/v1/sys/plugins/reload/backend", body: map[string]any{"plugin": "pg", "scope": "local"}, want: 400, msg: "scope"},
		{name: "role without db", method: "PUT", path: "/v1/database/roles/ro", body: map[string]any{}, want: 400, msg: "db_name is required"},
		{name: "role bad ttl", method: "PUT", path: "/v1/database/roles/ro", body: map[string]any{"db_name": "pg", "default_ttl": "soon"}, want: 400, msg: "default_ttl must be"},
		{name: "role ttl overflows", method: "PUT", path: "/v1/database/roles/ro", body: `{"db_name":"pg","default_ttl":99999999999999999}`, want: 400, msg: "default_ttl must be"},
		{name: "role ttl overflows as string", method: "PUT", path: "/v1/database/roles/ro", body: map[string]any{"db_name": "pg", "default_ttl": "99999999999999999"}, want: 400, msg: "default_ttl must be"},
		{name: "role ttl negative", method: "PUT", path: "/v1/database/roles/ro", body: `{"db_name":"pg","default_ttl":-5}`, want: 400, msg: "default_ttl must be"},
		{name: "role ttl negative string", method: "PUT", path: "/v1/database/roles/ro", body: map[string]any{"db_name": "pg", "default_ttl": "-5"}, want: 400, msg: "default_ttl must be"},
		{name: "role ttl negative duration", method: "PUT", path: "/v1/database/roles/ro", body: map[string]any{"db_name": "pg", "default_ttl": "-5m"}, want: 400, msg: "default_ttl must be"},
		{name: "role ttl fraction", method: "PUT", path: "/v1/database/roles/ro", body: `{"db_name":"pg","default_ttl":1.5}`, want: 400, msg: "default_ttl must be"},
		{name: "role max ttl overflows", method: "PUT", path: "/v1/database/roles/ro", body: `{"db_name":"pg","max_ttl":9223372037}`, want: 400, msg: "max_ttl must be"},
		{name: "role max ttl duration overflows", method: "PUT", path: "/v1/database/roles/ro", body: map[string]any{"db_name": "pg", "max_ttl": "9999999999h"}, want: 400, msg: "max_ttl must be"},
		{name: "static role period overflows", method: "PUT", path: "/v1/database/static-roles/st", body: `{"db_name":"pg","username":"u","rotation_period":99999999999999999}`, want: 400, msg: "rotation_period must be"},
		{name: "renew increment overflows", method: "PUT", path: "/v1/sys/leases/renew", body: `{"lease_id":"database/creds/ro/x","increment":99999999999999999}`, want: 400, msg: "increment must be"},
		{name: "renew increment negative", method: "PUT", path: "/v1/sys/leases/renew", body: `{"lease_id":"database/creds/ro/x","increment":-5}`, want: 400, msg: "increment must be"},
		{name: "role bad credential type", method: "PUT", path: "/v1/database/roles/ro", body: map[string]any{"db_name": "pg", "credential_type": "rsa"}, want: 400, msg: "password credentials"},
		{name: "config bad boolean", method: "PUT", path: "/v1/database/config/pg", body: map[string]any{"verify_connection": "maybe"}, want: 400, msg: "true or false"},
		{name: "creds without role", method: "GET", path: "/v1/database/creds/", want: 400, msg: "needs a role name"},
		{name: "unknown engine path", method: "GET", path: "/v1/database/whatever", want: 404, msg: "a database mount serves"},
		{name: "lease without id", method: "PUT", path: "/v1/sys/leases/renew", body: map[string]any{}, want: 400, msg: "lease_id is required"},
		{name: "lease unknown op", method: "PUT", path: "/v1/sys/leases/steal/x", want: 404, msg: "renew, revoke or lookup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, s := newFakeNode(), newFakeSecrets()
			s.fail("ReadRole", database.ErrNotFound)
			r := do(t, newTestServer(n, s), tt.method, tt.path, tt.body)
			if r.status != tt.want || !strings.Contains(r.errs(), tt.msg) {
				t.Fatalf("%s %s: %d %q, want %d %q", tt.method, tt.path, r.status, r.errs(), tt.want, tt.msg)
			}
			calls := append(n.got(), s.got()...)
			for _, c := range calls {
				if !strings.HasPrefix(c, "Read") {
					t.Fatalf("a bad request reached an action: %q", calls)
				}
			}
		})
	}
}

// TestReloadNotInCatalog checks that a reload the engine refuses as not found (a plugin that is
// not in the catalog) answers 404 with the engine's reason and no reload_id.
func TestReloadNotInCatalog(t *testing.T) {
	s := newFakeSecrets()
	s.fail("Reload", fmt.Errorf("%w: no plugin %q in the catalog", database.ErrNotFound, "mysql"))
	r := do(t, newTestServer(newFakeNode(), s), "PUT", "/v1/sys/plugins/reload/backend", map[string]any{"plugin": "mysql"})
	if r.status != http.StatusNotFound || !strings.Contains(r.errs(), `no plugin "mysql" in the catalog`) || strings.Contains(r.raw, "reload_id") {
		t.Fatalf("reload of an unknown plugin: %d %s", r.status, r.raw)
	}
}

// TestUnknownFieldsIgnored checks that a write with fields the endpoint does not take is
// accepted as OpenBao accepts it (200 with a warning naming them) and that the action gets
// exactly what it gets without them: an unknown field is never stored.
func TestUnknownFieldsIgnored(t *testing.T) {
	tests := []struct {
		name, path string
		body       map[string]any
	}{
		{name: "catalog", path: "/v1/sys/plugins/catalog/database/pg", body: map[string]any{"sha256": "abc", "command": "pg"}},
		{name: "role", path: "/v1/database/roles/ro", body: map[string]any{"db_name": "pg", "default_ttl": "1h"}},
		{name: "static role", path: "/v1/database/static-roles/st", body: map[string]any{"db_name": "pg", "username": "app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, noisy := newFakeSecrets(), newFakeSecrets()
			plain.fail("ReadRole", database.ErrNotFound)
			noisy.fail("ReadRole", database.ErrNotFound)
			plain.fail("ReadStaticRole", database.ErrNotFound)
			noisy.fail("ReadStaticRole", database.ErrNotFound)
			r := do(t, newTestServer(newFakeNode(), plain), "PUT", tt.path, tt.body)
			if r.status != http.StatusNoContent {
				t.Fatalf("without unknown fields: %d %s", r.status, r.raw)
			}
			withExtra := map[string]any{"color": "red", "zeta\x00": 1}
			for k, v := range tt.body {
				withExtra[k] = v
			}
			r = do(t, newTestServer(newFakeNode(), noisy), "PUT", tt.path, withExtra)
			if r.status != http.StatusOK {
				t.Fatalf("with unknown fields: %d %s", r.status, r.raw)
			}
			warnings, _ := r.body["warnings"].([]any)
			if len(warnings) != 1 || !strings.Contains(fmt.Sprint(warnings[0]), "ignored these unrecognized parameters: [color zeta\\x00]") {
				t.Fatalf("warnings %v, want one naming color and the escaped zeta\\x00", warnings)
			}
			if !reflect.DeepEqual(plain.got(), noisy.got()) {
				t.Fatalf("unknown fields reached the action:\n%q\nwant\n%q", noisy.got(), plain.got())
			}
		})
	}
}

// TestLeaseLookupView: sys/leases/lookup answers OpenBao's fields; last_renewal is null until
// a renewal and then its time, and an expired lease has ttl 0, not a negative count.
func TestLeaseLookupView(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	renewed := now.Add(-time.Minute)
	tests := []struct {
		name        string
		lease       database.Lease
		wantTTL     int64
		wantRenewal any
	}{
		{name: "never renewed", lease: database.Lease{ID: "l1", Issued: now.Add(-time.Hour), Expires: now.Add(90 * time.Second)}, wantTTL: 90, wantRenewal: nil},
		{name: "renewed", lease: database.Lease{ID: "l1", Issued: now.Add(-time.Hour), Expires: now.Add(time.Hour), LastRenewal: renewed, Renewable: true}, wantTTL: 3600, wantRenewal: renewed},
		{name: "expired", lease: database.Lease{ID: "l1", Issued: now.Add(-time.Hour), Expires: now.Add(-time.Second)}, wantTTL: 0, wantRenewal: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := leaseLookupView(tt.lease, now)
			want := map[string]any{"id": "l1", "issue_time": tt.lease.Issued, "expire_time": tt.lease.Expires,
				"last_renewal": tt.wantRenewal, "renewable": tt.lease.Renewable, "ttl": tt.wantTTL}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("lookup = %#v, want %#v", got, want)
			}
		})
	}
}

// TestReplyShapes checks OpenBao's JSON shapes of the replies built from the interfaces'
// values: creds, leases, roles, the catalog, mounts, lists and the lifecycle.
func TestReplyShapes(t *testing.T) {
	n, s := newFakeNode(), newFakeSecrets()
	s.secret = database.Secret{LeaseID: "database/creds/ro/abc", LeaseDuration: time.Hour, Renewable: true, Data: map[string]any{"username": "u", "password": "p"}}
	s.role = database.Role{Mount: "database/", Name: "ro", DBName: "pg", CreationStatements: []string{"CREATE"}, DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour}
	s.lease = database.Lease{ID: "l1", Renewable: true, Issued: time.Unix(100, 0).UTC(), Expires: time.Now().Add(time.Hour), LastRenewal: time.Unix(200, 0).UTC()}
	s.listing = database.CatalogListing{
		Names:   map[catalog.Type][]string{catalog.TypeDatabase: {"pg"}, catalog.TypeAuth: nil, catalog.TypeSecret: nil},
		Entries: []catalog.Entry{{Name: "pg", Type: catalog.TypeDatabase, Version: "v1", SHA256: "abc", Command: "pg"}},
	}
	s.configs = []string{"pg"}
	s.conns = []string{"pg"}
	n.lifecycle = core.Lifecycle{Machines: []core.Machine{{Kind: fsm.KindPlugin, ID: "database/pg", State: "running"}}}
	h := newTestServer(n, s)

	r := do(t, h, "GET", "/v1/database/creds/ro", nil)
	if r.status != 200 || r.body["lease_id"] != "database/creds/ro/abc" || r.body["lease_duration"] != 3600.0 || r.body["renewable"] != true {
		t.Errorf("creds: %d %s", r.status, r.raw)
	}
	if d := r.dataOf(t); d["username"] != "u" || d["password"] != "p" {
		t.Errorf("creds data: %s", r.raw)
	}
	for _, k := range []string{"request_id", "wrap_info", "warnings", "auth"} {
		if _, ok := r.body[k]; !ok {
			t.Errorf("creds reply has no %s: %s", k, r.raw)
		}
	}

	r = do(t, h, "PUT", "/v1/sys/leases/renew", map[string]any{"lease_id": "database/creds/ro/abc"})
	if r.status != 200 || r.body["lease_id"] != "database/creds/ro/abc" || r.body["lease_duration"] != 3600.0 {
		t.Errorf("renew: %d %s", r.status, r.raw)
	}
	r = do(t, h, "PUT", "/v1/sys/leases/lookup", map[string]any{"lease_id": "l1"})
	if d := r.dataOf(t); r.status != 200 || d["id"] != "l1" || d["renewable"] != true || d["ttl"].(float64) < 3500 ||
		d["issue_time"] != "1970-01-01T00:01:40Z" || d["last_renewal"] != "1970-01-01T00:03:20Z" {
		t.Errorf("lookup: %d %s", r.status, r.raw)
	}

	r = do(t, h, "GET", "/v1/database/roles/ro", nil)
	d := r.dataOf(t)
	if r.status != 200 || d["db_name"] != "pg" || d["default_ttl"] != 3600.0 || d["max_ttl"] != 7200.0 || d["credential_type"] != "password" {
		t.Errorf("role: %d %s", r.status, r.raw)
	}
	if rs, ok := d["revocation_statements"].([]any); !ok || len(rs) != 0 {
		t.Errorf("role: empty statements must be [], not null: %s", r.raw)
	}

	r = do(t, h, "GET", "/v1/sys/plugins/catalog", nil)
	d = r.dataOf(t)
	if db, _ := d["database"].([]any); r.status != 200 || len(db) != 1 || db[0] != "pg" {
		t.Errorf("catalog: %d %s", r.status, r.raw)
	}
	if auth, ok := d["auth"].([]any); !ok || len(auth) != 0 {
		t.Errorf("catalog: an empty type must be [], not null: %s", r.raw)
	}
	det, _ := d["detailed"].([]any)
	if len(det) != 1 || det[0].(map[string]any)["sha256"] != "abc" || det[0].(map[string]any)["deprecation_status"] != "supported" {
		t.Errorf("catalog detailed: %s", r.raw)
	}

	r = do(t, h, "GET", "/v1/sys/mounts", nil)
	if m, _ := r.body["database/"].(map[string]any); r.status != 200 || m["type"] != "database" || m["description"] != "db" || m["accessor"] != "database_0a1b2c3d" || r.dataOf(t)["team/db/"] == nil {
		t.Errorf("mounts (listed both at the top level and under data): %d %s", r.status, r.raw)
	}
	r = do(t, h, "GET", "/v1/sys/mounts/database", nil)
	if d := r.dataOf(t); r.status != 200 || d["description"] != "db" || d["accessor"] != "database_0a1b2c3d" {
		t.Errorf("one mount: %d %s", r.status, r.raw)
	}
	r = do(t, h, "GET", "/v1/sys/mounts/nowhere", nil)
	if r.status != 404 || !strings.Contains(r.errs(), "no mount at nowhere/") {
		t.Errorf("missing mount: %d %s", r.status, r.raw)
	}

	r = do(t, h, "LIST", "/v1/database/config", nil)
	if keys, _ := r.dataOf(t)["keys"].([]any); r.status != 200 || len(keys) != 1 {
		t.Errorf("LIST config: %d %s", r.status, r.raw)
	}
	r = do(t, h, "GET", "/v1/database/roles?list=true", nil)
	if r.status != 404 || r.errs() != "" {
		t.Errorf("an empty LIST is OpenBao's 404 with no errors: %d %s", r.status, r.raw)
	}

	r = do(t, h, "PUT", "/v1/database/reload/pg", nil)
	if d := r.dataOf(t); r.status != 200 || d["count"] != 1.0 {
		t.Errorf("mount reload: %d %s", r.status, r.raw)
	}

	r = do(t, h, "GET", "/v1/sys/lifecycle", nil)
	d = r.dataOf(t)
	ms, _ := d["machines"].([]any)
	if r.status != 200 || len(ms) != 1 || ms[0].(map[string]any)["state"] != "running" || d["diagrams"] == nil {
		t.Errorf("lifecycle: %d %s", r.status, r.raw)
	}
	if _, ok := d["applied"]; ok {
		t.Errorf("lifecycle lists the applied log unasked: %s", r.raw)
	}

	n.initResult = core.InitResult{Keys: []string{"AAEC"}, RootToken: "tok"} // base64 of 00 01 02
	n.initialized = false
	r = do(t, h, "PUT", "/v1/sys/init", map[string]any{})
	if keys, _ := r.body["keys"].([]any); r.status != 200 || len(keys) != 1 || keys[0] != "000102" || r.body["root_token"] != "tok" {
		t.Errorf("init: %d %s, want the key in hex and base64", r.status, r.raw)
	}
}

// TestInitRefusals checks the two refusals of sys/init: a node that is joining an
// initialised cluster (naming it) and a node already initialised.
func TestInitRefusals(t *testing.T) {
	tests := []struct {
		name string
		err  error
		msg  string
	}{
		{name: "joining", err: core.ErrJoining, msg: "joining the cluster at http://n2:8200"},
		{name: "initialized", err: core.ErrAlreadyInitialized, msg: "Baton is already initialized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFakeNode()
			n.reached = "http://n2:8200"
			n.fail("Init", tt.err)
			r := do(t, newTestServer(n, newFakeSecrets()), "PUT", "/v1/sys/init", map[string]any{})
			if r.status != 400 || !strings.Contains(r.errs(), tt.msg) {
				t.Fatalf("%d %q, want 400 %q", r.status, r.errs(), tt.msg)
			}
		})
	}
}

// TestNATSCredentials: sys/nats/credentials hands a root caller the seed of the role asked
// for (operator by default); without the root token, with a wrong one, sealed or with another
// method it answers an error and never reaches the node's seeds.
func TestNATSCredentials(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		path     string
		hdr      []string
		sealed   bool
		fail     error
		want     int
		msg      string
		wantRole string
	}{
		{name: "default role", method: "GET", path: "/v1/sys/nats/credentials", want: 200, wantRole: "operator"},
		{name: "watcher", method: "GET", path: "/v1/sys/nats/credentials?role=watcher", want: 200, wantRole: "watcher"},
		{name: "node", method: "GET", path: "/v1/sys/nats/credentials?role=node", want: 200, wantRole: "node"},
		{name: "no token", method: "GET", path: "/v1/sys/nats/credentials", hdr: []string{TokenHeader, ""}, want: 403, msg: "permission denied"},
		{name: "wrong token", method: "GET", path: "/v1/sys/nats/credentials?role=node", hdr: []string{TokenHeader, "nope"}, want: 403, msg: "permission denied"},
		{name: "sealed", sealed: true, method: "GET", path: "/v1/sys/nats/credentials", want: 503, msg: "sealed"},
		{name: "wrong method", method: "PUT", path: "/v1/sys/nats/credentials", want: 405, msg: "not allowed"},
		{name: "unknown role", method: "GET", path: "/v1/sys/nats/credentials?role=admin", want: 400, msg: "unknown role"},
		{name: "no identities", method: "GET", path: "/v1/sys/nats/credentials", fail: core.ErrNoNATSIdentities, want: 404, msg: "no NATS identities"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newFakeNode()
			n.sealed = tt.sealed
			if tt.fail != nil {
				n.fail("NATSCredentials", tt.fail)
			}
			r := do(t, newTestServer(n, newFakeSecrets()), tt.method, tt.path, nil, tt.hdr...)
			if r.status != tt.want || !strings.Contains(r.errs(), tt.msg) {
				t.Fatalf("%s %s: %d %q, want %d %q", tt.method, tt.path, r.status, r.errs(), tt.want, tt.msg)
			}
			asked := slices.ContainsFunc(n.log, func(l string) bool { return strings.HasPrefix(l, "NATSCredentials") })
			if askedOK := tt.want == 200 || tt.want == 400 || tt.want == 404; asked != askedOK {
				t.Fatalf("the node was asked for a seed: %v", n.log)
			}
			if tt.want == 200 {
				d := r.dataOf(t)
				if d["role"] != tt.wantRole || d["seed"] != "SU-"+tt.wantRole || d["cluster"] != "baton-test" || d["public_key"] != "U-"+tt.wantRole {
					t.Fatalf("data: %v", d)
				}
			}
		})
	}
}

// The core node serves the storage and autopilot endpoints.
var (
	_ Storage   = (*core.Node)(nil)
	_ Autopilot = (*core.Node)(nil)
)
