package raftstore

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/baton-hq/baton/internal/clusterpki"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/test/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor bounds every wait in these tests; the fast profile elects in well under a second.
const waitFor = 15 * time.Second

// errRefused is the business refusal the test dispatcher returns for "fail" commands.
var errRefused = errors.New("refused by the state")

// kvPayload is the payload of "put" commands.
type kvPayload struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// testDispatcher is a map KV plus the ids applied, idempotent by id as the real state is.
type testDispatcher struct {
	mu       sync.Mutex
	kv       map[string]string
	ids      []string
	results  map[string]any
	restores int
}

func newTestDispatcher() *testDispatcher {
	return &testDispatcher{kv: map[string]string{}, results: map[string]any{}}
}

func (d *testDispatcher) Apply(index uint64, c *command.Command) any {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.results[c.ID]; ok {
		return r
	}
	var res any
	switch c.Type {
	case "put":
		var p kvPayload
		if err := c.Decode(&p); err != nil {
			res = err
			break
		}
		d.kv[p.Key] = p.Value
		res = fmt.Sprintf("stored %s at %d", p.Key, index)
	case "fail":
		res = fmt.Errorf("command %s: %w", c.ID, errRefused)
	default:
		res = fmt.Errorf("unknown command type %q", c.Type)
	}
	d.results[c.ID] = res
	d.ids = append(d.ids, c.ID)
	return res
}

type snapshotState struct {
	KV  map[string]string `json:"kv"`
	IDs []string          `json:"ids"`
}

func (d *testDispatcher) Snapshot() ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return json.Marshal(snapshotState{KV: d.kv, IDs: d.ids})
}

func (d *testDispatcher) Restore(r io.Reader) error {
	var st snapshotState
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.kv, d.ids, d.results = st.KV, st.IDs, map[string]any{}
	for _, id := range st.IDs {
		d.results[id] = "restored"
	}
	d.restores++
	return nil
}

func (d *testDispatcher) get(key string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.kv[key]
	return v, ok
}

func (d *testDispatcher) appliedIDs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ids)
}

func (d *testDispatcher) restoreCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restores
}

// testLogger is silent unless RAFTSTORE_TEST_LOG names an hclog level (debug, info, warn…).
func testLogger(name string) hclog.Logger {
	level := hclog.Off
	if l := os.Getenv("RAFTSTORE_TEST_LOG"); l != "" {
		level = hclog.LevelFromString(l)
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: level, Output: os.Stderr})
}

// testCA is the cluster CA of this package's tests, made once.
var testCA = sync.OnceValue(func() *clusterpki.CA {
	ca, err := clusterpki.NewCA(time.Now())
	if err != nil {
		panic(err)
	}
	return ca
})

// testTLS is node id's cluster-port configuration with a certificate from ca; isMember nil
// admits any node with a certificate from ca.
func testTLS(tb testing.TB, ca *clusterpki.CA, id string, isMember func(string) bool) *tls.Config {
	tb.Helper()
	m, err := clusterpki.Issue(ca, id, time.Hour, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	ident, err := clusterpki.NewIdentity(id, m, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	if isMember == nil {
		isMember = func(string) bool { return true }
	}
	return ident.TLSConfig(isMember, testLogger(id))
}

// testConfig is the fast profile with its timings tripled (as test/cluster's profile: under
// -race on a shared machine, the first TLS handshakes to a new peer can outlast a 100 ms
// lease) on a free loopback port in a fresh directory, with mutual TLS from the tests' CA.
func testConfig(tb testing.TB, id string) Config {
	tb.Helper()
	c := FastConfig()
	c.HeartbeatTimeout *= 3
	c.ElectionTimeout *= 3
	c.LeaderLeaseTimeout *= 3
	c.NodeID = id
	c.Dir = tb.TempDir()
	c.BindAddr = "127.0.0.1:0"
	c.Logger = testLogger(id)
	c.TLS = testTLS(tb, testCA(), id, nil)
	return c
}

// node is one open Store with its dispatcher and the config that reopens it on the same
// directory and port.
type node struct {
	cfg Config
	s   *Store
	d   *testDispatcher
}

// openNode opens a Store (closed at cleanup) and pins its BindAddr to the port it got.
func openNode(tb testing.TB, cfg Config) *node {
	tb.Helper()
	d := newTestDispatcher()
	s, err := Open(cfg, d)
	if err != nil {
		tb.Fatalf("open %s: %v", cfg.NodeID, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("close %s: %v", cfg.NodeID, err)
		}
	})
	cfg.BindAddr = s.Addr()
	return &node{cfg: cfg, s: s, d: d}
}

func ctxFor(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	tb.Cleanup(cancel)
	return ctx
}

// newCluster bootstraps the first node, joins the others through it, and waits until every
// node knows the first one leads.
func newCluster(tb testing.TB, n int, tune func(*Config)) []*node {
	tb.Helper()
	var nodes []*node
	for i := range n {
		cfg := testConfig(tb, fmt.Sprintf("n%d", i))
		if tune != nil {
			tune(&cfg)
		}
		nodes = append(nodes, openNode(tb, cfg))
	}
	if err := nodes[0].s.Bootstrap(); err != nil {
		tb.Fatalf("bootstrap: %v", err)
	}
	testutil.Eventually(tb, waitFor, "n0 to lead", nodes[0].s.IsLeader)
	for _, nd := range nodes[1:] {
		if err := nodes[0].s.Join(ctxFor(tb), nd.cfg.NodeID, nd.s.Addr()); err != nil {
			tb.Fatalf("join %s: %v", nd.cfg.NodeID, err)
		}
	}
	for _, nd := range nodes {
		testutil.Eventually(tb, waitFor, nd.cfg.NodeID+" to know the leader", func() bool {
			id, _ := nd.s.Leader()
			return id == "n0"
		})
	}
	return nodes
}

// leaderOf waits until exactly one of the open nodes leads, and returns it.
func leaderOf(tb testing.TB, nodes ...*node) *node {
	tb.Helper()
	var leader *node
	testutil.Eventually(tb, waitFor, "a single leader", func() bool {
		leader = nil
		for _, nd := range nodes {
			if nd.s.IsLeader() {
				if leader != nil {
					return false
				}
				leader = nd
			}
		}
		return leader != nil
	})
	return leader
}

func putCmd(tb testing.TB, id, key, value string) *command.Command {
	tb.Helper()
	c, err := command.New("put", id, command.SourceAPI, time.Now(), kvPayload{Key: key, Value: value})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// put applies a "put" on s and returns its index.
func put(tb testing.TB, s *Store, id, key, value string) uint64 {
	tb.Helper()
	idx, _, err := s.Apply(ctxFor(tb), putCmd(tb, id, key, value))
	if err != nil {
		tb.Fatalf("apply %s: %v", id, err)
	}
	return idx
}

// recvLeadership reads ch until it yields want.
func recvLeadership(tb testing.TB, name string, ch <-chan bool, want bool) {
	tb.Helper()
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				tb.Fatalf("%s: leadership channel closed while waiting for %v", name, want)
			}
			if v == want {
				return
			}
		case <-timer.C:
			tb.Fatalf("%s: no leadership %v within %s", name, want, waitFor)
		}
	}
}
