package cluster

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

// catalogEnv opens, on m, the sealed env of a catalog entry with m's own barrier.
func catalogEnv(m *Member, name string) (string, error) {
	var sealed []byte
	m.S.Node.State().View(func(d *state.Data) {
		if e, err := d.Catalog.Get(string(catalog.TypeDatabase), name, ""); err == nil {
			sealed = e.SealedEnv
		}
	})
	plain, err := m.S.Node.Barrier().Decrypt(sealed)
	return string(plain), err
}

// TestShamirClusterRotateAndRestart: a 3-node cluster initialised with 5 shares, threshold
// 3, forms with each joining node unsealed by its own 3 of the 5 shares; sys/rotate refuses
// callers without the root token and rotates with it; a secret sealed before the rotation
// and one sealed after are read on every node, and again after every node is restarted and
// unsealed with 3 shares (real Raft over TCP, boltdb). A restarted node given a share of
// another cluster stays sealed with its progress reset.
func TestShamirClusterRotateAndRestart(t *testing.T) {
	c := New(t, 3, Options{Shares: 5, Threshold: 3})
	ctx := testutil.Context(t, 4*time.Minute)
	for _, m := range c.Nodes {
		r := m.Client.Must(t, ctx, "GET", "sys/seal-status", nil)
		if r.Body["t"] != 3.0 || r.Body["n"] != 5.0 || r.Body["sealed"] != false || r.Body["type"] != "shamir" {
			t.Fatalf("%s seal-status: %s", m.ID, r.Raw)
		}
	}
	a := c.Active()
	register := func(name, env string) {
		a.Client.Must(t, ctx, "PUT", "sys/plugins/catalog/database/"+name, map[string]any{
			"sha256": c.Plugin.SHA256, "command": "baton-test-plugin", "env": []string{env}})
	}
	register("before", "SECRET=term-one")
	for _, tok := range []string{"", "s.guessed"} {
		attacker := &testutil.Client{Addr: a.Client.Addr, Token: tok}
		r, err := attacker.Do(ctx, "PUT", "sys/rotate", nil)
		if err != nil || r.Status != http.StatusForbidden {
			t.Fatalf("sys/rotate with token %q: %d %v %s", tok, r.Status, err, r.Raw)
		}
	}
	if st, _ := a.S.Node.KeyStatus(); st.Term != 1 {
		t.Fatalf("a refused rotate rotated: %+v", st)
	}
	a.Client.Must(t, ctx, "PUT", "sys/rotate", nil, 204)
	r := a.Client.Must(t, ctx, "GET", "sys/key-status", nil)
	if r.Body["term"] != 2.0 {
		t.Fatalf("key-status after rotate: %s", r.Raw)
	}
	register("after", "SECRET=term-two")
	check := func(when string) {
		t.Helper()
		for _, m := range c.Nodes {
			testutil.Eventually(t, 30*time.Second, m.ID+" reads both secrets "+when, func() bool {
				one, err1 := catalogEnv(m, "before")
				two, err2 := catalogEnv(m, "after")
				st, _ := m.S.Node.KeyStatus()
				return err1 == nil && err2 == nil && strings.Contains(one, "term-one") && strings.Contains(two, "term-two") && st.Term == 2
			})
		}
	}
	check("after the rotation")
	for _, m := range c.Nodes {
		c.Stop(m)
	}
	for _, m := range c.Nodes {
		c.start(m)
	}
	// An attacker's share (well formed, another cluster's) on a restarted node.
	root, _ := barrier.GenerateKey()
	foreign, _ := barrier.SplitKey(root, 5, 3)
	m0 := c.Nodes[0]
	m0.Client.Must(t, ctx, "PUT", "sys/unseal", map[string]any{"key": c.Keys[0]})
	m0.Client.Must(t, ctx, "PUT", "sys/unseal", map[string]any{"key": barrier.EncodeKey(foreign[1])})
	r, err := m0.Client.Do(ctx, "PUT", "sys/unseal", map[string]any{"key": c.Keys[2]})
	if err != nil || r.Status != http.StatusBadRequest {
		t.Fatalf("a foreign share among three: %d %v %s", r.Status, err, r.Raw)
	}
	r = m0.Client.Must(t, ctx, "GET", "sys/seal-status", nil)
	if r.Body["sealed"] != true || r.Body["progress"] != 0.0 {
		t.Fatalf("after a wrong combination: %s", r.Raw)
	}
	for _, m := range c.Nodes {
		c.Unseal(ctx, m)
	}
	c.WaitActive(nil, 60*time.Second)
	check("after every node restarted")
}

