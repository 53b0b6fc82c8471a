package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/audit"
	"github.com/baton-hq/baton/plugins/database"
	"github.com/baton-hq/baton/test/testutil"
)

// testSalts gives every device a fixed salt (the real ones live in the replicated state).
type testSalts struct{}

func (s *testSalts) Salt(_ context.Context, path string) ([]byte, error) {
	return []byte("test-salt-" + path), nil
}

const (
	issuedPassword = "A1a-issued-PASSWORD-xyz"
	rootToken      = "root-token"
)

// auditServer serves with a real broker whose config declares devices.
func auditServer(t *testing.T, st audit.Settings) (http.Handler, *fakeNode, *fakeSecrets, *audit.Broker) {
	t.Helper()
	b := audit.NewBroker(audit.Config{Salts: &testSalts{}})
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Apply(st); err != nil {
		t.Fatal(err)
	}
	n, sec := newFakeNode(), newFakeSecrets()
	sec.secret = database.Secret{LeaseID: "database/creds/ro/L1", Data: map[string]any{"username": "v-root-ro-1", "password": issuedPassword}}
	return New(Config{Node: n, Secrets: sec, Tokens: newFakeTokens(n), Audit: b}).Handler(), n, sec, b
}

func fileDev(path, file string) audit.Device {
	return audit.Device{Path: path, Type: "file", Options: map[string]string{"file_path": file}}
}

func entries(t *testing.T, file string) ([]map[string]any, []byte) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, m)
	}
	return out, raw
}

func field(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		mm, _ := v.(map[string]any)
		v = mm[k]
	}
	return v
}

// TestAuditCredsRead: a creds read is recorded as a request and a response entry, neither
// holding the password nor the token in clear, and the hashes are sys/audit-hash's.
func TestAuditCredsRead(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.log")
	h, _, _, _ := auditServer(t, audit.Settings{Devices: []audit.Device{fileDev("file", file)}})
	r := do(t, h, "GET", "/v1/database/creds/ro", nil)
	if r.status != 200 || field(r.body, "data", "password") != issuedPassword {
		t.Fatalf("creds: %d %s", r.status, r.raw)
	}
	es, raw := entries(t, file)
	if len(es) != 2 {
		t.Fatalf("want 2 entries, got %d: %s", len(es), raw)
	}
	for _, secret := range []string{issuedPassword, rootToken} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("%q in clear in the audit log:\n%s", secret, raw)
		}
	}
	hash := func(in string) string {
		r := do(t, h, "POST", "/v1/sys/audit-hash/file", map[string]any{"input": in})
		if r.status != 200 {
			t.Fatalf("audit-hash: %d %s", r.status, r.raw)
		}
		return field(r.body, "data", "hash").(string)
	}
	req, resp := es[0], es[1]
	for name, c := range map[string][2]any{
		"request type":        {req["type"], "request"},
		"response type":       {resp["type"], "response"},
		"operation":           {field(req, "request", "operation"), "read"},
		"path":                {field(req, "request", "path"), "database/creds/ro"},
		"mount_type":          {field(req, "request", "mount_type"), "database"},
		"same request id":     {field(resp, "request", "id"), field(req, "request", "id")},
		"client_token hashed": {field(req, "request", "client_token"), hash(rootToken)},
		"password hashed":     {field(resp, "response", "data", "password"), hash(issuedPassword)},
		"lease id kept":       {field(resp, "response", "secret", "lease_id"), "database/creds/ro/L1"},
		"no error":            {resp["error"], nil},
		"remote address":      {field(req, "request", "remote_address"), "192.0.2.1"},
	} {
		if c[0] != c[1] {
			t.Errorf("%s: got %v, want %v", name, c[0], c[1])
		}
	}
	// The audit-hash calls themselves are audited, their input hashed too.
	es, raw = entries(t, file)
	if len(es) != 2+2*2 || bytes.Contains(raw, []byte(issuedPassword)) {
		t.Fatalf("audit-hash entries: %d, or the password leaked through its input:\n%s", len(es), raw)
	}
}

