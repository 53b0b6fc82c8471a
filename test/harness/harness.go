// Package harness runs Baton clusters of real node processes for the end-to-end and chaos
// suites: the node binary built from ./cmd/node, the bundled plugins built from ./cmd/...,
// one embedded NATS server in the test process that every node of a cluster shares, and on
// demand a throwaway PostgreSQL. Clusters are formed as operators form OpenBao clusters:
// each node gets an HCL config file (listener, api_addr, cluster_addr, storage "raft" with
// retry_join, plugin_directory, nats, rollback), sys/init on the first node, sys/unseal on the
// others, which join through retry_join.
//
// Each node runs in its own process group, which its plugins inherit, so that a test can
// freeze a node together with its plugins as a paused machine is frozen, and the cleanup can
// prove that nothing is left behind. Every wait is polled with a deadline.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/apitls"
	"github.com/baton-hq/baton/internal/config"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/testutil"
)

// Plugin names as the bundled binaries are registered.
const (
	testPluginName = "baton-test-plugin"
	pgPluginName   = "baton-postgresql-plugin"
)

// Bounds of the harness's waits.
const (
	apiTimeout    = 30 * time.Second // a started process answers HTTP
	formTimeout   = 60 * time.Second // one active node, the others standby
	answerTimeout = 60 * time.Second // a restarted node answers as active or standby
	stopTimeout   = 60 * time.Second // a SIGTERMed node exits (its shutdown is bounded at 30 s)
	killTimeout   = 10 * time.Second // a SIGKILLed process is reaped
	leftTimeout   = 5 * time.Second  // plugins of a dead node die with it (Pdeathsig)
	healthTimeout = 2 * time.Second  // one sys/health call (a frozen node never answers)
	pollEvery     = 25 * time.Millisecond
)

// Defaults for zero Options.
const (
	DefaultNodes          = 3
	DefaultRollbackPeriod = time.Second
	DefaultRollbackMinAge = 2 * time.Second
)

// Options shape a cluster; the zero value is a fast 3-node cluster without PostgreSQL.
type Options struct {
	// Nodes is the number of nodes, 1 or more (default 3).
	Nodes int
	// NodeEnv returns extra environment for node i, read at every (re)start, e.g.
	// "BATON_FAULT=rotate-root:after-db-update". nil adds nothing.
	NodeEnv func(i int) []string
	// RollbackPeriod and RollbackMinAge go into each node's rollback block (defaults 1 s and
	// 2 s).
	RollbackPeriod, RollbackMinAge time.Duration
	// PerformanceMultiplier is storage "raft" performance_multiplier; 0 is Baton's fast
	// profile.
	PerformanceMultiplier int
	// Postgres starts a throwaway PostgreSQL (test/pgtest) for the cluster, stopped at cleanup.
	Postgres bool
	// PGServer, when set, is used instead of starting one (several clusters may share a
	// server: SetupPGDB creates a fresh root role per cluster). The caller stops it.
	PGServer *pgtest.Server
	// ExtraConfig is HCL appended to every node's configuration file (a telemetry stanza).
	ExtraConfig string
	// TLS serves every node's API over TLS: certificates for 127.0.0.1 from a CA made for the
	// cluster (Cluster.CAFile), tls_cert_file/tls_key_file in each HCL file, https api_addr
	// and retry_join; the harness's client trusts the CA.
	TLS bool
	// Shares and Threshold split the unseal key at sys/init (1 and 1 when zero).
	Shares, Threshold int
}

