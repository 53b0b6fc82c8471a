package cli

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/snapshot"
)

type nopSealer struct{}

func (nopSealer) Encrypt(b []byte) ([]byte, error) { return append([]byte("sealed:"), b...), nil }

func testArchive(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	if err := snapshot.Write(&buf, snapshot.Meta{ID: "1-2-3", Created: time.Unix(0, 0)}, []byte("state"), nopSealer{}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestRaftSnapshotCommands(t *testing.T) {
	archive := testArchive(t)
	env := func(f *fakeAPI) map[string]string {
		return map[string]string{"BAO_ADDR": f.srv.URL, "BAO_TOKEN": testToken}
	}
	t.Run("save writes the archive, mode 0600", func(t *testing.T) {
		f := newFakeAPI(t, map[string]reply{"GET /v1/sys/storage/raft/snapshot": {body: archive}})
		file := filepath.Join(t.TempDir(), "snap.tar.gz")
		if r := runCLI(t, env(f), "", "operator", "raft", "snapshot", "save", file); r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		b, err := os.ReadFile(file)
		if err != nil || string(b) != archive {
			t.Fatalf("file holds %d bytes (%v), want the archive", len(b), err)
		}
		if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", fi.Mode())
		}
		if got := f.requests(); len(got) != 1 || got[0].token != testToken {
			t.Fatalf("requests %+v", got)
		}
	})
	t.Run("save refuses a cut-short archive and writes nothing", func(t *testing.T) {
		f := newFakeAPI(t, map[string]reply{"GET /v1/sys/storage/raft/snapshot": {body: archive[:len(archive)/2]}})
		dir := t.TempDir()
		r := runCLI(t, env(f), "", "operator", "raft", "snapshot", "save", filepath.Join(dir, "snap.tar.gz"))
		if r.code == 0 || !strings.Contains(r.stderr, "not complete") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("left %v", ents)
		}
	})
	t.Run("save shows the server's error", func(t *testing.T) {
		f := newFakeAPI(t, map[string]reply{"GET /v1/sys/storage/raft/snapshot": {http.StatusForbidden, `{"errors":["permission denied"]}`}})
		r := runCLI(t, env(f), "", "operator", "raft", "snapshot", "save", filepath.Join(t.TempDir(), "s"))
		if r.code == 0 || !strings.Contains(r.stderr, "permission denied") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})
	for _, tc := range []struct {
		args []string
		path string
	}{
		{nil, "/v1/sys/storage/raft/snapshot"},
		{[]string{"-force"}, "/v1/sys/storage/raft/snapshot-force"},
	} {
		t.Run("restore "+tc.path, func(t *testing.T) {
			f := newFakeAPI(t, map[string]reply{"POST " + tc.path: {status: http.StatusNoContent}})
			file := filepath.Join(t.TempDir(), "snap.tar.gz")
			if err := os.WriteFile(file, []byte(archive), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append(append([]string{"operator", "raft", "snapshot", "restore"}, tc.args...), file)
			if r := runCLI(t, env(f), "", args...); r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			got := f.requests()
			if len(got) != 1 || got[0].method != "POST" || got[0].path != tc.path || got[0].body != archive {
				t.Fatalf("requests %d: %+v", len(got), got[0].path)
			}
		})
	}
	t.Run("restore shows a refusal", func(t *testing.T) {
		f := newFakeAPI(t, map[string]reply{"POST /v1/sys/storage/raft/snapshot": {http.StatusBadRequest, `{"errors":["the snapshot was taken on another cluster"]}`}})
		file := filepath.Join(t.TempDir(), "snap.tar.gz")
		_ = os.WriteFile(file, []byte(archive), 0o600)
		r := runCLI(t, env(f), "", "operator", "raft", "snapshot", "restore", file)
		if r.code == 0 || !strings.Contains(r.stderr, "another cluster") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})
}

func TestRaftAutopilotCommands(t *testing.T) {
	f := newFakeAPI(t, map[string]reply{
		"GET /v1/sys/storage/raft/autopilot/configuration": {body: `{"data":{"cleanup_dead_servers":true,"last_contact_threshold":"10s",
			"dead_server_last_contact_threshold":"24h0m0s","max_trailing_logs":1000,"min_quorum":3,"server_stabilization_time":"10s"}}`},
		"POST /v1/sys/storage/raft/autopilot/configuration": {status: http.StatusNoContent},
		"GET /v1/sys/storage/raft/autopilot/state": {body: `{"data":{"healthy":true,"failure_tolerance":1,"leader":"n1","voters":["n1","n2","n3"],
			"servers":{"n1":{"id":"n1","name":"n1","address":"127.0.0.1:8201","node_status":"alive","last_contact":"0s","last_term":2,"last_index":40,"healthy":true,"stable_since":"2026-01-01T00:00:00Z","status":"leader"}}}}`},
	})
	env := map[string]string{"BAO_ADDR": f.srv.URL, "BAO_TOKEN": testToken}
	r := runCLI(t, env, "", "operator", "raft", "autopilot", "get-config")
	for _, want := range []string{"Cleanup Dead Servers", "true", "Dead Server Last Contact Threshold", "24h0m0s", "Min Quorum", "3"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("get-config: exit %d, no %q in %s%s", r.code, want, r.stdout, r.stderr)
		}
	}
	r = runCLI(t, env, "", "operator", "raft", "autopilot", "state")
	for _, want := range []string{"Failure Tolerance", "n1, n2, n3", "127.0.0.1:8201", "leader", "alive"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("state: exit %d, no %q in %s%s", r.code, want, r.stdout, r.stderr)
		}
	}
	r = runCLI(t, env, "", "operator", "raft", "autopilot", "set-config", "-cleanup-dead-servers", "-min-quorum", "5", "-dead-server-last-contact-threshold", "2m")
	if r.code != 0 {
		t.Fatalf("set-config: exit %d: %s", r.code, r.stderr)
	}
	reqs := f.requests()
	last := reqs[len(reqs)-1]
	// Only the options given are sent.
	if last.method != "POST" || !sameJSON(t, last.body, `{"cleanup_dead_servers":"true","min_quorum":"5","dead_server_last_contact_threshold":"2m"}`) {
		t.Fatalf("set-config sent %s %s", last.method, last.body)
	}
	if r := runCLI(t, env, "", "operator", "raft", "autopilot", "set-config"); r.code == 0 {
		t.Fatal("set-config without options must be a usage error")
	}
}
