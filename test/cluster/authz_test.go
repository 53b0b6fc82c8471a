package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/test/testutil"
)

// newToken makes a token with these policies through auth/token/create (the real token
// store, as the root caller) and returns it.
func newToken(t *testing.T, ctx context.Context, c *testutil.Client, policies ...string) string {
	t.Helper()
	r := c.Must(t, ctx, "POST", "auth/token/create", map[string]any{"policies": policies})
	a, _ := r.Body["auth"].(map[string]any)
	tok, _ := a["client_token"].(string)
	if tok == "" {
		t.Fatalf("auth/token/create: %s", r.Raw)
	}
	return tok
}

// TestNATSSealNeedsSudoToken is issue 11's and 12's "Done when" on a real node, real NATS and
// the real policy store: a seal event without a token, with a wrong token and with a token
// whose policy grants update but not sudo on sys/seal is refused, through the inject subject
// and through the stream, and the node stays unsealed (as over HTTP, which refuses the same
// token 403); a token whose policy adds sudo seals it.
func TestNATSSealNeedsSudoToken(t *testing.T) {
	c := New(t, 1, Options{})
	a := c.Active()
	ctx := testutil.Context(t, 90*time.Second)
	opsToken := newToken(t, ctx, a.Client, "ops")
	sudoToken := newToken(t, ctx, a.Client, "ops-sudo")
	a.Client.Must(t, ctx, "PUT", "sys/policies/acl/ops", map[string]any{"policy": `path "sys/seal" { capabilities = ["update"] }
path "sys/step-down" { capabilities = ["update"] }`})
	a.Client.Must(t, ctx, "PUT", "sys/policies/acl/ops-sudo", map[string]any{"policy": `path "sys/seal" { capabilities = ["update", "sudo"] }`})

	op := natsConn(t, c)
	rejected := make(chan *nats.Msg, 16)
	sub, err := op.ChanSubscribe(events.RejectedSubject(c.Name), rejected)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := op.Flush(); err != nil {
		t.Fatal(err)
	}
	seal := func(id string) events.Event {
		return events.Event{V: events.Version, ID: id, Kind: events.KindSeal, Source: "attacker"}
	}
	bad := []struct{ name, token string }{{"no token", ""}, {"wrong token", "s.guessed"}, {"update without sudo", opsToken}}

	// Synchronous: each refused in the reply (retried while the new active node does not serve
	// the inject subject yet).
	for i, b := range bad {
		var err error
		testutil.Eventually(t, 30*time.Second, "the inject subject answers", func() bool {
			_, err = events.InjectSync(ctx, op, c.Name, seal(fmt.Sprint("sync-", i)), events.WithToken(b.token))
			return !errors.Is(err, events.ErrUnavailable)
		})
		if !errors.Is(err, events.ErrPermissionDenied) {
			t.Fatalf("%s: inject answered %v, want permission denied", b.name, err)
		}
	}
	// Through the stream: each refused on the rejected subject.
	for i, b := range bad {
		if err := events.Inject(ctx, op, c.Name, seal(fmt.Sprint("async-", i)), events.WithToken(b.token)); err != nil {
			t.Fatalf("%s: publish: %v", b.name, err)
		}
	}
	refusedAsync := map[string]bool{}
	deadline := time.After(30 * time.Second)
	for len(refusedAsync) < len(bad) {
		select {
		case m := <-rejected:
			var r events.Rejection
			if err := json.Unmarshal(m.Data, &r); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(m.Data), opsToken) || !strings.HasPrefix(r.Reason, "permission denied: ") {
				t.Fatalf("rejection %s", m.Data)
			}
			if strings.HasPrefix(r.ID, "async-") {
				refusedAsync[r.ID] = true
			}
		case <-deadline:
			t.Fatalf("refusals seen on the rejected subject: %v, want %d", refusedAsync, len(bad))
		}
	}
	// Over HTTP the no-sudo token is refused the same action.
	hc := &testutil.Client{Addr: a.Client.Addr, Token: opsToken}
	if r, err := hc.Do(ctx, "PUT", "sys/seal", nil); err != nil || r.Status != http.StatusForbidden {
		t.Fatalf("HTTP seal with the no-sudo token: %v %d %s", err, r.Status, r.Raw)
	}
	if a.S.Node.Sealed() {
		t.Fatal("the node sealed on a refused event")
	}
	for _, id := range []string{"sync-0", "sync-1", "sync-2", "async-0", "async-1", "async-2"} {
		if applied(a, id) {
			t.Fatalf("refused event %s was committed", id)
		}
	}

	// The sudo token seals.
	if _, err := events.InjectSync(ctx, op, c.Name, seal("sync-sudo"), events.WithToken(sudoToken)); err != nil {
		t.Fatalf("seal with the sudo token: %v", err)
	}
	testutil.Eventually(t, 30*time.Second, "the node sealed", func() bool { return a.S.Node.Sealed() })
}

