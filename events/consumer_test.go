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

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-hq/baton/test/testutil"
)

func TestConsumerHandlesAndAcks(t *testing.T) {
	f := newFixture(t)
	rec := newRecorder(nil)
	c := startConsumer(t, f.js, rec)

	want := ids("ack", 20)
	for _, id := range want {
		inject(t, f.nc, reloadEvent(id))
	}
	testutil.Eventually(t, waitTimeout, "every event handled", func() bool { return rec.total() >= len(want) })
	info := settled(t, c)
	for _, id := range want {
		if n := rec.count(id); n != 1 {
			t.Errorf("event %s handled %d times, want 1", id, n)
		}
	}
	if info.NumRedelivered != 0 || info.AckFloor.Stream != uint64(len(want)) {
		t.Errorf("consumer info: redelivered %d, ack floor %d; want 0, %d", info.NumRedelivered, info.AckFloor.Stream, len(want))
	}
	if s := c.Stats(); s.Acked != uint64(len(want)) || s.Nacked != 0 || s.Rejected != 0 {
		t.Errorf("stats = %+v", s)
	}
	got := rec.calls[0]
	if got.Kind != KindReload || got.Target.ID != "postgresql-database-plugin" || got.Source != "test" {
		t.Errorf("handled event = %+v", got)
	}
}

// The duplicate window and redelivery, side by side. JetStream drops a re-publish with the same
// Nats-Msg-Id (which Inject sets to the event id) within DuplicateWindow: the handler sees it
// once. A re-publish under another Nats-Msg-Id, or a redelivery after a Nak, reaches the handler
// again: deduplicating by event id is the replicated state's job.
func TestDuplicateDelivery(t *testing.T) {
	f := newFixture(t)
	rec := newRecorder(func(ev Event, attempt int) error {
		if ev.ID == "nak-once" && attempt == 0 {
			return errNotLeader
		}
		return nil
	})
	c := startConsumer(t, f.js, rec, WithNakDelay(20*time.Millisecond))

	exact := reloadEvent("exact-dup")
	data, err := Encode(exact)
	if err != nil {
		t.Fatal(err)
	}
	subject := EventSubject(testCluster, exact.Kind)
	if ack := publishRawToken(t, f.js, subject, data, exact.ID, testToken); ack.Duplicate {
		t.Fatal("first publish reported as duplicate")
	}
	if ack := publishRawToken(t, f.js, subject, data, exact.ID, testToken); !ack.Duplicate {
		t.Fatal("exact re-publish not detected as duplicate")
	}
	inject(t, f.nc, exact) // Inject sets the same Nats-Msg-Id: dropped too.

	other := reloadEvent("same-id-other-msg-id")
	data, err = Encode(other)
	if err != nil {
		t.Fatal(err)
	}
	publishRawToken(t, f.js, subject, data, "msg-a", testToken)
	publishRawToken(t, f.js, subject, data, "msg-b", testToken)

	inject(t, f.nc, reloadEvent("nak-once"))

	testutil.Eventually(t, waitTimeout, "the re-published and the nak'ed events handled twice", func() bool {
		return rec.count(other.ID) == 2 && rec.count("nak-once") == 2
	})
	settled(t, c)
	if n := rec.count(exact.ID); n != 1 {
		t.Errorf("exact duplicate handled %d times, want 1 (dropped by the duplicate window)", n)
	}
	if s := c.Stats(); s.Nacked != 1 || s.Acked != 4 {
		t.Errorf("stats = %+v, want 1 nacked, 4 acked", s)
	}
}

