package cluster

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

// BenchmarkEventsBurst is the consumer's capacity: b.N events published to JetStream with at
// most 64 publishes awaiting their PubAck (the injector's window), timed from the first
// publish until the active node has committed the last one (the consumer acks after the
// commit). Unlike the closed-loop paths of BenchmarkEvents, the injector does not wait for a
// commit before the next publish, so the consumer has many events at hand and commits them in
// batches (many events per Raft entry). Compare with BenchmarkEvents' raw-apply.
func BenchmarkEventsBurst(b *testing.B) {
	f := newEventBench(b)
	js, err := jetstream.New(f.nc, jetstream.WithPublishAsyncMaxPending(64))
	if err != nil {
		b.Fatal(err)
	}
	ctx := testutil.Context(b, 10*time.Minute)
	run := time.Now().UnixNano()
	ids := make([]string, b.N)
	payloads := make([][]byte, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("burst-%d-%d", run, i)
		payloads[i], _ = json.Marshal(benchEvent(events.KindWALRollback, ids[i]))
	}
	subject := events.EventSubject(f.c.Name, events.KindWALRollback)
	b.ResetTimer()
	start := time.Now()
	for i := range ids {
		m := nats.NewMsg(subject)
		m.Data = payloads[i]
		m.Header.Set(events.TokenHeader, f.c.Token)
		if _, err := js.PublishMsgAsync(m, jetstream.WithMsgID(ids[i])); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		b.Fatal("publishes not acknowledged")
	}
	published := time.Since(start)
	a := f.active.Load()
	last := ids[len(ids)-1]
	deadline := time.Now().Add(5 * time.Minute)
	for {
		all := true
		a.S.Node.State().View(func(d *state.Data) {
			for _, id := range []string{ids[0], ids[len(ids)/2], last} {
				if _, ok := d.Applied[id]; !ok {
					all = false
				}
			}
		})
		if all {
			// Every id, not just the probes.
			missing := 0
			a.S.Node.State().View(func(d *state.Data) {
				for _, id := range ids {
					if _, ok := d.Applied[id]; !ok {
						missing++
					}
				}
			})
			if missing == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("events not all committed within 5 minutes")
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/published.Seconds(), "published/s")
}
