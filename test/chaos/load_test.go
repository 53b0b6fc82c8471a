//go:build chaos

package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

const (
	// attemptTimeout bounds one HTTP attempt: a frozen node never answers, so the load gives
	// up on it and tries another node.
	attemptTimeout = 5 * time.Second
	// opDeadline bounds an operation and its retries.
	opDeadline = 20 * time.Second
	// retryPause is the pause between two attempts of one operation.
	retryPause = 25 * time.Millisecond
)

// api sends requests to any running node of a cluster, retrying what may succeed later.
type api struct {
	c *harness.Cluster
}

// retryable says whether an answer may turn into a success on another attempt: no answer at
// all, or a 5xx (no active node, forwarding failed, sealed during a hand-over).
func retryable(rep testutil.Reply, err error) bool {
	return err != nil || rep.Status >= 500
}

// running lists the nodes whose process runs.
func (a api) running() []*harness.Node {
	var out []*harness.Node
	for _, n := range a.c.Nodes {
		if a.c.Running(n) {
			out = append(out, n)
		}
	}
	return out
}

// once sends one request to one node, bounded by attemptTimeout.
func once(ctx context.Context, n *harness.Node, method, path string, body any) (testutil.Reply, error) {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	return n.Client.Do(actx, method, path, body)
}

// do sends a request through a random running node, retrying on connection errors and 5xx
// until it gets another answer or the deadline passes. It returns the last answer, the node
// that gave it and the last error.
func (a api) do(ctx context.Context, rng *rand.Rand, method, path string, body any, deadline time.Duration) (testutil.Reply, string, error) {
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var (
		rep  testutil.Reply
		err  error
		node string
	)
	for {
		nodes := a.running()
		if len(nodes) > 0 {
			n := nodes[rng.IntN(len(nodes))]
			node = n.ID
			rep, err = once(ctx, n, method, path, body)
			if !retryable(rep, err) {
				return rep, node, nil
			}
		} else {
			err = errors.New("no node process is running")
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%s %s: status %d: %s", method, path, rep.Status, rep.Errors())
			}
			return rep, node, err
		case <-time.After(retryPause):
		}
	}
}

// credTarget is a role whose credentials the load requests.
type credTarget struct {
	Mount string // "database/"
	Role  string
}

// loadSpec says what a load does.
type loadSpec struct {
	Creds []credTarget
	// CredsWorkers run per target.
	CredsWorkers int
	// RenewRevoke: after a credential is issued, renew or revoke it now and then.
	RenewRevoke bool
	// Events injects reload (of Plugin) and wal_rollback (of Conn) events over NATS.
	Events bool
	// Writes rewrites Conn's allowed_roles (keeping KeepRole) and registers catalog entries
	// of Plugin under new names.
	Writes bool
	// Conn is mount/name of the connection the events and config writes aim at.
	Conn     string
	KeepRole string
	// Plugin is the catalog name of the plugin the reload events and catalog writes use,
	// PluginSHA its binary's SHA-256.
	Plugin, PluginSHA string
	// MaxOps bounds each worker's operations; the load also stops when stopped.
	MaxOps int
}

// load is a bounded stream of operations on a cluster, recording every acknowledged one.
type load struct {
	t      testing.TB
	a      api
	rec    *recorder
	spec   loadSpec
	runID  string
	seed   uint64
	nc     *nats.Conn
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	stats map[string]*[2]int  // op -> ok, failed
	errs  map[string][]string // op -> the first few distinct failures
}

// startLoad starts the workers; stop (or cleanup) ends them.
func startLoad(t testing.TB, c *harness.Cluster, rec *recorder, spec loadSpec, seed uint64) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{t: t, a: api{c}, rec: rec, spec: spec, runID: fmt.Sprintf("chaos-%d-%d", seed, time.Now().UnixNano()%1e6),
		seed: seed, cancel: cancel, stats: map[string]*[2]int{}, errs: map[string][]string{}}
	if spec.Events {
		nc, err := nats.Connect(c.NATSURL, nats.Name("chaos-load"), c.NATSAuth(events.RoleOperator), nats.MaxReconnects(-1),
			nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
		if err != nil {
			cancel()
			t.Fatalf("load: NATS: %v", err)
		}
		l.nc = nc
	}
	worker := 0
	spawn := func(f func(ctx context.Context, rng *rand.Rand)) {
		worker++
		rng := rand.New(rand.NewPCG(seed, uint64(worker)))
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			f(ctx, rng)
		}()
	}
	for _, tg := range spec.Creds {
		for range max(1, spec.CredsWorkers) {
			spawn(func(ctx context.Context, rng *rand.Rand) { l.credsWorker(ctx, rng, tg) })
		}
	}
	if spec.Events {
		spawn(l.eventsWorker)
	}
	if spec.Writes {
		spawn(l.writesWorker)
	}
	t.Cleanup(l.stop)
	return l
}

