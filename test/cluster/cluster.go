// Package cluster runs Baton clusters inside a test process: real nodes (core, Raft over TCP on
// loopback with boltdb, the plugin pool spawning real plugin processes, the HTTP API), one real
// embedded NATS server they share, formed the way operators form them (sys/init on one node,
// sys/storage/raft/join and sys/unseal on the others).
package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/apitls"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/internal/server"
	"github.com/baton-hq/baton/internal/telemetry"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/test/testutil"
)

// Cluster is a set of in-process nodes.
type Cluster struct {
	t         testing.TB
	Dir       string
	PluginDir string
	NATS      *events.Embedded
	// NATSIDs are the identities the shared NATS server admits; the nodes connect with the
	// node identity's seed (NodeSeedFile), as an operator's nats { nkey_seed } would.
	NATSIDs      events.Identities
	NodeSeedFile string
	// Key is the first unseal key share; Keys all of them, Threshold how many unseal.
	Key       string
	Keys      []string
	Threshold int
	Token     string
	Plugin    testutil.Binary
	Name      string
	// Nodes is filled by New before any test goroutine reads it.
	Nodes []*Member
	// CA signs every node's API certificate when Options.APITLS is set; CAFile holds it and
	// HTTP is a client that trusts it (and presents ClientCert/ClientKey, from the CA).
	CA                    *apitls.CA
	CAFile                string
	ClientCert, ClientKey string
	HTTP                  *http.Client
}

// Member is one node of the cluster.
type Member struct {
	ID     string
	Cfg    server.Config
	S      *server.Server
	Client *testutil.Client
}

// Options tune a cluster.
type Options struct {
	// Raft overrides the test profile (TestRaftConfig).
	Raft *raftstore.Config
	// RollbackMinAge for the engine (default 1 s in tests).
	RollbackMinAge time.Duration
	// RollbackWindow for the engine (its default when zero).
	RollbackWindow time.Duration
	// EmbeddedNATS has each node run its own NATS server (on a port kept across restarts)
	// instead of the shared one: the single-node deployment. The shared server still runs.
	EmbeddedNATS bool
	// EmbeddedNATSTLS, with EmbeddedNATS, is each node's nats.tls block: its cert_file and
	// key_file make the embedded server serve TLS only, ca_file is what the node verifies it with.
	EmbeddedNATSTLS *events.ClientConfig
	// EventLimit is each node's event intake rate (no limit when zero).
	EventLimit events.Limit
	// Telemetry is each node's telemetry stanza (telemetry.DefaultConfig when nil), and
	// UnauthenticatedMetricsAccess the listener's key of that name.
	Telemetry                    *telemetry.Config
	UnauthenticatedMetricsAccess bool
	// APITLS serves every node's API over TLS (api_addr https) with a certificate for
	// 127.0.0.1 from the cluster's test CA (Cluster.CA), which the nodes find in their own
	// certificate file; RequireClientCert also sets tls_require_and_verify_client_cert.
	APITLS, RequireClientCert bool
	// Shares and Threshold split the unseal key at init (1 and 1 when zero).
	Shares, Threshold int
}

// TestRaftConfig is the Raft profile of the tests: the fast profile's timings tripled (heartbeat
// and election 600 ms, leader lease 300 ms). The tests run three race-instrumented nodes, their
// plugins and PostgreSQL on two cores beside other test packages; there a 100 ms lease lapses
// now and then and leadership moves in the middle of a test's setup, which is not what most
// tests are about. What failover costs with the fast profile is measured by the benchmarks,
// which ask for raftstore.FastConfig.
func TestRaftConfig() raftstore.Config {
	c := raftstore.FastConfig()
	c.HeartbeatTimeout *= 3
	c.ElectionTimeout *= 3
	c.LeaderLeaseTimeout *= 3
	return c
}