// Cluster is a running cluster of node processes.
type Cluster struct {
	// Dir is the cluster's short root directory under /tmp; PluginDir (inside it) holds
	// baton-test-plugin and baton-postgresql-plugin.
	Dir, PluginDir string
	// NATSURL is the embedded NATS server every node uses (nats { url }).
	NATSURL string
	NATS    *events.Embedded
	// natsPort is the port StopNATS found, for StartNATS.
	natsPort int
	// NATSIDs are the identities the NATS server admits; the nodes connect with the node
	// identity (nats { nkey_seed = NodeSeedFile }), tools with NATSAuth's.
	NATSIDs      events.Identities
	NodeSeedFile string
	// Key is the unseal key (keys_base64[0] of sys/init) and Token the root token; Keys are
	// every share, Threshold how many unseal.
	Key, Token string
	Keys       []string
	Threshold  int
	// NodeBin is the node binary; TestPlugin and PGPlugin are the plugins in PluginDir.
	NodeBin              testutil.Binary
	TestPlugin, PGPlugin testutil.Binary
	// PG is the cluster's PostgreSQL, when Options.Postgres or Options.PGServer.
	PG *pgtest.Server
	// PGRootUser and PGRootPassword are the connection's root credential as SetupPGDB first
	// configured it (a role it created, not the server's superuser).
	PGRootUser, PGRootPassword string
	// Nodes are the cluster's nodes, node0 first.
	Nodes []*Node
	// CA and CAFile sign and hold the API certificates when Options.TLS.
	CA     *apitls.CA
	CAFile string

	t    testing.TB
	opts Options
	hc   *http.Client // short-lived connections: no keep-alive goroutines outlive a test

	mu    sync.Mutex
	pgids []int // every process group the harness started, for the final sweep
}

// Node is one node of a cluster.
type Node struct {
	// ID is its Raft node id ("node0", …); APIAddr its API URL ("http://127.0.0.1:PORT");
	// RaftAddr its Raft host:port.
	ID, APIAddr, RaftAddr string
	// DataDir is storage "raft" path; ConfigPath its HCL file; LogPath receives its stdout
	// and stderr, across restarts.
	DataDir, ConfigPath, LogPath string
	// Client calls its API with the root token (set once the cluster is initialised).
	Client *testutil.Client

	index int
	p     *proc   // the current or last run; guarded by Cluster.mu
	runs  []*proc // every run, in order; guarded by Cluster.mu
}