// stop ends the load and waits for its workers; it is idempotent.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
	if l.nc != nil {
		l.nc.Close()
	}
}

// maxErrs bounds the distinct failures kept per operation.
const maxErrs = 3

// fail counts a failed operation and keeps why.
func (l *load) fail(op string, rep testutil.Reply, err error) {
	why := fmt.Sprintf("status %d: %s", rep.Status, rep.Errors())
	if err != nil {
		why = err.Error()
	}
	l.count(op, false)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs[op]) < maxErrs && !slices.Contains(l.errs[op], why) {
		l.errs[op] = append(l.errs[op], why)
	}
}

func (l *load) count(op string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats[op]
	if s == nil {
		s = &[2]int{}
		l.stats[op] = s
	}
	if ok {
		s[0]++
	} else {
		s[1]++
	}
}

// summary renders the operation counts.
func (l *load) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ops := make([]string, 0, len(l.stats))
	for op := range l.stats {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	parts := make([]string, len(ops))
	for i, op := range ops {
		parts[i] = fmt.Sprintf("%s %d ok/%d failed", op, l.stats[op][0], l.stats[op][1])
		if es := l.errs[op]; len(es) > 0 {
			parts[i] += fmt.Sprintf(" (%s)", strings.Join(es, " | "))
		}
	}
	return strings.Join(parts, ", ")
}

