package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	openbao "github.com/openbao/openbao/api/v2"

	"github.com/baton-hq/baton/test/harness"
)

// TestOpenBaoClientLeaderPluginsLeases drives the dev node (the built binary) with OpenBao's Go
// client through issue 14 item 6's endpoints: Sys().Leader's active_time (what `bao status`
// prints as "Active Since"), the mount accessor in Sys().ListMounts, the lease's path in
// Sys().Lookup, Sys().ReloadPlugin then ReloadPluginStatus with the reload id it answered, a
// reload of a plugin not in the catalog (404, nothing recorded), and Sys().DeregisterPlugin
// without a version (what `bao plugin deregister` sends) removing the entry. Reload and
// deregister without a token or with a wrong one are refused with 403 and change nothing.
func TestOpenBaoClientLeaderPluginsLeases(t *testing.T) {
	bins, err := harness.Build()
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now().Add(-time.Second)
	p := startDev(t, []string{bins.Node.Path, "server", "-dev", "-dev-listen-address", "127.0.0.1:0", "-dev-nats-port", "0"})
	out := p.banner(t)
	bao := baoClient(t, out.addr, out.token)
	nobody := baoClient(t, out.addr, "")
	stranger := baoClient(t, out.addr, "s.not-the-root-token")

	l, err := nobody.Sys().Leader()
	if err != nil || !l.IsSelf || l.ActiveTime.IsZero() || l.ActiveTime.Before(started) || l.ActiveTime.After(time.Now()) || l.LeaderAddress != out.addr {
		t.Fatalf("Leader: %+v %v; want this node, active since it started", l, err)
	}

	mounts, err := bao.Sys().ListMounts()
	if err != nil || mounts["database/"] == nil || mounts["database/"].Type != "database" || !strings.HasPrefix(mounts["database/"].Accessor, "database_") {
		t.Fatalf("ListMounts: %v %+v; want database/ with an accessor database_…", err, mounts["database/"])
	}

	s, err := bao.Logical().Read("database/creds/dev")
	if err != nil || s == nil || s.LeaseID == "" {
		t.Fatalf("creds: %v %+v", err, s)
	}
	lk, err := bao.Sys().Lookup(s.LeaseID)
	// OpenBao's lookup fields exactly (it has no path field; the id carries the path).
	if err != nil || lk == nil || lk.Data["id"] != s.LeaseID || lk.Data["renewable"] != true || lk.Data["issue_time"] == nil || lk.Data["expire_time"] == nil {
		t.Fatalf("Lookup %s: %v %+v", s.LeaseID, err, lk)
	}
	if _, has := lk.Data["path"]; has {
		t.Fatalf("Lookup answers a path field OpenBao does not have: %+v", lk.Data)
	}

	// Reload by plugin name, then its status by the id it answered.
	_, err = nobody.Sys().ReloadPlugin(&openbao.ReloadPluginInput{Plugin: "baton-test-plugin"})
	wantStatus(t, "ReloadPlugin without a token", err, http.StatusForbidden)
	_, err = stranger.Sys().ReloadPlugin(&openbao.ReloadPluginInput{Plugin: "baton-test-plugin"})
	wantStatus(t, "ReloadPlugin with a wrong token", err, http.StatusForbidden)
	_, err = bao.Sys().ReloadPlugin(&openbao.ReloadPluginInput{Plugin: "no-such-plugin"})
	wantStatus(t, "ReloadPlugin of a plugin not in the catalog", err, http.StatusNotFound)
	// The client returns the reload id only for scope "global" (`bao plugin reload -scope=global`).
	id, err := bao.Sys().ReloadPlugin(&openbao.ReloadPluginInput{Plugin: "baton-test-plugin", Scope: "global"})
	if err != nil || id == "" {
		t.Fatalf("ReloadPlugin: %q %v", id, err)
	}
	st, err := bao.Sys().ReloadPluginStatus(&openbao.ReloadPluginStatusInput{ReloadID: id})
	if err != nil || st == nil || st.ReloadID != id || len(st.Results) == 0 {
		t.Fatalf("ReloadPluginStatus %s: %+v %v", id, st, err)
	}
	for node, r := range st.Results {
		if r == nil || r.Timestamp.IsZero() || r.Error != "" {
			t.Fatalf("ReloadPluginStatus result of %s: %+v", node, r)
		}
	}
	_, err = stranger.Sys().ReloadPluginStatus(&openbao.ReloadPluginStatusInput{ReloadID: id})
	wantStatus(t, "ReloadPluginStatus with a wrong token", err, http.StatusForbidden)
	if st, err := bao.Sys().ReloadPluginStatus(&openbao.ReloadPluginStatusInput{ReloadID: "00000000-0000-0000-0000-000000000000"}); err == nil {
		t.Fatalf("ReloadPluginStatus of an id never answered: %+v", st)
	}

	// Register a second name for the test plugin; deregister it the way `bao plugin deregister` does.
	entry := &openbao.RegisterPluginInput{Name: "copy-of-test", Type: openbao.PluginTypeDatabase, Command: "baton-test-plugin", SHA256: bins.TestPlugin.SHA256}
	if err := bao.Sys().RegisterPlugin(entry); err != nil {
		t.Fatalf("RegisterPlugin: %v", err)
	}
	get := &openbao.GetPluginInput{Name: "copy-of-test", Type: openbao.PluginTypeDatabase}
	if g, err := bao.Sys().GetPlugin(get); err != nil || g.SHA256 != bins.TestPlugin.SHA256 || g.Command != "baton-test-plugin" {
		t.Fatalf("GetPlugin: %+v %v", g, err)
	}
	dereg := &openbao.DeregisterPluginInput{Name: "copy-of-test", Type: openbao.PluginTypeDatabase}
	wantStatus(t, "DeregisterPlugin without a token", nobody.Sys().DeregisterPlugin(dereg), http.StatusForbidden)
	wantStatus(t, "DeregisterPlugin with a wrong token", stranger.Sys().DeregisterPlugin(dereg), http.StatusForbidden)
	if _, err := bao.Sys().GetPlugin(get); err != nil {
		t.Fatalf("a refused deregister removed the entry: %v", err)
	}
	if err := bao.Sys().DeregisterPlugin(dereg); err != nil {
		t.Fatalf("DeregisterPlugin without a version: %v", err)
	}
	_, err = bao.Sys().GetPlugin(get)
	wantStatus(t, "GetPlugin after DeregisterPlugin", err, http.StatusNotFound)
	p.interrupt(t, -p.pgid)
}
