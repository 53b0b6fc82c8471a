package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The default limit keeps every applied id remembered for longer than JetStream's duplicate
// window even when the intake runs flat out; a limit that would not is refused.
func TestLimitValidate(t *testing.T) {
	window := DuplicateWindow.Seconds()
	if need := DefaultRate*window + DefaultBurst; need > state.MaxApplied {
		t.Fatalf("default limit admits %.0f events per duplicate window, above state.MaxApplied %d", need, state.MaxApplied)
	}
	tests := []struct {
		name  string
		limit Limit
		want  string // "" means valid
	}{
		{"default", DefaultLimit, ""},
		{"at the bound", Limit{Rate: (state.MaxApplied - 1) / window, Burst: 1}, ""},
		{"zero rate", Limit{Rate: 0, Burst: 1}, "must be above 0 events/s"},
		{"negative rate", Limit{Rate: -5, Burst: 1}, "must be above 0 events/s"},
		{"zero burst", Limit{Rate: 1, Burst: 0}, "must be at least 1"},
		{"rate outruns the applied ids", Limit{Rate: state.MaxApplied/window + 1, Burst: 1}, "above the 100000 applied ids the state remembers"},
		{"burst outruns the applied ids", Limit{Rate: 1, Burst: state.MaxApplied}, "above the 100000 applied ids the state remembers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.limit.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tt.limit, err)
				}
				if _, err := NewLimiter(tt.limit); err != nil {
					t.Fatalf("NewLimiter(%+v) = %v", tt.limit, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate(%+v) = %v, want %q", tt.limit, err, tt.want)
			}
			if _, err := NewLimiter(tt.limit); err == nil {
				t.Fatalf("NewLimiter(%+v) accepted an invalid limit", tt.limit)
			}
		})
	}
}

// rejections counts the refusals on the rejected subject by reason.
type rejections struct {
	mu  sync.Mutex
	by  map[string]int
	ids map[string]bool
}

func watchRejections(t *testing.T, nc *nats.Conn) *rejections {
	t.Helper()
	r := &rejections{by: map[string]int{}, ids: map[string]bool{}}
	sub, err := nc.Subscribe(RejectedSubject(testCluster), func(m *nats.Msg) {
		var rej Rejection
		if err := json.Unmarshal(m.Data, &rej); err != nil {
			return
		}
		r.mu.Lock()
		r.by[rej.Reason]++
		r.ids[rej.ID] = true
		r.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return r
}

func (r *rejections) count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.by[reason]
}

func (r *rejections) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.by {
		n += c
	}
	return n
}

// flood publishes n reload events through JetStream as the operator, as fast as it can.
func flood(t *testing.T, nc *nats.Conn, prefix string, n int) {
	t.Helper()
	js := newJS(t, nc)
	for _, id := range ids(prefix, n) {
		data, err := Encode(reloadEvent(id))
		if err != nil {
			t.Fatal(err)
		}
		m := nats.NewMsg(EventSubject(testCluster, KindReload))
		m.Data = data
		m.Header.Set(TokenHeader, testToken)
		if _, err := js.PublishMsgAsync(m, jetstream.WithMsgID(id)); err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(waitTimeout):
		t.Fatalf("%d publishes not acknowledged within %s", js.PublishAsyncPending(), waitTimeout)
	}
}

// A flood of 2,000 events at a limit of 100/s: the handler sees at most what the bucket allows
// in the elapsed time, every other event is refused on the rejected subject with the reason, and
// each event is either handled or refused, never both, never lost.
func TestConsumerRateLimitFlood(t *testing.T) {
	const n, rate, burst = 2000, 100, 10
	f := newFixture(t)
	rej := watchRejections(t, f.nc)
	op := connectAs(t, f.emb.ClientURL(), testIDs.Operator)
	rec := newRecorder(nil)

	start := time.Now()
	lim, err := NewLimiter(Limit{Rate: rate, Burst: burst})
	if err != nil {
		t.Fatal(err)
	}
	c := startConsumer(t, f.js, rec, WithLimiter(lim))
	flood(t, op, "flood", n)
	settled(t, c)
	elapsed := time.Since(start)

	reason := fmt.Sprintf("rate limit exceeded: %d events/s", rate)
	testutil.Eventually(t, waitTimeout, "every refusal reported", func() bool { return rej.total() >= n-rec.total() })
	handled, refused := rec.total(), rej.count(reason)
	allowed := int(rate*elapsed.Seconds()) + burst
	t.Logf("handled %d, refused %d in %s (bucket allows %d)", handled, refused, elapsed, allowed)
	if handled > allowed {
		t.Errorf("handler saw %d events in %s; the bucket allows %d", handled, elapsed, allowed)
	}
	if handled+refused != n || rej.total() != refused {
		t.Errorf("handled %d + refused %d (all rejections %d) != %d events", handled, refused, rej.total(), n)
	}
	if refused == 0 {
		t.Errorf("nothing refused")
	}
	rej.mu.Lock()
	defer rej.mu.Unlock()
	for _, id := range ids("flood", n) {
		if rec.count(id) > 1 || (rec.count(id) == 1) == rej.ids[id] {
			t.Fatalf("event %s handled %d times, refused %v: want exactly one of the two", id, rec.count(id), rej.ids[id])
		}
	}
	if st := c.Stats(); st.Rejected != uint64(refused) || st.Acked != uint64(handled) {
		t.Errorf("stats %+v, want %d acked and %d rejected", st, handled, refused)
	}
}

