//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/faults"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/testplugin"
	"github.com/baton-hq/baton/test/harness"
)

// leaderKill SIGKILLs the active node kills times, restarting each victim once a new node is
// active, so the cluster keeps its quorum for the next kill.
func leaderKill(kills int) scenario {
	return scenario{name: fmt.Sprintf("leader-sigkill-x%d", kills), run: func(e *env) {
		for range kills {
			e.hold(300*time.Millisecond, 1500*time.Millisecond)
			old := e.active()
			e.rec.kill(old)
			e.c.WaitActive(e.t, old, failoverTimeout)
			e.c.Restart(e.t, old)
		}
	}}
}

// leaderFreeze stops the active node's process group past the election timeout and resumes
// it. A request sent to it while it is frozen waits in its socket and reaches it the moment
// it resumes: it must not be served by a plugin the deposed node starts.
func leaderFreeze() scenario {
	return scenario{name: "leader-freeze", run: func(e *env) {
		for range 2 {
			e.hold(300*time.Millisecond, 1200*time.Millisecond)
			old := e.active()
			e.rec.freeze(old)
			e.mu.Lock()
			e.frozen[old] = true
			e.mu.Unlock()
			// Read once frozen: a stopped process group starts nothing new.
			before := map[int]bool{}
			for _, pid := range e.c.PluginPIDs(old) {
				before[pid] = true
			}
			e.c.WaitActive(e.t, old, failoverTimeout)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = once(context.Background(), old, http.MethodGet, harness.Mount+"/creds/"+harness.TestRole, nil)
			}()
			e.hold(500*time.Millisecond, 2*time.Second)
			e.mu.Lock()
			delete(e.frozen, old)
			e.mu.Unlock()
			e.rec.thaw(old)
			thawed := time.Now()
			// For 3 s after it resumes, watch the deposed node's plugin processes. A spawn the
			// pause interrupted may complete just after the resume (the kernel restarts a fork
			// that a stop signal interrupted, and the node checked its leadership before the
			// fork), so a process may appear; it must be gone within the hand-over bound, and
			// none may be there after it.
			bound := DefaultBounds().HandOver
			var late, early []string
			activeAgain := false
			for time.Since(thawed) < 3*time.Second {
				if e.c.IsActive(context.Background(), old) {
					e.t.Logf("%s is active again %s after it resumed: stop watching its plugins", old.ID, time.Since(thawed))
					activeAgain = true
					break
				}
				since := time.Since(thawed)
				for _, pid := range e.c.PluginPIDs(old) {
					if before[pid] {
						continue
					}
					d := fmt.Sprintf("%s at +%s", DescribePlugin(pid), since.Round(time.Millisecond))
					if since > bound {
						late = append(late, d)
					} else {
						early = append(early, d)
					}
					before[pid] = true
				}
				time.Sleep(samplePeriod)
			}
			wg.Wait()
			if len(early) > 0 {
				e.t.Logf("%s finished a spawn its pause interrupted, within the hand-over bound: %s", old.ID, strings.Join(early, "; "))
			}
			// Those it ran before the pause too must be gone by now, unless it leads again.
			var left []string
			if !activeAgain {
				for _, pid := range e.c.PluginPIDs(old) {
					left = append(left, DescribePlugin(pid))
				}
				// It may have won an election since the last look.
				if len(left) > 0 && e.c.IsActive(context.Background(), old) {
					left = nil
				}
			}
			e.rec.expect(Expectation{Invariant: 1, Name: fmt.Sprintf("resumed deposed leader %s has no plugin process %s after resuming", old.ID, bound),
				OK: len(late) == 0 && len(left) == 0,
				Evidence: fmt.Sprintf("plugin processes under %s started more than %s after it resumed: %s; still running at the end of the watch: %s",
					old.ID, bound, strings.Join(late, "; "), strings.Join(left, "; "))})
		}
	}}
}

