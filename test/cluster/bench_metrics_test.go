package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/telemetry"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/test/testutil"
)

// BenchmarkCredsMetrics measures what metrics cost on the creds path: GET database/creds/ro
// (warm test-plugin instance, NewUser, one Raft commit for the lease) through the API of a
// one-node cluster (fast Raft profile, fsync on), one request in flight, with the telemetry
// sinks attached (in-memory and Prometheus, OpenBao's defaults) and without them, in the same
// run. The two alternate in rounds (the order flips every round) so that drift on a shared
// machine falls on both alike. "Without" is go-metrics with no sink (its global still runs,
// as when no telemetry is configured); the instrumentation itself cannot be compiled out.
//
// -benchtime Nx sets the requests of each side (at least 20 per round).
//
//	go test -run '^$' -bench CredsMetrics -benchtime 4000x ./test/cluster/
func BenchmarkCredsMetrics(b *testing.B) {
	const rounds = 10
	fast := raftstore.FastConfig()
	c := New(b, 1, Options{Raft: &fast})
	a := c.Active()
	benchDB(b, c, a)
	ctx := testutil.Context(b, 30*time.Minute)
	creds := func(n int) []time.Duration {
		out := make([]time.Duration, 0, n)
		for range n {
			t0 := time.Now()
			a.Client.Must(b, ctx, "GET", "database/creds/ro", nil)
			out = append(out, time.Since(t0))
		}
		return out
	}
	creds(50) // warm: the plugin instance started, the connections open
	// The node's own sinks go; each "with" round attaches a fresh set, as a node's start does.
	a.S.Telemetry.Close()

	per := max(b.N/rounds, 20)
	var with, without []time.Duration
	b.ResetTimer()
	for r := range rounds {
		on := func() {
			tel, err := telemetry.New(telemetry.DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			with = append(with, creds(per)...)
			tel.Close()
		}
		off := func() { without = append(without, creds(per)...) }
		if r%2 == 0 {
			on()
			off()
		} else {
			off()
			on()
		}
	}
	b.StopTimer()
	mean := func(ds []time.Duration) float64 {
		var s time.Duration
		for _, d := range ds {
			s += d
		}
		return float64(s.Microseconds()) / float64(len(ds))
	}
	median := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[len(s)/2].Microseconds())
	}
	mw, mo := mean(with), mean(without)
	b.ReportMetric(mw, "with-mean-µs")
	b.ReportMetric(mo, "without-mean-µs")
	b.ReportMetric(median(with), "with-p50-µs")
	b.ReportMetric(median(without), "without-p50-µs")
	b.ReportMetric((mw/mo-1)*100, "cost-%")
	b.ReportMetric((median(with)/median(without)-1)*100, "p50-cost-%")
	b.ReportMetric(float64(len(with)), "requests-each")
}
