package chaos

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	exeGood     = FileID{Dev: 1, Ino: 100, Size: 1000}
	exeTampered = FileID{Dev: 1, Ino: 200, Size: 1017}
)

func proc(pid int) Proc { return Proc{PID: pid, Start: uint64(pid) * 10, Exe: exeGood} }

// healthy is a run that keeps every invariant: n1 leads and runs plugins, is killed at 1 s,
// its plugin dies at once, n2 takes over 100 ms later; the writes, events and credentials all
// check out.
func healthy() *Observations {
	o := &Observations{Scenario: "healthy", Nodes: []string{"n1", "n2", "n3"}}
	for at := time.Duration(0); at <= 3*time.Second; at += 20 * time.Millisecond {
		s := Sample{At: at, Nodes: map[string]NodeSample{
			"n1": {Running: at < time.Second}, "n2": {Running: true}, "n3": {Running: true},
		}}
		switch {
		case at < time.Second:
			s.Nodes["n1"] = NodeSample{Running: true, Plugins: []Proc{proc(11)}}
		case at >= 1100*time.Millisecond:
			s.Nodes["n2"] = NodeSample{Running: true, Plugins: []Proc{proc(21)}}
		}
		o.Samples = append(o.Samples, s)
	}
	o.Kills = []Kill{{Node: "n1", At: time.Second, Plugins: []Proc{proc(11)}}}
	o.Writes = []Write{
		{Kind: WriteConfig, Key: "config/database/db1", Seq: 1, Value: "ro,x1", Acked: true},
		{Kind: WriteConfig, Key: "config/database/db1", Seq: 2, Value: "ro,x2", Acked: true},
		{Kind: WriteConfig, Key: "config/database/db1", Seq: 3, Value: "ro,x3", Acked: false},
		{Kind: WriteCatalog, Key: "catalog/database/chaos-1", Seq: 1, Value: "abc", Acked: true},
	}
	o.Final = map[string]string{"config/database/db1": "ro,x2", "catalog/database/chaos-1": "abc"}
	o.Events = []InjectedEvent{
		{ID: "ev-1", Kind: "reload", Via: "inject", Acked: true, Index: 10},
		{ID: "ev-2", Kind: "wal_rollback", Via: "jetstream", Acked: true},
		{ID: "ev-3", Kind: "reload", Via: "inject", Acked: false},
	}
	log := []Applied{{ID: "a", Index: 9}, {ID: "ev-1", Index: 10}, {ID: "b", Index: 11}, {ID: "ev-2", Index: 13}}
	o.ReadIndex = 13
	o.Logs = map[string]NodeLog{
		"n1": {AppliedIndex: 13, Log: log},
		"n2": {AppliedIndex: 14, Log: append(append([]Applied{}, log...), Applied{ID: "c", Index: 14})},
		"n3": {AppliedIndex: 13, Log: log},
	}
	o.Creds = []Cred{
		{LeaseID: "l1", Username: "u1", Checked: true, LoginOK: true},
		{LeaseID: "l2", Username: "u2", Revoke: RevokeAcked, Checked: true, LoginOK: false, LoginErr: "authentication failed"},
		{LeaseID: "l3", Username: "u3", Revoke: RevokeAttempted, Checked: true, LoginOK: true},
	}
	o.Root = []RootCheck{{Connection: "database/pg", CredsOK: true}}
	o.Tampered = &Tampered{Path: "/p/baton-test-plugin", File: exeTampered, SHA256: "ff"}
	o.Expect = []Expectation{{Name: "vault#12087: the first request after a plugin SIGKILL succeeds", OK: true}}
	return o
}

func TestCheckHealthyRunPasses(t *testing.T) {
	if fs := Check(healthy(), DefaultBounds()); len(fs) != 0 {
		t.Fatalf("a healthy run failed:\n%s", joinFailures(fs))
	}
}

