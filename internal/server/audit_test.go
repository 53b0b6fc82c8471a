package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/audit"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

func auditNodeConfig(t *testing.T, dir string, devs ...audit.Device) Config {
	t.Helper()
	return Config{
		Core: core.Config{NodeID: "a1", DataDir: filepath.Join(dir, "data"), RaftBind: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
			Raft: raftstore.FastConfig(), NoNATS: true},
		Listen: "127.0.0.1:0", PluginDir: filepath.Join(dir, "plugins"), StartTimeout: 10 * time.Second,
		Audit: audit.Settings{Devices: devs},
	}
}

func fileDevice(path, file string) audit.Device {
	return audit.Device{Path: path, Type: audit.TypeFile, Options: map[string]string{"file_path": file}}
}

// TestAuditDeviceInForbiddenDirRefused: a node whose config points an audit device into the
// plugin directory or the data dir, directly or through a symlink, does not start, says why,
// and wrote nothing there.
func TestAuditDeviceInForbiddenDirRefused(t *testing.T) {
	dir := testutil.ShortTempDir(t)
	plugins, data, logs := filepath.Join(dir, "plugins"), filepath.Join(dir, "data"), filepath.Join(dir, "logs")
	for _, d := range []string{plugins, data, logs} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(plugins, filepath.Join(logs, "link")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, file string }{
		{"plugin dir", filepath.Join(plugins, "baton-evil-plugin")},
		{"data dir", filepath.Join(data, "audit.log")},
		{"symlink into the plugin dir", filepath.Join(logs, "link", "evil")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(auditNodeConfig(t, dir, fileDevice("evil", tc.file)))
			if err == nil {
				_ = s.Close(context.Background())
				t.Fatal("the node started")
			}
			if !strings.Contains(err.Error(), "where an audit device may never write") {
				t.Fatalf("the error does not say why: %v", err)
			}
			if ents, _ := os.ReadDir(plugins); len(ents) != 0 {
				t.Fatalf("the plugin dir holds %v", ents)
			}
			if _, err := os.Stat(filepath.Join(data, "audit.log")); !os.IsNotExist(err) {
				t.Fatal("a log file was created in the data dir")
			}
		})
	}
}

// TestAuditSaltSealedInState: a device's salt is made on first use, committed through Raft
// sealed by the barrier (the state never holds it in clear), and the same salt hashes every
// later entry.
func TestAuditSaltSealedInState(t *testing.T) {
	dir := testutil.ShortTempDir(t)
	logFile := filepath.Join(dir, "logs", "audit.log")
	s, err := New(auditNodeConfig(t, dir, fileDevice("file", logFile)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	ctx := testutil.Context(t, 60*time.Second)
	res, err := s.Node.Init(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	hash := func() string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v1/sys/audit-hash/file", strings.NewReader(`{"input":"the-secret"}`))
		req.Header.Set("X-Vault-Token", res.RootToken)
		s.API.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("audit-hash: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	first, second := hash(), hash()
	var sealed []byte
	s.Node.State().View(func(d *state.Data) { sealed = append([]byte(nil), d.AuditSalts["file/"]...) })
	if len(sealed) == 0 {
		t.Fatal("no salt in the replicated state")
	}
	plain, err := s.Node.Barrier().Decrypt(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("the state holds the salt in clear")
	}
	m := hmac.New(sha256.New, plain)
	m.Write([]byte("the-secret"))
	want := "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
	if !strings.Contains(first, want) || !strings.Contains(second, want) {
		t.Fatalf("hashes %s / %s, want %s from the stored salt", first, second, want)
	}
	// sys/seal seals the barrier between its request and response entries: the response is
	// still recorded (with the request's salt) and the seal answered.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("PUT", "/v1/sys/seal", nil)
	req.Header.Set("X-Vault-Token", res.RootToken)
	s.API.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || !s.Node.Sealed() {
		t.Fatalf("seal: %d %s", rec.Code, rec.Body)
	}
	raw, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"type":"response","auth":{"client_token":"hmac-sha256:`)) || bytes.Count(raw, []byte(`"path":"sys/seal"`)) != 2 {
		t.Fatalf("sys/seal's entries: %s", raw)
	}
	if bytes.Contains(raw, []byte("the-secret")) || bytes.Contains(raw, []byte(res.RootToken)) || !bytes.Contains(raw, []byte(want)) {
		t.Fatalf("audit log: %s", raw)
	}
}
