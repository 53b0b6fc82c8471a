//go:build chaos

package chaos

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/faults"
	"github.com/baton-hq/baton/plugins/database"
	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

// longMinAge is the WAL minimum age of the interrupted-rotation runs: far longer than any of
// them, so a resolution seen there is the new active node's, not the safety net's.
const longMinAge = 10 * time.Minute

// resolutionSlack is what the checks allow on top of the failover and the rollback window:
// the probes' own round trips and the plugin's start on the new active node.
const resolutionSlack = 5 * time.Second

// interruption is what one SIGKILL inside rotate-root looked like from outside, each span
// from the moment the rotate-root was sent (the victim dies within milliseconds of it).
type interruption struct {
	victim, successor string
	// active: a survivor answers as the active node.
	active time.Duration
	// resolved: the active node's WAL is empty (rolled forward or back).
	resolved   time.Duration
	resolvedOK bool
	// creds: the first PostgreSQL credential issued through a survivor.
	creds   time.Duration
	credsOK bool
	// next is the rotate-root sent to the new active node as soon as it was active (when
	// asked for), with its answer and how long it took.
	next      testutil.Reply
	nextErr   error
	nextTook  time.Duration
	nextAsked bool
	// next503 are the 503 answers retried before the final one.
	next503 []string
}

// walEmpty is true once n, as the active node, lists no WAL entry.
func walEmpty(ctx context.Context, n *harness.Node) bool {
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	lc, err := readLifecycle(actx, n, false)
	return err == nil && len(lc.WAL) == 0
}

// interruptRotation sends rotate-root of the PostgreSQL connection to victim, which is
// armed to die inside it, waits for a node's death (the victim's, unless it lost leadership
// first and forwarded the call) and a new active node, and measures, from the send: the new
// active node, the WAL empty, the first PostgreSQL credential; with next, a rotate-root sent
// to the new active node at once (it waits for the resolution). It returns false when no
// node died within 30 s.
func interruptRotation(t *testing.T, c *harness.Cluster, victim *harness.Node, next bool) (interruption, bool) {
	t.Helper()
	in := interruption{}
	t0 := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = victim.Client.Do(ctx, http.MethodPost, harness.Mount+"/rotate-root/"+harness.PGConn, nil)
	}()
	var dead *harness.Node
	for deadline := time.Now().Add(30 * time.Second); dead == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, n := range c.Nodes {
			if !c.Running(n) {
				dead = n
			}
		}
	}
	if dead == nil {
		return in, false
	}
	victim = dead
	in.victim = victim.ID
	surv := others(c, victim)
	var ok bool
	if in.active, ok = firstSuccess(t0, surv, healthActive); !ok {
		t.Fatalf("no survivor became active within %s of the kill of %s", spanTimeout, victim.ID)
	}
	a := c.WaitActive(t, victim, failoverTimeout)
	in.successor = a.ID
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		in.resolved, in.resolvedOK = firstSuccess(t0, []*harness.Node{a}, walEmpty)
	}()
	go func() {
		defer wg.Done()
		in.creds, in.credsOK = firstSuccess(t0, surv, credsOK(harness.Mount+"/creds/"+harness.PGRole))
	}()
	if next {
		// As a client does: a 503 (the rotation still pending after the bounded wait, or the
		// cluster changing leader again on a loaded machine) is retried, against whichever
		// node is active, until the deadline; a 409 or any other answer is final.
		in.nextAsked = true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		s := time.Now()
		for n := a; ; {
			in.next, in.nextErr = n.Client.Do(ctx, http.MethodPost, harness.Mount+"/rotate-root/"+harness.PGConn, nil)
			if in.nextErr != nil || in.next.Status != http.StatusServiceUnavailable || ctx.Err() != nil {
				break
			}
			in.next503 = append(in.next503, in.next.Errors())
			time.Sleep(100 * time.Millisecond)
			if an, err := c.Active(ctx); err == nil {
				n = an
			}
		}
		in.nextTook = time.Since(s)
		cancel()
	}
	wg.Wait()
	return in, true
}