// New starts n nodes and forms a cluster, leaving node 0 active.
func New(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	dir := testutil.ShortTempDir(t)
	c := &Cluster{t: t, Dir: dir, PluginDir: filepath.Join(dir, "plugins"), Name: "test"}
	if err := os.MkdirAll(c.PluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := testutil.Build(c.PluginDir, "./cmd/baton-test-plugin", "baton-test-plugin")
	if err != nil {
		t.Fatal(err)
	}
	c.Plugin = bin
	if c.NATSIDs, err = events.NewIdentities(); err != nil {
		t.Fatal(err)
	}
	c.NodeSeedFile = filepath.Join(dir, "node.nk")
	if err := events.WriteSeedFile(c.NodeSeedFile, c.NATSIDs.Node); err != nil {
		t.Fatal(err)
	}
	nats, err := events.RunEmbedded(events.EmbeddedConfig{DataDir: filepath.Join(dir, "nats"), Cluster: c.Name, Keys: c.NATSIDs.Keys()})
	if err != nil {
		t.Fatal(err)
	}
	c.NATS = nats
	t.Cleanup(c.close)
	for i := 0; i < n; i++ {
		c.add(i, opts)
	}
	ctx := testutil.Context(t, 60*time.Second)
	first := c.Nodes[0]
	shares, threshold := max(opts.Shares, 1), max(opts.Threshold, 1)
	r := first.Client.Must(t, ctx, "PUT", "sys/init", map[string]any{"secret_shares": shares, "secret_threshold": threshold})
	keys, _ := r.Body["keys_base64"].([]any)
	for _, k := range keys {
		c.Keys = append(c.Keys, fmt.Sprint(k))
	}
	c.Key, c.Threshold = c.Keys[0], threshold
	c.Token = fmt.Sprint(r.Body["root_token"])
	for _, m := range c.Nodes {
		m.Client.Token = c.Token
	}
	for _, m := range c.Nodes[1:] {
		m.Client.Must(t, ctx, "POST", "sys/storage/raft/join", map[string]any{"leader_api_addr": first.S.URL()})
		c.Unseal(ctx, m)
	}
	testutil.Eventually(t, 30*time.Second, "one active node and every node unsealed", func() bool {
		return c.Active() == first
	})
	// Joined nodes are non-voters until the autopilot promotes them.
	testutil.Eventually(t, 30*time.Second, "every node a voter", func() bool { return c.Voters(first) == n })
	return c
}

// Voters counts the voters of the Raft configuration as m knows it.
func (c *Cluster) Voters(m *Member) int {
	st := m.S.Node.Store()
	if st == nil {
		return 0
	}
	servers, err := st.Configuration()
	if err != nil {
		return 0
	}
	n := 0
	for _, s := range servers {
		if s.Voter {
			n++
		}
	}
	return n
}

// AddRetryJoin starts one more node whose configuration has retry_join to node 0's API
// address, as an operator's HCL would, and leaves it sealed.
func (c *Cluster) AddRetryJoin(opts Options) *Member {
	c.t.Helper()
	c.add(len(c.Nodes), opts, c.Nodes[0].Cfg.Core.APIAddr)
	return c.Nodes[len(c.Nodes)-1]
}

func (c *Cluster) add(i int, opts Options, retryJoin ...string) {
	c.t.Helper()
	id := "node" + strconv.Itoa(i)
	rc := TestRaftConfig()
	if opts.Raft != nil {
		rc = *opts.Raft
	}
	minAge := opts.RollbackMinAge
	if minAge == 0 {
		minAge = time.Second
	}
	raftPort := testutil.FreePort(c.t)
	cfg := server.Config{
		Core: core.Config{
			NodeID:     id,
			DataDir:    filepath.Join(c.Dir, id),
			RaftBind:   "127.0.0.1:" + strconv.Itoa(raftPort),
			Raft:       rc,
			Cluster:    c.Name,
			NATSURL:    c.NATS.ClientURL(),
			NATSClient: events.ClientConfig{NKeySeedFile: c.NodeSeedFile},
			EventLimit: opts.EventLimit,
			Logger: hclog.New(&hclog.LoggerOptions{Name: id, Level: hclog.LevelFromString(envOr("BATON_TEST_LOG", "warn")),
				Output: os.Stderr}),
		},
		Listen:         "127.0.0.1:" + strconv.Itoa(testutil.FreePort(c.t)),
		PluginDir:      c.PluginDir,
		StartTimeout:   10 * time.Second,
		RollbackPeriod: time.Second,
		RollbackMinAge: minAge,
		RollbackWindow: opts.RollbackWindow,
		LeasePeriod:    200 * time.Millisecond,
		RetryJoin:      retryJoin,

		Telemetry:                    opts.Telemetry,
		UnauthenticatedMetricsAccess: opts.UnauthenticatedMetricsAccess,
	}
	cfg.Core.APIAddr = "http://" + cfg.Listen
	if opts.APITLS {
		cfg.TLS = c.listenerTLS(id, opts.RequireClientCert)
		cfg.Core.APIAddr = "https://" + cfg.Listen
	}
	if opts.EmbeddedNATS {
		cfg.Core.NATSURL, cfg.Core.NATSClient = "", events.ClientConfig{}
		if t := opts.EmbeddedNATSTLS; t != nil {
			cfg.Core.NATSClient.CAFile, cfg.Core.NATSClient.CertFile, cfg.Core.NATSClient.KeyFile = t.CAFile, t.CertFile, t.KeyFile
		}
		cfg.Core.EmbeddedNATSPort = testutil.FreePort(c.t)
	}
	m := &Member{ID: id, Cfg: cfg}
	c.start(m)
	c.Nodes = append(c.Nodes, m)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (c *Cluster) start(m *Member) {
	c.t.Helper()
	s, err := server.New(m.Cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", m.ID, err)
	}
	m.S = s
	m.Client = &testutil.Client{Addr: m.Cfg.Core.APIAddr, Token: c.Token, HTTP: c.HTTP}
}

// listenerTLS makes the test CA on first use (with the client HTTP that trusts it) and a
// certificate for node id, and returns the node's listener TLS setting.
func (c *Cluster) listenerTLS(id string, requireClient bool) *server.ListenerTLS {
	c.t.Helper()
	dir := filepath.Join(c.Dir, "tls")
	issue := func(name string) (string, string) {
		is, err := c.CA.Issue(name, []string{"127.0.0.1", "localhost"}, 24*time.Hour)
		if err != nil {
			c.t.Fatal(err)
		}
		cf, kf := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		if err := is.WriteFiles(cf, kf); err != nil {
			c.t.Fatal(err)
		}
		return cf, kf
	}
	if c.CA == nil {
		ca, err := apitls.NewCA("test cluster CA", 24*time.Hour)
		if err != nil {
			c.t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			c.t.Fatal(err)
		}
		c.CA, c.CAFile = ca, filepath.Join(dir, "ca.pem")
		if err := os.WriteFile(c.CAFile, ca.CertPEM, 0o644); err != nil {
			c.t.Fatal(err)
		}
		c.ClientCert, c.ClientKey = issue("client")
		tc, err := apitls.ClientConfig(apitls.ClientOptions{CACert: c.CAFile, ClientCert: c.ClientCert, ClientKey: c.ClientKey})
		if err != nil {
			c.t.Fatal(err)
		}
		tr := &http.Transport{TLSClientConfig: tc}
		c.t.Cleanup(tr.CloseIdleConnections)
		c.HTTP = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	}
	cf, kf := issue(id)
	t := &server.ListenerTLS{CertFile: cf, KeyFile: kf}
	if requireClient {
		t.Options = apitls.ServerOptions{ClientCAFile: c.CAFile, RequireClientCert: true}
	}
	return t
}

// Stop shuts a node down gracefully.
func (c *Cluster) Stop(m *Member) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if m.S != nil {
		if err := m.S.Close(ctx); err != nil {
			c.t.Logf("stop %s: %v", m.ID, err)
		}
		m.S = nil
	}
}

// Halt stops a node as a crash would: no leadership hand-over.
func (c *Cluster) Halt(m *Member) {
	if m.S != nil {
		m.S.Halt()
		m.S = nil
	}
}

// Restart starts a stopped node on its data directory and unseals it.
func (c *Cluster) Restart(m *Member) {
	c.t.Helper()
	c.start(m)
	c.Unseal(testutil.Context(c.t, 30*time.Second), m)
}

// Unseal gives m the cluster's unseal key shares, as many as the threshold, each node its own
// choice: node i starts at share i, so that nodes unseal with different subsets.
func (c *Cluster) Unseal(ctx context.Context, m *Member) {
	c.t.Helper()
	start := 0
	for i, n := range c.Nodes {
		if n == m {
			start = i
		}
	}
	for j := 0; j < c.Threshold; j++ {
		m.Client.Must(c.t, ctx, "PUT", "sys/unseal", map[string]any{"key": c.Keys[(start+j)%len(c.Keys)]})
	}
}

// Active returns the single active node, or nil when there is none or more than one.
func (c *Cluster) Active() *Member {
	var active *Member
	for _, m := range c.Nodes {
		if m.S != nil && m.S.Node.IsActive() {
			if active != nil {
				return nil
			}
			active = m
		}
	}
	return active
}

// WaitActive waits for a single active node other than not (nil: any).
func (c *Cluster) WaitActive(not *Member, timeout time.Duration) *Member {
	c.t.Helper()
	var a *Member
	testutil.Eventually(c.t, timeout, "a single active node", func() bool {
		a = c.Active()
		return a != nil && a != not
	})
	return a
}

// NATSConn connects to the cluster's NATS server as one of its identities (a node's
// connection uses the node inbox prefix, as the nodes' own do); it is closed at cleanup.
func (c *Cluster) NATSConn(t testing.TB, role events.Role) *nats.Conn {
	t.Helper()
	id := map[events.Role]events.Identity{events.RoleNode: c.NATSIDs.Node, events.RoleOperator: c.NATSIDs.Operator, events.RoleWatcher: c.NATSIDs.Watcher}[role]
	cc := events.ClientConfig{URL: c.NATS.ClientURL(), Name: t.Name() + "-" + string(role), Identity: &id}
	if role == events.RoleNode {
		cc.InboxPrefix = events.NodeInboxPrefix
	}
	ctx := testutil.Context(t, 30*time.Second)
	nc, err := events.Connect(ctx, cc)
	if err != nil {
		t.Fatalf("NATS as %s: %v", role, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func (c *Cluster) close() {
	var wg sync.WaitGroup
	for _, m := range c.Nodes {
		if m.S != nil {
			wg.Add(1)
			go func(m *Member) { defer wg.Done(); c.Stop(m) }(m)
		}
	}
	wg.Wait()
	c.NATS.Shutdown()
}
