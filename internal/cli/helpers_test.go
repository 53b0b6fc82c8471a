package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testToken is the token every API test sends; no output may ever contain it.
const testToken = "s.test-root-token-7f3a"

// waitTimeout bounds every command run by the tests.
const waitTimeout = 30 * time.Second

// reply is a canned answer of the fake API.
type reply struct {
	status int
	body   string
}

// seen is one request the fake API received.
type seen struct {
	method string
	path   string
	query  string
	token  string
	body   string
}

// fakeAPI is an httptest server speaking the API's shapes from a route table keyed by
// "METHOD /v1/path"; it records every request. Unknown routes get a 404 with an error.
type fakeAPI struct {
	srv    *httptest.Server
	routes map[string]reply
	mu     sync.Mutex
	reqs   []seen
}

func newFakeAPI(t *testing.T, routes map[string]reply) *fakeAPI {
	t.Helper()
	f := &fakeAPI{routes: routes}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, seen{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, token: r.Header.Get("X-Vault-Token"), body: string(b)})
	f.mu.Unlock()
	rep, ok := f.routes[r.Method+" "+r.URL.Path]
	if !ok {
		rep = reply{http.StatusNotFound, `{"errors":["fake: no route ` + r.Method + " " + r.URL.Path + `"]}`}
	}
	w.Header().Set("Content-Type", "application/json")
	if rep.status == 0 {
		rep.status = http.StatusOK
	}
	if rep.body == "" && rep.status == http.StatusOK {
		rep.status = http.StatusNoContent
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (f *fakeAPI) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// result is what one CLI run produced.
type result struct {
	code   int
	stdout string
	stderr string
}

// runCLI runs the CLI with the given environment and stdin, bounded by waitTimeout.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := run(ctx, getenv, args, strings.NewReader(stdin), &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// sameJSON reports whether two JSON texts hold the same value; "" means no body.
func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	if want == "" || got == "" {
		return got == want
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("request body is not JSON: %q", got)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want body %q: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// closedAddr returns an http address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
