package cluster

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/test/testutil"
)

// BenchmarkCredsTLS measures database/creds/ro latency over a plain and a TLS API listener
// in the same run: two single-node clusters (fast Raft, the test plugin), requests
// interleaved plain/TLS (the order alternating) so that load from the rest of the machine hits both alike. A client
// keeps its connection (as OpenBao's client does); the tls-handshake variant opens a new
// connection per request, the worst case. Reported: mean and p50/p99 per path, and the
// TLS/plain ratio of the means.
func BenchmarkCredsTLS(b *testing.B) {
	fast := raftstore.FastConfig()
	plain := New(b, 1, Options{Raft: &fast})
	secure := New(b, 1, Options{Raft: &fast, APITLS: true})
	benchDB(b, plain, plain.Active())
	benchDB(b, secure, secure.Active())
	fresh := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: secure.HTTP.Transport.(*http.Transport).TLSClientConfig.Clone()}}
	paths := []struct {
		name string
		cl   *testutil.Client
	}{
		{"plain", plain.Active().Client},
		{"tls", secure.Active().Client},
		{"tls-handshake", &testutil.Client{Addr: secure.Active().Client.Addr, Token: secure.Token, HTTP: fresh}},
	}
	ctx := testutil.Context(b, 30*time.Minute)
	one := func(cl *testutil.Client) time.Duration {
		start := time.Now()
		cl.Must(b, ctx, "GET", "database/creds/ro", nil)
		return time.Since(start)
	}
	for _, p := range paths { // warm: plugin started, connections open
		for range 5 {
			one(p.cl)
		}
	}
	lat := make([][]time.Duration, len(paths))
	b.ResetTimer()
	for n := range b.N {
		// Alternate the order, so that neither path always goes first.
		for k := range paths {
			i := k
			if n%2 == 1 {
				i = len(paths) - 1 - k
			}
			lat[i] = append(lat[i], one(paths[i].cl))
		}
	}
	b.StopTimer()
	means := make([]float64, len(paths))
	for i, p := range paths {
		var sum time.Duration
		for _, d := range lat[i] {
			sum += d
		}
		means[i] = float64(sum.Microseconds()) / float64(len(lat[i])) / 1000
		slices.Sort(lat[i])
		b.ReportMetric(means[i], p.name+"-ms/op")
		b.ReportMetric(float64(lat[i][len(lat[i])/2].Microseconds())/1000, p.name+"-p50-ms")
		b.ReportMetric(float64(lat[i][len(lat[i])*99/100].Microseconds())/1000, p.name+"-p99-ms")
	}
	b.ReportMetric(means[1]/means[0], "tls/plain")
	b.ReportMetric(means[2]/means[0], "handshake/plain")
}

// BenchmarkFailoverTLS compares failover on a plain and a TLS-API 3-node cluster in the same
// run (fast Raft): both run at once and their rounds alternate (halt, then step-down), so
// the machine's load hits both alike. Metrics are BenchmarkFailover's, per cluster, plus
// the TLS/plain ratio of the creds p50.
func BenchmarkFailoverTLS(b *testing.B) {
	rounds := max(*failoverRounds, minFailoverRounds)
	fast := raftstore.FastConfig()
	clusters := []*Cluster{New(b, 3, Options{Raft: &fast}), New(b, 3, Options{Raft: &fast, APITLS: true})}
	names := []string{"plain", "tls"}
	for _, c := range clusters {
		benchDB(b, c, c.Active())
	}
	halt := make([][]failoverSample, 2)
	step := make([][]failoverSample, 2)
	for i := range rounds {
		for k := range clusters {
			j := (k + i) % 2 // alternate which cluster goes first
			halt[j] = append(halt[j], haltRound(b, clusters[j]))
		}
	}
	for i := range rounds {
		for k := range clusters {
			j := (k + i) % 2
			step[j] = append(step[j], stepDownRound(b, clusters[j]))
		}
	}
	for j, name := range names {
		b.Run("halt/"+name, func(b *testing.B) { reportFailover(b, halt[j]) })
		b.Run("step-down/"+name, func(b *testing.B) { reportFailover(b, step[j]) })
	}
	for _, kind := range []struct {
		name string
		s    [][]failoverSample
	}{{"halt", halt}, {"step-down", step}} {
		p50 := func(ss []failoverSample, f func(failoverSample) time.Duration) time.Duration {
			d := make([]time.Duration, len(ss))
			for i, s := range ss {
				d[i] = f(s)
			}
			slices.Sort(d)
			return quantile(d, 0.5)
		}
		creds := func(s failoverSample) time.Duration { return s.creds }
		active := func(s failoverSample) time.Duration { return s.active }
		b.Logf("%s: creds p50 tls/plain %.2f, active p50 tls/plain %.2f", kind.name,
			float64(p50(kind.s[1], creds))/float64(p50(kind.s[0], creds)),
			float64(p50(kind.s[1], active))/float64(p50(kind.s[0], active)))
	}
}
