//go:build chaos

package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/config"
	"github.com/baton-hq/baton/plugins/testplugin"
	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

func init() { afterTests = append(afterTests, harness.RemoveBuilds) }

// orphansKey is where AllPluginPIDs lists plugin processes whose node is gone.
const orphansKey = harness.OrphansKey

// clusterName is the cluster's name in NATS subjects: the harness writes no cluster_name, so
// the config's default.
func clusterName(*harness.Cluster) string { return config.DefaultClusterName }

// Bounds of the suite's own waits.
const (
	failoverTimeout = 30 * time.Second // a new active node after a fault
	settleTimeout   = 60 * time.Second // the cluster whole again after a scenario
	// eventsTimeout covers JetStream's redelivery of an event the old leader took but never
	// acknowledged: AckWait (30 s) plus slack.
	eventsTimeout = 90 * time.Second
	walTimeout    = 60 * time.Second // the rollback manager empties the WAL
)

// scenario is one fault pattern run on a fresh cluster under load.
type scenario struct {
	name string
	// pg starts PostgreSQL and configures connection pg (rotate-root needs it).
	pg bool
	// faults are armed (BATON_FAULT) on every node from the start; a node that crashed is
	// restarted without them.
	faults string
	// faultsOnFirst arms faults on node0 (the first active node) only, so that the node that
	// takes over can be asked for the next rotate-root.
	faultsOnFirst bool
	// minAge is the WAL's minimum age (the harness default when zero): a scenario sets it
	// long to prove the resolution does not wait for it.
	minAge time.Duration
	// tune adjusts the default load.
	tune func(s *loadSpec)
	run  func(e *env)
}

// env is what a scenario works with.
type env struct {
	t    *testing.T
	sc   scenario
	seed uint64
	rng  *rand.Rand
	c    *harness.Cluster
	a    api
	rec  *recorder
	ld   *load
	spec loadSpec
	// logins checks a credential of mount+role against its database.
	logins map[string]func(ctx context.Context, user, password string) error

	mu     sync.Mutex
	armed  map[int]string // node index -> BATON_FAULT
	frozen map[*harness.Node]bool
}

// runScenario starts a 3-node cluster, runs sc under load, settles the cluster and checks
// every invariant on what was recorded.
// tlsFlag runs the scenarios on clusters whose API listeners serve TLS (issue 13: the short
// scenarios on a TLS cluster): go test -tags chaos -run TestChaosShort ./test/chaos -chaos.tls
var tlsFlag = flag.Bool("chaos.tls", false, "serve every node's API over TLS (a CA and certificates made by the harness)")