// TestAuditRefusedToken: a request without a token, or with a wrong one, is refused, recorded
// with the error, and nothing ran.
func TestAuditRefusedToken(t *testing.T) {
	for _, tok := range []string{"", "s.wrong-token"} {
		file := filepath.Join(t.TempDir(), "audit.log")
		h, _, sec, _ := auditServer(t, audit.Settings{Devices: []audit.Device{fileDev("file", file)}})
		r := do(t, h, "POST", "/v1/database/roles/x", map[string]any{"db_name": "pg", "creation_statements": strings.Repeat("CREATE ROLE ", 1000)}, TokenHeader, tok)
		if r.status != http.StatusForbidden {
			t.Fatalf("token %q: %d %s", tok, r.status, r.raw)
		}
		if got := sec.got(); len(got) != 0 {
			t.Fatalf("a refused request ran: %v", got)
		}
		es, raw := entries(t, file)
		if len(es) != 2 || es[0]["error"] != "permission denied" || es[1]["error"] != "permission denied" || es[1]["type"] != "response" {
			t.Fatalf("token %q: entries %s", tok, raw)
		}
		if tok != "" && bytes.Contains(raw, []byte(tok)) {
			t.Fatalf("the wrong token is in clear: %s", raw)
		}
		if a, _ := es[0]["auth"].(map[string]any); len(a) != 0 {
			t.Errorf("a refused request has auth %v", a)
		}
		if field(es[0], "request", "data") != nil || field(es[0], "request", "path") != "database/roles/x" || field(es[0], "request", "operation") != "update" {
			t.Errorf("a refused request's entry: %s", raw)
		}
	}
}

// TestAuditFailsClosed: with the only device unable to write (/dev/full fails every write,
// even for root), a request fails with 500 and its handler never runs.
func TestAuditFailsClosed(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	h, _, sec, _ := auditServer(t, audit.Settings{Devices: []audit.Device{fileDev("full", "/dev/full")}})
	for _, c := range []struct{ method, path string }{{"POST", "/v1/database/roles/x"}, {"GET", "/v1/database/creds/ro"}, {"PUT", "/v1/sys/seal"}} {
		r := do(t, h, c.method, c.path, map[string]any{"db_name": "pg"})
		if r.status != http.StatusInternalServerError || !strings.Contains(r.errs(), "audit") {
			t.Fatalf("%s %s: %d %s", c.method, c.path, r.status, r.raw)
		}
	}
	if got := sec.got(); len(got) != 0 {
		t.Fatalf("handlers ran although nothing could be recorded: %v", got)
	}
	// Unauthenticated endpoints are not audited, as in OpenBao: health still answers.
	if r := do(t, h, "GET", "/v1/sys/health", nil, TokenHeader, ""); r.status >= 500 && strings.Contains(r.errs(), "audit") {
		t.Fatalf("sys/health was audited: %d %s", r.status, r.raw)
	}
}

// TestSysAuditDoors: listing in OpenBao's shape; enable refused without the unsafe flag (again
// on a replay), and without or with a wrong token; a config device cannot be disabled.
func TestSysAuditDoors(t *testing.T) {
	dir := t.TempDir()
	h, _, _, b := auditServer(t, audit.Settings{Devices: []audit.Device{{Path: "file", Type: "file", Description: "main", Options: map[string]string{"file_path": filepath.Join(dir, "a.log")}}}})
	r := do(t, h, "GET", "/v1/sys/audit", nil)
	if r.status != 200 {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}
	dev, _ := field(r.body, "data", "file/").(map[string]any)
	if dev["type"] != "file" || dev["path"] != "file/" || dev["description"] != "main" || dev["local"] != false || field(dev, "options", "file_path") != filepath.Join(dir, "a.log") {
		t.Fatalf("list shape: %s", r.raw)
	}
	enable := map[string]any{"type": "file", "options": map[string]any{"file_path": filepath.Join(dir, "evil.log")}}
	for i, c := range []struct {
		tok  string
		want int
	}{{"", 403}, {"s.wrong", 403}, {rootToken, 400}, {rootToken, 400}} {
		r := do(t, h, "PUT", "/v1/sys/audit/evil", enable, TokenHeader, c.tok)
		if r.status != c.want {
			t.Fatalf("enable %d: %d %s", i, r.status, r.raw)
		}
		if c.want == 400 && !strings.Contains(r.errs(), "unsafe_allow_api_audit_creation") {
			t.Errorf("the refusal does not say what to set: %s", r.errs())
		}
	}
	if l := b.List(); len(l) != 1 {
		t.Fatalf("devices after refused enables: %+v", l)
	}
	if _, err := os.Stat(filepath.Join(dir, "evil.log")); !os.IsNotExist(err) {
		t.Fatal("a refused enable created its file")
	}
	for _, c := range []struct {
		tok  string
		want int
	}{{"", 403}, {"s.wrong", 403}, {rootToken, 400}} {
		if r := do(t, h, "DELETE", "/v1/sys/audit/file", nil, TokenHeader, c.tok); r.status != c.want {
			t.Fatalf("disable with %q: %d %s", c.tok, r.status, r.raw)
		}
	}
	if l := b.List(); len(l) != 1 {
		t.Fatalf("the config device was disabled: %+v", l)
	}
	for _, tok := range []string{"", "s.wrong"} {
		if r := do(t, h, "POST", "/v1/sys/audit-hash/file", map[string]any{"input": "x"}, TokenHeader, tok); r.status != 403 || strings.Contains(r.raw, "hmac") {
			t.Fatalf("audit-hash with token %q: %d %s", tok, r.status, r.raw)
		}
		if r := do(t, h, "GET", "/v1/sys/audit", nil, TokenHeader, tok); r.status != 403 || strings.Contains(r.raw, "file_path") {
			t.Fatalf("list with token %q: %d %s", tok, r.status, r.raw)
		}
	}
	if r := do(t, h, "POST", "/v1/sys/audit-hash/nope", map[string]any{"input": "x"}); r.status != 400 {
		t.Fatalf("audit-hash of a missing device: %d %s", r.status, r.raw)
	}
	if r := do(t, h, "POST", "/v1/sys/audit-hash/file", map[string]any{}); r.status != 400 {
		t.Fatalf("audit-hash without input: %d %s", r.status, r.raw)
	}
}

