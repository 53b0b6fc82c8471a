// Package e2e holds Baton's end-to-end tests: real node processes formed into clusters by
// test/harness, the real bundled plugins, a real embedded NATS and a throwaway PostgreSQL,
// driven through the HTTP API and the CLI as an operator drives them.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(harness.Main(m)) }

// Bounds of the tests' waits.
const (
	callTimeout     = 60 * time.Second // one test's API calls
	failoverTimeout = 30 * time.Second // a standby takes over
	rollbackTimeout = 60 * time.Second // the rollback manager clears a WAL entry
	expiryTimeout   = 30 * time.Second // an expired lease's user is dropped
)

// recorder keeps the body of every API reply a test received, so that the test can prove
// no secret ever appeared in one.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func newRecorder() *recorder {
	return &recorder{base: &http.Transport{DisableKeepAlives: true}}
}

// RoundTrip passes the request on and keeps a copy of the reply's body.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.mu.Lock()
	r.seen = append(r.seen, string(b))
	r.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, err
}

// attach makes every node client of c (the harness's Setup calls included) go through r.
func (r *recorder) attach(c *harness.Cluster) {
	for _, n := range c.Nodes {
		n.Client.HTTP = &http.Client{Transport: r, Timeout: 90 * time.Second}
	}
}

func (r *recorder) replies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// passwordShaped finds the strings a generated password could be under the default policy:
// runs of exactly 20 letters, digits and dashes.
var passwordShaped = regexp.MustCompile(`[A-Za-z0-9-]+`)

