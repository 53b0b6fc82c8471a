package e2e

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/baton-hq/baton/internal/faults"
	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/testutil"
)

// crashCase is a rotate-root cut short by a crash.
type crashCase struct {
	// point is the fault point the case covers.
	point string
	// first is armed on the node that runs the rotation; second on the node(s) that roll it
	// back afterwards ("" for none).
	first, second string
	// rolledBack: the first root password stays in force (the rotation never reached the
	// database); false: the new password is in force, because the rotation had committed
	// before the crash or the new active node rolled it forward.
	rolledBack bool
	// resolved: the new active node's WAL handler took the entry (the connection went
	// through rolling_back), to roll back or forward.
	resolved bool
}

var crashCases = []crashCase{
	{point: faults.RotateAfterWAL, first: faults.RotateAfterWAL, rolledBack: true, resolved: true},
	// PostgreSQL has the new password: the new active node rolls forward at once.
	{point: faults.RotateAfterDBUpdate, first: faults.RotateAfterDBUpdate, resolved: true},
	{point: faults.RotateAfterCommit, first: faults.RotateAfterCommit},
	// The roll forward itself crashes after it decided from the database but before it
	// recorded that: the next active node decides again and rolls forward.
	{point: faults.RollbackAfterDB, first: faults.RotateAfterDBUpdate, second: faults.RollbackAfterDB, resolved: true},
}

// TestCrashCasesCoverEveryPoint keeps the crash cases in step with faults.Points: a new
// fault point fails here until a case covers it.
func TestCrashCasesCoverEveryPoint(t *testing.T) {
	var covered []string
	for _, cc := range crashCases {
		covered = append(covered, cc.point)
	}
	for _, p := range faults.Points {
		if !slices.Contains(covered, p) {
			t.Errorf("fault point %s has no crash case", p)
		}
	}
}

// faultEnv holds what each node is armed with at its next start.
type faultEnv struct {
	mu     sync.Mutex
	points map[int]string
}

func (f *faultEnv) set(i int, point string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.points[i] = point
}

func (f *faultEnv) env(i int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.points[i]; p != "" {
		return []string{faults.EnvVar + "=" + p}
	}
	return nil
}

// TestRotateRootCrash crashes a node at each fault point of rotate-root and of its
// rollback, on one node (the node is restarted without the fault) and on three (a standby
// takes over and finishes the rollback while the crashed node is down). Once the WAL is
// empty and the connection configured again, the stored root credential logs in: Baton
// initialises the plugin with it, issues a credential and revokes both that one and one
// issued before the crash; the first root password logs in again exactly when the rotation
// was rolled back.
func TestRotateRootCrash(t *testing.T) {
	pg := pgtest.Start(t)
	for _, cc := range crashCases {
		t.Run("1 node/"+cc.point, func(t *testing.T) { crashOneNode(t, pg, cc) })
	}
	for _, cc := range crashCases {
		t.Run("3 nodes/"+cc.point, func(t *testing.T) { crashThreeNodes(t, pg, cc) })
	}
}

func crashOneNode(t *testing.T, pg *pgtest.Server, cc crashCase) {
	armed := cc.first
	if cc.second != "" {
		armed += "," + cc.second
	}
	fe := &faultEnv{points: map[int]string{0: armed}}
	c := harness.Start(t, harness.Options{Nodes: 1, PGServer: pg, NodeEnv: fe.env})
	n := c.Nodes[0]
	c.SetupPGDB(t)
	ctx := testutil.Context(t, 3*callTimeout)
	before := issue(t, c, n.Client)

	rotateCrashes(t, c, n.Client, n, cc.first)
	if cc.second != "" {
		// Armed still: the rollback that runs once it is unsealed crashes it again.
		c.Launch(t, n)
		_, _ = n.Client.Do(ctx, "PUT", "sys/unseal", map[string]any{"key": c.Key})
		expectFault(t, c, n, cc.second)
	}
	fe.set(0, "")
	c.Restart(t, n)
	l := waitRolledBack(t, n.Client, harness.Mount+"/"+harness.PGConn)
	checkStoredRootLogsIn(t, c, n.Client, cc, l, before)
}