// TestShamirRekeyAndRetryJoin: a rekey on the active node reaches every node: each reports
// the new counts, a restarted standby refuses the old shares and unseals with the new ones;
// a node started later with retry_join learns the counts from its join target and joins with
// the new shares.
func TestShamirRekeyAndRetryJoin(t *testing.T) {
	c := New(t, 2, Options{Shares: 5, Threshold: 3})
	ctx := testutil.Context(t, 4*time.Minute)
	a := c.Active()
	noToken := &testutil.Client{Addr: a.Client.Addr}
	r := noToken.Must(t, ctx, "PUT", "sys/rekey/init", map[string]any{"secret_shares": 3, "secret_threshold": 2})
	nonce, _ := r.Body["nonce"].(string)
	if rr, err := noToken.Do(ctx, "PUT", "sys/rekey/update", map[string]any{"key": c.Keys[0], "nonce": "not-" + nonce}); err != nil || rr.Status != http.StatusBadRequest {
		t.Fatalf("rekey update with a wrong nonce: %d %v %s", rr.Status, err, rr.Raw)
	}
	var done testutil.Reply
	for _, k := range c.Keys[1:4] {
		done = noToken.Must(t, ctx, "PUT", "sys/rekey/update", map[string]any{"key": k, "nonce": nonce})
	}
	if done.Body["complete"] != true {
		t.Fatalf("rekey not complete after 3 shares: %s", done.Raw)
	}
	old := c.Keys
	c.Keys, c.Threshold = nil, 2
	for _, k := range done.Body["keys_base64"].([]any) {
		c.Keys = append(c.Keys, k.(string))
	}
	for _, m := range c.Nodes {
		testutil.Eventually(t, 30*time.Second, m.ID+" reports the new counts", func() bool {
			r, err := m.Client.Do(ctx, "GET", "sys/seal-status", nil)
			return err == nil && r.Body["t"] == 2.0 && r.Body["n"] == 3.0
		})
	}
	s := c.Nodes[1]
	if s == a {
		s = c.Nodes[0]
	}
	c.Stop(s)
	c.start(s)
	for _, k := range old[:2] {
		_, _ = s.Client.Do(ctx, "PUT", "sys/unseal", map[string]any{"key": k}) // the seal status is checked below
	}
	r = s.Client.Must(t, ctx, "GET", "sys/seal-status", nil)
	if r.Body["sealed"] != true || r.Body["progress"] != 0.0 {
		t.Fatalf("old shares after a rekey: %s", r.Raw)
	}
	c.Unseal(ctx, s)
	testutil.Eventually(t, 30*time.Second, s.ID+" unsealed with the new shares", func() bool { return !s.S.Node.Sealed() })

	j := c.AddRetryJoin(Options{})
	testutil.Eventually(t, 30*time.Second, "the joining node learns the counts", func() bool {
		r, err := j.Client.Do(ctx, "GET", "sys/seal-status", nil)
		return err == nil && r.Body["initialized"] == true && r.Body["t"] == 2.0
	})
	c.Unseal(ctx, j)
	testutil.Eventually(t, 60*time.Second, "the joined node is an unsealed standby", func() bool {
		return j.S != nil && !j.S.Node.Sealed() && !j.S.Node.IsActive() && j.S.Node.InitializedLocally()
	})
}
