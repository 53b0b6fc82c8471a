package cluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/internal/server"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

// failoverRounds is how many times BenchmarkFailover kills (and, separately, steps down) the
// active node. It does not follow -benchtime, so that one command can run every benchmark of
// the package: pass -failover.rounds=N after the package to change it.
var failoverRounds = flag.Int("failover.rounds", 10, "rounds of each BenchmarkFailover scenario (at least 10)")

// failoverProfile picks BenchmarkFailover's Raft timings: "fast" (raftstore.FastConfig, the
// product's) or "test" (TestRaftConfig, tripled), for a machine so loaded that the fast
// profile's 100 ms lease lapses while the clusters are being set up.
var failoverProfile = flag.String("failover.profile", "fast", "Raft profile of BenchmarkFailover: fast or test (tripled timings)")

// minFailoverRounds keeps medians and p90s meaningful.
const minFailoverRounds = 10

// pollEvery is the resolution of the failover timings.
const pollEvery = time.Millisecond

// benchDB is setupDB for benchmarks (setupDB takes a *testing.T): the test plugin in the
// catalog, database/ mounted, connection db1 and role ro.
func benchDB(tb testing.TB, c *Cluster, m *Member) {
	tb.Helper()
	ctx := testutil.Context(tb, 60*time.Second)
	m.Client.Must(tb, ctx, "PUT", "sys/plugins/catalog/database/baton-test-plugin", map[string]any{
		"sha256": c.Plugin.SHA256, "command": "baton-test-plugin"})
	m.Client.Must(tb, ctx, "POST", "sys/mounts/database", map[string]any{"type": "database"})
	m.Client.Must(tb, ctx, "POST", "database/config/db1", map[string]any{
		"plugin_name": "baton-test-plugin", "allowed_roles": "ro", "username": "root", "password": "rootpw",
		"state_file": filepath.Join(c.Dir, "db.json")})
	m.Client.Must(tb, ctx, "POST", "database/roles/ro", map[string]any{"db_name": "db1", "default_ttl": "1h", "max_ttl": "24h"})
}

// BenchmarkEvents measures events NATS → Raft commit → answer on a 3-node cluster (fast Raft
// profile, fsync on, one shared embedded NATS), beside raw Raft Apply on the same cluster in
// the same run, one operation in flight and 64 in flight. The cluster is formed once; every
// sub-benchmark runs once (b.Loop), so -benchtime Nx means N operations each.
//
//   - raw-apply: raftstore.Store.Apply of a state.TypeNoop command on the active node (one
//     command per Raft entry, no batching), the baseline of PERFORMANCE-GOALS.md.
//   - propose: core.Node.Propose of the same command, which batches concurrent proposals.
//   - sync/<kind>: events.InjectSync, request/reply on baton.<cluster>.inject; the active node
//     answers after the Raft commit.
//   - jetstream/<kind>: a JetStream publish on baton.<cluster>.events.<kind> (what
//     events.Inject does), timed until the active node's durable consumer acks the message,
//     which it does after the commit. The ack is seen on its $JS.ACK subject. stored-p50-ms is
//     the publish → PubAck part (where events.Inject returns).
//
// Kinds: wal_rollback on database/db1 is a Noop command under the event's id (plus a kick of
// the rollback manager), so it compares 1:1 with raw-apply; reload on the mount database/
// records a lifecycle transition of the instance and publishes it on NATS.
//
// ops/s counts from the first operation until the last one answered; latencies are per
// operation, from just before it is sent. retries counts answers that asked for a retry
// (leadership moved); naks counts events the consumer handed back for redelivery.
func BenchmarkEvents(b *testing.B) {
	f := newEventBench(b)
	paths := []struct {
		name string
		op   opFunc
	}{
		{"raw-apply", f.rawApply},
		{"propose", f.propose},
		{"sync/wal_rollback", f.injectSync(events.KindWALRollback)},
		{"jetstream/wal_rollback", f.jetStream(events.KindWALRollback)},
		{"sync/reload", f.injectSync(events.KindReload)},
		{"jetstream/reload", f.jetStream(events.KindReload)},
	}
	for _, inflight := range []int{1, 64} {
		for _, p := range paths {
			b.Run(fmt.Sprintf("inflight=%d/%s", inflight, p.name), func(b *testing.B) { f.run(b, inflight, p.op) })
		}
	}
}

