//go:build chaos

package chaos

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/harness"
)

var failoversFlag = flag.Int("chaos.failovers", 10, "SIGKILL failovers and step-downs TestFailoverFigures measures")

// spanTimeout bounds one measured span; a span that does not end by then counts as failed.
const spanTimeout = 30 * time.Second

// firstSuccess polls try over the nodes, round robin, until it reports success, and returns
// the time from t0; false when the deadline passed.
func firstSuccess(t0 time.Time, nodes []*harness.Node, try func(ctx context.Context, n *harness.Node) bool) (time.Duration, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), spanTimeout)
	defer cancel()
	for i := 0; ctx.Err() == nil; i++ {
		if try(ctx, nodes[i%len(nodes)]) {
			return time.Since(t0), true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, false
}

func credsOK(path string) func(ctx context.Context, n *harness.Node) bool {
	return func(ctx context.Context, n *harness.Node) bool {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		rep, err := n.Client.Do(actx, http.MethodGet, path, nil)
		return err == nil && rep.Status == http.StatusOK
	}
}

func healthActive(ctx context.Context, n *harness.Node) bool {
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	rep, err := n.Client.Do(actx, http.MethodGet, "sys/health", nil)
	return err == nil && rep.Status == http.StatusOK
}

// raftLeaderOtherThan is true once node n names a Raft leader other than old.
func raftLeaderOtherThan(old *harness.Node) func(ctx context.Context, n *harness.Node) bool {
	return func(ctx context.Context, n *harness.Node) bool {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		rep, err := n.Client.Do(actx, http.MethodGet, "sys/leader", nil)
		if err != nil || rep.Status != http.StatusOK {
			return false
		}
		addr, _ := rep.Body["leader_cluster_address"].(string)
		return addr != "" && addr != old.RaftAddr
	}
}

func others(c *harness.Cluster, not *harness.Node) []*harness.Node {
	var out []*harness.Node
	for _, n := range c.Nodes {
		if n != not {
			out = append(out, n)
		}
	}
	return out
}

// TestFailoverFigures measures, over repeated SIGKILLs of the active node (fast Raft
// profile, 3 nodes, test plugin): kill → a survivor names a new Raft leader (the election
// time, measured in the same run), kill → a survivor answers sys/health 200, kill → the first
// credential issued through a survivor; and over repeated sys/step-down: step-down → new
// active node and step-down → first credential. It prints the table.
func TestFailoverFigures(t *testing.T) {
	n := *failoversFlag
	c := harness.Start(t, harness.Options{Nodes: 3})
	c.SetupTestDB(t)
	path := harness.Mount + "/creds/" + harness.TestRole
	rows := []FigureRow{
		{What: "SIGKILL active → survivor names new Raft leader (election)"},
		{What: "SIGKILL active → new active (sys/health 200)"},
		{What: "SIGKILL active → first creds through a survivor"},
		{What: "sys/step-down → new active (sys/health 200)"},
		{What: "sys/step-down → first creds once the old node stood down (any node)"},
	}
	var mu sync.Mutex
	record := func(row int, d time.Duration, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		if ok {
			rows[row].Samples = append(rows[row].Samples, d)
		} else {
			rows[row].Failed++
		}
	}
	warm := func(a *harness.Node) {
		t.Helper()
		if _, ok := firstSuccess(time.Now(), []*harness.Node{a}, credsOK(path)); !ok {
			t.Fatalf("no credential through the active node %s within %s", a.ID, spanTimeout)
		}
	}
	for i := range n {
		old := c.WaitActive(t, nil, failoverTimeout)
		warm(old)
		surv := others(c, old)
		t0 := time.Now()
		c.Kill(old)
		var wg sync.WaitGroup
		for row, try := range []func(context.Context, *harness.Node) bool{raftLeaderOtherThan(old), healthActive, credsOK(path)} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, ok := firstSuccess(t0, surv, try)
				record(row, d, ok)
			}()
		}
		wg.Wait()
		t.Logf("failover %d/%d done (killed %s)", i+1, n, old.ID)
		c.Restart(t, old)
	}
	for i := range n {
		old := c.WaitActive(t, nil, failoverTimeout)
		warm(old)
		t0 := time.Now()
		rep, err := old.Client.Do(context.Background(), http.MethodPut, "sys/step-down", nil)
		if err != nil || rep.Status/100 != 2 {
			t.Fatalf("sys/step-down on %s: status %d, %v: %s", old.ID, rep.Status, err, rep.Errors())
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			d, ok := firstSuccess(t0, others(c, old), healthActive)
			record(3, d, ok)
		}()
		go func() {
			defer wg.Done()
			// The step-down answers at once and hands over in the background: a credential
			// the old node still serves would measure nothing. Count from the step-down, but
			// only credentials asked for once the old node stopped answering as active.
			if _, ok := firstSuccess(t0, []*harness.Node{old}, func(ctx context.Context, n *harness.Node) bool { return !healthActive(ctx, n) }); !ok {
				record(4, 0, false)
				return
			}
			d, ok := firstSuccess(t0, c.Nodes, credsOK(path))
			record(4, d, ok)
		}()
		wg.Wait()
		t.Logf("step-down %d/%d done (from %s)", i+1, n, old.ID)
	}
	table := FormatFigures(fmt.Sprintf("go test -tags chaos -run TestFailoverFigures -v ./test/chaos/ -chaos.failovers=%d", n), rows)
	t.Log("\n" + table)
	fmt.Println(table)
}