// Under the limit nothing is refused.
func TestConsumerRateLimitUnder(t *testing.T) {
	const n = 500
	f := newFixture(t)
	rej := watchRejections(t, f.nc)
	op := connectAs(t, f.emb.ClientURL(), testIDs.Operator)
	rec := newRecorder(nil)
	lim, err := NewLimiter(DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}
	c := startConsumer(t, f.js, rec, WithLimiter(lim))
	flood(t, op, "under", n)
	settled(t, c)
	if got := rec.total(); got != n || rej.total() != 0 {
		t.Fatalf("handled %d of %d, %d refused", got, n, rej.total())
	}
}

// On the inject subject an event above the limit is answered unavailable (retry) with the
// reason, reported as refused, and never reaches the handler. The rate is so low that no token
// comes back during the test, so exactly the burst passes.
func TestInjectRateLimit(t *testing.T) {
	f := newFixture(t)
	rej := watchRejections(t, f.nc)
	rec := newRecorder(nil)
	lim, err := NewLimiter(Limit{Rate: 0.001, Burst: 2})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := ServeInject(f.nc, testCluster, rec, testLogger(), WithInjectLimiter(lim), WithInjectAuthorizer(testAuthz))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	op := connectAs(t, f.emb.ClientURL(), testIDs.Operator)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i := range 5 {
		_, err := InjectSync(ctx, op, testCluster, reloadEvent(fmt.Sprint("inj-", i)), WithToken(testToken))
		switch {
		case i < 2 && err != nil:
			t.Fatalf("event %d within the burst: %v", i, err)
		case i >= 2 && (!errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "rate limit exceeded: 0.001 events/s")):
			t.Fatalf("event %d above the limit: %v, want unavailable with the reason", i, err)
		}
	}
	if got := rec.total(); got != 2 {
		t.Errorf("handler called %d times, want 2", got)
	}
	testutil.Eventually(t, waitTimeout, "3 refusals reported", func() bool {
		return rej.count("rate limit exceeded: 0.001 events/s") == 3
	})
}

// A refused event replayed with its Nats-Msg-Id inside the duplicate window is dropped by
// JetStream: it neither reaches the handler nor is refused twice. A new id is refused again
// while the bucket is empty.
func TestConsumerRateLimitReplay(t *testing.T) {
	f := newFixture(t)
	rej := watchRejections(t, f.nc)
	op := connectAs(t, f.emb.ClientURL(), testIDs.Operator)
	rec := newRecorder(nil)
	lim, err := NewLimiter(Limit{Rate: 0.001, Burst: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := startConsumer(t, f.js, rec, WithLimiter(lim))
	inject(t, op, reloadEvent("first"))
	testutil.Eventually(t, waitTimeout, "the first event handled", func() bool { return rec.count("first") == 1 })
	inject(t, op, reloadEvent("second"))
	settled(t, c)
	const reason = "rate limit exceeded: 0.001 events/s"
	testutil.Eventually(t, waitTimeout, "the second event refused", func() bool { return rej.count(reason) == 1 })
	if rec.total() != 1 || rec.count("first") != 1 {
		t.Fatalf("handler saw %d events (first %d), want only the first", rec.total(), rec.count("first"))
	}

	data, err := Encode(reloadEvent("second"))
	if err != nil {
		t.Fatal(err)
	}
	if ack := publishRaw(t, newJS(t, op), EventSubject(testCluster, KindReload), data, "second"); !ack.Duplicate {
		t.Fatalf("replayed id stored again: %+v", ack)
	}
	inject(t, op, reloadEvent("third"))
	settled(t, c)
	testutil.Eventually(t, waitTimeout, "the third event refused", func() bool { return rej.count(reason) == 2 })
	if rec.total() != 1 {
		t.Errorf("handler saw %d events, want 1", rec.total())
	}
	rej.mu.Lock()
	defer rej.mu.Unlock()
	if !rej.ids["second"] || !rej.ids["third"] || len(rej.ids) != 2 {
		t.Errorf("refused ids %v, want second and third once each", rej.ids)
	}
}
