package harness

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/baton-hq/baton/internal/config"
	"github.com/baton-hq/baton/test/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(Main(m)) }

func TestParseStat(t *testing.T) {
	tests := []struct {
		name, in string
		want     procInfo
		bad      bool
	}{
		{name: "plain", in: "123 (node) S 1 123 123 0 -1", want: procInfo{pid: 123, ppid: 1, pgid: 123, state: 'S'}},
		{name: "comm with spaces and parens", in: "77 (a) b (c)) R 5 6 7 0", want: procInfo{pid: 77, ppid: 5, pgid: 6, state: 'R'}},
		{name: "zombie", in: "9 (x) Z 1 9 9", want: procInfo{pid: 9, ppid: 1, pgid: 9, state: 'Z'}},
		{name: "no parens", in: "9 x Z 1 9 9", bad: true},
		{name: "short", in: "9 (x) Z 1", bad: true},
		{name: "bad ppid", in: "9 (x) S y 9", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("parseStat(%q) = %+v, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseStat(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDescendants(t *testing.T) {
	ps := []procInfo{{pid: 10, ppid: 1}, {pid: 11, ppid: 10}, {pid: 12, ppid: 10}, {pid: 13, ppid: 12}, {pid: 20, ppid: 1}}
	tests := []struct {
		root int
		want []int
	}{{10, []int{11, 12, 13}}, {12, []int{13}}, {20, nil}, {99, nil}}
	for _, tt := range tests {
		if got := descendants(ps, tt.root); !slices.Equal(got, tt.want) {
			t.Errorf("descendants(%d) = %v, want %v", tt.root, got, tt.want)
		}
	}
}

// TestRenderedConfigParses checks the harness writes what the node's own parser accepts,
// with every value where the node will look for it.
func TestRenderedConfigParses(t *testing.T) {
	c := &Cluster{Dir: "/tmp/x", PluginDir: "/tmp/x/plugins", NATSURL: "nats://127.0.0.1:4222",
		opts: Options{RollbackPeriod: 500 * time.Millisecond, RollbackMinAge: 3 * time.Second, PerformanceMultiplier: 2}}
	for i, port := range []string{"18200", "18210", "18220"} {
		c.Nodes = append(c.Nodes, &Node{ID: "node" + port[3:4], index: i, APIAddr: "http://127.0.0.1:" + port,
			RaftAddr: "127.0.0.1:2" + port[1:], DataDir: "/tmp/x/node" + port[3:4]})
	}
	n := c.Nodes[1]
	cfg, warnings, err := config.Parse([]byte(c.render(n)), "node1.hcl")
	if err != nil {
		t.Fatalf("rendered config does not parse: %v\n%s", err, c.render(n))
	}
	for _, w := range warnings {
		if !strings.Contains(w.Key, "disable_mlock") {
			t.Errorf("unexpected warning: %+v", w)
		}
	}
	var joins []string
	for _, j := range cfg.Storage.RetryJoin {
		joins = append(joins, j.LeaderAPIAddr)
	}
	checks := []struct{ name, got, want string }{
		{"api_addr", cfg.APIAddr, "http://127.0.0.1:18210"},
		{"raft", cfg.RaftAdvertise(), n.RaftAddr},
		{"listener", cfg.Listener.Address, "127.0.0.1:18210"},
		{"node_id", cfg.Storage.NodeID, n.ID},
		{"path", cfg.Storage.Path, n.DataDir},
		{"plugins", cfg.PluginDirectory, c.PluginDir},
		{"nats", cfg.NATS.URL, c.NATSURL},
		{"retry_join", strings.Join(joins, ","), "http://127.0.0.1:18200,http://127.0.0.1:18220"},
		{"period", cfg.Rollback.Period.String(), "500ms"},
		{"min_age", cfg.Rollback.MinAge.String(), "3s"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
	if cfg.Storage.PerformanceMultiplier != 2 {
		t.Errorf("performance_multiplier = %d, want 2", cfg.Storage.PerformanceMultiplier)
	}
}

// TestSingleNode drives every process operation on one node: plugins are its children and
// live in PluginDir, a frozen node does not answer, a killed node's plugins die with it, a
// restarted node is active again, a stopped node exits 0.
func TestSingleNode(t *testing.T) {
	c := Start(t, Options{Nodes: 1})
	n := c.Nodes[0]
	if a := c.WaitActive(t, nil, 10*time.Second); a != n {
		t.Fatalf("active = %s, want node0", a.ID)
	}
	c.SetupTestDB(t)
	ctx := testutil.Context(t, 60*time.Second)
	r := n.Client.Must(t, ctx, "GET", Mount+"/creds/"+TestRole, nil)
	if r.Data()["username"] == nil {
		t.Fatalf("creds: %s", r.Raw)
	}
	pids := c.PluginPIDs(n)
	if len(pids) == 0 {
		t.Fatal("no plugin process under the node after issuing a credential")
	}
	all := c.AllPluginPIDs()
	if !slices.Equal(all[n.ID], pids) || len(all[OrphansKey]) != 0 {
		t.Fatalf("AllPluginPIDs = %v, want %s: %v and no orphans", all, n.ID, pids)
	}
	for _, pid := range pids {
		exe, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
		if !(procInfo{exe: exe, argv0: argv0(pid)}).runsFrom(c.PluginDir) {
			t.Errorf("plugin pid %d runs %s, not a binary of %s", pid, exe, c.PluginDir)
		}
	}

	c.Freeze(n)
	if st := c.health(ctx, n); st != 0 {
		c.Thaw(n)
		t.Fatalf("a frozen node answered sys/health with %d", st)
	}
	c.Thaw(n)
	testutil.Eventually(t, 10*time.Second, "the thawed node to answer 200", func() bool { return c.health(ctx, n) == http.StatusOK })

	c.Kill(n)
	if c.Running(n) {
		t.Fatal("Running after Kill")
	}
	if left := waitNone(func() []int { return c.AllPluginPIDs()[OrphansKey] }, leftTimeout); len(left) > 0 {
		t.Fatalf("plugins outlived their SIGKILLed node: %s", describe(left))
	}
	old := c.PID(n)
	c.Restart(t, n)
	if c.PID(n) == old || !c.Running(n) {
		t.Fatalf("restart: pid %d (was %d), running %v", c.PID(n), old, c.Running(n))
	}
	c.WaitActive(t, nil, 10*time.Second)
	n.Client.Must(t, ctx, "GET", Mount+"/creds/"+TestRole, nil)
	c.Stop(n)
	if c.Running(n) {
		t.Fatal("Running after Stop")
	}
}

// TestThreeNodes forms a cluster, kills the active node, sees a standby take over, and
// brings the killed node back as a standby.
func TestThreeNodes(t *testing.T) {
	c := Start(t, Options{})
	ctx := testutil.Context(t, 60*time.Second)
	a, err := c.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := a.Client.Must(t, ctx, "GET", "sys/storage/raft/configuration", nil)
	if got := strings.Count(r.Raw, `"voter":true`); got != 3 {
		t.Fatalf("raft configuration has %d voters, want 3: %s", got, r.Raw)
	}
	c.Kill(a)
	b := c.WaitActive(t, a, 20*time.Second)
	c.Restart(t, a)
	if st := c.health(ctx, a); st != http.StatusTooManyRequests {
		t.Fatalf("restarted %s answers %d, want 429 (standby under %s)", a.ID, st, b.ID)
	}
}

// TestStartRetriesATakenPort gives node0 a port another listener holds: Start forms the
// cluster again on other ports.
func TestStartRetriesATakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	calls := 0
	freePort = func(tb testing.TB) int {
		calls++
		if calls == 1 {
			return taken
		}
		return testutil.FreePort(tb)
	}
	defer func() { freePort = testutil.FreePort }()
	c := Start(t, Options{Nodes: 1})
	if c.Nodes[0].APIAddr == "http://127.0.0.1:"+strconv.Itoa(taken) || calls < 4 {
		t.Fatalf("node0 at %s after %d port picks, want a second attempt on another port", c.Nodes[0].APIAddr, calls)
	}
	if !strings.Contains(c.LogTail(c.Nodes[0], 1000), "address already in use") {
		t.Fatalf("node0's log does not show the first attempt failing:\n%s", c.LogTail(c.Nodes[0], 50))
	}
}