func runScenario(t *testing.T, sc scenario, seed uint64) {
	h := fnv.New64a()
	h.Write([]byte(sc.name))
	e := &env{t: t, sc: sc, seed: seed, rng: rand.New(rand.NewPCG(seed, h.Sum64())),
		armed: map[int]string{}, frozen: map[*harness.Node]bool{}, logins: map[string]func(context.Context, string, string) error{}}
	for i := range 3 {
		if !sc.faultsOnFirst || i == 0 {
			e.armed[i] = sc.faults
		}
	}
	e.c = harness.Start(t, harness.Options{Nodes: 3, Postgres: sc.pg, NodeEnv: e.nodeEnv, RollbackMinAge: sc.minAge, TLS: *tlsFlag})
	e.a = api{e.c}
	stateFile := e.c.SetupTestDB(t)
	e.logins[harness.Mount+"/"+harness.TestRole] = func(_ context.Context, user, pw string) error {
		return testplugin.Login(stateFile, user, pw)
	}
	e.spec = loadSpec{
		Creds:        []credTarget{{Mount: harness.Mount + "/", Role: harness.TestRole}},
		CredsWorkers: 2, RenewRevoke: true, Events: true, Writes: true,
		Conn: harness.Mount + "/" + harness.TestConn, KeepRole: harness.TestRole,
		Plugin: filepath.Base(e.c.TestPlugin.Path), PluginSHA: e.c.TestPlugin.SHA256,
		MaxOps: 2000,
	}
	if sc.pg {
		e.c.SetupPGDB(t)
		pg := e.c.PG
		e.logins[harness.Mount+"/"+harness.PGRole] = pg.CanLogin
		e.spec.Creds = append(e.spec.Creds, credTarget{Mount: harness.Mount + "/", Role: harness.PGRole})
	}
	if sc.tune != nil {
		sc.tune(&e.spec)
	}
	e.rec = startRecorder(t, e.c, sc.name)
	for _, tg := range e.spec.Creds {
		e.mustCreds(tg.Mount, tg.Role)
	}
	e.ld = startLoad(t, e.c, e.rec, e.spec, seed)
	t.Logf("scenario %s: cluster up, load running", sc.name)
	sc.run(e)
	// The load goes on for a while on the recovered cluster.
	e.hold(time.Second, 2*time.Second)
	e.ld.stop()
	t.Logf("scenario %s: load: %s", sc.name, e.ld.summary())
	e.settle()
	e.finalChecks()
	o := e.rec.observations()
	t.Logf("scenario %s: %d samples, %d kills, %d freezes, %d transitions, %d writes, %d events, %d credentials recorded",
		sc.name, len(o.Samples), len(o.Kills), len(o.Frozen), len(o.Transitions), len(o.Writes), len(o.Events), len(o.Creds))
	for _, f := range Check(o, DefaultBounds()) {
		t.Errorf("%s: %s", sc.name, f)
	}
}

func (e *env) nodeEnv(i int) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f := e.armed[i]; f != "" {
		return []string{"BATON_FAULT=" + f}
	}
	return nil
}

// disarm removes the fault points of node n for its next start.
func (e *env) disarm(n *harness.Node) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.armed[slices.Index(e.c.Nodes, n)] = ""
}

func (e *env) ctx(d time.Duration) context.Context { return testutil.Context(e.t, d) }

// active waits for the single active node.
func (e *env) active() *harness.Node { return e.c.WaitActive(e.t, nil, failoverTimeout) }

// hold lets the fault last (or the load run) for a random span in [lo, hi]: the length of a
// fault is the scenario's substance, chosen by the seed.
func (e *env) hold(lo, hi time.Duration) {
	d := lo + time.Duration(e.rng.Int64N(int64(hi-lo)+1))
	time.Sleep(d)
}

// mustCreds asks for a credential until it is issued (bounded) and fails the test otherwise.
func (e *env) mustCreds(mount, role string) testutil.Reply {
	e.t.Helper()
	rep, node, err := e.a.do(context.Background(), e.rng, http.MethodGet, mount+"creds/"+role, nil, opDeadline)
	if err != nil || rep.Status != http.StatusOK {
		e.t.Fatalf("creds %s%s through %s: status %d, %v: %s", mount, role, node, rep.Status, err, rep.Errors())
	}
	return rep
}

// settle makes the cluster whole after a scenario: every node thawed, running (restarted
// without fault points) and unsealed, one of them active.
func (e *env) settle() {
	e.t.Helper()
	e.mu.Lock()
	frozen := make([]*harness.Node, 0, len(e.frozen))
	for n := range e.frozen {
		frozen = append(frozen, n)
	}
	clear(e.frozen)
	e.mu.Unlock()
	for _, n := range frozen {
		e.rec.thaw(n)
	}
	for _, n := range e.c.Nodes {
		if !e.c.Running(n) {
			e.disarm(n)
			e.c.Restart(e.t, n)
			continue
		}
		e.unsealIfSealed(n)
	}
	e.c.WaitActive(e.t, nil, settleTimeout)
}