// Start builds the binaries (once per test binary), starts a cluster and forms it: node0
// initialised, every other node unsealed and joined, exactly one node active and the others
// standby (formed again on other ports, up to three times, when a port it picked was taken
// meanwhile). The cleanup kills every node's process group and fails the test if any plugin
// process outlived its node.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes <= 0 {
		opts.Nodes = DefaultNodes
	}
	if opts.RollbackPeriod <= 0 {
		opts.RollbackPeriod = DefaultRollbackPeriod
	}
	if opts.RollbackMinAge <= 0 {
		opts.RollbackMinAge = DefaultRollbackMinAge
	}
	bins, err := Build()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{
		t: t, opts: opts, NodeBin: bins.Node,
		hc: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 90 * time.Second},
	}
	// Cleanups run last-registered first: the directory goes after PostgreSQL and NATS,
	// which go after the nodes.
	c.Dir = testutil.ShortTempDir(t)
	if opts.TLS {
		if err := c.makeCA(); err != nil {
			t.Fatal(err)
		}
	}
	c.PluginDir = filepath.Join(c.Dir, "plugins")
	if err := os.MkdirAll(c.PluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if c.TestPlugin, err = install(bins.TestPlugin, c.PluginDir); err != nil {
		t.Fatal(err)
	}
	if c.PGPlugin, err = install(bins.PGPlugin, c.PluginDir); err != nil {
		t.Fatal(err)
	}
	switch {
	case opts.PGServer != nil:
		c.PG = opts.PGServer
	case opts.Postgres:
		c.PG = pgtest.Start(t)
	}
	if c.NATSIDs, err = events.NewIdentities(); err != nil {
		t.Fatal(err)
	}
	c.NodeSeedFile = filepath.Join(c.Dir, "node.nk")
	if err := events.WriteSeedFile(c.NodeSeedFile, c.NATSIDs.Node); err != nil {
		t.Fatal(err)
	}
	c.NATS, err = c.runNATS(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.NATS.Shutdown() }) // the server running at the end (see RestartNATS)
	c.NATSURL = c.NATS.ClientURL()

	for i := 0; i < opts.Nodes; i++ {
		id := "node" + strconv.Itoa(i)
		c.Nodes = append(c.Nodes, &Node{
			ID: id, index: i,
			DataDir:    filepath.Join(c.Dir, id),
			ConfigPath: filepath.Join(c.Dir, id+".hcl"),
			LogPath:    filepath.Join(c.Dir, id+".log"),
			Client:     &testutil.Client{HTTP: c.hc},
		})
	}
	t.Cleanup(c.cleanup)
	for attempt := 1; ; attempt++ {
		err := c.form(t)
		if err == nil {
			return c
		}
		taken := c.portTaken(err)
		c.killAll()
		if !taken || attempt == formAttempts {
			t.Fatalf("harness: forming the cluster (attempt %d): %v%s", attempt, err, c.tails(30))
		}
		t.Logf("harness: a port was taken while the cluster formed (attempt %d); again with other ports", attempt)
		for _, n := range c.Nodes {
			if err := os.RemoveAll(n.DataDir); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// freePort picks the nodes' ports; tests replace it to take one first.
var freePort = testutil.FreePort

// formAttempts bounds Start's retries when a free port was taken before a node bound it.
const formAttempts = 3

// form gives every node fresh ports and its config, starts them, initialises node0 and
// unseals the others, and waits for one active node and the rest standby, every node a voter
// (a joined node is a non-voter until the autopilot promotes it). It returns an
// error rather than failing, so that Start can try again when a port was taken.
func (c *Cluster) form(t testing.TB) error {
	t.Helper()
	scheme := "http"
	if c.opts.TLS {
		scheme = "https"
	}
	for _, n := range c.Nodes {
		n.APIAddr = scheme + "://127.0.0.1:" + strconv.Itoa(freePort(t))
		n.RaftAddr = "127.0.0.1:" + strconv.Itoa(freePort(t))
		n.Client.Addr, n.Client.Token = n.APIAddr, ""
	}
	for _, n := range c.Nodes {
		if c.opts.TLS {
			if err := c.issue(n); err != nil {
				return err
			}
		}
		if err := os.WriteFile(n.ConfigPath, []byte(c.render(n)), 0o600); err != nil {
			return err
		}
	}
	for _, n := range c.Nodes {
		if err := c.spawn(n); err != nil {
			return fmt.Errorf("start %s: %w", n.ID, err)
		}
	}
	for _, n := range c.Nodes {
		if err := c.waitAPI(n); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), formTimeout)
	defer cancel()
	first := c.Nodes[0]
	shares, threshold := max(c.opts.Shares, 1), max(c.opts.Threshold, 1)
	r, err := first.Client.Do(ctx, "PUT", "sys/init", map[string]any{"secret_shares": shares, "secret_threshold": threshold})
	if err != nil {
		return fmt.Errorf("sys/init on %s: %w", first.ID, err)
	}
	keys, _ := r.Body["keys_base64"].([]any)
	if r.Status != http.StatusOK || len(keys) != shares || r.Body["root_token"] == nil {
		return fmt.Errorf("sys/init on %s: %d %s", first.ID, r.Status, r.Raw)
	}
	c.Keys = nil
	for _, k := range keys {
		c.Keys = append(c.Keys, fmt.Sprint(k))
	}
	c.Key, c.Threshold = c.Keys[0], threshold
	c.Token = fmt.Sprint(r.Body["root_token"])
	for _, n := range c.Nodes {
		n.Client.Token = c.Token
	}
	for i, n := range c.Nodes[1:] {
		for j := range threshold {
			r, err := n.Client.Do(ctx, "PUT", "sys/unseal", map[string]any{"key": c.Keys[(i+1+j)%len(c.Keys)]})
			if err != nil {
				return fmt.Errorf("sys/unseal on %s: %w", n.ID, err)
			}
			if r.Status != http.StatusOK {
				return fmt.Errorf("sys/unseal on %s: %d %s", n.ID, r.Status, r.Raw)
			}
		}
	}
	if err := c.waitFormed(ctx); err != nil {
		return err
	}
	return c.waitVoters(ctx, first)
}

// waitVoters waits until every node is a voter: a node joins as a non-voter and the autopilot
// promotes it once it is healthy.
func (c *Cluster) waitVoters(ctx context.Context, n *Node) error {
	var raw string
	for {
		r, err := n.Client.Do(ctx, "GET", "sys/storage/raft/configuration", nil)
		if err == nil && r.Status == http.StatusOK {
			raw = r.Raw
			if strings.Count(r.Raw, `"voter":true`) == len(c.Nodes) {
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("the autopilot did not promote every node to voter: %s", raw)
		}
		time.Sleep(pollEvery)
	}
}

// portTaken reports whether err or a node's log says a port a node was given was taken.
func (c *Cluster) portTaken(err error) bool {
	if strings.Contains(err.Error(), "address already in use") {
		return true
	}
	for _, n := range c.Nodes {
		if b, err := os.ReadFile(n.LogPath); err == nil && strings.Contains(string(b), "address already in use") {
			return true
		}
	}
	return false
}

// killAll SIGKILLs every node's process group and waits for the nodes to be reaped.
func (c *Cluster) killAll() {
	for _, n := range c.Nodes {
		if p := c.proc(n); p != nil && !p.exited() {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		}
	}
	for _, n := range c.Nodes {
		if p := c.proc(n); p != nil && !p.wait(killTimeout) {
			c.t.Errorf("harness: %s (pid %d) not reaped %s after SIGKILL", n.ID, p.pid, killTimeout)
		}
	}
}

// install links (or copies) a built plugin into the cluster's plugin directory, so that its
// processes are recognisable by their executable's path.
func install(b testutil.Binary, dir string) (testutil.Binary, error) {
	dst := filepath.Join(dir, filepath.Base(b.Path))
	if err := os.Link(b.Path, dst); err != nil {
		in, err := os.ReadFile(b.Path)
		if err != nil {
			return testutil.Binary{}, err
		}
		if err := os.WriteFile(dst, in, 0o755); err != nil {
			return testutil.Binary{}, err
		}
	}
	return testutil.Binary{Path: dst, SHA256: b.SHA256}, nil
}

// render writes node n's HCL config, with the keys an OpenBao operator writes.
func (c *Cluster) render(n *Node) string {
	var join strings.Builder
	for _, o := range c.Nodes {
		if o != n {
			fmt.Fprintf(&join, "\n  retry_join {\n    leader_api_addr = %q\n  }\n", o.APIAddr)
		}
	}
	level := os.Getenv("BATON_TEST_LOG")
	if level == "" {
		level = "info"
	}
	apiHostPort := strings.TrimPrefix(strings.TrimPrefix(n.APIAddr, "http://"), "https://")
	tlsKeys := "tls_disable     = true"
	if c.opts.TLS {
		tlsKeys = fmt.Sprintf("tls_cert_file   = %q\n  tls_key_file    = %q", c.certFile(n), c.keyFile(n))
	}
	return fmt.Sprintf(`# written by test/harness for %s
disable_mlock    = true
log_level        = %q
api_addr         = %q
cluster_addr     = %q
plugin_directory = %q

listener "tcp" {
  address         = %q
  cluster_address = %q
  %s
}

storage "raft" {
  path                   = %q
  node_id                = %q
  performance_multiplier = %d
%s}

nats {
  url       = %q
  nkey_seed = %q
}

rollback {
  period  = %q
  min_age = %q
}
%s`, n.ID, level, n.APIAddr, "http://"+n.RaftAddr, c.PluginDir, apiHostPort, n.RaftAddr, tlsKeys,
		n.DataDir, n.ID, c.opts.PerformanceMultiplier, join.String(), c.NATSURL, c.NodeSeedFile,
		c.opts.RollbackPeriod.String(), c.opts.RollbackMinAge.String(), c.opts.ExtraConfig)
}

// nodeEnv is the environment of node n's next run: the test's, without BATON_ variables a
// developer may have exported (a stray BATON_FAULT would crash every node), plus NodeEnv's
// (returned alone too, for the log).
func (c *Cluster) nodeEnv(n *Node) (env, extra []string) {
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BATON_") {
			env = append(env, kv)
		}
	}
	if c.opts.NodeEnv != nil {
		extra = c.opts.NodeEnv(n.index)
	}
	return append(env, extra...), extra
}