func crashThreeNodes(t *testing.T, pg *pgtest.Server, cc crashCase) {
	fe := &faultEnv{points: map[int]string{0: cc.first, 1: cc.second, 2: cc.second}}
	c := harness.Start(t, harness.Options{Nodes: 3, PGServer: pg, NodeEnv: fe.env, PerformanceMultiplier: testMultiplier})
	armed := c.Nodes[0]
	if a := c.WaitActive(t, nil, failoverTimeout); a != armed {
		t.Fatalf("%s is active, want node0 (the node armed with %s)", a.ID, cc.first)
	}
	c.SetupPGDB(t)
	before := issue(t, c, armed.Client)

	// Through a standby: it forwards to node0, which dies mid-request.
	rotateCrashes(t, c, c.Nodes[1].Client, armed, cc.first)
	key := harness.Mount + "/" + harness.PGConn
	var l lifecycle
	if cc.second == "" {
		// The successor finishes the rollback while node0 is still down.
		next := c.WaitActive(t, armed, failoverTimeout)
		l = waitRolledBack(t, next.Client, key)
		fe.set(0, "")
		c.Restart(t, armed)
	} else {
		// The successor crashes in its handler after it decided from the database; node0
		// comes back (quorum again) and the cluster finishes the resolution. Every active
		// node decides the same way (roll forward), so the other standby, armed too, would
		// crash in its turn: it is taken down and comes back disarmed with node0.
		next := c.WaitActive(t, armed, failoverTimeout)
		expectFault(t, c, next, cc.second)
		var other *harness.Node
		for i, n := range c.Nodes {
			fe.set(i, "")
			if n != armed && n != next {
				other = n
			}
		}
		c.Kill(other)
		c.Restart(t, armed)
		c.Restart(t, other)
		l = waitRolledBack(t, armed.Client, key)
	}
	checkStoredRootLogsIn(t, c, c.WaitActive(t, nil, failoverTimeout).Client, cc, l, before)
}

// issued is a credential issued before the crash.
type issued struct{ user, password, lease string }

func issue(t *testing.T, c *harness.Cluster, cl *testutil.Client) issued {
	t.Helper()
	ctx := testutil.Context(t, callTimeout)
	u, p, l := creds(t, ctx, cl, harness.PGRole)
	mustLogin(t, ctx, c.PG, u, p, "credential issued before the crash")
	return issued{u, p, l}
}

// rotateCrashes calls rotate-root through cl and expects victim to die at point, the call
// failing.
func rotateCrashes(t *testing.T, c *harness.Cluster, cl *testutil.Client, victim *harness.Node, point string) {
	t.Helper()
	ctx := testutil.Context(t, callTimeout)
	r, err := cl.Do(ctx, "POST", harness.Mount+"/rotate-root/"+harness.PGConn, nil)
	if err == nil && r.Status < http.StatusInternalServerError {
		t.Fatalf("rotate-root with %s armed answered %d: %s", point, r.Status, r.Raw)
	}
	expectFault(t, c, victim, point)
}

// expectFault waits for n to die by SIGKILL at point.
func expectFault(t *testing.T, c *harness.Cluster, n *harness.Node, point string) {
	t.Helper()
	st := c.WaitExit(t, n, failoverTimeout)
	if ws, ok := st.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("%s ended with %v, want SIGKILL at %s%s", n.ID, st, point, c.LogTail(n, 30))
	}
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), fmt.Sprintf("fault point %s reached", point)) {
		t.Fatalf("%s died, but not at %s:\n%s", n.ID, point, c.LogTail(n, 30))
	}
}

// checkStoredRootLogsIn proves the stored root credential works after the rollback: the
// plugin initialises with it (a credential is issued and revoked, and so is one from before
// the crash), and the first root password logs in exactly when the rotation was undone.
func checkStoredRootLogsIn(t *testing.T, c *harness.Cluster, cl *testutil.Client, cc crashCase, l lifecycle, before issued) {
	t.Helper()
	ctx := testutil.Context(t, callTimeout)
	_, events := l.connection(harness.Mount + "/" + harness.PGConn)
	t.Logf("connection history: %s", strings.Join(events, " "))
	resolved := slices.ContainsFunc(events, func(e string) bool { return strings.HasSuffix(e, "->rolling_back") })
	if resolved != cc.resolved {
		t.Errorf("connection history %v: went through rolling_back = %v, want %v", events, resolved, cc.resolved)
	}
	err := c.PG.CanLogin(ctx, c.PGRootUser, c.PGRootPassword)
	switch {
	case cc.rolledBack && err != nil:
		t.Fatalf("the rollback left a root password other than the first: %v", err)
	case !cc.rolledBack && err == nil:
		t.Fatal("the committed or rolled-forward rotation was undone: the first root password still logs in")
	}
	u, p, lease := creds(t, ctx, cl, harness.PGRole)
	mustLogin(t, ctx, c.PG, u, p, "credential issued after the rollback")
	revokeAndCheck(t, ctx, cl, c.PG, lease, u, p)
	revokeAndCheck(t, ctx, cl, c.PG, before.lease, before.user, before.password)
}