// TestPolicyTokenOverHTTP: on a two-node cluster with the real policy store, a token whose only
// policy is read on database/creds/ro gets a credential through either node and is refused
// (403, nothing changed) the connection config, registering a plugin, sealing, stepping down,
// mounting, rewriting its own policy and the NATS credentials, through either node (a standby
// forwards; the active node decides).
func TestPolicyTokenOverHTTP(t *testing.T) {
	c := New(t, 2, Options{})
	a := c.Active()
	setupDB(t, c, a)
	ctx := testutil.Context(t, 90*time.Second)
	policy := `path "database/creds/ro" { capabilities = ["read"] }`
	a.Client.Must(t, ctx, "PUT", "sys/policies/acl/app", map[string]any{"policy": policy})
	appToken := newToken(t, ctx, a.Client, "app")
	leader := a.ID

	for _, m := range c.Nodes {
		app := &testutil.Client{Addr: m.Client.Addr, Token: appToken}
		r := app.Must(t, ctx, "GET", "database/creds/ro", nil)
		if r.Data()["username"] == nil || r.Body["lease_id"] == "" {
			t.Fatalf("creds through %s: %s", m.ID, r.Raw)
		}
		refused := []struct {
			method, path string
			body         any
		}{
			{"GET", "database/config/db1", nil},
			{"POST", "database/config/db1", map[string]any{"plugin_name": "baton-test-plugin", "allowed_roles": "ro,admin"}},
			{"PUT", "sys/plugins/catalog/database/evil", map[string]any{"sha256": c.Plugin.SHA256, "command": "baton-test-plugin"}},
			{"PUT", "sys/seal", nil},
			{"PUT", "sys/step-down", nil},
			{"POST", "sys/mounts/other", map[string]any{"type": "database"}},
			{"PUT", "sys/policies/acl/app", map[string]any{"policy": `path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }`}},
			{"GET", "sys/nats/credentials", nil},
			{"GET", "database/creds/other", nil},
			{"POST", "auth/token/create", map[string]any{"policies": []string{"app", "ops"}}},
			{"POST", "auth/token/create-orphan", map[string]any{"policies": []string{"app"}}},
		}
		for _, q := range refused {
			r, err := app.Do(ctx, q.method, q.path, q.body)
			if err != nil || r.Status != http.StatusForbidden || r.Errors() != "permission denied" {
				t.Errorf("%s %s through %s: %v %d %s, want 403 permission denied", q.method, q.path, m.ID, err, r.Status, r.Raw)
			}
		}
		anon := &testutil.Client{Addr: m.Client.Addr}
		if r, err := anon.Do(ctx, "GET", "database/creds/ro", nil); err != nil || r.Status != http.StatusForbidden {
			t.Errorf("creds without a token through %s: %v %d", m.ID, err, r.Status)
		}
	}
	// Nothing changed.
	if a.S.Node.Sealed() || c.Active().ID != leader {
		t.Fatal("the cluster sealed or changed leader on refused requests")
	}
	if r, err := a.Client.Do(ctx, "GET", "sys/plugins/catalog/database/evil", nil); err != nil || r.Status != http.StatusNotFound {
		t.Errorf("the refused plugin is in the catalog: %v %d %s", err, r.Status, r.Raw)
	}
	if r := a.Client.Must(t, ctx, "GET", "sys/policies/acl/app", nil); r.Data()["policy"] != policy {
		t.Errorf("the policy changed: %s", r.Raw)
	}
	if r := a.Client.Must(t, ctx, "GET", "database/config/db1", nil); fmt.Sprint(r.Data()["allowed_roles"]) != "[ro]" {
		t.Errorf("the connection changed: %s", r.Raw)
	}
}