// spawn starts node n's process, its output appended to its log.
func (c *Cluster) spawn(n *Node) error {
	log, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close() // the child holds its own descriptor
	env, extra := c.nodeEnv(n)
	fmt.Fprintf(log, "==== harness: starting %s at %s (extra env %q)\n", n.ID, time.Now().Format(time.RFC3339Nano), extra)
	cmd := exec.Command(c.NodeBin.Path, "server", "-config", n.ConfigPath)
	cmd.Dir = c.Dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	p, err := startProcess(cmd)
	if err != nil {
		return err
	}
	c.mu.Lock()
	n.p = p
	n.runs = append(n.runs, p)
	c.pgids = append(c.pgids, p.pid)
	c.mu.Unlock()
	return nil
}

// Run is one run of a node process, for a watcher that follows processes by their pid: the
// pid is the node's from Started until Reaped and cannot be reused in between.
type Run struct {
	PID int
	// Started is a moment the process existed (just after its fork and exec), before it was
	// reaped.
	Started time.Time
	// Reaped is when the harness reaped it; zero while it is not.
	Reaped time.Time
}

// Runs lists every run of node n the harness started, oldest first.
func (c *Cluster) Runs(n *Node) []Run {
	c.mu.Lock()
	ps := slices.Clone(n.runs)
	c.mu.Unlock()
	out := make([]Run, 0, len(ps))
	for _, p := range ps {
		r := Run{PID: p.pid, Started: p.started}
		if p.exited() {
			r.Reaped = p.reaped
		}
		out = append(out, r)
	}
	return out
}

