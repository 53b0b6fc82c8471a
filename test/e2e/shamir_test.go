package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

// TestShamirRotateAcrossRestarts, with real node processes: a 3-node cluster initialised with
// 5 shares, threshold 3, forms with each joining node unsealed by 3 shares; `node operator
// rotate` (the CLI, root token) moves the keyring to term 2 and is refused without a token;
// the root token's accessor (sealed under term 1 at init) and a token's accessor made after
// the rotation (term 2) are read back after every node was stopped and restarted with 3
// shares; `node operator unseal` prints the progress.
func TestShamirRotateAcrossRestarts(t *testing.T) {
	c := harness.Start(t, harness.Options{Nodes: 3, Shares: 5, Threshold: 3, PerformanceMultiplier: testMultiplier})
	ctx := testutil.Context(t, 4*callTimeout)
	active := c.WaitActive(t, nil, failoverTimeout)
	for _, n := range c.Nodes {
		r := n.Client.Must(t, ctx, "GET", "sys/seal-status", nil)
		if r.Body["t"] != 3.0 || r.Body["n"] != 5.0 || r.Body["type"] != "shamir" {
			t.Fatalf("%s seal-status: %s", n.ID, r.Raw)
		}
	}
	cli := func(token string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, c.NodeBin.Path, args...)
		cmd.Env = []string{"BATON_ADDR=" + active.APIAddr, "BATON_TOKEN=" + token, "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := cli("", "operator", "rotate"); err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("rotate without a token: %v %s", err, out)
	}
	out, err := cli(c.Token, "operator", "rotate")
	if err != nil || !strings.Contains(out, "Key Term") || !strings.Contains(out, "2") {
		t.Fatalf("operator rotate: %v %s", err, out)
	}
	rootAcc := active.Client.Must(t, ctx, "GET", "auth/token/lookup-self", nil).Body["data"].(map[string]any)["accessor"]
	r := active.Client.Must(t, ctx, "POST", "auth/token/create", map[string]any{"policies": []string{"default"}})
	auth := r.Body["auth"].(map[string]any)
	tok, acc := auth["client_token"].(string), auth["accessor"]
	if rootAcc == nil || rootAcc == "" || acc == nil || acc == "" || tok == "" {
		t.Fatalf("no accessors to compare: root %v, token %v", rootAcc, acc)
	}

	for _, n := range c.Nodes {
		c.Stop(n)
	}
	for _, n := range c.Nodes {
		c.Launch(t, n)
	}
	for i, n := range c.Nodes {
		for j := range 3 {
			key := c.Keys[(i+j)%len(c.Keys)]
			cmd := exec.CommandContext(ctx, c.NodeBin.Path, "operator", "unseal", key)
			cmd.Env = []string{"BATON_ADDR=" + n.APIAddr, "PATH=/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("operator unseal on %s: %v %s", n.ID, err, out)
			}
			if j == 0 && !strings.Contains(string(out), "1/3") {
				t.Fatalf("operator unseal progress on %s: %s", n.ID, out)
			}
		}
	}
	active = c.WaitActive(t, nil, failoverTimeout)
	for _, n := range c.Nodes {
		d := n.Client.Must(t, ctx, "GET", "auth/token/lookup-self", nil).Body["data"].(map[string]any)
		if d["accessor"] != rootAcc {
			t.Fatalf("%s: root accessor (term 1) after restart = %v, want %v", n.ID, d["accessor"], rootAcc)
		}
		other := &testutil.Client{Addr: n.APIAddr, Token: tok}
		d = other.Must(t, ctx, "GET", "auth/token/lookup-self", nil).Body["data"].(map[string]any)
		if d["accessor"] != acc {
			t.Fatalf("%s: accessor of a token made after the rotation (term 2) = %v, want %v", n.ID, d["accessor"], acc)
		}
	}
	if r := active.Client.Must(t, ctx, "GET", "sys/key-status", nil); r.Body["term"] != 2.0 {
		t.Fatalf("key-status after restarts: %s", r.Raw)
	}
}