// interruptedRotation is invariant 8's scenario: node0, the only node armed, dies at point
// inside rotate-root (the WAL's minimum age is ten minutes). The new active node must resolve
// the rotation, creds must fail for no longer than the failover plus the rollback window, and
// a rotate-root sent to the new active node at once must succeed (it waits for the
// resolution; it was refused with 409 before).
func interruptedRotation(point string) scenario {
	return scenario{name: "interrupted-rotation-" + strings.NewReplacer(":", "-").Replace(point), pg: true,
		faults: point, faultsOnFirst: true, minAge: longMinAge,
		run: func(e *env) {
			ctx := e.ctx(3 * time.Minute)
			e.hold(300*time.Millisecond, 1200*time.Millisecond)
			victim := e.active()
			if victim != e.c.Nodes[0] {
				e.t.Fatalf("%s is active, want node0 (the only node armed with %s)", victim.ID, point)
			}
			in, ok := interruptRotation(e.t, e.c, victim, true)
			if !ok || in.victim != victim.ID {
				e.t.Fatalf("%s did not die at %s (died: %q)", victim.ID, point, in.victim)
			}
			e.disarm(victim)
			e.t.Logf("t=%s: %s died at %s; %s active after %s, WAL empty after %s, PostgreSQL creds after %s; next rotate-root %d after %s",
				ms(e.rec.now()), in.victim, point, in.successor, ms(in.active), ms(in.resolved), ms(in.creds), in.next.Status, ms(in.nextTook))
			if len(in.next503) > 0 {
				e.t.Logf("next rotate-root answered 503 %d times first: %s", len(in.next503), strings.Join(first(in.next503, 3), "; "))
			}
			bound := in.active + database.DefaultRollbackWindow + resolutionSlack
			e.rec.expect(Expectation{Invariant: 8, Name: "creds fail for no longer than the failover plus the rollback window",
				OK: in.credsOK && in.creds <= bound,
				Evidence: fmt.Sprintf("first PostgreSQL credential %s after the kill (ok %v); failover %s + window %s + slack %s = %s",
					ms(in.creds), in.credsOK, ms(in.active), database.DefaultRollbackWindow, resolutionSlack, ms(bound))})
			e.rec.expect(Expectation{Invariant: 8, Name: "the interrupted rotation is resolved long before the WAL's minimum age",
				OK:       in.resolvedOK && in.resolved <= bound,
				Evidence: fmt.Sprintf("WAL empty %s after the kill (ok %v), minimum age %s, bound %s", ms(in.resolved), in.resolvedOK, longMinAge, ms(bound))})
			e.rec.expect(Expectation{Invariant: 8, Name: "the next rotate-root is accepted",
				OK:       in.nextErr == nil && in.next.Status/100 == 2,
				Evidence: fmt.Sprintf("status %d, %v: %s (after %d answers 503: %s)", in.next.Status, in.nextErr, in.next.Errors(), len(in.next503), strings.Join(first(in.next503, 2), "; "))})
			e.c.Restart(e.t, victim)
			rep, _, err := e.a.do(ctx, e.rng, http.MethodGet, harness.Mount+"/creds/"+harness.PGRole, nil, opDeadline)
			e.rec.expect(Expectation{Invariant: 5, Name: "the stored root credential works after the resolution and the next rotation",
				OK: err == nil && rep.Status == http.StatusOK, Evidence: fmt.Sprintf("status %d, %v: %s", rep.Status, err, rep.Errors())})
			origErr := e.c.PG.CanLogin(ctx, e.c.PGRootUser, e.c.PGRootPassword)
			e.rec.expect(Expectation{Invariant: 5, Name: "the original root password is retired by the next rotation",
				OK: origErr != nil, Evidence: "the original root password still logs in"})
		}}
}

var rotationsFlag = flag.Int("chaos.rotations", 6, "interrupted rotations TestRotationFigures measures per fault point")

// TestRotationFigures measures the resolution of interrupted rotations: for each fault point
// (after PostgreSQL changed the password: rolled forward; before: rolled back after the
// window), chaos.rotations SIGKILLs of the active node inside rotate-root on a 3-node
// cluster with PostgreSQL and a ten-minute WAL minimum age. It prints the table.
func TestRotationFigures(t *testing.T) {
	n := *rotationsFlag
	var rows []FigureRow
	for _, p := range []struct{ point, what string }{
		{faults.RotateAfterDBUpdate, "rolled forward"},
		{faults.RotateAfterWAL, "rolled back"},
	} {
		env := func(int) []string { return []string{faults.EnvVar + "=" + p.point} }
		c := harness.Start(t, harness.Options{Nodes: 3, Postgres: true, NodeEnv: env, RollbackMinAge: longMinAge})
		c.SetupPGDB(t)
		act := FigureRow{What: "kill in rotate-root (" + p.point + ") → new active (sys/health 200)"}
		res := FigureRow{What: "kill in rotate-root (" + p.point + ") → " + p.what + " (WAL empty)"}
		crd := FigureRow{What: "kill in rotate-root (" + p.point + ") → first PostgreSQL creds"}
		for i := range n {
			victim := c.WaitActive(t, nil, failoverTimeout)
			if _, ok := firstSuccess(time.Now(), []*harness.Node{victim}, credsOK(harness.Mount+"/creds/"+harness.PGRole)); !ok {
				t.Fatalf("no PostgreSQL credential through %s", victim.ID)
			}
			in, ok := interruptRotation(t, c, victim, false)
			if !ok {
				// The victim lost leadership before the fault point (a loaded machine and
				// the fast Raft profile) and no node reached it: not a sample.
				t.Logf("%s round %d/%d: no node died within 30 s; round skipped", p.point, i+1, n)
				continue
			}
			victim = c.Nodes[slices.IndexFunc(c.Nodes, func(x *harness.Node) bool { return x.ID == in.victim })]
			act.Samples = append(act.Samples, in.active)
			for _, r := range []struct {
				row *FigureRow
				d   time.Duration
				ok  bool
			}{{&res, in.resolved, in.resolvedOK}, {&crd, in.creds, in.credsOK}} {
				if r.ok {
					r.row.Samples = append(r.row.Samples, r.d)
				} else {
					r.row.Failed++
				}
			}
			t.Logf("%s round %d/%d: %s died; %s active %s, WAL empty %s, creds %s", p.point, i+1, n, in.victim, in.successor, ms(in.active), ms(in.resolved), ms(in.creds))
			c.Restart(t, victim) // armed again: every round kills the active node
		}
		rows = append(rows, act, res, crd)
	}
	table := FormatFigures(fmt.Sprintf("go test -tags chaos -run TestRotationFigures -v ./test/chaos/ -chaos.rotations=%d", n), rows)
	t.Log("\n" + table)
	fmt.Println(table)
}