func (c *Cluster) proc(n *Node) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.p
}

// Running reports whether node n's process is alive (a frozen process is alive).
func (c *Cluster) Running(n *Node) bool {
	p := c.proc(n)
	return p != nil && !p.exited()
}

// PID is node n's current (or last) process id; 0 before it ever started.
func (c *Cluster) PID(n *Node) int {
	if p := c.proc(n); p != nil {
		return p.pid
	}
	return 0
}

// health returns node n's sys/health status, 0 when it does not answer.
func (c *Cluster) health(ctx context.Context, n *Node) int {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.APIAddr+"/v1/sys/health", nil)
	if err != nil {
		return 0
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// IsActive reports whether node n answers sys/health with 200 (active) right now.
func (c *Cluster) IsActive(ctx context.Context, n *Node) bool {
	return c.health(ctx, n) == http.StatusOK
}

// statuses asks every running node's sys/health at once (a stopped node shows 0).
func (c *Cluster) statuses(ctx context.Context) []int {
	out := make([]int, len(c.Nodes))
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		if !c.Running(n) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.health(ctx, n)
		}()
	}
	wg.Wait()
	return out
}

func (c *Cluster) describeStatuses(st []int) string {
	parts := make([]string, len(st))
	for i, s := range st {
		parts[i] = fmt.Sprintf("%s=%d", c.Nodes[i].ID, s)
	}
	return strings.Join(parts, " ")
}

// Active returns the single node whose sys/health answers 200; an error when none or
// several do.
func (c *Cluster) Active(ctx context.Context) (*Node, error) {
	st := c.statuses(ctx)
	var active *Node
	for i, s := range st {
		if s == http.StatusOK {
			if active != nil {
				return nil, fmt.Errorf("harness: several active nodes (%s)", c.describeStatuses(st))
			}
			active = c.Nodes[i]
		}
	}
	if active == nil {
		return nil, fmt.Errorf("harness: no active node (%s)", c.describeStatuses(st))
	}
	return active, nil
}

