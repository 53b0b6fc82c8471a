package events

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-hq/baton/test/testutil"
)

// TestIntakeHeals: the stream deleted, the stream altered and the consumer deleted are each put
// back by the watch, and events injected afterwards are handled.
func TestIntakeHeals(t *testing.T) {
	emb := startNATS(t, t.TempDir(), 0)
	nc := connect(t, emb.ClientURL())
	js := newJS(t, nc)
	h := newRecorder(nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	in, err := StartIntake(ctx, js, h, IntakeConfig{Cluster: testCluster, CheckEvery: 200 * time.Millisecond, Logger: testLogger(), Consumer: []ConsumerOption{WithAuthorizer(testAuthz)}})
	if err != nil {
		t.Fatalf("StartIntake: %v", err)
	}
	t.Cleanup(in.Stop)
	op := connectAs(t, emb.ClientURL(), testIDs.Operator)
	inject(t, op, reloadEvent("before"))
	testutil.Eventually(t, waitTimeout, "first event handled", func() bool { return h.count("before") == 1 })

	stream := StreamName(testCluster)
	damage := []struct {
		name string
		do   func(ctx context.Context) error
	}{
		{"stream deleted", func(ctx context.Context) error { return js.DeleteStream(ctx, stream) }},
		{"stream altered", func(ctx context.Context) error {
			_, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{"baton." + testCluster + ".events.none"},
				Storage: jetstream.FileStorage, MaxAge: time.Minute, Duplicates: time.Second, MaxMsgs: 1})
			return err
		}},
		{"consumer deleted", func(ctx context.Context) error { return js.DeleteConsumer(ctx, stream, ConsumerName(testCluster)) }},
	}
	for i, d := range damage {
		heals := in.Heals()
		if err := d.do(ctx); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		testutil.Eventually(t, waitTimeout, d.name+": healed", func() bool {
			s, err := js.Stream(ctx, stream)
			if err != nil || !streamIntact(s.CachedInfo().Config, testCluster) || in.Heals() <= heals {
				return false
			}
			_, err = js.Consumer(ctx, stream, ConsumerName(testCluster))
			return err == nil
		})
		id := "after-" + string(rune('a'+i))
		// The injection may race the consumer's restart; it is stored either way and handled
		// once the consumer runs.
		inject(t, op, reloadEvent(id))
		testutil.Eventually(t, waitTimeout, d.name+": event handled after the heal", func() bool { return h.count(id) == 1 })
	}
}
