package events

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkConsumer measures events through JetStream into a handler that returns at once,
// then acked: publish (async, Nats-Msg-Id) → stream → durable pull consumer → handler → ack.
// inflight=1 keeps a single event outstanding (latency); inflight=64 keeps 64 outstanding with
// a consumer running 64 handlers (throughput). Latency is from just before publish to the
// handler call; throughput counts until the consumer has nothing unacked. max-µs shows a
// delivery stall (see pullExpiry).
func BenchmarkConsumer(b *testing.B) {
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) { benchConsumer(b, inflight) })
	}
}

func benchConsumer(b *testing.B, inflight int) {
	f := newFixture(b)
	window := make(chan struct{}, inflight)
	var (
		mu   sync.Mutex
		lats = make([]time.Duration, 0, b.N)
		all  = make(chan struct{})
	)
	h := HandlerFunc(func(ctx context.Context, ev Event) (uint64, error) {
		d := time.Since(ev.Time)
		mu.Lock()
		lats = append(lats, d)
		n := len(lats)
		mu.Unlock()
		<-window
		if n == b.N {
			close(all)
		}
		return uint64(n), nil
	})
	c := startConsumer(b, f.js, h, WithConcurrency(inflight))
	subject := EventSubject(testCluster, KindReload)

	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		window <- struct{}{}
		ev := reloadEvent(fmt.Sprint("bench-", i))
		ev.Time = time.Now()
		data, err := Encode(ev)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.js.PublishAsync(subject, data, jetstream.WithMsgID(ev.ID)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatal("events not all handled within a minute")
	}
	settled(b, c)
	elapsed := time.Since(start)
	b.StopTimer()

	select {
	case <-f.js.PublishAsyncComplete():
	case <-time.After(waitTimeout):
		b.Fatal("publish acks missing")
	}
	slices.Sort(lats)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lats[len(lats)-1].Microseconds()), "max-µs")
	b.ReportMetric(0, "ns/op")
}
