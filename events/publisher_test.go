package events

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/testutil"
)

func newPublisher(t *testing.T, f *fixture, buffer int) *Publisher {
	t.Helper()
	p, err := NewPublisher(f.nc, testCluster, buffer, testLogger())
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestPublishTransition(t *testing.T) {
	f := newFixture(t)
	all := subscribe(t, f.nc, TransitionsWildcard(testCluster))
	// A subscriber can follow one connection through its escaped subject.
	one := subscribe(t, f.nc, TransitionSubject(testCluster, TransitionConnection, "database/config/pg.main"))
	p := newPublisher(t, f, 0)

	at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	transitions := []struct {
		tr      Transition
		subject string
	}{
		{Transition{Kind: TransitionConnection, ID: "database/config/pg.main", Event: "conn_reset", From: "configured", To: "configured", EventID: "ev-1", Source: "nats", Index: 12, Time: at},
			"baton.test-1.transitions.connection.database/config/pg%2Emain"},
		{Transition{Kind: TransitionPlugin, ID: "database/", Event: "crashed", From: "running", To: "idle", Source: "internal", Index: 13, Time: at, Reason: "process exited"},
			"baton.test-1.transitions.plugin.database/"},
		{Transition{Kind: TransitionNode, ID: "node 2", Event: "step_down", From: "active", To: "standby", Source: "api", Index: 14, Time: at},
			"baton.test-1.transitions.node.node%202"},
	}
	for _, tt := range transitions {
		p.PublishTransition(tt.tr)
	}
	for _, tt := range transitions {
		m := receive(t, all)
		if m.Subject != tt.subject {
			t.Errorf("subject = %q, want %q", m.Subject, tt.subject)
		}
		var got Transition
		if err := json.Unmarshal(m.Data, &got); err != nil {
			t.Fatal(err)
		}
		if got != tt.tr {
			t.Errorf("transition = %+v, want %+v", got, tt.tr)
		}
	}
	if m := receive(t, one); m.Subject != transitions[0].subject {
		t.Errorf("filtered subscriber got %q", m.Subject)
	}
	testutil.Eventually(t, waitTimeout, "published count", func() bool { return p.Published() == 3 })
	if p.Dropped() != 0 {
		t.Errorf("dropped %d", p.Dropped())
	}

	// The wire shape, for subscribers in other languages.
	b, _ := json.Marshal(transitions[1].tr)
	want := `{"kind":"plugin","id":"database/","event":"crashed","from":"running","to":"idle","source":"internal","index":13,"time":"2026-11-03T10:00:00Z","reason":"process exited"}`
	if string(b) != want {
		t.Errorf("JSON = %s\nwant   %s", b, want)
	}
}

// Close publishes what was queued; afterwards, and on a closed connection, transitions are
// dropped and counted, and the caller never blocks.
func TestPublisherDrops(t *testing.T) {
	f := newFixture(t)
	sub := subscribe(t, f.nc, TransitionsWildcard(testCluster))
	p := newPublisher(t, f, 4)
	tr := Transition{Kind: TransitionPlugin, ID: "db/", Event: "reload", From: "running", To: "stopping", Index: 1}
	p.PublishTransition(tr)
	p.Close()
	receive(t, sub)
	if p.Published() != 1 {
		t.Errorf("published %d before close, want 1", p.Published())
	}
	for range 10 {
		p.PublishTransition(tr)
	}
	if p.Dropped() != 10 {
		t.Errorf("dropped %d after close, want 10", p.Dropped())
	}

	nc := connect(t, f.emb.ClientURL())
	q, err := NewPublisher(nc, testCluster, 1, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	nc.Close()
	for range 100 {
		q.PublishTransition(tr) // never blocks, whatever the queue and the connection do
	}
	testutil.Eventually(t, waitTimeout, "every transition dropped", func() bool { return q.Dropped() == 100 })
}