// stepDown hands leadership over by sys/step-down and by a step_down event on NATS.
func stepDown() scenario {
	return scenario{name: "step-down-api-and-nats", run: func(e *env) {
		for i := range 4 {
			e.hold(300*time.Millisecond, 1200*time.Millisecond)
			old := e.active()
			if i%2 == 0 {
				rep, err := once(e.ctx(10*time.Second), old, http.MethodPut, "sys/step-down", nil)
				if err != nil || rep.Status/100 != 2 {
					e.t.Errorf("sys/step-down on %s: status %d, %v: %s", old.ID, rep.Status, err, rep.Errors())
				}
			} else {
				ev := events.Event{V: events.Version, ID: fmt.Sprintf("%s-stepdown-%d", e.ld.runID, i), Kind: events.KindStepDown, Source: "chaos"}
				if got := e.ld.injectEvent(context.Background(), ev, false); !got.Acked {
					e.t.Errorf("step_down event %s not acknowledged: %s", ev.ID, got.Err)
				}
			}
			e.c.WaitActive(e.t, old, failoverTimeout)
		}
	}}
}

// sealActive seals the active node, then unseals it.
func sealActive() scenario {
	return scenario{name: "seal-active", run: func(e *env) {
		for range 2 {
			e.hold(300*time.Millisecond, 1200*time.Millisecond)
			old := e.active()
			rep, err := once(e.ctx(30*time.Second), old, http.MethodPut, "sys/seal", nil)
			if err != nil || rep.Status/100 != 2 {
				e.t.Errorf("sys/seal on %s: status %d, %v: %s", old.ID, rep.Status, err, rep.Errors())
			}
			e.c.WaitActive(e.t, old, failoverTimeout)
			e.hold(300*time.Millisecond, time.Second)
			e.unsealIfSealed(old)
		}
	}}
}

// pluginKill SIGKILLs a plugin process of the active node, out of band, kills times; the next
// request must succeed every time (USERS.md, vault#12087: OpenBao failed 60 of 60).
func pluginKill(kills int) scenario {
	return scenario{name: fmt.Sprintf("plugin-sigkill-x%d", kills),
		tune: func(s *loadSpec) { s.Events, s.Writes, s.RenewRevoke, s.CredsWorkers = false, false, false, 1 },
		run: func(e *env) {
			path := harness.Mount + "/creds/" + harness.TestRole
			var failures []string
			done := 0
			for i := range kills {
				e.hold(200*time.Millisecond, 800*time.Millisecond)
				a := e.active()
				var victim Proc
				deadline := time.Now().Add(10 * time.Second)
				for victim.PID == 0 && time.Now().Before(deadline) {
					if ps := procs(e.c.PluginPIDs(a)); len(ps) > 0 {
						victim = ps[e.rng.IntN(len(ps))]
						break
					}
					// No plugin running yet: a request starts one.
					_, _ = once(context.Background(), a, http.MethodGet, path, nil)
				}
				if victim.PID == 0 {
					e.t.Errorf("kill %d: no plugin process on the active node %s", i, a.ID)
					continue
				}
				if err := killPID(victim.PID); err != nil {
					e.t.Errorf("kill %d: SIGKILL plugin pid %d: %v", i, victim.PID, err)
					continue
				}
				for Alive(victim) && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				rep, err := once(context.Background(), a, http.MethodGet, path, nil)
				done++
				if err != nil || rep.Status != http.StatusOK {
					failures = append(failures, fmt.Sprintf("after killing pid %d on %s: status %d, %v: %s", victim.PID, a.ID, rep.Status, err, rep.Errors()))
				}
			}
			e.rec.expect(Expectation{Name: "vault#12087: the first request after a plugin SIGKILL succeeds", OK: len(failures) == 0 && done > 0,
				Evidence: fmt.Sprintf("%d of %d first requests failed: %s", len(failures), done, strings.Join(failures, "; "))})
		}}
}