// WaitActive waits up to timeout for a single active node other than not (nil: any node).
func (c *Cluster) WaitActive(t testing.TB, not *Node, timeout time.Duration) *Node {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), healthTimeout)
		a, err := c.Active(ctx)
		cancel()
		if err == nil && a != not {
			return a
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("%s is still the active node", a.ID)
		}
		if time.Now().After(deadline) {
			t.Fatalf("harness: no single active node other than %s after %s: %v%s", nodeID(not), timeout, last, c.tails(20))
		}
		time.Sleep(pollEvery)
	}
}

func nodeID(n *Node) string {
	if n == nil {
		return "(none)"
	}
	return n.ID
}

// waitFormed waits until exactly one node answers 200 and every other 429.
func (c *Cluster) waitFormed(ctx context.Context) error {
	for {
		st := c.statuses(ctx)
		active, standby := 0, 0
		for _, s := range st {
			switch s {
			case http.StatusOK:
				active++
			case http.StatusTooManyRequests:
				standby++
			}
		}
		if active == 1 && standby == len(st)-1 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cluster did not form (want one 200 and the rest 429): %s", c.describeStatuses(st))
		}
		time.Sleep(pollEvery)
	}
}

// waitAPI waits until node n answers HTTP; it gives up at once if the process exits.
func (c *Cluster) waitAPI(n *Node) error {
	p := c.proc(n)
	deadline := time.Now().Add(apiTimeout)
	for c.health(context.Background(), n) == 0 {
		if p.exited() {
			return fmt.Errorf("%s exited at start (%v)", n.ID, p.state)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not answer HTTP at %s after %s", n.ID, n.APIAddr, apiTimeout)
		}
		time.Sleep(pollEvery)
	}
	return nil
}

// Launch starts node n's process again (same config, data directory and ports; environment
// from NodeEnv) and waits until it answers HTTP, without unsealing it: for a test that
// expects the node to crash soon after its unseal, or that wants to see it sealed.
func (c *Cluster) Launch(t testing.TB, n *Node) {
	t.Helper()
	if c.Running(n) {
		t.Fatalf("harness: launch %s: it is still running (pid %d)", n.ID, c.PID(n))
	}
	if err := c.spawn(n); err != nil {
		t.Fatalf("harness: launch %s: %v", n.ID, err)
	}
	if err := c.waitAPI(n); err != nil {
		t.Fatalf("harness: launch: %v%s", err, c.tail(n, 50))
	}
}

// Restart starts node n's process again (as Launch), unseals it and waits until it answers
// as the active node or a standby.
func (c *Cluster) Restart(t testing.TB, n *Node) {
	t.Helper()
	c.Launch(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), answerTimeout)
	defer cancel()
	for j := range max(c.Threshold, 1) {
		n.Client.Must(t, ctx, "PUT", "sys/unseal", map[string]any{"key": c.Keys[j%len(c.Keys)]})
	}
	for {
		switch c.health(ctx, n) {
		case http.StatusOK, http.StatusTooManyRequests:
			return
		}
		if !c.Running(n) {
			t.Fatalf("harness: %s exited after its unseal%s", n.ID, c.tail(n, 50))
		}
		if ctx.Err() != nil {
			t.Fatalf("harness: %s is neither active nor standby %s after its restart%s", n.ID, answerTimeout, c.tail(n, 50))
		}
		time.Sleep(pollEvery)
	}
}

// WaitExit waits up to timeout for node n's process to exit by itself (a fault point, a
// shutdown the test asked for) and returns how it ended.
func (c *Cluster) WaitExit(t testing.TB, n *Node, timeout time.Duration) *os.ProcessState {
	t.Helper()
	p := c.proc(n)
	if p == nil {
		t.Fatalf("harness: %s was never started", n.ID)
	}
	if !p.wait(timeout) {
		t.Fatalf("harness: %s still runs after %s%s", n.ID, timeout, c.tail(n, 30))
	}
	return p.state
}

