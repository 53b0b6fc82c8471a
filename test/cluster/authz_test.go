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
	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/test/testutil"
)

// policyTokens resolves fixed tokens to policies, as the token store will; the root token is
// left to the node's own check.
type policyTokens map[string][]string

func (p policyTokens) Resolve(_ context.Context, token string) (auth.Identity, error) {
	pols, ok := p[token]
	if !ok {
		return auth.Identity{}, fmt.Errorf("test tokens: %w", auth.ErrPermissionDenied)
	}
	return auth.Identity{Policies: pols, DisplayName: "token"}, nil
}

const (
	opsToken  = "s.ops-no-sudo-4b1d"
	sudoToken = "s.ops-sudo-77aa"
)

// TestNATSSealNeedsSudoToken is issue 11's and 12's "Done when" on a real node, real NATS and
// the real policy store: a seal event without a token, with a wrong token and with a token
// whose policy grants update but not sudo on sys/seal is refused, through the inject subject
// and through the stream, and the node stays unsealed (as over HTTP, which refuses the same
// token 403); a token whose policy adds sudo seals it.
func TestNATSSealNeedsSudoToken(t *testing.T) {
	c := New(t, 1, Options{Tokens: policyTokens{opsToken: {"ops", "default"}, sudoToken: {"ops-sudo", "default"}}})
	a := c.Active()
	ctx := testutil.Context(t, 90*time.Second)
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