// TestCheckFailsEachInvariant breaks the healthy run in one way per case and checks that the
// checker fails it naming the right invariant and the evidence: a checker that stops seeing a
// violation fails here, in CI.
func TestCheckFailsEachInvariant(t *testing.T) {
	setPlugins := func(o *Observations, node string, from, to time.Duration, ps ...Proc) {
		for i, s := range o.Samples {
			if s.At >= from && s.At <= to {
				o.Samples[i].Nodes[node] = NodeSample{Running: true, Plugins: ps}
			}
		}
	}
	cases := []struct {
		name      string
		break_    func(o *Observations)
		invariant int
		evidence  []string
		// also lists other invariants the same breakage necessarily violates.
		also []int
	}{
		{"two nodes run plugins past the hand-over bound", func(o *Observations) {
			setPlugins(o, "n3", 1200*time.Millisecond, 2600*time.Millisecond, proc(31))
		}, 1, []string{"n2 (pids 21)", "n3 (pids 31)", "bound 1s"}, nil},
		{"a node frozen past the bound, still running plugins after it resumes", func(o *Observations) {
			// n1 is frozen from 0.9 s to 2 s instead of killed; its plugin lives on after it
			// resumes, alongside n2's.
			o.Kills = nil
			setPlugins(o, "n1", 0, 3*time.Second, proc(11))
			o.Frozen = []Interval{{Node: "n1", From: 900 * time.Millisecond, To: 1500 * time.Millisecond}}
		}, 1, []string{"n1 (pids 11)", "from t=1.52s"}, nil},
		{"a dead node's plugin lives on as an orphan", func(o *Observations) {
			for i, s := range o.Samples {
				if s.At > time.Second {
					o.Samples[i].Orphans = []Proc{proc(11)}
				}
			}
		}, 2, []string{"plugin pid 11 of node n1", "as an orphan"}, nil},
		{"an orphan is left at the end", func(o *Observations) {
			o.FinalOrphans = []Proc{proc(77)}
		}, 2, []string{"left without their node", "77"}, nil},
		{"an acknowledged config write is lost", func(o *Observations) {
			o.Final["config/database/db1"] = "ro,x1"
		}, 3, []string{"config/database/db1", "write #2", `"ro,x1"`}, nil},
		{"an acknowledged catalog write is missing", func(o *Observations) {
			o.Final["catalog/database/chaos-1"] = ""
		}, 3, []string{"catalog/database/chaos-1", "lost"}, nil},
		{"a node lags behind the final read", func(o *Observations) {
			o.ReadIndex = 14
		}, 3, []string{"node n3 applied only up to index 13", "index 14"}, nil},
		{"two nodes applied different commands at one index", func(o *Observations) {
			o.Logs["n3"] = NodeLog{AppliedIndex: 13, Log: []Applied{{ID: "a", Index: 9}, {ID: "ev-1", Index: 10}, {ID: "zzz", Index: 11}, {ID: "ev-2", Index: 13}}}
		}, 3, []string{"diverge at index 11", "n1 applied b", "n3 applied zzz"}, nil},
		{"an acknowledged event is applied twice", func(o *Observations) {
			l := o.Logs["n2"]
			l.Log = append(l.Log, Applied{ID: "ev-2", Index: 14})
			o.Logs["n2"] = l
		}, 4, []string{"event ev-2", "applied 2 times on node n2"}, nil},
		{"an acknowledged event is never applied", func(o *Observations) {
			o.Events = append(o.Events, InjectedEvent{ID: "ev-9", Kind: "reload", Via: "jetstream", Acked: true})
		}, 4, []string{"ev-9", "missing from node n1"}, nil},
		{"an event's answered index is not where it was applied", func(o *Observations) {
			o.Events[0].Index = 12
		}, 4, []string{"answered with index 12", "index 10"}, nil},
		{"the nodes applied the events in different orders", func(o *Observations) {
			o.Logs["n3"] = NodeLog{AppliedIndex: 13, Log: []Applied{{ID: "a", Index: 9}, {ID: "ev-2", Index: 10}, {ID: "b", Index: 11}, {ID: "ev-1", Index: 13}}}
		}, 4, []string{"different orders", "ev-1", "ev-2"}, []int{3}},
		{"an unacknowledged event is applied twice", func(o *Observations) {
			for _, n := range []string{"n1", "n2", "n3"} {
				l := o.Logs[n]
				l.Log = append(append([]Applied{}, l.Log...), Applied{ID: "ev-3", Index: 12}, Applied{ID: "ev-3", Index: 15})
				o.Logs[n] = l
			}
		}, 4, []string{"ev-3", "applied 2 times"}, nil},
		{"an issued credential no longer logs in", func(o *Observations) {
			o.Creds[0].LoginOK, o.Creds[0].LoginErr = false, "password authentication failed"
		}, 5, []string{"credential l1 (user u1,", "never revoked", "password authentication failed"}, nil},
		{"a revoked credential still logs in", func(o *Observations) {
			o.Creds[1].LoginOK = true
		}, 5, []string{"credential l2 (user u2,", "still logs in"}, nil},
		{"the WAL is not empty after rollback", func(o *Observations) {
			o.Root[0].WALEntries = 1
		}, 5, []string{"database/pg", "1 WAL entries remain"}, nil},
		{"the root credential is lost", func(o *Observations) {
			o.Root[0].CredsOK, o.Root[0].Err = false, "password authentication failed for user root"
		}, 5, []string{"database/pg", "root credential no longer works"}, nil},
		{"a tampered binary ran", func(o *Observations) {
			o.Samples[len(o.Samples)-1].Nodes["n2"] = NodeSample{Running: true, Plugins: []Proc{{PID: 99, Start: 1, Exe: exeTampered}}}
		}, 6, []string{"pid 99", "tampered binary /p/baton-test-plugin", "sha256 ff"}, nil},
		{"a private copy of the tampered binary ran", func(o *Observations) {
			o.Samples[len(o.Samples)-1].Nodes["n2"] = NodeSample{Running: true, Plugins: []Proc{{PID: 98, Start: 1, Exe: FileID{Dev: 2, Ino: 900, Size: 1017}}}}
		}, 6, []string{"pid 98", "tampered binary /p/baton-test-plugin"}, nil},
		{"a tampered binary's identity was not recorded", func(o *Observations) {
			o.Tampered.File = FileID{}
		}, 6, []string{"no recorded identity"}, nil},
		{"a scenario's expectation failed", func(o *Observations) {
			o.Expect[0].OK, o.Expect[0].Evidence = false, "1 of 20 first requests failed: plugin shutdown"
		}, 0, []string{"vault#12087", "1 of 20 first requests failed"}, nil},
		{"the recorder stalled", func(o *Observations) {
			o.Samples = append(o.Samples[:10], o.Samples[70:]...)
		}, 0, []string{"no process sample between", "invariant 1 was not watched"}, nil},
		{"nothing was recorded", func(o *Observations) {
			o.Samples = nil
		}, 0, []string{"no process samples"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := healthy()
			tc.break_(o)
			assertFails(t, o, tc.invariant, tc.evidence, tc.also)
		})
	}
}

