package events

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-hq/baton/internal/acl"
	"github.com/baton-hq/baton/internal/auth"
)

// BenchmarkConsumer measures events through JetStream into a handler that returns at once,
// then acked: publish (async, Nats-Msg-Id) → stream → durable pull consumer → handler → ack.
// inflight=1 keeps a single event outstanding (latency); inflight=64 keeps 64 outstanding with
// a consumer running 64 handlers (throughput). Latency is from just before publish to the
// handler call; throughput counts until the consumer has nothing unacked. max-µs shows a
// delivery stall (see pullExpiry).
func BenchmarkConsumer(b *testing.B) {
	for _, inflight := range []int{1, 64} {
		b.Run(fmt.Sprintf("inflight=%d", inflight), func(b *testing.B) { benchConsumer(b, inflight, testAuthz) })
	}
}

func benchConsumer(b *testing.B, inflight int, authz Authorizer) {
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
	c := startConsumer(b, f.js, h, WithConcurrency(inflight), WithAuthorizer(authz))
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
		m := nats.NewMsg(subject)
		m.Data = data
		m.Header.Set(TokenHeader, testToken)
		if _, err := f.js.PublishMsgAsync(m, jetstream.WithMsgID(ev.ID)); err != nil {
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

// BenchmarkConsumerAuthz is issue 12's cost of authorisation at 64 in flight, in one run:
// authz=off admits every event without looking (the plumbing alone), authz=on runs the one
// authoriser (internal/auth) as the node does: the token resolved, its 100 policies' compiled
// ACL (as the policy store's cache returns it), the event's action checked. Compare events/s.
func BenchmarkConsumerAuthz(b *testing.B) {
	b.Run("authz=off", func(b *testing.B) { benchConsumer(b, 64, allowAll{}) })
	b.Run("authz=on", func(b *testing.B) { benchConsumer(b, 64, realAuthz(b)) })
}

// allowAll admits every event.
type allowAll struct{}

func (allowAll) AuthorizeEvent(context.Context, string, Event) error { return nil }

// oneACL returns the same compiled ACL for any policy set, as the policy store's cache does.
type oneACL struct{ a *acl.ACL }

func (o oneACL) ACLFor([]string) (*acl.ACL, error) { return o.a, nil }

// benchTokens resolves testToken to a token holding the 100 benchmark policies.
type benchTokens struct{ policies []string }

func (t benchTokens) Resolve(_ context.Context, token string) (auth.Identity, error) {
	if token != testToken {
		return auth.Identity{}, auth.ErrPermissionDenied
	}
	return auth.Identity{Policies: t.policies, DisplayName: "token-ops"}, nil
}

// authzAdapter is internal/server's event authoriser: the event's action, then Authorize.
type authzAdapter struct{ a *auth.Authorizer }

func (e authzAdapter) AuthorizeEvent(ctx context.Context, token string, ev Event) error {
	act, err := ActionOf(ev)
	if err != nil {
		return err
	}
	op, err := acl.ParseOperation(act.Operation)
	if err != nil {
		return err
	}
	if _, err := e.a.Authorize(ctx, token, acl.Request{Operation: op, Path: act.Path}); err != nil {
		return ErrPermissionDenied
	}
	return nil
}

// realAuthz is the one authoriser over a token holding the default policy and 99 application
// policies, the last of which grants the benchmark's reload.
func realAuthz(b *testing.B) Authorizer {
	b.Helper()
	ps := []*acl.Policy{acl.DefaultPolicy()}
	names := []string{acl.DefaultName}
	for i := range 99 {
		text := fmt.Sprintf(`path "database/creds/role-%[1]d" { capabilities = ["read"] }
path "secret/app-%[1]d/*" { capabilities = ["create", "read", "update"] }
path "kv/+/team-%[1]d/*" { capabilities = ["read"] }`, i)
		if i == 98 {
			text += `
path "sys/plugins/reload/backend" { capabilities = ["update"] }`
		}
		name := fmt.Sprint("app-", i)
		p, err := acl.Parse(name, []byte(text))
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
		names = append(names, name)
	}
	compiled, err := acl.Compile(time.Now(), ps...)
	if err != nil {
		b.Fatal(err)
	}
	return authzAdapter{auth.NewAuthorizer(benchTokens{names}, oneACL{compiled})}
}

// BenchmarkConsumerAuthzPaired is BenchmarkConsumerAuthz with the noise of a shared machine
// spread over both variants: rounds of 2,000 events at 64 in flight alternate between a
// consumer without authorisation and one with the real authoriser, on the same stream, and
// each variant's events/s is its events over its summed time (start and stop of the consumer
// excluded). One op is one round of each.
func BenchmarkConsumerAuthzPaired(b *testing.B) {
	const chunk, inflight = 2000, 64
	f := newFixture(b)
	variants := []Authorizer{allowAll{}, realAuthz(b)}
	var spent [2]time.Duration
	round := 0
	for b.Loop() {
		for k := range variants {
			v := k
			if round%2 == 1 {
				v = 1 - k // alternate which runs first
			}
			spent[v] += consumeChunk(b, f, variants[v], chunk, inflight, fmt.Sprintf("r%d-v%d", round, v))
		}
		round++
	}
	off := float64(round*chunk) / spent[0].Seconds()
	on := float64(round*chunk) / spent[1].Seconds()
	b.ReportMetric(off, "off-events/s")
	b.ReportMetric(on, "on-events/s")
	b.ReportMetric(on/off, "on/off")
	b.ReportMetric(0, "ns/op")
}

// consumeChunk starts a consumer with authz, publishes n events keeping inflight outstanding,
// and returns the time from the first publish until the last event was handled and acked.
func consumeChunk(b *testing.B, f *fixture, authz Authorizer, n, inflight int, prefix string) time.Duration {
	b.Helper()
	window := make(chan struct{}, inflight)
	var handled atomic.Int64
	all := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, ev Event) (uint64, error) {
		<-window
		if handled.Add(1) == int64(n) {
			close(all)
		}
		return 1, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := StartConsumer(ctx, f.js, testCluster, h, testLogger(), WithConcurrency(inflight), WithAuthorizer(authz))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Stop()
	subject := EventSubject(testCluster, KindReload)
	start := time.Now()
	for i := range n {
		window <- struct{}{}
		ev := reloadEvent(fmt.Sprint(prefix, "-", i))
		data, err := Encode(ev)
		if err != nil {
			b.Fatal(err)
		}
		m := nats.NewMsg(subject)
		m.Data = data
		m.Header.Set(TokenHeader, testToken)
		if _, err := f.js.PublishMsgAsync(m, jetstream.WithMsgID(ev.ID)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-all:
	case <-time.After(time.Minute):
		b.Fatal("events not all handled within a minute")
	}
	settled(b, c)
	d := time.Since(start)
	select {
	case <-f.js.PublishAsyncComplete():
	case <-time.After(waitTimeout):
		b.Fatal("publish acks missing")
	}
	return d
}

// BenchmarkAuthorizeEvent is the authorisation's own cost per event, as the node pays it: the
// event's action (ActionOf), the operation parsed, the one authoriser over a token holding 100
// policies. Compare with the consumer's time per event (BenchmarkConsumer).
func BenchmarkAuthorizeEvent(b *testing.B) {
	a := realAuthz(b)
	ev := reloadEvent("bench-authz")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := a.AuthorizeEvent(ctx, testToken, ev); err != nil {
			b.Fatal(err)
		}
	}
}
