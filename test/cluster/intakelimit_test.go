package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/test/testutil"
)

// TestIntakeLimit: a node configured with an intake limit takes its burst and refuses the rest,
// on the stream (reported on the rejected subject with the reason, never applied) and on the
// inject subject (answered unavailable). The rate is so low that no token comes back during the
// test, so exactly the burst is applied whatever the machine's speed.
func TestIntakeLimit(t *testing.T) {
	c := New(t, 1, Options{EventLimit: events.Limit{Rate: 0.001, Burst: 2}})
	a := c.Active()
	setupDB(t, c, a)
	ctx := testutil.Context(t, 60*time.Second)
	op := natsConn(t, c)

	const reason = "rate limit exceeded: 0.001 events/s"
	var (
		mu      sync.Mutex
		refused = map[string]bool{}
	)
	sub, err := op.Subscribe(events.RejectedSubject(c.Name), func(m *nats.Msg) {
		var r events.Rejection
		if json.Unmarshal(m.Data, &r) == nil && r.Reason == reason {
			mu.Lock()
			refused[r.ID] = true
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := op.Flush(); err != nil {
		t.Fatal(err)
	}

	var sent []string
	for i := range 5 {
		id := fmt.Sprint("limited-", i)
		sent = append(sent, id)
		if err := events.Inject(ctx, op, c.Name, reloadEvent(id), events.WithToken(c.Token)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 20*time.Second, "3 of 5 events refused for the rate", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(refused) == 3
	})
	testutil.Eventually(t, 20*time.Second, "the 2 others applied", func() bool {
		n := 0
		for _, id := range sent {
			if applied(a, id) {
				n++
			}
		}
		return n == 2
	})
	mu.Lock()
	for id := range refused {
		if applied(a, id) {
			t.Errorf("refused event %s was applied", id)
		}
	}
	mu.Unlock()

	// The bucket is empty: the synchronous path answers "retry" with the reason.
	_, err = events.InjectSync(ctx, op, c.Name, reloadEvent("limited-sync"), events.WithToken(c.Token))
	if !errors.Is(err, events.ErrUnavailable) || !strings.Contains(err.Error(), reason) {
		t.Fatalf("InjectSync above the limit = %v, want unavailable with %q", err, reason)
	}
	if applied(a, "limited-sync") {
		t.Error("the refused synchronous event was applied")
	}
}