// TestSysAuditUnsafeEnable: with unsafe_allow_api_audit_creation, enable, list and disable
// work, and the plugin-directory rule still holds.
func TestSysAuditUnsafeEnable(t *testing.T) {
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	if err := os.Mkdir(plugins, 0o700); err != nil {
		t.Fatal(err)
	}
	b := audit.NewBroker(audit.Config{Salts: &testSalts{}, Forbidden: []string{plugins}})
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Apply(audit.Settings{AllowAPICreation: true}); err != nil {
		t.Fatal(err)
	}
	fn := newFakeNode()
	h := New(Config{Node: fn, Secrets: newFakeSecrets(), Tokens: newFakeTokens(fn), Audit: b}).Handler()
	if r := do(t, h, "PUT", "/v1/sys/audit/evil", map[string]any{"type": "file", "options": map[string]any{"file_path": filepath.Join(plugins, "x")}}); r.status != 400 || !strings.Contains(r.errs(), "plugin directory") {
		t.Fatalf("enable into the plugin dir: %d %s", r.status, r.raw)
	}
	if ents, _ := os.ReadDir(plugins); len(ents) != 0 {
		t.Fatal("a file was created in the plugin directory")
	}
	if r := do(t, h, "PUT", "/v1/sys/audit/api", map[string]any{"type": "file", "description": "d", "options": map[string]any{"file_path": filepath.Join(dir, "api.log")}}); r.status != 204 {
		t.Fatalf("enable: %d %s", r.status, r.raw)
	}
	r := do(t, h, "GET", "/v1/sys/audit", nil)
	if field(r.body, "data", "api/", "type") != "file" {
		t.Fatalf("list: %s", r.raw)
	}
	if r := do(t, h, "DELETE", "/v1/sys/audit/api", nil); r.status != 204 {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}
	if b.Enabled() {
		t.Fatal("still enabled after disable")
	}
	es, _ := entries(t, filepath.Join(dir, "api.log"))
	// The list call and the disable call were recorded on the API device.
	if len(es) < 2 {
		t.Fatalf("entries: %d", len(es))
	}
}

// TestAuditStream: a streaming reply (sys/lifecycle?stream=true) is recorded when it starts
// (its response entry written at the first flush) and then streams through; with no
// writable device it never starts.
func TestAuditStream(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.log")
	h, n, _, _ := auditServer(t, audit.Settings{Devices: []audit.Device{fileDev("file", file)}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, lines := openStream(t, ctx, srv, "/v1/sys/lifecycle?stream=true")
	testutil.Eventually(t, 10*time.Second, "the stream opened a watch", func() bool { return n.watches.Watching() == 1 })
	n.watches.Publish([]fsm.Transition{{Kind: fsm.KindConnection, ID: "database/db1", From: fsm.StateIdle, To: fsm.StateConfigured, Index: 9}})
	if !lines.Scan() || !strings.Contains(lines.Text(), "database/db1") {
		t.Fatalf("no streamed line: %q %v", lines.Text(), lines.Err())
	}
	es, raw := entries(t, file)
	if len(es) != 2 || es[1]["type"] != "response" || field(es[0], "request", "path") != "sys/lifecycle" {
		t.Fatalf("entries: %s", raw)
	}
	cancel()
	testutil.Eventually(t, 10*time.Second, "the watch closed", func() bool { return n.watches.Watching() == 0 })

	if _, err := os.Stat("/dev/full"); err != nil {
		return
	}
	h, n, _, _ = auditServer(t, audit.Settings{Devices: []audit.Device{fileDev("full", "/dev/full")}})
	r := do(t, h, "GET", "/v1/sys/lifecycle?stream=true", nil)
	if r.status != http.StatusInternalServerError || slices.Contains(n.got(), "WatchLifecycle") {
		t.Fatalf("stream with no writable device: %d %s (calls %v)", r.status, r.raw, n.got())
	}
}
