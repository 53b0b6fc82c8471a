package cluster

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/cli"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/testutil"
)

// rawCall sends body as it is (a snapshot file) and returns the status and the raw reply.
func rawCall(t *testing.T, ctx context.Context, m *Member, token, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, m.Cfg.Core.APIAddr+"/v1/"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// saveSnapshot takes a snapshot through the API.
func saveSnapshot(t *testing.T, ctx context.Context, c *Cluster, m *Member) []byte {
	t.Helper()
	st, b := rawCall(t, ctx, m, c.Token, "GET", "sys/storage/raft/snapshot", nil)
	if st != http.StatusOK {
		t.Fatalf("GET snapshot: %d %s", st, b)
	}
	return b
}

// stateOf is what a node's own replicated state holds of the objects the tests add.
type stateOf struct {
	mounts, conns, roles []string
	leases               int
}

func localState(m *Member) stateOf {
	var s stateOf
	m.S.Node.State().View(func(d *state.Data) {
		for k := range d.Mounts {
			s.mounts = append(s.mounts, k)
		}
		for k := range d.Connections {
			s.conns = append(s.conns, k)
		}
		for k := range d.Roles {
			s.roles = append(s.roles, k)
		}
		s.leases = len(d.Leases)
	})
	return s
}

func has(list []string, k string) bool {
	for _, v := range list {
		if v == k {
			return true
		}
	}
	return false
}

// archiveMembers decompresses a snapshot file into its members' bytes.
func archiveMembers(t *testing.T, a []byte) [][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out [][]byte
	for {
		if _, err := tr.Next(); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, b)
	}
}

// TestSnapshotRestoreOnEveryNode saves a snapshot of a 3-node cluster with a PostgreSQL
// connection, adds a mount, a connection and a role, restores the snapshot and checks on each
// node's own state that the later writes are gone and the earlier ones are back; then the
// cluster issues creds that log in to PostgreSQL. The snapshot file holds neither the root
// password nor the password of a connection URL, compressed or not.
func TestSnapshotRestoreOnEveryNode(t *testing.T) {
	pg := pgtest.Start(t)
	c := New(t, 3, Options{})
	a := c.Active()
	s := setupPG(t, c, a, pg)
	ctx := testutil.Context(t, 4*time.Minute)
	// A connection whose URL carries its password, as some operators write it.
	urlUser, urlPW := "baton_url_"+hexID(4), hexID(12)
	if err := pg.Exec(ctx, fmt.Sprintf("CREATE ROLE %s WITH LOGIN PASSWORD '%s'", urlUser, urlPW)); err != nil {
		t.Fatal(err)
	}
	a.Client.Must(t, ctx, "POST", "database/config/pgurl", map[string]any{
		"plugin_name": "baton-postgresql-plugin", "allowed_roles": "", "verify_connection": true,
		"connection_url": pg.URL(urlUser, urlPW)})
	a.Client.Must(t, ctx, "GET", "database/creds/ro", nil)

	// Through a standby: forwarded to the active node.
	snap := saveSnapshot(t, ctx, c, c.Nodes[1])
	for i, part := range append(archiveMembers(t, snap), snap) {
		for what, secret := range map[string]string{"root password": s.password, "connection URL password": urlPW} {
			if bytes.Contains(part, []byte(secret)) {
				t.Fatalf("snapshot part %d holds the %s in clear", i, what)
			}
		}
	}

	// Later writes: a mount, a connection and a role.
	a.Client.Must(t, ctx, "POST", "sys/mounts/db2", map[string]any{"type": "database"})
	a.Client.Must(t, ctx, "POST", "database/config/pg2", map[string]any{
		"plugin_name": "baton-postgresql-plugin", "allowed_roles": "ro2", "verify_connection": false,
		"connection_url": pg.URLTemplate(), "username": s.user, "password": s.password})
	a.Client.Must(t, ctx, "POST", "database/roles/ro2", map[string]any{"db_name": "pg2", "default_ttl": "1h", "max_ttl": "24h"})
	for _, m := range c.Nodes {
		testutil.Eventually(t, 20*time.Second, m.ID+" has the later writes", func() bool {
			st := localState(m)
			return has(st.mounts, "db2/") && has(st.conns, state.Key("database", "pg2")) && has(st.roles, state.Key("database", "ro2"))
		})
	}

	if st, b := rawCall(t, ctx, c.Nodes[2], c.Token, "POST", "sys/storage/raft/snapshot", snap); st != http.StatusNoContent {
		t.Fatalf("restore: %d %s", st, b)
	}
	for _, m := range c.Nodes {
		testutil.Eventually(t, 30*time.Second, m.ID+" holds the restored state", func() bool {
			st := localState(m)
			return !has(st.mounts, "db2/") && !has(st.conns, state.Key("database", "pg2")) && !has(st.roles, state.Key("database", "ro2")) &&
				has(st.mounts, "database/") && has(st.conns, state.Key("database", "pg")) && has(st.conns, state.Key("database", "pgurl")) &&
				has(st.roles, state.Key("database", "ro"))
		})
	}
	if r, err := a.Client.Do(ctx, "GET", "database/creds/ro2", nil); err != nil || r.Status < 400 {
		t.Fatalf("creds of a role the restore removed: %v %d %s", err, r.Status, r.Raw)
	}

	// The cluster issues creds that log in, from the restored state.
	var user, pw string
	testutil.Eventually(t, 60*time.Second, "creds after the restore", func() bool {
		act := c.Active()
		if act == nil {
			return false
		}
		r, err := act.Client.Do(ctx, "GET", "database/creds/ro", nil)
		if err != nil || r.Status != http.StatusOK {
			return false
		}
		user, pw = fmt.Sprint(r.Data()["username"]), fmt.Sprint(r.Data()["password"])
		return true
	})
	if err := pg.CanLogin(ctx, user, pw); err != nil {
		t.Fatalf("creds issued after the restore do not log in: %v", err)
	}
}