// natsRestart shuts the embedded NATS server down mid-stream and starts it again on the same
// port and store, then fails the leader over so a new node's consumer takes the stream.
func natsRestart() scenario {
	return scenario{name: "nats-restart", run: func(e *env) {
		e.hold(500*time.Millisecond, 1500*time.Millisecond)
		port := e.c.NATS.Port()
		e.t.Logf("shutting NATS down (port %d)", port)
		e.c.StopNATS()
		e.hold(500*time.Millisecond, 2*time.Second)
		e.c.StartNATS(e.t)
		e.t.Logf("NATS back on port %d", port)
		// An event injected now must be applied: the nodes reconnected.
		probe := events.Event{V: events.Version, ID: e.ld.runID + "-after-nats-restart", Kind: events.KindReload, Source: "chaos",
			Target: events.Target{Type: events.TargetPlugin, ID: e.spec.Plugin}}
		got := e.ld.injectEvent(context.Background(), probe, false)
		e.rec.expect(Expectation{Invariant: 4, Name: "events are applied again once NATS is back", OK: got.Acked, Evidence: got.Err})
		e.hold(500*time.Millisecond, 1500*time.Millisecond)
		old := e.active()
		e.rec.kill(old)
		e.c.WaitActive(e.t, old, failoverTimeout)
		e.c.Restart(e.t, old)
	}}
}

// mountAndConn updates a connection while requests run on it, then disables a second mount
// while requests run on that one.
func mountAndConn() scenario {
	const mount2, conn2, role2 = "db2", "c2", "r2"
	return scenario{name: "mount-disable-conn-update",
		tune: func(s *loadSpec) { s.Writes = false },
		run: func(e *env) {
			ctx := e.ctx(2 * time.Minute)
			a := e.active()
			state2 := filepath.Join(e.c.Dir, "db2.json")
			a.Client.Must(e.t, ctx, http.MethodPost, "sys/mounts/"+mount2, map[string]any{"type": "database"})
			a.Client.Must(e.t, ctx, http.MethodPost, mount2+"/config/"+conn2, map[string]any{
				"plugin_name": e.spec.Plugin, "allowed_roles": role2, "username": "root", "password": "chaos-" + e.ld.runID, "state_file": state2,
			})
			a.Client.Must(e.t, ctx, http.MethodPost, mount2+"/roles/"+role2, map[string]any{"db_name": conn2})
			e.logins[mount2+"/"+role2] = func(_ context.Context, u, p string) error { return testplugin.Login(state2, u, p) }
			side := startLoad(e.t, e.c, e.rec, loadSpec{Creds: []credTarget{{Mount: mount2 + "/", Role: role2}}, CredsWorkers: 2, RenewRevoke: true, MaxOps: 2000}, e.seed+1)

			// Update db1 five times while a client hammers it through the active node.
			e.hold(300*time.Millisecond, time.Second)
			stop := make(chan struct{})
			var failed []string
			var okCount int
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					rep, err := once(ctx, a, http.MethodGet, harness.Mount+"/creds/"+harness.TestRole, nil)
					if err != nil || rep.Status != http.StatusOK {
						failed = append(failed, fmt.Sprintf("status %d, %v: %s", rep.Status, err, rep.Errors()))
					} else {
						okCount++
					}
				}
			}()
			for i := range 5 {
				v := fmt.Sprintf("x%d", i+1)
				rep, err := once(ctx, a, http.MethodPost, harness.Mount+"/config/"+harness.TestConn,
					map[string]any{"allowed_roles": []string{harness.TestRole, v}})
				w := Write{Kind: WriteConfig, Key: "config/" + harness.Mount + "/" + harness.TestConn, Seq: i + 1, Value: v,
					Acked: err == nil && rep.Status/100 == 2, Node: a.ID}
				if !w.Acked {
					w.Err = fmt.Sprintf("status %d, %v: %s", rep.Status, err, rep.Errors())
					e.t.Errorf("update %s/config/%s: %s", harness.Mount, harness.TestConn, w.Err)
				}
				e.rec.addWrite(w)
				e.hold(100*time.Millisecond, 300*time.Millisecond)
			}
			close(stop)
			wg.Wait()
			e.rec.expect(Expectation{Name: "requests on a connection succeed while it is updated", OK: len(failed) == 0 && okCount > 0,
				Evidence: fmt.Sprintf("%d of %d requests failed: %s", len(failed), len(failed)+okCount, strings.Join(first(failed, 3), "; "))})

			// Disable db2 while its load runs: its leases are revoked with it.
			e.hold(300*time.Millisecond, time.Second)
			e.t.Logf("t=%s: disabling %s while its load runs", ms(e.rec.now()), mount2)
			// Until the disable is acknowledged, each of its leases may or may not be revoked.
			e.rec.revokeMount(mount2+"/", RevokeAttempted)
			rep, _, err := e.a.do(ctx, e.rng, http.MethodDelete, "sys/mounts/"+mount2, nil, opDeadline)
			e.t.Logf("t=%s: disable of %s answered %d", ms(e.rec.now()), mount2, rep.Status)
			disabled := err == nil && rep.Status/100 == 2
			e.rec.expect(Expectation{Name: "disabling a mount succeeds while its credentials are issued and revoked",
				OK: disabled, Evidence: fmt.Sprintf("DELETE sys/mounts/%s: status %d, %v: %s", mount2, rep.Status, err, rep.Errors())})
			side.stop()
			if disabled {
				e.rec.revokeMount(mount2+"/", RevokeAcked)
			} else {
				e.rec.revokeMount(mount2+"/", RevokeAttempted)
			}
			e.t.Logf("load on %s: %s", mount2, side.summary())
			e.hold(300*time.Millisecond, time.Second)
		}}
}