// pause waits between operations; false when the load is stopping.
func pause(ctx context.Context, rng *rand.Rand, lo, hi time.Duration) bool {
	d := lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (l *load) credsWorker(ctx context.Context, rng *rand.Rand, tg credTarget) {
	for i := 0; i < l.spec.MaxOps && ctx.Err() == nil; i++ {
		rep, _, err := l.a.do(ctx, rng, http.MethodGet, tg.Mount+"creds/"+tg.Role, nil, opDeadline)
		ok := err == nil && rep.Status == http.StatusOK
		if !ok {
			if ctx.Err() != nil {
				return // stopped mid-request: neither a success nor a failure
			}
			l.fail("creds", rep, err)
		} else {
			l.count("creds", true)
			d := rep.Data()
			user, _ := d["username"].(string)
			pw, _ := d["password"].(string)
			lease, _ := rep.Body["lease_id"].(string)
			idx := l.rec.addCred(Cred{LeaseID: lease, Mount: tg.Mount, Role: tg.Role, Username: user, Password: pw})
			if l.spec.RenewRevoke {
				switch rng.IntN(10) {
				case 0, 1, 2:
					rep, _, err := l.a.do(ctx, rng, http.MethodPut, "sys/leases/renew", map[string]any{"lease_id": lease}, opDeadline)
					if err == nil && rep.Status == http.StatusOK {
						l.count("renew", true)
					} else if ctx.Err() == nil {
						l.fail("renew", rep, err)
					}
				case 3, 4, 5:
					l.rec.setRevoke(idx, RevokeAttempted)
					rep, _, err := l.a.do(ctx, rng, http.MethodPut, "sys/leases/revoke", map[string]any{"lease_id": lease}, opDeadline)
					if err == nil && rep.Status/100 == 2 {
						l.count("revoke", true)
						l.rec.setRevoke(idx, RevokeAcked)
					} else if ctx.Err() == nil {
						l.fail("revoke", rep, err)
					}
				}
			}
		}
		if !pause(ctx, rng, 20*time.Millisecond, 60*time.Millisecond) {
			return
		}
	}
}

// injectEvent injects one event and records it: through the request/reply subject (answered
// with the committed index; retried with the same id while no active node answers) or
// through the JetStream stream (acknowledged once stored).
func (l *load) injectEvent(ctx context.Context, ev events.Event, viaJetStream bool) InjectedEvent {
	rec := InjectedEvent{ID: ev.ID, Kind: string(ev.Kind), Via: "inject"}
	if viaJetStream {
		rec.Via = "jetstream"
	}
	dctx, cancel := context.WithTimeout(ctx, opDeadline)
	defer cancel()
	cluster := clusterName(l.a.c)
	for {
		actx, acancel := context.WithTimeout(dctx, attemptTimeout)
		var err error
		if viaJetStream {
			err = events.Inject(actx, l.nc, cluster, ev, events.WithToken(l.a.c.Token))
		} else {
			var idx uint64
			idx, err = events.InjectSync(actx, l.nc, cluster, ev, events.WithToken(l.a.c.Token))
			rec.Index = idx
		}
		acancel()
		if err == nil {
			rec.Acked = true
			rec.Err = ""
			break
		}
		rec.Err = err.Error()
		if errors.Is(err, events.ErrInvalid) || errors.Is(err, events.ErrRejected) {
			break
		}
		select {
		case <-dctx.Done():
			l.rec.addEvent(rec)
			return rec
		case <-time.After(retryPause):
		}
	}
	l.rec.addEvent(rec)
	return rec
}

func (l *load) eventsWorker(ctx context.Context, rng *rand.Rand) {
	for i := 0; i < l.spec.MaxOps && ctx.Err() == nil; i++ {
		ev := events.Event{V: events.Version, ID: fmt.Sprintf("%s-ev%d", l.runID, i), Source: "chaos"}
		if i%2 == 0 {
			ev.Kind, ev.Target = events.KindReload, events.Target{Type: events.TargetPlugin, ID: l.spec.Plugin}
		} else {
			ev.Kind, ev.Target = events.KindWALRollback, events.Target{Type: events.TargetConnection, ID: l.spec.Conn}
		}
		got := l.injectEvent(ctx, ev, rng.IntN(3) == 0)
		if got.Acked {
			l.count("event/"+got.Via, true)
		} else if ctx.Err() == nil {
			l.fail("event/"+got.Via, testutil.Reply{}, errors.New(got.Err))
		}
		if !pause(ctx, rng, 150*time.Millisecond, 350*time.Millisecond) {
			return
		}
	}
}

func (l *load) writesWorker(ctx context.Context, rng *rand.Rand) {
	mount, name := splitConn(l.spec.Conn)
	for i := 1; i <= l.spec.MaxOps && ctx.Err() == nil; i++ {
		var w Write
		var rep testutil.Reply
		var node string
		var err error
		if i%2 == 1 {
			v := fmt.Sprintf("x%d", i)
			w = Write{Kind: WriteConfig, Key: "config/" + l.spec.Conn, Seq: i, Value: v}
			rep, node, err = l.a.do(ctx, rng, http.MethodPost, mount+"config/"+name,
				map[string]any{"allowed_roles": []string{l.spec.KeepRole, v}}, opDeadline)
		} else {
			entry := fmt.Sprintf("chaos-%d", i)
			w = Write{Kind: WriteCatalog, Key: "catalog/database/" + entry, Seq: i, Value: l.spec.PluginSHA}
			rep, node, err = l.a.do(ctx, rng, http.MethodPut, "sys/plugins/catalog/database/"+entry,
				map[string]any{"sha256": l.spec.PluginSHA, "command": l.spec.Plugin}, opDeadline)
		}
		w.Node = node
		w.Acked = err == nil && rep.Status/100 == 2
		if !w.Acked {
			if err != nil {
				w.Err = err.Error()
			} else {
				w.Err = fmt.Sprintf("status %d: %s", rep.Status, rep.Errors())
			}
		}
		if w.Acked {
			l.count("write/"+string(w.Kind), true)
		} else if ctx.Err() == nil {
			l.fail("write/"+string(w.Kind), rep, err)
		}
		l.rec.addWrite(w)
		if !pause(ctx, rng, 200*time.Millisecond, 400*time.Millisecond) {
			return
		}
	}
}

// splitConn splits "database/db1" into its mount ("database/") and name ("db1").
func splitConn(conn string) (mount, name string) {
	i := strings.LastIndex(conn, "/")
	return conn[:i+1], conn[i+1:]
}