// TestSnapshotRefusals walks in as an attacker: no token and a wrong token on GET and POST,
// a damaged, cut short, empty or foreign archive; each is refused and the state is unchanged.
// Restoring an older snapshot again (a replay) is a restore its sudo caller asked for.
func TestSnapshotRefusals(t *testing.T) {
	c := New(t, 1, Options{})
	other := New(t, 1, Options{})
	a := c.Active()
	ctx := testutil.Context(t, 3*time.Minute)
	a.Client.Must(t, ctx, "POST", "sys/mounts/before", map[string]any{"type": "database"})
	snap := saveSnapshot(t, ctx, c, a)
	foreign := saveSnapshot(t, ctx, other, other.Active())
	a.Client.Must(t, ctx, "POST", "sys/mounts/after", map[string]any{"type": "database"})
	unchanged := func(t *testing.T) {
		t.Helper()
		st := localState(a)
		if !has(st.mounts, "before/") || !has(st.mounts, "after/") {
			t.Fatalf("state changed: mounts %v", st.mounts)
		}
	}

	for _, tok := range []string{"", "not-the-root-token", hexID(16)} {
		if st, b := rawCall(t, ctx, a, tok, "GET", "sys/storage/raft/snapshot", nil); st != http.StatusForbidden || bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Fatalf("GET with token %q: %d", tok, st)
		}
		for _, p := range []string{"sys/storage/raft/snapshot", "sys/storage/raft/snapshot-force"} {
			if st, b := rawCall(t, ctx, a, tok, "POST", p, snap); st != http.StatusForbidden {
				t.Fatalf("POST %s with token %q: %d %s", p, tok, st, b)
			}
		}
		unchanged(t)
	}

	flipped := bytes.Clone(snap)
	flipped[len(flipped)/2] ^= 0xff
	for _, tc := range []struct {
		name, path string
		body       []byte
		want       string
	}{
		{"empty", "snapshot", nil, "body is empty"},
		{"not an archive", "snapshot", []byte(`{"hello":"world"}`), "invalid archive"},
		{"truncated", "snapshot", snap[:len(snap)/2], "invalid archive"},
		{"one byte flipped", "snapshot", flipped, "invalid archive"},
		{"another cluster's, plain", "snapshot", foreign, "another cluster"},
		{"another cluster's, forced, another key", "snapshot-force", foreign, "does not decrypt"},
		{"truncated, forced", "snapshot-force", snap[:len(snap)-10], "invalid archive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, b := rawCall(t, ctx, a, c.Token, "POST", "sys/storage/raft/"+tc.path, tc.body)
			if st != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
				t.Fatalf("got %d %s, want 400 saying %q", st, b, tc.want)
			}
			unchanged(t)
		})
	}

	// A replay of an older snapshot by the root token is a restore: allowed, twice.
	for range 2 {
		if st, b := rawCall(t, ctx, a, c.Token, "POST", "sys/storage/raft/snapshot", snap); st != http.StatusNoContent {
			t.Fatalf("restore: %d %s", st, b)
		}
		testutil.Eventually(t, 30*time.Second, "the older state is back", func() bool {
			st := localState(a)
			return has(st.mounts, "before/") && !has(st.mounts, "after/")
		})
	}
	// snapshot-force also takes this cluster's own snapshot.
	c.WaitActive(nil, 30*time.Second)
	if st, b := rawCall(t, ctx, a, c.Token, "POST", "sys/storage/raft/snapshot-force", snap); st != http.StatusNoContent {
		t.Fatalf("forced restore of our own snapshot: %d %s", st, b)
	}
}

// TestSnapshotCLI saves and restores through the CLI against a running node, as an operator's
// backup job would.
func TestSnapshotCLI(t *testing.T) {
	c := New(t, 1, Options{})
	a := c.Active()
	ctx := testutil.Context(t, 2*time.Minute)
	a.Client.Must(t, ctx, "POST", "sys/mounts/kept", map[string]any{"type": "database"})
	file := filepath.Join(t.TempDir(), "backup.snap")
	cliRun := func(args ...string) {
		t.Helper()
		var out, errb bytes.Buffer
		args = append(args[:len(args)-1:len(args)-1], "-address", a.Cfg.Core.APIAddr, "-token", c.Token, args[len(args)-1])
		if code := cli.Run(ctx, args, strings.NewReader(""), &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s%s", args, code, out.String(), errb.String())
		}
	}
	cliRun("operator", "raft", "snapshot", "save", file)
	a.Client.Must(t, ctx, "POST", "sys/mounts/dropped", map[string]any{"type": "database"})
	cliRun("operator", "raft", "snapshot", "restore", file)
	testutil.Eventually(t, 30*time.Second, "the saved state is back", func() bool {
		st := localState(a)
		return has(st.mounts, "kept/") && !has(st.mounts, "dropped/")
	})
}