// rotateCrash arms a fault point on every node, rotates the PostgreSQL connection's root
// credential through the active node (which dies at the point), restarts every crashed node
// without its fault points until the WAL is empty, then proves the stored root credential
// works: Baton issues a credential on the freshly reset connection, and PostgreSQL takes the
// original root password unless the rotation had committed.
func rotateCrash(point string) scenario {
	return scenario{name: "rotate-root-crash-" + strings.NewReplacer(":", "-", ",", "+").Replace(point), pg: true, faults: point,
		run: func(e *env) {
			ctx := e.ctx(3 * time.Minute)
			start := e.rec.now()
			e.hold(300*time.Millisecond, 1200*time.Millisecond)
			old := e.active()
			rr, err := once(ctx, old, http.MethodPost, harness.Mount+"/rotate-root/"+harness.PGConn, nil)
			e.t.Logf("rotate-root through %s: status %d, %v: %s", old.ID, rr.Status, err, rr.Errors())
			e.c.WaitExit(e.t, old, 30*time.Second)
			e.disarm(old)
			// Fail over first: the rollback is the next leader's job, not the victim's.
			e.c.WaitActive(e.t, old, failoverTimeout)
			wantCrashes := 1 + strings.Count(point, "rollback:")
			// Restart whatever crashed, until the WAL is empty.
			deadline := time.Now().Add(walTimeout)
			for time.Now().Before(deadline) {
				for _, n := range e.c.Nodes {
					if !e.c.Running(n) {
						e.disarm(n)
						e.c.Restart(e.t, n)
					}
				}
				if left, err := e.waitWALEmpty(time.Second); left == 0 && err == nil {
					break
				}
			}
			crashes := e.rec.exitsSince(start)
			e.rec.expect(Expectation{Name: "fault point " + point + " fired", OK: crashes >= wantCrashes,
				Evidence: fmt.Sprintf("%d crashes, want %d", crashes, wantCrashes)})
			rc := RootCheck{Connection: harness.Mount + "/" + harness.PGConn}
			left, err := e.waitWALEmpty(walTimeout)
			rc.WALEntries = left
			if err != nil {
				rc.Err = err.Error()
			}
			rep, _, err := e.a.do(ctx, e.rng, http.MethodPost, harness.Mount+"/reset/"+harness.PGConn, nil, opDeadline)
			if err != nil || rep.Status/100 != 2 {
				rc.Err = fmt.Sprintf("reset: status %d, %v: %s", rep.Status, err, rep.Errors())
			} else {
				rep, _, err = e.a.do(ctx, e.rng, http.MethodGet, harness.Mount+"/creds/"+harness.PGRole, nil, opDeadline)
				rc.CredsOK = err == nil && rep.Status == http.StatusOK
				if !rc.CredsOK {
					rc.Err = fmt.Sprintf("creds after reset: status %d, %v: %s", rep.Status, err, rep.Errors())
				}
			}
			e.rec.update(func(o *Observations) { o.Root = append(o.Root, rc) })
			origErr := e.c.PG.CanLogin(ctx, e.c.PGRootUser, e.c.PGRootPassword)
			if point == faults.RotateAfterCommit || strings.HasPrefix(point, faults.RotateAfterDBUpdate) {
				e.rec.expect(Expectation{Invariant: 5, Name: "a rotation committed (or rolled forward: PostgreSQL had the new password) stays in force",
					OK: origErr != nil, Evidence: "the original root password still logs in"})
			} else {
				e.rec.expect(Expectation{Invariant: 5, Name: "rollback restored the original root password",
					OK: origErr == nil, Evidence: fmt.Sprint("the original root password does not log in: ", origErr)})
			}
		}}
}