func TestInvalidEventsRejected(t *testing.T) {
	f := newFixture(t)
	rejected := subscribe(t, f.nc, RejectedSubject(testCluster))
	rec := newRecorder(nil)
	c := startConsumer(t, f.js, rec, WithConcurrency(1))

	valid, err := Encode(Event{V: 1, ID: "sealed", Kind: KindSeal})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "hunter2-rejected-7f3a"
	cases := []struct {
		subject string
		data    string
		id      string
		kind    Kind
		reason  string
	}{
		{EventSubject(testCluster, KindSeal), `{"v":1,"id":"bad-json",`, "", "", "invalid event: malformed JSON: unexpected end of payload"},
		{EventSubject(testCluster, "explode"), `{"v":1,"id":"unknown-kind","kind":"explode"}`, "unknown-kind", "", `invalid event: kind: unknown kind "explode" (known: step_down, seal, shutdown, disable, reload, conn_update, conn_delete, conn_reset, root_rotate, wal_rollback, crashed, request)`},
		{EventSubject(testCluster, KindShutdown), string(valid), "sealed", KindSeal, `invalid event: kind: kind seal published on the subject of kind "shutdown"`},
		{EventSubject(testCluster, KindSeal) + ".extra", string(valid), "sealed", KindSeal, `is not an injection subject baton.test-1.events.<kind>`},
		{EventSubject(testCluster, KindConnUpdate), `{"v":1,"id":"secret","kind":"conn_update","target":{"type":"connection","id":"db/pg"},"params":{"password":"` + secret + `"}}`, "secret", KindConnUpdate, "invalid event: params.password: secrets are not accepted in events: send them over the HTTP API"},
	}
	for i, tc := range cases {
		publishRaw(t, f.js, tc.subject, []byte(tc.data), fmt.Sprint("raw-", i))
		m := receive(t, rejected)
		var r Rejection
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatalf("rejection %s: %v", m.Data, err)
		}
		if !strings.Contains(r.Reason, tc.reason) || r.Subject != tc.subject || r.ID != tc.id || r.Kind != tc.kind {
			t.Errorf("rejection = %+v\nwant reason %q, subject %q, id %q, kind %q", r, tc.reason, tc.subject, tc.id, tc.kind)
		}
		if strings.Contains(string(m.Data), secret) || strings.Contains(string(m.Data), `"params"`) {
			t.Errorf("rejection carries the params: %s", m.Data)
		}
	}
	// Terminated, not left to the ack timer: nothing is unacked or redelivered.
	info := settled(t, c)
	if info.NumRedelivered != 0 || info.Delivered.Consumer != uint64(len(cases)) {
		t.Errorf("consumer info: redelivered %d, delivered %d; want 0, %d", info.NumRedelivered, info.Delivered.Consumer, len(cases))
	}
	if n := rec.total(); n != 0 {
		t.Errorf("handler called %d times for invalid events", n)
	}
	if s := c.Stats(); s.Rejected != uint64(len(cases)) || s.Erased != 1 {
		t.Errorf("stats = %+v, want %d rejected, 1 erased", s, len(cases))
	}
	// The event that held a secret is gone from the stream; the others are kept (limits
	// retention, an audit trail).
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	stream, err := f.js.Stream(ctx, StreamName(testCluster))
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= uint64(len(cases)); seq++ {
		m, err := stream.GetMsg(ctx, seq)
		switch {
		case seq == uint64(len(cases)) && !errors.Is(err, jetstream.ErrMsgNotFound):
			t.Errorf("message %d (the secret): %v, want erased", seq, err)
		case seq < uint64(len(cases)) && err != nil:
			t.Errorf("message %d: %v, want kept", seq, err)
		case err == nil && strings.Contains(string(m.Data), secret):
			t.Errorf("message %d still holds the secret", seq)
		}
	}
}

func TestTransientErrorRedelivered(t *testing.T) {
	f := newFixture(t)
	rec := newRecorder(func(ev Event, attempt int) error {
		if attempt < 2 {
			return fmt.Errorf("apply: %w", context.DeadlineExceeded)
		}
		return nil
	})
	c := startConsumer(t, f.js, rec, WithNakDelay(20*time.Millisecond))
	inject(t, f.nc, reloadEvent("flaky"))
	testutil.Eventually(t, waitTimeout, "third attempt", func() bool { return rec.count("flaky") >= 3 })
	info := settled(t, c)
	if n := rec.count("flaky"); n != 3 {
		t.Errorf("handled %d times, want 3", n)
	}
	if s := c.Stats(); s.Nacked != 2 || s.Acked != 1 {
		t.Errorf("stats = %+v, want 2 nacked then 1 acked", s)
	}
	if info.NumRedelivered != 0 || info.AckFloor.Stream != 1 {
		t.Errorf("consumer info: redelivered %d, ack floor %d", info.NumRedelivered, info.AckFloor.Stream)
	}
}