// opFunc performs one operation and returns its latency and, for JetStream, the part until
// the PubAck (zero otherwise).
type opFunc func(ctx context.Context, id string) (lat, stored time.Duration, err error)

type eventBench struct {
	c       *Cluster
	nc      *nats.Conn
	js      jetstream.JetStream
	acks    *ackWatch
	active  atomic.Pointer[Member]
	retries atomic.Int64
	runs    atomic.Int64
}

func newEventBench(b *testing.B) *eventBench {
	b.Helper()
	fast := raftstore.FastConfig()
	c := New(b, 3, Options{Raft: &fast})
	a := c.Active()
	benchDB(b, c, a)
	f := &eventBench{c: c}
	f.active.Store(a)
	// The bench watches JetStream's acks, which only a node identity may see.
	nc := c.NATSConn(b, events.RoleNode)
	f.nc = nc
	var err error
	if f.js, err = jetstream.New(nc); err != nil {
		b.Fatal(err)
	}
	f.acks = watchAcks(b, nc, c.Name)
	// The active node subscribes to the inject subject and starts its consumer just after it
	// takes over: wait until both paths answer once.
	ctx := testutil.Context(b, 30*time.Second)
	warm := 0
	testutil.Eventually(b, 20*time.Second, "the active node serves the inject subject", func() bool {
		warm++
		_, err := events.InjectSync(ctx, nc, c.Name, benchEvent(events.KindWALRollback, fmt.Sprint("warm-sync-", warm)), events.WithToken(f.c.Token))
		return err == nil
	})
	if _, _, err := f.jetStream(events.KindWALRollback)(ctx, "warm-jetstream"); err != nil {
		b.Fatalf("warm-up through JetStream: %v", err)
	}
	return f
}

// benchEvent is a cheap event that always succeeds.
func benchEvent(kind events.Kind, id string) events.Event {
	ev := events.Event{V: events.Version, ID: id, Kind: kind, Source: "bench"}
	switch kind {
	case events.KindReload:
		ev.Target = events.Target{Type: events.TargetMount, ID: "database/"}
	default:
		ev.Target = events.Target{Type: events.TargetConnection, ID: "database/db1"}
	}
	return ev
}