// tampered appends bytes to the test plugin's binary (a new file renamed over it, as a
// deploy would), then kills the leader: the new leader must refuse to run it, naming both
// sums, and no process may ever run it. The original comes back at the end.
func tampered() scenario {
	return scenario{name: "tampered-binary", run: func(e *env) {
		ctx := e.ctx(2 * time.Minute)
		e.hold(500*time.Millisecond, 1500*time.Millisecond)
		path := e.c.TestPlugin.Path
		saved := filepath.Join(e.c.Dir, "original-"+filepath.Base(path))
		if err := os.Link(path, saved); err != nil {
			e.t.Fatalf("keep the original plugin: %v", err)
		}
		orig, err := os.ReadFile(path)
		if err != nil {
			e.t.Fatal(err)
		}
		tmp := path + ".new"
		if err := os.WriteFile(tmp, append(orig, []byte("\nchaos: tampered\n")...), 0o755); err != nil {
			e.t.Fatal(err)
		}
		// Identify the tampered file before it takes the binary's place (a rename keeps the
		// inode), so the recorder describes any process that runs it from the first sample.
		id, err := FileIDOf(tmp)
		if err != nil {
			e.t.Fatal(err)
		}
		sum, err := catalog.SHA256File(tmp)
		if err != nil {
			e.t.Fatal(err)
		}
		e.rec.setTampered(&Tampered{Path: path, File: id, SHA256: sum})
		if err := os.Rename(tmp, path); err != nil {
			e.t.Fatal(err)
		}
		e.t.Logf("t=%s: tampered %s: sha256 %s (catalog: %s)", ms(e.rec.now()), path, sum, e.c.TestPlugin.SHA256)
		old := e.active()
		e.rec.kill(old)
		a := e.c.WaitActive(e.t, old, failoverTimeout)
		var bad []string
		for range 5 {
			rep, err := once(ctx, a, http.MethodGet, harness.Mount+"/creds/"+harness.TestRole, nil)
			msg := rep.Errors()
			if err != nil || rep.Status == http.StatusOK || !strings.Contains(msg, sum) || !strings.Contains(msg, e.c.TestPlugin.SHA256) {
				bad = append(bad, fmt.Sprintf("status %d, %v: %q", rep.Status, err, msg))
			}
		}
		e.rec.expect(Expectation{Invariant: 6, Name: "a plugin whose binary differs from its catalog entry is refused, naming both sums",
			OK: len(bad) == 0, Evidence: strings.Join(first(bad, 2), "; ")})
		if err := os.Rename(saved, path); err != nil {
			e.t.Fatalf("restore the original plugin: %v", err)
		}
		e.c.Restart(e.t, old)
		rep, _, err := e.a.do(ctx, e.rng, http.MethodGet, harness.Mount+"/creds/"+harness.TestRole, nil, opDeadline)
		e.rec.expect(Expectation{Name: "the plugin runs again once its binary matches the catalog",
			OK: err == nil && rep.Status == http.StatusOK, Evidence: fmt.Sprintf("status %d, %v: %s", rep.Status, err, rep.Errors())})
	}}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// killPID SIGKILLs one process the suite's cluster started.
func killPID(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