// Kill SIGKILLs node n's process alone, not its group: its plugins must die by themselves
// (invariant 2). It returns once the node has been reaped.
func (c *Cluster) Kill(n *Node) {
	p := c.proc(n)
	if p == nil || p.exited() {
		return
	}
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	if !p.wait(killTimeout) {
		c.t.Errorf("harness: %s (pid %d) not reaped %s after SIGKILL", n.ID, p.pid, killTimeout)
	}
}

// Stop SIGTERMs node n and waits for its clean exit; an exit code other than 0, or no exit
// within the bound, fails the test.
func (c *Cluster) Stop(n *Node) {
	p := c.proc(n)
	if p == nil || p.exited() {
		return
	}
	_ = syscall.Kill(p.pid, syscall.SIGTERM)
	if !p.wait(stopTimeout) {
		c.t.Errorf("harness: %s did not exit %s after SIGTERM; killing it%s", n.ID, stopTimeout, c.tail(n, 50))
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		p.wait(killTimeout)
		return
	}
	if code := p.state.ExitCode(); code != 0 {
		c.t.Errorf("harness: %s exited with %v after SIGTERM, want exit code 0%s", n.ID, p.state, c.tail(n, 50))
	}
}

// Freeze SIGSTOPs node n's whole process group (node and plugins), as a paused machine.
//
// A paused machine stops everything at once; SIGSTOP to a group does not stop a child whose
// fork was under way when the signal went out (it joins the group just after). So Freeze
// repeats the signal until every process of the group is stopped (bounded), as a pause would
// have left them.
func (c *Cluster) Freeze(n *Node) {
	c.signalGroup(n, syscall.SIGSTOP)
	p := c.proc(n)
	if p == nil {
		return
	}
	for range 50 {
		running := false
		for _, pr := range processes() {
			if pr.pgid == p.pid && pr.state != 'T' && pr.state != 't' {
				running = true
				_ = syscall.Kill(pr.pid, syscall.SIGSTOP)
			}
		}
		if !running {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Thaw SIGCONTs node n's process group.
func (c *Cluster) Thaw(n *Node) { c.signalGroup(n, syscall.SIGCONT) }

func (c *Cluster) signalGroup(n *Node, sig syscall.Signal) {
	p := c.proc(n)
	if p == nil || p.exited() {
		c.t.Errorf("harness: %v to %s: it is not running", sig, n.ID)
		return
	}
	if err := syscall.Kill(-p.pid, sig); err != nil {
		c.t.Errorf("harness: %v to %s's group: %v", sig, n.ID, err)
	}
}

// PluginPIDs lists the live processes below node n's process (its plugins), sorted; nil when
// the node is not running.
func (c *Cluster) PluginPIDs(n *Node) []int {
	p := c.proc(n)
	if p == nil || p.exited() {
		return nil
	}
	return descendants(processes(), p.pid)
}

// OrphansKey is AllPluginPIDs's key for plugin processes whose node is gone.
const OrphansKey = "orphans"

// AllPluginPIDs lists plugin processes by node id, for every running node, and under
// OrphansKey every process running a binary of PluginDir that no running node owns.
func (c *Cluster) AllPluginPIDs() map[string][]int {
	ps := processes()
	out := map[string][]int{}
	owned := map[int]bool{}
	for _, n := range c.Nodes {
		p := c.proc(n)
		if p == nil || p.exited() {
			continue
		}
		pids := descendants(ps, p.pid)
		out[n.ID] = pids
		for _, pid := range pids {
			owned[pid] = true
		}
	}
	for _, pr := range ps {
		if pr.runsFrom(c.PluginDir) && !owned[pr.pid] {
			out[OrphansKey] = append(out[OrphansKey], pr.pid)
		}
	}
	sort.Ints(out[OrphansKey])
	return out
}

// leftovers lists processes of this cluster still alive: plugin binaries of PluginDir, and
// node binaries in a process group the harness started.
func (c *Cluster) leftovers(orphansOnly bool) []int {
	c.mu.Lock()
	groups := map[int]bool{}
	for _, g := range c.pgids {
		groups[g] = true
	}
	c.mu.Unlock()
	var out []int
	if orphansOnly {
		return c.AllPluginPIDs()[OrphansKey]
	}
	for _, p := range processes() {
		if p.runsFrom(c.PluginDir) || (groups[p.pgid] && p.exe == c.NodeBin.Path) {
			out = append(out, p.pid)
		}
	}
	return out
}

// waitNone polls list until it is empty or the bound passes, returning what is left.
func waitNone(list func() []int, d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		left := list()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(pollEvery)
	}
}

// cleanup checks that the plugins of nodes that died during the test died with them, kills
// every node's process group, and checks that nothing of the cluster is left.
func (c *Cluster) cleanup() {
	if left := waitNone(func() []int { return c.leftovers(true) }, leftTimeout); len(left) > 0 {
		c.t.Errorf("harness: plugin processes outlived their node: %s", describe(left))
		killAll(left)
	}
	if c.t.Failed() {
		c.t.Logf("harness: node logs (last lines):%s", c.tails(50))
	}
	c.killAll()
	if left := waitNone(func() []int { return c.leftovers(false) }, leftTimeout); len(left) > 0 {
		c.t.Errorf("harness: processes left after the cluster was killed: %s", describe(left))
		killAll(left)
	}
	c.hc.CloseIdleConnections()
}

func killAll(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// LogTail returns the last lines of node n's log.
func (c *Cluster) LogTail(n *Node, lines int) string {
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		return fmt.Sprintf("(log of %s: %v)", n.ID, err)
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func (c *Cluster) tail(n *Node, lines int) string {
	return fmt.Sprintf("\n---- %s (%s), last %d lines:\n%s", n.ID, n.LogPath, lines, c.LogTail(n, lines))
}

func (c *Cluster) tails(lines int) string {
	var b strings.Builder
	for _, n := range c.Nodes {
		b.WriteString(c.tail(n, lines))
	}
	return b.String()
}

// ErrNoPostgres is SetupPGDB's complaint when the cluster has no PostgreSQL.
var ErrNoPostgres = errors.New("harness: the cluster has no PostgreSQL: set Options.Postgres or Options.PGServer")

// RestartNATS shuts the cluster's NATS server down and starts it again on the same port and
// store directory, as an operator's restart of NATS would look to the nodes.
func (c *Cluster) RestartNATS(t testing.TB) {
	t.Helper()
	port := c.NATS.Port()
	c.NATS.Shutdown()
	srv, err := c.runNATS(port)
	if err != nil {
		t.Fatalf("restart NATS on port %d: %v", port, err)
	}
	c.NATS = srv
}

// runNATS starts the cluster's NATS server on port (0: any free one), admitting the
// cluster's identities with their permissions.
func (c *Cluster) runNATS(port int) (*events.Embedded, error) {
	return events.RunEmbedded(events.EmbeddedConfig{DataDir: filepath.Join(c.Dir, "nats"), Port: port,
		Cluster: config.DefaultClusterName, Keys: c.NATSIDs.Keys()})
}

// NATSAuth is the option a test's NATS client authenticates with as role (an operator to
// inject, a watcher to follow transitions).
func (c *Cluster) NATSAuth(role events.Role) nats.Option {
	id := map[events.Role]events.Identity{events.RoleNode: c.NATSIDs.Node, events.RoleOperator: c.NATSIDs.Operator, events.RoleWatcher: c.NATSIDs.Watcher}[role]
	return id.NATSOption()
}

// StopNATS shuts the cluster's NATS server down; StartNATS brings it back on the same port.
func (c *Cluster) StopNATS() {
	c.natsPort = c.NATS.Port()
	c.NATS.Shutdown()
}

// StartNATS starts the NATS server again on its port and store directory after StopNATS.
func (c *Cluster) StartNATS(t testing.TB) {
	t.Helper()
	port := c.natsPort
	srv, err := c.runNATS(port)
	if err != nil {
		t.Fatalf("restart NATS on port %d: %v", port, err)
	}
	c.NATS = srv
}