// run issues b.Loop operations with up to inflight at once and reports throughput and
// latency.
func (f *eventBench) run(b *testing.B, inflight int, op opFunc) {
	ctx := testutil.Context(b, 10*time.Minute)
	prefix := fmt.Sprintf("bench-%d-", f.runs.Add(1))
	f.retries.Store(0)
	naks0 := f.acks.naks.Load()
	var (
		mu      sync.Mutex
		lats    []time.Duration
		stored  []time.Duration
		failed  atomic.Pointer[error]
		wg      sync.WaitGroup
		slots   = make(chan struct{}, inflight)
		i       int
		started = time.Now()
	)
	for b.Loop() {
		if failed.Load() != nil {
			break
		}
		slots <- struct{}{}
		id := fmt.Sprint(prefix, i)
		i++
		wg.Go(func() {
			defer func() { <-slots }()
			lat, st, err := op(ctx, id)
			if err != nil {
				failed.CompareAndSwap(nil, &err)
				return
			}
			mu.Lock()
			lats = append(lats, lat)
			if st > 0 {
				stored = append(stored, st)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(started)
	if err := failed.Load(); err != nil {
		b.Fatalf("operation failed: %v", *err)
	}
	slices.Sort(lats)
	n := len(lats)
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/op")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "ops/s")
	b.ReportMetric(ms(quantile(lats, 0.5)), "p50-ms")
	b.ReportMetric(ms(quantile(lats, 0.99)), "p99-ms")
	b.ReportMetric(ms(lats[n-1]), "max-ms")
	b.ReportMetric(float64(f.retries.Load()), "retries")
	if len(stored) > 0 {
		slices.Sort(stored)
		b.ReportMetric(ms(quantile(stored, 0.5)), "stored-p50-ms")
		b.ReportMetric(float64(f.acks.naks.Load()-naks0), "naks")
	}
}

// retryable reports whether a proposal failed because leadership moved (or may have).
func retryable(err error) bool {
	return errors.Is(err, core.ErrNotActive) || errors.Is(err, raftstore.ErrNotLeader) || errors.Is(err, raftstore.ErrIndeterminate)
}

func (f *eventBench) rawApply(ctx context.Context, id string) (time.Duration, time.Duration, error) {
	t0 := time.Now()
	for {
		m := f.active.Load()
		// Raw Raft Apply: one command, one entry, straight to the store (no batching).
		c, err := command.New(state.TypeNoop, id, command.SourceInternal, time.Now(), nil)
		if err != nil {
			return 0, 0, err
		}
		_, _, err = m.S.Node.Store().Apply(ctx, c)
		if err == nil {
			return time.Since(t0), 0, nil
		}
		if !retryable(err) {
			return 0, 0, err
		}
		// The same id makes the retry safe: the state applies it once.
		f.retries.Add(1)
		if ferr := f.followActive(ctx); ferr != nil {
			return 0, 0, fmt.Errorf("%w (after: %w)", ferr, err)
		}
	}
}

// propose is core.Node.Propose: what an event handler calls, with the batching of
// concurrent proposals into one Raft entry.
func (f *eventBench) propose(ctx context.Context, id string) (time.Duration, time.Duration, error) {
	t0 := time.Now()
	for {
		_, err := f.active.Load().S.Node.Propose(ctx, state.TypeNoop, id, command.SourceInternal, nil)
		if err == nil {
			return time.Since(t0), 0, nil
		}
		if !retryable(err) {
			return 0, 0, err
		}
		f.retries.Add(1)
		if ferr := f.followActive(ctx); ferr != nil {
			return 0, 0, fmt.Errorf("%w (after: %w)", ferr, err)
		}
	}
}

// followActive waits for a single active node and makes it the target of raw applies.
func (f *eventBench) followActive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		if a := f.c.Active(); a != nil {
			f.active.Store(a)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no active node: %w", ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

func (f *eventBench) injectSync(kind events.Kind) opFunc {
	return func(ctx context.Context, id string) (time.Duration, time.Duration, error) {
		ev := benchEvent(kind, id)
		t0 := time.Now()
		for {
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := events.InjectSync(actx, f.nc, f.c.Name, ev, events.WithToken(f.c.Token))
			cancel()
			if err == nil {
				return time.Since(t0), 0, nil
			}
			if !errors.Is(err, events.ErrUnavailable) || ctx.Err() != nil {
				return 0, 0, err
			}
			f.retries.Add(1)
			select {
			case <-ctx.Done():
				return 0, 0, ctx.Err()
			case <-time.After(pollEvery):
			}
		}
	}
}

func (f *eventBench) jetStream(kind events.Kind) opFunc {
	subject := events.EventSubject(f.c.Name, kind)
	stream := events.StreamName(f.c.Name)
	return func(ctx context.Context, id string) (time.Duration, time.Duration, error) {
		data, err := events.Encode(benchEvent(kind, id))
		if err != nil {
			return 0, 0, err
		}
		t0 := time.Now()
		m := nats.NewMsg(subject)
		m.Data = data
		m.Header.Set(events.TokenHeader, f.c.Token)
		pa, err := f.js.PublishMsg(ctx, m, jetstream.WithMsgID(id), jetstream.WithExpectStream(stream))
		if err != nil {
			return 0, 0, fmt.Errorf("publish %s: %w", id, err)
		}
		stored := time.Since(t0)
		if pa.Duplicate {
			return 0, 0, fmt.Errorf("publish %s: stored as a duplicate", id)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		at, err := f.acks.wait(wctx, pa.Sequence)
		if err != nil {
			return 0, 0, fmt.Errorf("event %s (stream sequence %d): %w", id, pa.Sequence, err)
		}
		return at.Sub(t0), stored, nil
	}
}

// ackWatch sees the acks the active node's consumer sends for the cluster's stream: an ack is
// a core NATS publish on the message's $JS.ACK reply subject, which names the stream sequence,
// and any subscriber of that subject receives a copy.
type ackWatch struct {
	stream, consumer string
	naks             atomic.Int64

	mu      sync.Mutex
	done    map[uint64]ackResult // acks seen before their publisher asked
	waiters map[uint64]chan ackResult
}

type ackResult struct {
	at   time.Time
	term bool
}

func watchAcks(tb testing.TB, nc *nats.Conn, cluster string) *ackWatch {
	tb.Helper()
	w := &ackWatch{
		stream: events.StreamName(cluster), consumer: events.ConsumerName(cluster),
		done: map[uint64]ackResult{}, waiters: map[uint64]chan ackResult{},
	}
	sub, err := nc.Subscribe("$JS.ACK.>", w.onAck)
	if err != nil {
		tb.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = sub.Unsubscribe() })
	return w
}

func (w *ackWatch) onAck(m *nats.Msg) {
	now := time.Now()
	md, err := (&nats.Msg{Reply: m.Subject, Sub: m.Sub}).Metadata()
	if err != nil || md.Stream != w.stream || md.Consumer != w.consumer {
		return
	}
	body := string(m.Data)
	var r ackResult
	switch {
	case body == "" || body == "+ACK":
		r = ackResult{at: now}
	case strings.HasPrefix(body, "+TERM"):
		r = ackResult{at: now, term: true}
	case strings.HasPrefix(body, "-NAK"):
		w.naks.Add(1)
		return
	default: // +WPI, +NXT: not an outcome
		return
	}
	seq := md.Sequence.Stream
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.waiters[seq]; ok {
		delete(w.waiters, seq)
		ch <- r
		return
	}
	w.done[seq] = r
}

// wait returns when the message at stream sequence seq was acked.
func (w *ackWatch) wait(ctx context.Context, seq uint64) (time.Time, error) {
	ch := make(chan ackResult, 1)
	w.mu.Lock()
	if r, ok := w.done[seq]; ok {
		delete(w.done, seq)
		ch <- r
	} else {
		w.waiters[seq] = ch
	}
	w.mu.Unlock()
	select {
	case r := <-ch:
		if r.term {
			return time.Time{}, errors.New("the consumer terminated (rejected) the event")
		}
		return r.at, nil
	case <-ctx.Done():
		w.mu.Lock()
		delete(w.waiters, seq)
		w.mu.Unlock()
		return time.Time{}, fmt.Errorf("no ack: %w", ctx.Err())
	}
}

// BenchmarkFailover measures, on a 3-node cluster with a running plugin, how long the cluster
// takes to serve again when the active node goes away, for a fixed number of rounds
// (-failover.rounds, default 10; -benchtime does not apply):
//
//   - halt: the active node is stopped as a crash would stop it (Cluster.Halt: no hand-over),
//     then restarted and unsealed, and the next round waits until it is a caught-up standby.
//   - step-down: PUT sys/step-down on the active node.
//
// Per round it polls every millisecond and times, from the kill (or the step-down request):
// leader, until a surviving node's Raft is leader (the raft election, or leadership transfer);
// active, until a surviving node is the active node (IsActive: leader, barrier passed); creds,
// until GET database/creds/ro through the new active node's API first succeeds. Quantiles are
// nearest-rank. creds/leader is the median of creds over the median of leader, the ratio that
// PERFORMANCE-GOALS.md bounds. The rounds run before the sub-benchmarks, which only report:
// their iteration count means nothing.
//
// It runs two clusters side by side in the same process, alternating between them round by
// round (and call by call for creds) so that both see the same load: "tls", the product (Raft
// and forwarding over the mutual-TLS cluster port), and "plain", the same cluster with Raft
// over plain TCP (raftstore.Config.PlainTCPForBenchmarks, reachable from no configuration),
// the baseline the TLS figures are compared with. Each also reports steady creds latency on
// the active node (creds-steady, 200 sequential calls); the tls cluster adds creds through a
// standby, forwarded over the cluster port (creds-forwarded).
func BenchmarkFailover(b *testing.B) {
	rounds := max(*failoverRounds, minFailoverRounds)
	type run struct {
		name              string
		c                 *Cluster
		halt, step        []failoverSample
		steady, forwarded []time.Duration
	}
	var runs []*run
	for _, mode := range []struct {
		name  string
		plain bool
	}{{"tls", false}, {"plain", true}} {
		rc := raftstore.FastConfig()
		if *failoverProfile == "test" {
			rc = TestRaftConfig()
		}
		rc.PlainTCPForBenchmarks = mode.plain
		c := New(b, 3, Options{Raft: &rc})
		benchDB(b, c, c.Active())
		runs = append(runs, &run{name: mode.name, c: c})
	}
	for range steadyCreds {
		for _, r := range runs {
			if d, ok := credsOnce(b, r.c.Active()); ok {
				r.steady = append(r.steady, d)
			}
			if r.name == "tls" {
				if d, ok := credsOnce(b, standbyOf(r.c)); ok {
					r.forwarded = append(r.forwarded, d)
				}
			}
		}
	}
	for i := range rounds {
		for _, r := range runs {
			s := haltRound(b, r.c)
			b.Logf("%s halt round %d: leader %s, active %s, creds %s", r.name, i, s.leader, s.active, s.creds)
			r.halt = append(r.halt, s)
		}
	}
	for i := range rounds {
		for _, r := range runs {
			s := stepDownRound(b, r.c)
			b.Logf("%s step-down round %d: leader %s, active %s, creds %s", r.name, i, s.leader, s.active, s.creds)
			r.step = append(r.step, s)
		}
	}
	for _, r := range runs {
		b.Run(r.name+"/halt", func(b *testing.B) { reportFailover(b, r.halt) })
		b.Run(r.name+"/step-down", func(b *testing.B) { reportFailover(b, r.step) })
		b.Run(r.name+"/creds-steady", func(b *testing.B) { reportLatency(b, r.steady, steadyCreds) })
		if r.forwarded != nil {
			b.Run(r.name+"/creds-forwarded", func(b *testing.B) { reportLatency(b, r.forwarded, steadyCreds) })
		}
	}
}

// standbyOf is a node of c that is not the active one.
func standbyOf(c *Cluster) *Member {
	a := c.Active()
	for _, m := range c.Nodes {
		if m != a && m.S != nil {
			return m
		}
	}
	return nil
}

// steadyCreds is how many sequential creds calls credsLatency times.
const steadyCreds = 200

// credsOnce times one GET database/creds/ro through m's API; a call that fails (the fast
// profile's lease can lapse on a loaded machine, moving leadership) is logged and not counted.
func credsOnce(tb testing.TB, m *Member) (time.Duration, bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	r, err := m.Client.Do(ctx, "GET", "database/creds/ro", nil)
	if err != nil || r.Status != 200 {
		tb.Logf("creds through %s failed: %v %d %s", m.ID, err, r.Status, r.Raw)
		return 0, false
	}
	return time.Since(t0), true
}

// reportLatency reports the quantiles of ds (the successful calls of n); more than a tenth
// failing is fatal.
func reportLatency(b *testing.B, ds []time.Duration, n int) {
	if len(ds) < n-n/10 {
		b.Fatalf("only %d of %d creds calls succeeded", len(ds), n)
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(len(sorted)), "calls")
	b.ReportMetric(ms(quantile(sorted, 0.5)), "p50-ms")
	b.ReportMetric(ms(quantile(sorted, 0.9)), "p90-ms")
}

// failoverSample is one round's timings from the kill or the step-down request.
type failoverSample struct {
	leader, active, creds time.Duration
}

// survivor is a node that stays up during a round, captured before it starts: the round
// reads these while Cluster.Halt clears the halted member's server.
type survivor struct {
	m *Member
	s *server.Server
}

func survivors(c *Cluster, not *Member) []survivor {
	var out []survivor
	for _, m := range c.Nodes {
		if m != not && m.S != nil {
			out = append(out, survivor{m: m, s: m.S})
		}
	}
	return out
}

// watchTakeover polls the survivors every millisecond from t0 until one is active, recording
// when one became Raft leader and when one became active.
func watchTakeover(tb testing.TB, t0 time.Time, others []survivor, s *failoverSample) survivor {
	tb.Helper()
	deadline := t0.Add(30 * time.Second)
	for {
		for _, o := range others {
			if s.leader == 0 {
				if st := o.s.Node.Store(); st != nil && st.IsLeader() {
					s.leader = time.Since(t0)
				}
			}
			if o.s.Node.IsActive() {
				s.active = time.Since(t0)
				if s.leader == 0 {
					s.leader = s.active
				}
				return o
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no surviving node became active within %s", deadline.Sub(t0))
		}
		time.Sleep(pollEvery)
	}
}

// firstCreds polls creds through the new active node until a request succeeds.
func firstCreds(tb testing.TB, ctx context.Context, t0 time.Time, a survivor) time.Duration {
	tb.Helper()
	deadline := t0.Add(60 * time.Second)
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := a.m.Client.Do(rctx, "GET", "database/creds/ro", nil)
		cancel()
		if err == nil && r.Status == 200 {
			return time.Since(t0)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no creds through the new active node %s within %s: status %d, %v: %s", a.m.ID, deadline.Sub(t0), r.Status, err, r.Raw)
		}
		time.Sleep(pollEvery)
	}
}

// runningPlugin makes sure the active node runs the plugin, so that a takeover has one to
// restart.
func runningPlugin(tb testing.TB, ctx context.Context, c *Cluster) *Member {
	tb.Helper()
	a := c.WaitActive(nil, 30*time.Second)
	a.Client.Must(tb, ctx, "GET", "database/creds/ro", nil)
	return a
}

func haltRound(tb testing.TB, c *Cluster) failoverSample {
	tb.Helper()
	ctx := testutil.Context(tb, 2*time.Minute)
	old := runningPlugin(tb, ctx, c)
	others := survivors(c, old)
	var s failoverSample
	halted := make(chan struct{})
	t0 := time.Now()
	go func() {
		defer close(halted)
		c.Halt(old)
	}()
	a := watchTakeover(tb, t0, others, &s)
	s.creds = firstCreds(tb, ctx, t0, a)
	select {
	case <-halted:
	case <-time.After(30 * time.Second):
		tb.Fatalf("halting %s took over 30 s", old.ID)
	}
	c.Restart(old)
	waitStandby(tb, c, old)
	return s
}

func stepDownRound(tb testing.TB, c *Cluster) failoverSample {
	tb.Helper()
	ctx := testutil.Context(tb, 2*time.Minute)
	old := runningPlugin(tb, ctx, c)
	others := survivors(c, old)
	var s failoverSample
	t0 := time.Now()
	old.Client.Must(tb, ctx, "PUT", "sys/step-down", nil, 204)
	a := watchTakeover(tb, t0, others, &s)
	s.creds = firstCreds(tb, ctx, t0, a)
	waitStandby(tb, c, old)
	return s
}

// waitStandby waits until m follows the active node and has applied what the active node had
// applied when the wait began.
func waitStandby(tb testing.TB, c *Cluster, m *Member) {
	tb.Helper()
	a := c.WaitActive(m, 30*time.Second)
	target := a.S.Node.Store().AppliedIndex()
	testutil.Eventually(tb, 30*time.Second, m.ID+" is a caught-up standby", func() bool {
		st := m.S.Node.Store()
		if st == nil || m.S.Node.IsActive() {
			return false
		}
		id, _ := st.Leader()
		return id == a.ID && st.AppliedIndex() >= target
	})
}

func reportFailover(b *testing.B, ss []failoverSample) {
	pick := func(f func(failoverSample) time.Duration) []time.Duration {
		out := make([]time.Duration, len(ss))
		for i, s := range ss {
			out[i] = f(s)
		}
		slices.Sort(out)
		return out
	}
	leader := pick(func(s failoverSample) time.Duration { return s.leader })
	active := pick(func(s failoverSample) time.Duration { return s.active })
	creds := pick(func(s failoverSample) time.Duration { return s.creds })
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(len(ss)), "rounds")
	b.ReportMetric(ms(quantile(leader, 0.5)), "leader-p50-ms")
	b.ReportMetric(ms(quantile(leader, 0.9)), "leader-p90-ms")
	b.ReportMetric(ms(quantile(active, 0.5)), "active-p50-ms")
	b.ReportMetric(ms(quantile(active, 0.9)), "active-p90-ms")
	b.ReportMetric(ms(quantile(creds, 0.5)), "creds-p50-ms")
	b.ReportMetric(ms(quantile(creds, 0.9)), "creds-p90-ms")
	b.ReportMetric(float64(quantile(creds, 0.5))/float64(quantile(leader, 0.5)), "creds/leader")
}

// quantile is the nearest-rank quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