// unsealIfSealed unseals node n when its sys/health says sealed.
func (e *env) unsealIfSealed(n *harness.Node) {
	e.t.Helper()
	ctx := e.ctx(settleTimeout)
	for {
		rep, err := once(ctx, n, http.MethodGet, "sys/health", nil)
		if err == nil && rep.Status != http.StatusServiceUnavailable {
			return
		}
		if err == nil {
			n.Client.Must(e.t, ctx, http.MethodPut, "sys/unseal", map[string]any{"key": e.c.Key})
		}
		if ctx.Err() != nil {
			e.t.Fatalf("%s: still sealed or silent after %s: %v", n.ID, settleTimeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// appliedIndex is node n's own last applied index (sys/leader is served locally).
func appliedIndex(ctx context.Context, n *harness.Node) (uint64, error) {
	rep, err := once(ctx, n, http.MethodGet, "sys/leader", nil)
	if err != nil {
		return 0, err
	}
	if rep.Status != http.StatusOK {
		return 0, fmt.Errorf("sys/leader on %s: status %d: %s", n.ID, rep.Status, rep.Errors())
	}
	f, ok := rep.Body["raft_applied_index"].(float64)
	if !ok {
		return 0, fmt.Errorf("sys/leader on %s: no raft_applied_index in %s", n.ID, rep.Raw)
	}
	return uint64(f), nil
}

// lifecycle is the part of sys/lifecycle the suite reads.
type lifecycle struct {
	Applied []Applied        `json:"applied"`
	WAL     []map[string]any `json:"wal"`
}

// readLifecycle reads sys/lifecycle from node n; local reads n's own state instead of the
// active node's.
func readLifecycle(ctx context.Context, n *harness.Node, local bool) (lifecycle, error) {
	path := "sys/lifecycle?applied=true"
	if local {
		path += "&local=true"
	}
	rep, err := once(ctx, n, http.MethodGet, path, nil)
	if err != nil {
		return lifecycle{}, err
	}
	if rep.Status != http.StatusOK {
		return lifecycle{}, fmt.Errorf("%s on %s: status %d: %s", path, n.ID, rep.Status, rep.Errors())
	}
	var out struct {
		Data lifecycle `json:"data"`
	}
	if err := json.Unmarshal([]byte(rep.Raw), &out); err != nil {
		return lifecycle{}, fmt.Errorf("%s on %s: %w", path, n.ID, err)
	}
	return out.Data, nil
}

// waitWALEmpty waits until the active node's WAL is empty and returns what is left.
func (e *env) waitWALEmpty(timeout time.Duration) (int, error) {
	ctx := e.ctx(timeout)
	var (
		left int
		last error
	)
	for {
		a, err := e.c.Active(ctx)
		if err == nil {
			var lc lifecycle
			if lc, err = readLifecycle(ctx, a, false); err == nil {
				left = len(lc.WAL)
				if left == 0 {
					return 0, nil
				}
			}
		}
		if err != nil {
			last = err
		}
		if ctx.Err() != nil {
			if last == nil {
				last = fmt.Errorf("%d WAL entries left after %s", left, timeout)
			}
			return left, last
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finalChecks gathers what the checker needs once the faults are over: the acknowledged
// events applied, each write read back, every node's applied log, every credential's login
// and the plugin processes left.
func (e *env) finalChecks() {
	e.t.Helper()
	ctx := e.ctx(eventsTimeout + settleTimeout)
	var (
		writes []Write
		evs    []InjectedEvent
	)
	e.rec.update(func(o *Observations) {
		writes = slices.Clone(o.Writes)
		evs = slices.Clone(o.Events)
	})

	// 1. Events acknowledged by JetStream may wait for a redelivery (AckWait) on the new
	// active node: wait until the active node has applied all acknowledged events.
	want := map[string]bool{}
	for _, ev := range evs {
		if ev.Acked {
			want[ev.ID] = true
		}
	}
	deadline := time.Now().Add(eventsTimeout)
	for len(want) > 0 && time.Now().Before(deadline) {
		if a, err := e.c.Active(ctx); err == nil {
			if lc, err := readLifecycle(ctx, a, false); err == nil {
				for _, ap := range lc.Applied {
					delete(want, ap.ID)
				}
			}
		}
		if len(want) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if len(want) > 0 {
		e.t.Logf("%d acknowledged events still not applied after %s", len(want), eventsTimeout)
	}

	// 2. Read every written key back through the API (the active node answers).
	final := map[string]string{}
	keys := map[string]bool{}
	for _, w := range writes {
		keys[w.Key] = true
	}
	for key := range keys {
		v, err := e.readKey(ctx, key)
		if err != nil {
			e.t.Errorf("final read of %s: %v", key, err)
			continue
		}
		final[key] = v
	}
	active := e.c.WaitActive(e.t, nil, settleTimeout)
	readIndex, err := appliedIndex(ctx, active)
	if err != nil {
		e.t.Errorf("applied index of the active node %s: %v", active.ID, err)
	}

	// 3. Every node's own applied log, once it has caught up with the reads.
	logs := map[string]NodeLog{}
	for _, n := range e.c.Nodes {
		var nl NodeLog
		for {
			idx, err := appliedIndex(ctx, n)
			nl.AppliedIndex = idx
			if err == nil && idx >= readIndex || ctx.Err() != nil {
				break
			}
			time.Sleep(25 * time.Millisecond)
		}
		lc, err := readLifecycle(ctx, n, true)
		if err != nil {
			nl.Err = err.Error()
		}
		nl.Log = lc.Applied
		logs[n.ID] = nl
	}

	// 4. Log in with every credential.
	for i, c := range e.rec.creds() {
		login := e.logins[strings.TrimSuffix(c.Mount, "/")+"/"+c.Role]
		if login == nil {
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := login(lctx, c.Username, c.Password)
		cancel()
		why := ""
		if err != nil {
			why = err.Error()
		}
		e.rec.setCredLogin(i, err == nil, why)
	}

	// 5. No plugin process without its node, once the bound for dying has passed.
	left := waitFor(DefaultBounds().PluginDeath, func() []int { return e.c.AllPluginPIDs()[orphansKey] })
	e.rec.update(func(o *Observations) {
		o.Final, o.ReadIndex, o.Logs = final, readIndex, logs
		o.FinalOrphans = procs(left)
	})
}

// waitFor polls list until it is empty or d has passed, and returns what is left.
func waitFor(d time.Duration, list func() []int) []int {
	deadline := time.Now().Add(d)
	for {
		left := list()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// readKey reads back what a write's Key names.
func (e *env) readKey(ctx context.Context, key string) (string, error) {
	kind, rest, _ := strings.Cut(key, "/")
	switch kind {
	case "config":
		mount, name := splitConn(rest)
		rep, _, err := e.a.do(ctx, e.rng, http.MethodGet, mount+"config/"+name, nil, opDeadline)
		if err != nil {
			return "", err
		}
		if rep.Status == http.StatusNotFound {
			return "", nil
		}
		roles, _ := rep.Data()["allowed_roles"].([]any)
		for _, r := range roles {
			if s := fmt.Sprint(r); strings.HasPrefix(s, "x") {
				return s, nil
			}
		}
		return "", nil
	case "catalog":
		rep, _, err := e.a.do(ctx, e.rng, http.MethodGet, "sys/plugins/catalog/"+rest, nil, opDeadline)
		if err != nil {
			return "", err
		}
		if rep.Status == http.StatusNotFound {
			return "", nil
		}
		if rep.Status != http.StatusOK {
			return "", fmt.Errorf("status %d: %s", rep.Status, rep.Errors())
		}
		s, _ := rep.Data()["sha256"].(string)
		return s, nil
	}
	return "", errors.New("unknown key kind " + kind)
}
