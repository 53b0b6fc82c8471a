package cluster

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

// tokenCount is how many token entries a node's replicated state holds.
func tokenCount(m *Member) int {
	var n int
	m.S.Node.State().View(func(d *state.Data) { n = len(d.Tokens) })
	return n
}

// TestTokensAcrossFailover, on 3 real nodes (Raft over TCP):
//   - an expired token is refused on every node after a failover, and the new active node's
//     expiry sweep removes it from every node's state;
//   - the Raft log and snapshots on disk (boltdb, snapshot files) never hold a token or an
//     accessor in clear;
//   - the root token, revoked, is refused everywhere, and so is its child; sys/generate-root with the unseal key
//     makes a new one that works, and a replayed update, a wrong key or a wrong nonce make
//     nothing.
func TestTokensAcrossFailover(t *testing.T) {
	c := New(t, 3, Options{})
	ctx := testutil.Context(t, 180*time.Second)
	old := c.Active()

	// A short-lived child of the root token, and a long-lived one.
	const ttl = 6 * time.Second
	made := time.Now()
	r := old.Client.Must(t, ctx, "POST", "auth/token/create", map[string]any{"ttl": "6s", "policies": []string{"app"}})
	authBlock, _ := r.Body["auth"].(map[string]any)
	short, shortAcc := fmt.Sprint(authBlock["client_token"]), fmt.Sprint(authBlock["accessor"])
	r = old.Client.Must(t, ctx, "POST", "auth/token/create", map[string]any{"policies": []string{"root"}})
	authBlock, _ = r.Body["auth"].(map[string]any)
	long := fmt.Sprint(authBlock["client_token"])
	shortClient := &testutil.Client{Addr: old.Client.Addr, Token: short}
	if r, err := shortClient.Do(ctx, "GET", "auth/token/lookup-self", nil); err == nil && time.Since(made) < ttl-time.Second {
		// Only asserted while the token surely still lives: the machine may be slow.
		if r.Status != 200 || r.Data()["accessor"] != shortAcc {
			t.Fatalf("lookup-self with a live token: %d %s", r.Status, r.Raw)
		}
	}
	withTokens := tokenCount(old)
	for _, m := range c.Nodes {
		testutil.Eventually(t, 20*time.Second, m.ID+" has the tokens", func() bool { return tokenCount(m) == withTokens })
	}

	// Fail over by stepping the active node down.
	old.Client.Must(t, ctx, "PUT", "sys/step-down", nil)
	nl := c.WaitActive(old, 30*time.Second)
	for _, m := range c.Nodes {
		cl := &testutil.Client{Addr: m.Client.Addr, Token: short}
		testutil.Eventually(t, 30*time.Second, "the expired token refused through "+m.ID, func() bool {
			r, err := cl.Do(ctx, "GET", "auth/token/lookup-self", nil)
			return err == nil && r.Status == http.StatusForbidden && r.Errors() == "permission denied"
		})
		// The new active node's sweep revoked it: gone from every node's state.
		testutil.Eventually(t, 30*time.Second, m.ID+" dropped the expired token", func() bool { return tokenCount(m) == withTokens-1 })
	}
	// The long-lived token still works through every node.
	for _, m := range c.Nodes {
		cl := &testutil.Client{Addr: m.Client.Addr, Token: long}
		cl.Must(t, ctx, "GET", "auth/token/lookup-self", nil)
	}

	// Revoke the root token: refused on every node afterwards.
	nl.Client.Must(t, ctx, "POST", "auth/token/revoke-self", nil, http.StatusNoContent)
	for _, m := range c.Nodes {
		testutil.Eventually(t, 20*time.Second, "the revoked root token refused through "+m.ID, func() bool {
			r, err := m.Client.Do(ctx, "GET", "sys/policies/acl", nil)
			return err == nil && r.Status == http.StatusForbidden
		})
	}

	// The long-lived token was the root token's child: it died with it.
	longClient := &testutil.Client{Addr: nl.Client.Addr, Token: long}
	if r, err := longClient.Do(ctx, "GET", "auth/token/lookup-self", nil); err != nil || r.Status != http.StatusForbidden {
		t.Fatalf("the root token's child after the root was revoked: %v %d %s", err, r.Status, r.Raw)
	}

	// generate-root through a standby (forwarded to the active node), without a token.
	var standby *Member
	for _, m := range c.Nodes {
		if m != nl {
			standby = m
			break
		}
	}
	anon := &testutil.Client{Addr: standby.Client.Addr}
	before := tokenCount(nl)
	if r, err := anon.Do(ctx, "PUT", "sys/generate-root/update", map[string]any{"key": c.Key, "nonce": "x"}); err != nil || r.Status != 400 {
		t.Fatalf("update with no attempt: %v %d %s", err, r.Status, r.Raw)
	}
	st := anon.Must(t, ctx, "PUT", "sys/generate-root/attempt", map[string]any{})
	otp, nonce := fmt.Sprint(st.Body["otp"]), fmt.Sprint(st.Body["nonce"])
	if len(otp) != auth.OTPLength || st.Body["started"] != true {
		t.Fatalf("attempt: %s", st.Raw)
	}
	wrongKey := strings.Repeat("AAAA", 10) + "AAA="
	for name, body := range map[string]map[string]any{
		"wrong key":   {"key": wrongKey, "nonce": nonce},
		"wrong nonce": {"key": c.Key, "nonce": "not-it"},
	} {
		if r, err := anon.Do(ctx, "PUT", "sys/generate-root/update", body); err != nil || r.Status != 400 {
			t.Fatalf("%s: %v %d %s", name, err, r.Status, r.Raw)
		}
	}
	if tokenCount(nl) != before {
		t.Fatal("a refused generate-root update made a token")
	}
	done := anon.Must(t, ctx, "PUT", "sys/generate-root/update", map[string]any{"key": c.Key, "nonce": nonce})
	if done.Body["complete"] != true {
		t.Fatalf("update: %s", done.Raw)
	}
	newRoot, err := auth.DecodeRootToken(fmt.Sprint(done.Body["encoded_token"]), otp)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := anon.Do(ctx, "PUT", "sys/generate-root/update", map[string]any{"key": c.Key, "nonce": nonce}); err != nil || r.Status != 400 {
		t.Fatalf("replayed update: %v %d %s", err, r.Status, r.Raw)
	}
	if got := tokenCount(nl); got != before+1 {
		t.Fatalf("%d tokens after generate-root and a replay, want %d", got, before+1)
	}
	for _, m := range c.Nodes {
		cl := &testutil.Client{Addr: m.Client.Addr, Token: newRoot}
		testutil.Eventually(t, 20*time.Second, "the new root token works through "+m.ID, func() bool {
			r, err := cl.Do(ctx, "GET", "sys/policies/acl?list=true", nil)
			return err == nil && r.Status == 200
		})
	}

	// Nothing on disk holds a token or an accessor in clear.
	acc := &testutil.Client{Addr: nl.Client.Addr, Token: newRoot}
	keys, _ := acc.Must(t, ctx, "LIST", "auth/token/accessors", nil).Data()["keys"].([]any)
	secrets := []string{c.Token, short, long, newRoot, shortAcc}
	for _, k := range keys {
		secrets = append(secrets, fmt.Sprint(k))
	}
	if len(keys) != 1 {
		t.Fatalf("accessors listed: %v, want only the new root's (the old root took its child with it)", keys)
	}
	// A snapshot on one node puts the state itself on disk too.
	if err := nl.S.Node.Store().Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	files := 0
	err = filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, string(filepath.Separator)+"plugins"+string(filepath.Separator)) {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // a file removed while walking (a compacted segment)
		}
		files++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) || bytes.Contains(b, []byte(strings.TrimPrefix(s, "s."))) {
				t.Errorf("%s holds a token or accessor in clear", p)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("walking the data dirs: %v (%d files)", err, files)
	}
}
