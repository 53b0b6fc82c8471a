package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

// TestDevPluginDirInPlace is issue 14 item 5 with the built binary: -dev-plugin-dir is the
// plugin directory itself. The bundled plugins are installed there as real standalone
// binaries (from beside the node binary, as a release ships them); a copy of one put there
// under another name after the node started is registered by its SHA-256 and serves
// credentials (with the old trick, a renamed copy of the node binary ran the CLI); the
// directory, the operator's, is left in place at exit; a missing directory is refused
// naming the path as given.
func TestDevPluginDirInPlace(t *testing.T) {
	bins, err := harness.Build()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(testutil.ShortTempDir(t), "my-plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := startDev(t, []string{bins.Node.Path, "server", "-dev", "-dev-listen-address", "127.0.0.1:0", "-dev-nats-port", "0", "-dev-plugin-dir", dir})
	out := p.banner(t)
	if out.pluginDir != dir {
		t.Fatalf("banner's plugin dir %q, want the one given, %q", out.pluginDir, dir)
	}
	for _, b := range []struct {
		name string
		bin  string
	}{{"baton-test-plugin", bins.TestPlugin.SHA256}, {"baton-postgresql-plugin", bins.PGPlugin.SHA256}} {
		if sum, err := catalog.SHA256File(filepath.Join(dir, b.name)); err != nil || sum != b.bin {
			t.Fatalf("%s in the plugin dir: %v, sha256 %s, want the standalone build %s", b.name, err, sum, b.bin)
		}
	}

	// The OpenBao way: copy a plugin under a new name into the directory, register it.
	renamed := filepath.Join(dir, "renamed-test-plugin")
	src, err := os.Open(filepath.Join(dir, "baton-test-plugin"))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(renamed, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	_ = src.Close()
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, 3*callTimeout)
	cl := &testutil.Client{Addr: out.addr, Token: out.token}
	cl.Must(t, ctx, "PUT", "sys/plugins/catalog/database/renamed-test-plugin", map[string]any{"sha256": bins.TestPlugin.SHA256, "command": "renamed-test-plugin"}, http.StatusNoContent)
	cl.Must(t, ctx, "POST", "database/config/renamed", map[string]any{"plugin_name": "renamed-test-plugin", "allowed_roles": "renamed",
		"username": "root", "password": "root-pw", "state_file": filepath.Join(t.TempDir(), "db.json"), "verify_connection": true})
	cl.Must(t, ctx, "POST", "database/roles/renamed", map[string]any{"db_name": "renamed"})
	r := cl.Must(t, ctx, "GET", "database/creds/renamed", nil)
	if r.Data()["username"] == nil {
		t.Fatalf("creds from the renamed plugin: %s", r.Raw)
	}
	p.interrupt(t, -p.pgid)
	if _, err := os.Stat(renamed); err != nil {
		t.Fatalf("the operator's plugin directory was not left in place: %v", err)
	}

	// A directory that does not exist: refused, naming it as given.
	bad := startDev(t, []string{bins.Node.Path, "server", "-dev", "-dev-listen-address", "127.0.0.1:0", "-dev-nats-port", "0", "-dev-plugin-dir", "no-such-plugins"})
	select {
	case <-bad.exited:
		bad.stopped = true
	case <-ctx.Done():
		t.Fatal("the dev node with a missing -dev-plugin-dir did not exit")
	}
	for range bad.lines {
	}
	if bad.waitErr == nil || !strings.Contains(bad.stderr.String(), "-dev-plugin-dir no-such-plugins: no such directory") {
		t.Fatalf("missing -dev-plugin-dir: exit %v\n%s", bad.waitErr, bad.stderr.String())
	}
}