// assertFails checks that the checker fails o naming invariant with all of evidence, and no
// other invariant than those of also.
func assertFails(t *testing.T, o *Observations, invariant int, evidence []string, also []int) {
	t.Helper()
	fs := Check(o, DefaultBounds())
	if len(fs) == 0 {
		t.Fatalf("the broken run passed the checker")
	}
	want := fmt.Sprintf("invariant %d (", invariant)
	if invariant == 0 {
		want = "expectation: "
	}
	found := false
	for _, f := range fs {
		msg := f.String()
		ok := f.Invariant == invariant && strings.HasPrefix(msg, want)
		for _, e := range evidence {
			ok = ok && strings.Contains(msg, e)
		}
		found = found || ok
	}
	if !found {
		t.Errorf("no failure names invariant %d with evidence %q:\n%s", invariant, evidence, joinFailures(fs))
	}
	for _, f := range fs {
		if f.Invariant != invariant && !slices.Contains(also, f.Invariant) {
			t.Errorf("breaking invariant %d also failed another: %s", invariant, f)
		}
	}
}

// watched adds to healthy() what the kernel's process events tell of the same run: n1 (pid
// 100) runs plugin 11 and is killed at 1 s, the plugin dying 5 ms later; n2 (pid 200) starts
// plugin 21 at 1.1 s; n3 (pid 300) runs none. Between two polls, n2 also ran a short plugin
// (pid 22, 30 ms) while n1 was alive: a hand-over within the bound.
func watched() *Observations {
	o := healthy()
	const s = time.Second
	o.Watch = &ProcWatch{From: 0, To: 3 * s, Events: 1000,
		Nodes: []ProcSpan{
			{Node: "n1", Run: 100, PID: 100, Seeded: true, To: s, Ended: true},
			{Node: "n2", Run: 200, PID: 200, Seeded: true},
			{Node: "n3", Run: 300, PID: 300, Seeded: true},
		},
		Plugins: []ProcSpan{
			{Node: "n1", Run: 100, PID: 11, Seeded: true, To: s + 5*time.Millisecond, Ended: true},
			{Node: "n2", Run: 200, PID: 22, From: 505 * time.Millisecond, To: 535 * time.Millisecond, Ended: true, Exec: 506 * time.Millisecond, Execd: true, Exe: exeGood},
			{Node: "n2", Run: 200, PID: 21, From: 1100 * time.Millisecond, Exec: 1101 * time.Millisecond, Execd: true, Exe: exeGood},
		}}
	return o
}

