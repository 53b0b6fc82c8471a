package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/testutil"
)

// reloadTimeout bounds how long a SIGHUP takes to show in sys/audit.
const reloadTimeout = 30 * time.Second

// auditStanza is an audit "file" stanza writing to file.
func auditStanza(path, file string) string {
	return fmt.Sprintf("audit \"file\" %q {\n  description = \"e2e\"\n  options {\n    file_path = %q\n  }\n}\n", path, file)
}

// TestAuditDevice is issue 11's audit "Done when" on the built binary with real PostgreSQL:
// a dev node started with -config holding an audit stanza records a creds read (request and
// response entries) with neither the issued password, the root password nor the client token
// in clear; a SIGHUP after the stanza changes enables the new device (sys/audit lists it);
// with /dev/full as the only device (every write fails, even for root) requests fail with 500
// and change nothing; a SIGHUP back to a writable file serves again and shows nothing
// happened meanwhile.
func TestAuditDevice(t *testing.T) {
	pg := pgtest.Start(t)
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full to stand in for a full disk")
	}
	bins, err := harness.Build()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logFile := filepath.Join(dir, "logs", "audit.log")
	cfgFile := filepath.Join(dir, "audit.hcl")
	writeCfg := func(src string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg(auditStanza("file", logFile))
	p := startDev(t, []string{bins.Node.Path, "server", "-dev", "-dev-listen-address", "127.0.0.1:0", "-dev-nats-port", "0", "-config", cfgFile})
	out := p.banner(t)
	ctx := testutil.Context(t, 4*callTimeout)
	cl := &testutil.Client{Addr: out.addr, Token: out.token}

	// A PostgreSQL connection and role, then one creds read.
	rootUser, rootPassword := "baton_audit_root", "Rootpw-"+strings.ToLower(out.token[2:12])
	if err := pg.Exec(ctx, fmt.Sprintf("CREATE ROLE %s WITH LOGIN CREATEROLE PASSWORD '%s'", rootUser, rootPassword)); err != nil {
		t.Fatal(err)
	}
	cl.Must(t, ctx, "POST", "database/config/pg", map[string]any{
		"plugin_name": "baton-postgresql-plugin", "allowed_roles": "ro", "connection_url": pg.URLTemplate(),
		"username": rootUser, "password": rootPassword,
	})
	cl.Must(t, ctx, "POST", "database/roles/ro", map[string]any{"db_name": "pg", "default_ttl": "1h", "max_ttl": "2h"})
	user, password, lease := creds(t, ctx, cl, "ro")
	mustLogin(t, ctx, pg, user, password, "credential issued with auditing on")

	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for what, secret := range map[string]string{"issued password": password, "root token": out.token, "root password": rootPassword} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Fatalf("the audit log holds the %s in clear", what)
		}
	}
	var reqEntry, respEntry map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var e map[string]any
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("audit line is not JSON: %q", l)
		}
		r, _ := e["request"].(map[string]any)
		if r["path"] != "database/creds/ro" {
			continue
		}
		switch e["type"] {
		case "request":
			reqEntry = e
		case "response":
			respEntry = e
		}
	}
	if reqEntry == nil || respEntry == nil {
		t.Fatalf("no request and response entries for database/creds/ro:\n%s", raw)
	}
	resp, _ := respEntry["response"].(map[string]any)
	data, _ := resp["data"].(map[string]any)
	secret, _ := resp["secret"].(map[string]any)
	hash := cl.Must(t, ctx, "POST", "sys/audit-hash/file", map[string]any{"input": password}).Data()["hash"]
	if data["password"] != hash || secret["lease_id"] != lease {
		t.Fatalf("response entry: password %v (sys/audit-hash says %v), lease %v (want %s)", data["password"], hash, secret["lease_id"], lease)
	}
	tokHash := cl.Must(t, ctx, "POST", "sys/audit-hash/file", map[string]any{"input": out.token}).Data()["hash"]
	if r, _ := reqEntry["request"].(map[string]any); r["client_token"] != tokHash || r["operation"] != "read" || r["mount_type"] != "database" {
		t.Fatalf("request entry: %v", reqEntry)
	}

	// SIGHUP with a second stanza: the new device is listed, requests still served.
	sighup := func() {
		t.Helper()
		if err := syscall.Kill(p.pgid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg(auditStanza("file", logFile) + auditStanza("full", "/dev/full"))
	sighup()
	testutil.Eventually(t, reloadTimeout, "sys/audit to list full/ after SIGHUP", func() bool {
		r := cl.Must(t, ctx, "GET", "sys/audit", nil)
		_, ok := r.Data()["full/"]
		return ok
	})

	// Only /dev/full: nothing can be recorded, so nothing is served.
	writeCfg(auditStanza("full", "/dev/full"))
	sighup()
	testutil.Eventually(t, reloadTimeout, "requests to fail once no device can write", func() bool {
		r, err := cl.Do(ctx, "GET", "sys/audit", nil)
		return err == nil && r.Status == http.StatusInternalServerError
	})
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "database/roles/evil", map[string]any{"db_name": "pg"}},
		{"GET", "database/creds/ro", nil},
		{"PUT", "sys/seal", nil},
	} {
		r, err := cl.Do(ctx, c.method, c.path, c.body)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusInternalServerError || !strings.Contains(r.Raw, "audit") {
			t.Fatalf("%s %s with no writable device: %d %s", c.method, c.path, r.Status, r.Raw)
		}
	}
	if r, err := cl.Do(ctx, "GET", "sys/health", nil); err != nil || r.Status != http.StatusOK {
		t.Fatalf("sys/health (unaudited, as in OpenBao) answers %v %v: the node was sealed?", r.Status, err)
	}

	// Back to a writable file: served again, and nothing changed meanwhile.
	writeCfg(auditStanza("file", logFile))
	sighup()
	testutil.Eventually(t, reloadTimeout, "requests to be served again after SIGHUP", func() bool {
		r, err := cl.Do(ctx, "GET", "sys/audit", nil)
		return err == nil && r.Status == http.StatusOK
	})
	r := cl.Must(t, ctx, "GET", "sys/audit", nil)
	if _, ok := r.Data()["full/"]; ok || r.Data()["file/"] == nil {
		t.Fatalf("sys/audit after the last reload: %s", r.Raw)
	}
	if r, _ := cl.Do(ctx, "GET", "database/roles/evil", nil); r.Status != http.StatusNotFound {
		t.Fatalf("a role was written while nothing could be audited: %d %s", r.Status, r.Raw)
	}
	if r, _ := cl.Do(ctx, "GET", "sys/seal-status", nil); r.Body["sealed"] != false {
		t.Fatalf("the node sealed while nothing could be audited: %s", r.Raw)
	}
	raw, _ = os.ReadFile(logFile)
	if bytes.Contains(raw, []byte(password)) || bytes.Contains(raw, []byte(out.token)) {
		t.Fatal("the audit log holds the password or the token in clear")
	}
	p.interrupt(t, -p.pgid)
}