// candidates returns the distinct 20-character runs of texts.
func candidates(texts ...string) []string {
	set := map[string]bool{}
	for _, t := range texts {
		for _, m := range passwordShaped.FindAllString(t, -1) {
			if len(m) == 20 {
				set[m] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// checkNoRootPassword proves that none of texts (API replies, node logs) reveals the root
// credential: the first password never appears, and no password-shaped string in them logs
// in as the root user, which covers every password a rotation generated.
func checkNoRootPassword(t *testing.T, pg *pgtest.Server, user, first string, texts ...string) {
	t.Helper()
	for i, s := range texts {
		if strings.Contains(s, first) {
			t.Errorf("text %d reveals the first root password: %.300s", i, s)
		}
	}
	ctx := testutil.Context(t, callTimeout)
	cands := candidates(texts...)
	for _, s := range cands {
		if pg.CanLogin(ctx, user, s) == nil {
			t.Errorf("a string the API or a log showed logs in as the root user %s", user)
		}
	}
	t.Logf("checked %d texts; %d password-shaped strings tried as the root password", len(texts), len(cands))
}

// logs reads every node log of c.
func logs(t *testing.T, c *harness.Cluster) []string {
	t.Helper()
	var out []string
	for _, n := range c.Nodes {
		b, err := os.ReadFile(n.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// validUntil reads a role's VALID UNTIL from pg_roles.
func validUntil(ctx context.Context, pg *pgtest.Server, role string) (time.Time, error) {
	conn, err := pgx.Connect(ctx, pg.ConnString())
	if err != nil {
		return time.Time{}, err
	}
	defer conn.Close(ctx)
	var v *time.Time
	if err := conn.QueryRow(ctx, "SELECT rolvaliduntil FROM pg_catalog.pg_roles WHERE rolname = $1", role).Scan(&v); err != nil {
		return time.Time{}, err
	}
	if v == nil {
		return time.Time{}, errors.New("role has no VALID UNTIL")
	}
	return *v, nil
}

// lifecycle is the part of sys/lifecycle the tests read.
type lifecycle struct {
	Machines []struct {
		Kind    string `json:"kind"`
		ID      string `json:"id"`
		State   string `json:"state"`
		History []struct {
			Event  string `json:"event"`
			From   string `json:"from"`
			To     string `json:"to"`
			Source string `json:"source"`
			Reason string `json:"reason"`
		} `json:"history"`
	} `json:"machines"`
	WAL []struct {
		ID        string `json:"id"`
		Target    string `json:"target"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	} `json:"wal"`
	Applied []struct {
		ID    string `json:"id"`
		Type  string `json:"type"`
		Index uint64 `json:"index"`
	} `json:"applied"`
}

// readLifecycle reads sys/lifecycle (with the applied commands when applied is set).
func readLifecycle(ctx context.Context, cl *testutil.Client, applied bool) (lifecycle, error) {
	path := "sys/lifecycle"
	if applied {
		path += "?applied=true"
	}
	r, err := cl.Do(ctx, "GET", path, nil)
	if err != nil {
		return lifecycle{}, err
	}
	if r.Status != http.StatusOK {
		return lifecycle{}, fmt.Errorf("GET %s: %d %s", path, r.Status, r.Raw)
	}
	var out struct {
		Data lifecycle `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &out); err != nil {
		return lifecycle{}, fmt.Errorf("GET %s: %w", path, err)
	}
	return out.Data, nil
}

// connection returns the machine of connection key ("database/pg").
func (l lifecycle) connection(key string) (state string, events []string) {
	for _, m := range l.Machines {
		if m.Kind == "connection" && m.ID == key {
			for _, h := range m.History {
				events = append(events, h.Event+":"+h.From+"->"+h.To)
			}
			return m.State, events
		}
	}
	return "", nil
}

// waitRolledBack polls sys/lifecycle through cl until no WAL entry is left and connection
// key is configured again.
func waitRolledBack(t *testing.T, cl *testutil.Client, key string) lifecycle {
	t.Helper()
	deadline := time.Now().Add(rollbackTimeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		l, err := readLifecycle(ctx, cl, false)
		cancel()
		if err == nil {
			st, _ := l.connection(key)
			if len(l.WAL) == 0 && st == "configured" {
				return l
			}
			last = fmt.Sprintf("connection %s is %q, WAL %+v", key, st, l.WAL)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollback did not finish in %s: %s", rollbackTimeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// creds issues a credential of role and returns username, password and lease id.
func creds(t *testing.T, ctx context.Context, cl *testutil.Client, role string) (user, password, lease string) {
	t.Helper()
	r := cl.Must(t, ctx, "GET", harness.Mount+"/creds/"+role, nil)
	user, _ = r.Data()["username"].(string)
	password, _ = r.Data()["password"].(string)
	lease, _ = r.Body["lease_id"].(string)
	if user == "" || password == "" || lease == "" {
		t.Fatalf("creds/%s: reply lacks username, password or lease_id: %s", role, r.Raw)
	}
	return user, password, lease
}

// mustLogin and mustNotLogin check a PostgreSQL login.
func mustLogin(t *testing.T, ctx context.Context, pg *pgtest.Server, user, password, what string) {
	t.Helper()
	if err := pg.CanLogin(ctx, user, password); err != nil {
		t.Fatalf("%s: login as %s failed: %v", what, user, err)
	}
}

func mustNotLogin(t *testing.T, ctx context.Context, pg *pgtest.Server, user, password, what string) {
	t.Helper()
	if err := pg.CanLogin(ctx, user, password); err == nil {
		t.Fatalf("%s: login as %s still works", what, user)
	}
}

// revokeAndCheck revokes a lease and checks its user is gone from PostgreSQL.
func revokeAndCheck(t *testing.T, ctx context.Context, cl *testutil.Client, pg *pgtest.Server, lease, user, password string) {
	t.Helper()
	cl.Must(t, ctx, "PUT", "sys/leases/revoke", map[string]any{"lease_id": lease}, http.StatusNoContent)
	mustNotLogin(t, ctx, pg, user, password, "after revoke")
	if ok, err := pg.RoleExists(ctx, user); err != nil || ok {
		t.Fatalf("after revoke: role %s exists=%v (%v)", user, ok, err)
	}
	if r, err := cl.Do(ctx, "PUT", "sys/leases/lookup", map[string]any{"lease_id": lease}); err != nil || r.Status < 400 || r.Status >= 500 {
		t.Fatalf("lookup of a revoked lease: %v %d %s", err, r.Status, r.Raw)
	}
}

// TestCandidates checks the probe of checkNoRootPassword finds a generated password wherever
// a reply or a log line may hold it, and nothing else.
func TestCandidates(t *testing.T) {
	const pw = "aB3-dE6fG9hJ2kL5mN8p" // 20 characters of the default policy
	tests := []struct {
		name, text string
		want       []string
	}{
		{"JSON value", `{"data":{"password":"` + pw + `"}}`, []string{pw}},
		{"URL", "postgres://root:" + pw + "@127.0.0.1:5432/postgres", []string{pw}},
		{"log field", "error=\"login failed: password " + pw + "\"", []string{pw}},
		{"longer run", pw + "x", nil},
		{"shorter run", pw[1:], nil},
		{"request id", "d9428888-122b-11e1-b85c-61cd3cbb3210", nil},
	}
	for _, tt := range tests {
		if got := candidates(tt.text); fmt.Sprint(got) != fmt.Sprint(tt.want) && !(len(got) == 0 && len(tt.want) == 0) {
			t.Errorf("%s: candidates = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// testMultiplier is the storage "raft" performance_multiplier of the multi-node e2e clusters:
// 3 (heartbeat and election 600 ms, leader lease 300 ms). These tests are about what a node
// does around a crash, not how fast a leader is replaced, and they run race-instrumented on two
// cores beside other packages, where the fast profile's 100 ms lease lapses now and then and
// leadership moves in the middle of a setup step. The chaos suite and the benchmarks keep the
// fast profile.
const testMultiplier = 3