func TestHandlerRejection(t *testing.T) {
	f := newFixture(t)
	rejected := subscribe(t, f.nc, RejectedSubject(testCluster))
	rec := newRecorder(func(ev Event, attempt int) error {
		return fmt.Errorf("%w: connection pg: transition conn_delete not allowed in state deleted", ErrRejected)
	})
	c := startConsumer(t, f.js, rec)
	ev := Event{V: 1, ID: "refused", Kind: KindConnDelete, Target: Target{Type: TargetConnection, ID: "database/pg"}}
	inject(t, f.nc, ev)
	var r Rejection
	if err := json.Unmarshal(receive(t, rejected).Data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Reason != "event rejected: connection pg: transition conn_delete not allowed in state deleted" || r.ID != "refused" || r.Subject != EventSubject(testCluster, KindConnDelete) {
		t.Errorf("rejection = %+v", r)
	}
	info := settled(t, c)
	if n := rec.count("refused"); n != 1 || info.NumRedelivered != 0 {
		t.Errorf("handled %d times, redelivered %d; want once, never", n, info.NumRedelivered)
	}
}

// A new active node picks up what the old one did not ack: events in flight when it stopped
// (nak'ed by a "not leader" handler), events still in its client buffer (handed back by Stop)
// and events published while no consumer ran.
func TestNewLeaderPicksUp(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	var blocked sync.Once
	inHandler := make(chan struct{})
	old := newRecorder(func(ev Event, attempt int) error {
		if ev.ID == "first" {
			return nil
		}
		blocked.Do(func() { close(inHandler) })
		<-release
		return errNotLeader
	})
	// A long ack wait: the new leader must not depend on the ack timer.
	opts := []ConsumerOption{WithConcurrency(1), WithAckWait(time.Minute), WithNakDelay(50 * time.Millisecond)}
	c1 := startConsumer(t, f.js, old, opts...)
	inject(t, f.nc, reloadEvent("first"))
	testutil.Eventually(t, waitTimeout, "first event", func() bool { return old.count("first") == 1 })
	settled(t, c1)

	inflight := ids("inflight", 5)
	for _, id := range inflight {
		inject(t, f.nc, reloadEvent(id))
	}
	<-inHandler
	testutil.Eventually(t, waitTimeout, "all events delivered to the old leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		i, err := c1.Info(ctx)
		return err == nil && i.NumAckPending == len(inflight)
	})
	stopped := make(chan struct{})
	go func() {
		c1.Stop()
		close(stopped)
	}()
	// Fetching has stopped and the buffer was handed back; then the handler learns it is no
	// longer the leader.
	select {
	case <-c1.Done():
	case <-time.After(waitTimeout):
		t.Fatal("the old consumer did not stop fetching")
	}
	close(release)
	select {
	case <-stopped:
	case <-time.After(waitTimeout):
		t.Fatal("Stop did not return")
	}
	if s := c1.Stats(); s.Returned != uint64(len(inflight)-1) || s.Nacked != 1 {
		t.Errorf("old leader stats = %+v, want %d returned, 1 nacked", s, len(inflight)-1)
	}

	offline := ids("offline", 3)
	for _, id := range offline {
		inject(t, f.nc, reloadEvent(id))
	}
	rec := newRecorder(nil)
	c2 := startConsumer(t, f.js, rec, opts...)
	all := append(inflight, offline...)
	testutil.Eventually(t, waitTimeout, "new leader handles every unacked event", func() bool {
		for _, id := range all {
			if rec.count(id) != 1 {
				return false
			}
		}
		return true
	})
	settled(t, c2)
	if n := rec.count("first"); n != 0 {
		t.Errorf("acked event redelivered %d times to the new leader", n)
	}
}

// Events published while no consumer runs wait in the stream and are delivered once one starts.
func TestEventsWaitForAConsumer(t *testing.T) {
	f := newFixture(t)
	want := ids("early", 5)
	for _, id := range want {
		inject(t, f.nc, reloadEvent(id))
	}
	rec := newRecorder(nil)
	c := startConsumer(t, f.js, rec)
	testutil.Eventually(t, waitTimeout, "early events", func() bool { return rec.total() == len(want) })
	settled(t, c)
}

// A NATS outage: the server stops and starts again on the same port and store while clients
// stay connected (reconnecting for ever). Events injected after the restart are delivered, and
// nothing stored before is lost.
func TestNATSOutage(t *testing.T) {
	dir := t.TempDir()
	emb := startNATS(t, dir, 0)
	port, url := emb.Port(), emb.ClientURL()
	consumerConn := connect(t, url)
	injector := connect(t, url)
	js := newJS(t, consumerConn)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := EnsureStream(ctx, js, testCluster, 1); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(nil)
	c := startConsumer(t, js, rec)

	before := ids("before", 5)
	for _, id := range before {
		inject(t, injector, reloadEvent(id))
	}
	testutil.Eventually(t, waitTimeout, "events before the outage", func() bool { return rec.total() == len(before) })
	settled(t, c)

	// Stored while the consumer is stopped: acked by JetStream, not yet handled.
	c.Stop()
	stored := ids("stored", 3)
	for _, id := range stored {
		inject(t, injector, reloadEvent(id))
	}

	emb.Shutdown()
	testutil.Eventually(t, waitTimeout, "clients to notice the outage", func() bool {
		return !consumerConn.IsConnected() && !injector.IsConnected()
	})
	restarted := startNATS(t, dir, port)
	if restarted.ClientURL() != url {
		t.Fatalf("restarted on %s, want %s", restarted.ClientURL(), url)
	}
	testutil.Eventually(t, waitTimeout, "clients to reconnect", func() bool { return consumerConn.IsConnected() && injector.IsConnected() })
	c = startConsumer(t, js, rec)

	after := ids("after", 5)
	for _, id := range after {
		ev := reloadEvent(id)
		// JetStream may need a moment after the restart; a retry is safe (same Nats-Msg-Id).
		testutil.Eventually(t, waitTimeout, "inject after restart", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return Inject(ctx, injector, testCluster, ev, WithToken(testToken)) == nil
		})
	}
	all := append(append(before, stored...), after...)
	testutil.Eventually(t, waitTimeout, "every event handled", func() bool {
		for _, id := range all {
			if rec.count(id) == 0 {
				return false
			}
		}
		return true
	})
	settled(t, c)
	for _, id := range before {
		if n := rec.count(id); n != 1 {
			t.Errorf("event %s, acked before the outage, handled %d times", id, n)
		}
	}
}