// TestCheckWatchedRunPassesDespiteLateSamples is the starved recorder of issue 9: no sample
// for 1.2 s (the recorder's goroutine descheduled on a busy machine). With the kernel's
// process events covering that time, invariants 1 and 2 were watched and the run passes;
// without them it fails, as before.
func TestCheckWatchedRunPassesDespiteLateSamples(t *testing.T) {
	o := watched()
	if fs := Check(o, DefaultBounds()); len(fs) != 0 {
		t.Fatalf("a healthy watched run failed:\n%s", joinFailures(fs))
	}
	o.Samples = append(o.Samples[:10], o.Samples[70:]...)
	if fs := Check(o, DefaultBounds()); len(fs) != 0 {
		t.Fatalf("a watched run with a late sample failed:\n%s", joinFailures(fs))
	}
	o.Watch = nil
	assertFails(t, o, 0, []string{"no process sample between", "invariant 1 was not watched"}, nil)
}

// TestCheckWatchedFailsEachViolation breaks the watched run in ways only the kernel's
// events show (between two polls) or in the watch itself.
func TestCheckWatchedFailsEachViolation(t *testing.T) {
	const s = time.Second
	cases := []struct {
		name      string
		break_    func(o *Observations)
		invariant int
		evidence  []string
	}{
		{"two nodes run plugins past the bound, unseen by polling", func(o *Observations) {
			o.Watch.Plugins = append(o.Watch.Plugins, ProcSpan{Node: "n3", Run: 300, PID: 31, From: 1200 * time.Millisecond, To: 2600 * time.Millisecond, Ended: true})
		}, 1, []string{"n2 (pids 21)", "n3 (pids 31)", "from t=1.2s to t=2.6s", "bound 1s"}},
		{"a frozen node's plugins run on past the bound after it resumes", func(o *Observations) {
			o.Kills = nil
			o.Watch.Nodes[0].To, o.Watch.Nodes[0].Ended = 0, false
			o.Watch.Plugins[0].To, o.Watch.Plugins[0].Ended = 0, false
			o.Frozen = []Interval{{Node: "n1", From: 900 * time.Millisecond, To: 1500 * time.Millisecond}}
		}, 1, []string{"n1 (pids 11)", "from t=1.5s to t=3s"}},
		{"a killed node's plugin outlives it between two polls", func(o *Observations) {
			o.Watch.Plugins[0].To = 2100 * time.Millisecond
		}, 2, []string{"plugin pid 11 of node n1 (pid 100) exited at t=2.1s", "1.1s after its node exited at t=1s"}},
		{"a killed node's plugin still runs when the watch ends", func(o *Observations) {
			o.Watch.Plugins[0].To, o.Watch.Plugins[0].Ended = 0, false
		}, 2, []string{"plugin pid 11 of node n1", "still ran when the watch ended at t=3s"}},
		{"the kernel dropped events", func(o *Observations) {
			o.Watch.Lost = []time.Duration{2 * s}
		}, 0, []string{"dropped process events at t=2s", "not watched from then on"}},
		{"a node process is missing from the events", func(o *Observations) {
			o.Watch.Problems = []string{"node n3's process (pid 300, started at t=0s) is missing"}
		}, 0, []string{"process watch: node n3's process"}},
		{"polling saw a process the events do not show", func(o *Observations) {
			o.Samples[100].Nodes["n3"] = NodeSample{Running: true, Plugins: []Proc{proc(31)}}
		}, 0, []string{"polling saw pid 31 under node n3 at t=2s", "missed a process"}},
		{"a tampered binary ran between two polls", func(o *Observations) {
			o.Watch.Plugins[1].Exe = exeTampered
		}, 6, []string{"pid 22", "its exec at t=506ms", "tampered binary /p/baton-test-plugin"}},
		{"an exec since the tampering went unidentified", func(o *Observations) {
			o.Watch.Plugins[1].Exe = FileID{}
		}, 0, []string{"pid 22 under node n2 exec'd at t=506ms", "invariant 6 cannot be claimed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := watched()
			tc.break_(o)
			assertFails(t, o, tc.invariant, tc.evidence, nil)
		})
	}
}

