package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/audit"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

// TestAuditAcrossNodes: each node records what it serves itself. A request sent to a standby
// is forwarded and recorded once, by the active node; a per-node read a standby serves itself
// is recorded by the standby, with the salt the active node committed. After the active node
// is killed, the new one hashes alike: the salt is replicated, sealed, not per node.
func TestAuditAcrossNodes(t *testing.T) {
	c := New(t, 3, Options{})
	logs := map[*Member]string{}
	for _, m := range c.Nodes {
		logs[m] = filepath.Join(c.Dir, m.ID+"-audit", "audit.log")
		if err := m.S.Audit.Apply(audit.Settings{Devices: []audit.Device{{Path: "file", Type: audit.TypeFile, Options: map[string]string{"file_path": logs[m]}}}}); err != nil {
			t.Fatal(err)
		}
	}
	old := c.Active()
	var standby *Member
	for _, m := range c.Nodes {
		if m != old {
			standby = m
			break
		}
	}
	ctx := testutil.Context(t, 120*time.Second)
	before := standby.Client.Must(t, ctx, "POST", "sys/audit-hash/file", map[string]any{"input": "a-secret"}).Data()["hash"]
	read := func(m *Member) []byte {
		b, err := os.ReadFile(logs[m])
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return b
	}
	if n := bytes.Count(read(old), []byte(`"path":"sys/audit-hash/file"`)); n != 2 {
		t.Fatalf("the active node recorded %d entries of the forwarded request, want 2", n)
	}
	if b := read(standby); len(b) != 0 {
		t.Fatalf("the standby recorded a request it forwarded: %s", b)
	}
	testutil.Eventually(t, 20*time.Second, "the standby to apply the salt", func() bool {
		var sealed []byte
		standby.S.Node.State().View(func(d *state.Data) { sealed = d.AuditSalts["file/"] })
		return len(sealed) > 0
	})
	standby.Client.Must(t, ctx, "GET", "sys/lifecycle?local=true", nil)
	if n := bytes.Count(read(standby), []byte(`"path":"sys/lifecycle"`)); n != 2 {
		t.Fatalf("the standby recorded %d entries of what it served itself, want 2:\n%s", n, read(standby))
	}
	if bytes.Contains(read(standby), []byte(c.Token)) || bytes.Contains(read(old), []byte(c.Token)) || bytes.Contains(read(old), []byte("a-secret")) {
		t.Fatal("a token or an input in clear in an audit log")
	}

	c.Halt(old)
	next := c.WaitActive(old, 30*time.Second)
	after := next.Client.Must(t, ctx, "POST", "sys/audit-hash/file", map[string]any{"input": "a-secret"}).Data()["hash"]
	if after != before {
		t.Fatalf("the new active node hashes %v, the old one %v", after, before)
	}
}
