package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func serveInject(t *testing.T, f *fixture, h Handler) func() {
	t.Helper()
	stop, err := ServeInject(f.nc, testCluster, h, testLogger(), WithInjectAuthorizer(testAuthz))
	if err != nil {
		t.Fatalf("ServeInject: %v", err)
	}
	t.Cleanup(stop)
	if err := f.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return stop
}

func TestInjectSync(t *testing.T) {
	f := newFixture(t)
	rejected := subscribe(t, f.nc, RejectedSubject(testCluster))
	rec := newRecorder(func(ev Event, attempt int) error {
		switch ev.ID {
		case "refused":
			return fmt.Errorf("%w: mount db/ is disabled", ErrRejected)
		case "busy":
			return errNotLeader
		}
		return nil
	})
	serveInject(t, f, rec)
	client := connect(t, f.emb.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	for want := uint64(1); want <= 3; want++ {
		idx, err := InjectSync(ctx, client, testCluster, reloadEvent(fmt.Sprint("sync-", want)), WithToken(testToken))
		if err != nil || idx != want {
			t.Fatalf("InjectSync = %d, %v; want %d", idx, err, want)
		}
	}

	refused := Event{V: 1, ID: "refused", Kind: KindDisable, Target: Target{Type: TargetMount, ID: "db/"}}
	_, err := InjectSync(ctx, client, testCluster, refused, WithToken(testToken))
	if !errors.Is(err, ErrRejected) || err.Error() != "events: inject refused: event rejected: mount db/ is disabled" {
		t.Errorf("refused: %v", err)
	}
	var r Rejection
	if err := json.Unmarshal(receive(t, rejected).Data, &r); err != nil {
		t.Fatal(err)
	}
	if r.ID != "refused" || r.Subject != InjectSubject(testCluster) || !strings.Contains(r.Reason, "mount db/ is disabled") {
		t.Errorf("rejection = %+v", r)
	}

	if _, err := InjectSync(ctx, client, testCluster, reloadEvent("busy"), WithToken(testToken)); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not the leader") {
		t.Errorf("transient failure: %v, want ErrUnavailable", err)
	}

	// Validated before sending: the error is local and precise.
	_, err = InjectSync(ctx, client, testCluster, Event{V: 1, ID: "x", Kind: KindConnReset}, WithToken(testToken))
	checkInvalid(t, err, "target", "kind conn_reset needs a target of type connection")

	if n := rec.total(); n != 5 {
		t.Errorf("handler called %d times, want 5 (3 applied, 1 refused, 1 busy)", n)
	}
}

// A payload that does not validate is answered with the error, reported on the rejected subject,
// and never reaches the handler.
func TestInjectSyncInvalidOnTheWire(t *testing.T) {
	f := newFixture(t)
	rejected := subscribe(t, f.nc, RejectedSubject(testCluster))
	rec := newRecorder(nil)
	serveInject(t, f, rec)
	client := connect(t, f.emb.ClientURL())

	payload := `{"v":1,"id":"wire","kind":"seal","target":{"type":"connection","id":"pg"}}`
	m, err := client.Request(InjectSubject(testCluster), []byte(payload), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var reply InjectReply
	if err := json.Unmarshal(m.Data, &reply); err != nil {
		t.Fatal(err)
	}
	want := "invalid event: target.type: kind seal cannot target a connection (allowed: node or no target)"
	if reply.Error != want || reply.Code != ReplyInvalid || reply.Index != nil {
		t.Errorf("reply = %s, want error %q", m.Data, want)
	}
	var r Rejection
	if err := json.Unmarshal(receive(t, rejected).Data, &r); err != nil {
		t.Fatal(err)
	}
	if r.Reason != want || r.Kind != KindSeal || r.ID != "wire" {
		t.Errorf("rejection = %+v", r)
	}
	if rec.total() != 0 {
		t.Error("handler called for an invalid event")
	}
}

func TestInjectSyncReplyShape(t *testing.T) {
	f := newFixture(t)
	serveInject(t, f, HandlerFunc(func(ctx context.Context, ev Event) (uint64, error) { return 7, nil }))
	data, err := Encode(reloadEvent("shape"))
	if err != nil {
		t.Fatal(err)
	}
	req := nats.NewMsg(InjectSubject(testCluster))
	req.Data = data
	req.Header.Set(TokenHeader, testToken)
	m, err := f.nc.RequestMsg(req, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != `{"index":7}` {
		t.Errorf("reply = %s, want {\"index\":7}", m.Data)
	}
}

func TestInjectSyncNoServer(t *testing.T) {
	f := newFixture(t)
	stop := serveInject(t, f, newRecorder(nil))
	stop()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err := InjectSync(ctx, f.nc, testCluster, reloadEvent("nobody"), WithToken(testToken))
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("after stop: %v, want ErrUnavailable (no responders)", err)
	}
}

// stop waits for in-flight requests, which are answered.
func TestServeInjectStopWaits(t *testing.T) {
	f := newFixture(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	stop := serveInject(t, f, HandlerFunc(func(ctx context.Context, ev Event) (uint64, error) {
		close(entered)
		<-release
		return 9, nil
	}))
	client := connect(t, f.emb.ClientURL())
	type result struct {
		idx uint64
		err error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		idx, err := InjectSync(ctx, client, testCluster, reloadEvent("slow"), WithToken(testToken))
		res <- result{idx, err}
	}()
	<-entered
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("stop returned while a request was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-stopped
	if r := <-res; r.err != nil || r.idx != 9 {
		t.Errorf("in-flight request: %d, %v; want 9", r.idx, r.err)
	}
}

func TestInjectValidatesAndDedups(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	checkInvalid(t, Inject(ctx, f.nc, testCluster, Event{V: 1, ID: "x"}, WithToken(testToken)), "kind", "missing kind")
	if err := Inject(ctx, f.nc, "bad.cluster", reloadEvent("x"), WithToken(testToken)); err == nil {
		t.Error("bad cluster accepted")
	}
	ev := reloadEvent("twice")
	for range 2 {
		if err := Inject(ctx, f.nc, testCluster, ev, WithToken(testToken)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := f.js.Stream(ctx, StreamName(testCluster))
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream holds %d messages after injecting one event twice, want 1", info.State.Msgs)
	}
	// No stream for this cluster: the error says so instead of waiting.
	if err := Inject(ctx, f.nc, "other", ev, WithToken(testToken)); err == nil {
		t.Error("inject without a stream succeeded")
	}
}