// A consumer running through the outage resumes by itself after the restart.
func TestConsumerSurvivesOutage(t *testing.T) {
	dir := t.TempDir()
	emb := startNATS(t, dir, 0)
	port := emb.Port()
	nc := connect(t, emb.ClientURL())
	injector := connect(t, emb.ClientURL())
	js := newJS(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := EnsureStream(ctx, js, testCluster, 1); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(nil)
	c := startConsumer(t, js, rec)
	inject(t, injector, reloadEvent("pre"))
	testutil.Eventually(t, waitTimeout, "pre", func() bool { return rec.count("pre") == 1 })
	settled(t, c)

	emb.Shutdown()
	testutil.Eventually(t, waitTimeout, "disconnect", func() bool { return !nc.IsConnected() })
	startNATS(t, dir, port)
	testutil.Eventually(t, waitTimeout, "reconnect", func() bool { return nc.IsConnected() && injector.IsConnected() })
	testutil.Eventually(t, waitTimeout, "inject after restart", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return Inject(ctx, injector, testCluster, reloadEvent("post"), WithToken(testToken)) == nil
	})
	testutil.Eventually(t, waitTimeout, "post delivered to the same consumer", func() bool { return rec.count("post") == 1 })
	settled(t, c)
	if n := rec.count("pre"); n != 1 {
		t.Errorf("pre handled %d times", n)
	}
	// Stop while the restarted server is up (cleanups run in reverse: it would be down first,
	// and Stop would wait its bound for a drain that needs the server).
	c.Stop()
}

func TestStartConsumerErrors(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := StartConsumer(ctx, f.js, "no.dots", newRecorder(nil), nil); err == nil {
		t.Error("bad cluster name accepted")
	}
	if _, err := StartConsumer(ctx, f.js, testCluster, nil, nil); err == nil {
		t.Error("nil handler accepted")
	}
	if _, err := StartConsumer(ctx, f.js, "no-stream", newRecorder(nil), nil); err == nil || !strings.Contains(err.Error(), "BATON_NO-STREAM_EVENTS") {
		t.Errorf("missing stream: %v", err)
	}
	if _, err := StartConsumer(ctx, f.js, testCluster, newRecorder(nil), nil, WithConcurrency(0)); err == nil {
		t.Error("zero concurrency accepted")
	}
}

func TestEnsureStreamIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := EnsureStream(ctx, f.js, testCluster, 1)
	if err != nil {
		t.Fatalf("second EnsureStream: %v", err)
	}
	cfg := s.CachedInfo().Config
	if cfg.Name != "BATON_TEST-1_EVENTS" || cfg.Subjects[0] != "baton.test-1.events.>" || cfg.Storage != jetstream.FileStorage ||
		cfg.Retention != jetstream.LimitsPolicy || cfg.Duplicates != DuplicateWindow || cfg.MaxAge != StreamMaxAge {
		t.Errorf("stream config = %+v", cfg)
	}
	// The server refuses an oversize event at publish time.
	big := make([]byte, MaxEventSize+2048)
	if _, err := f.js.Publish(ctx, EventSubject(testCluster, KindSeal), big); err == nil {
		t.Error("oversize publish accepted")
	}
}

// Stop is bounded even when the server is gone and the client buffer cannot be drained.
func TestStopDuringOutage(t *testing.T) {
	emb := startNATS(t, t.TempDir(), 0)
	nc := connect(t, emb.ClientURL())
	js := newJS(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := EnsureStream(ctx, js, testCluster, 1); err != nil {
		t.Fatal(err)
	}
	c := startConsumer(t, js, newRecorder(nil), WithStopTimeout(100*time.Millisecond))
	emb.Shutdown()
	testutil.Eventually(t, waitTimeout, "disconnect", func() bool { return !nc.IsConnected() })
	stopped := make(chan struct{})
	go func() {
		c.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(waitTimeout):
		t.Fatal("Stop did not return during an outage")
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
}