func TestCheckWatchedFrozenNodeIsExemptWhileFrozen(t *testing.T) {
	o := watched()
	// n1 is frozen (not killed) from 0.9 s to 2.5 s; its plugin ends 300 ms after it resumes.
	o.Kills = nil
	for i, s := range o.Samples {
		if s.At <= 2800*time.Millisecond {
			o.Samples[i].Nodes["n1"] = NodeSample{Running: true, Plugins: []Proc{proc(11)}}
		} else {
			o.Samples[i].Nodes["n1"] = NodeSample{Running: true}
		}
	}
	o.Watch.Nodes[0].To, o.Watch.Nodes[0].Ended = 0, false
	o.Watch.Plugins[0].To = 2800 * time.Millisecond
	o.Frozen = []Interval{{Node: "n1", From: 900 * time.Millisecond, To: 2500 * time.Millisecond}}
	if fs := Check(o, DefaultBounds()); len(fs) != 0 {
		t.Fatalf("a frozen node was not exempt:\n%s", joinFailures(fs))
	}
}

func TestCheckHandOverWithinBoundPasses(t *testing.T) {
	o := healthy()
	// n2 starts its plugin while n1's is still there, for 400 ms: a hand-over, not a violation.
	for i, s := range o.Samples {
		if s.At >= 600*time.Millisecond && s.At < time.Second {
			o.Samples[i].Nodes["n2"] = NodeSample{Running: true, Plugins: []Proc{proc(21)}}
		}
	}
	if fs := Check(o, DefaultBounds()); len(fs) != 0 {
		t.Fatalf("a hand-over within the bound failed:\n%s", joinFailures(fs))
	}
}

func TestCheckFrozenNodeIsExemptWhileFrozen(t *testing.T) {
	o := healthy()
	// n1 is frozen (not killed) from 0.9 s to 2.5 s; it kills its plugin 300 ms after it
	// resumes: within the bound.
	o.Kills = nil
	for i, s := range o.Samples {
		if s.At <= 2800*time.Millisecond {
			o.Samples[i].Nodes["n1"] = NodeSample{Running: true, Plugins: []Proc{proc(11)}}
		} else {
			o.Samples[i].Nodes["n1"] = NodeSample{Running: true}
		}
	}
	o.Frozen = []Interval{{Node: "n1", From: 900 * time.Millisecond, To: 2500 * time.Millisecond}}
	if fs := Check(o, DefaultBounds()); len(fs) != 0 {
		t.Fatalf("a frozen node was not exempt:\n%s", joinFailures(fs))
	}
}

func TestCheckCapsFailuresPerInvariant(t *testing.T) {
	o := healthy()
	for i := range 20 {
		o.Creds = append(o.Creds, Cred{LeaseID: fmt.Sprint("x", i), Checked: true, LoginOK: false})
	}
	fs := Check(o, DefaultBounds())
	if len(fs) != maxPerInvariant+1 {
		t.Fatalf("got %d failures, want %d and a count of the rest:\n%s", len(fs), maxPerInvariant+1, joinFailures(fs))
	}
	if last := fs[len(fs)-1].String(); !strings.Contains(last, "and 12 more") {
		t.Fatalf("last failure %q does not count the rest", last)
	}
}

func joinFailures(fs []Failure) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = "  " + f.String()
	}
	return strings.Join(s, "\n")
}
