//go:build chaos

package chaos

import (
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/test/harness"
)

// samplePeriod is how often the recorder looks at every node's processes.
const samplePeriod = 20 * time.Millisecond

// recorder watches a cluster while a scenario runs: every fork and exit below the test binary
// from the kernel's process events (when it has them), every node's process and plugin
// processes polled about every 20 ms (the only watch when there are no process events, else a
// cross-check), every transition published on NATS, and every acknowledged operation the load
// and the scenario report. What it gathers is an Observations for Check.
type recorder struct {
	t     testing.TB
	c     *harness.Cluster
	start time.Time

	mu  sync.Mutex
	obs Observations
	// running is each node's state at the last sample, to notice exits nobody announced (a
	// fault point's SIGKILL).
	running map[string]bool
	pid     map[string]int
	last    map[string][]Proc
	frozen  map[string]int // node -> index in obs.Frozen of its open interval

	// watch follows the processes by the kernel's events; nil when they are unavailable.
	watch *ProcWatcher

	nc   *nats.Conn
	sub  *nats.Subscription
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

// startRecorder starts sampling the cluster and listening to its transitions; it stops at
// cleanup at the latest.
func startRecorder(t testing.TB, c *harness.Cluster, scenario string) *recorder {
	t.Helper()
	r := &recorder{
		t: t, c: c, start: time.Now(),
		obs:     Observations{Scenario: scenario},
		running: map[string]bool{}, pid: map[string]int{}, last: map[string][]Proc{}, frozen: map[string]int{},
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	for _, n := range c.Nodes {
		r.obs.Nodes = append(r.obs.Nodes, n.ID)
	}
	// Started before the first sample, so that every sample falls within the watch.
	if w, err := StartProcWatch(os.Getpid(), r.start); err != nil {
		t.Logf("recorder: the kernel's process events are unavailable (%v): falling back to polling /proc every %s alone; a busy machine can starve it, and a gap over %s then fails the run as unwatched",
			err, samplePeriod, DefaultBounds().MaxSampleGap)
	} else {
		r.watch = w
	}
	nc, err := nats.Connect(c.NATSURL, nats.Name("chaos-recorder"), c.NATSAuth(events.RoleWatcher), nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond), nats.RetryOnFailedConnect(true))
	if err != nil {
		if r.watch != nil {
			r.watch.Stop()
		}
		t.Fatalf("recorder: NATS: %v", err)
	}
	r.nc = nc
	r.sub, err = nc.Subscribe(events.TransitionsWildcard(clusterName(c)), r.onTransition)
	if err != nil {
		nc.Close()
		if r.watch != nil {
			r.watch.Stop()
		}
		t.Fatalf("recorder: subscribe to transitions: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Logf("recorder: NATS flush: %v", err)
	}
	r.sample()
	go r.loop()
	t.Cleanup(r.stop)
	return r
}

func (r *recorder) now() time.Duration { return time.Since(r.start) }

func (r *recorder) onTransition(m *nats.Msg) {
	var tr events.Transition
	at := r.now()
	if err := json.Unmarshal(m.Data, &tr); err != nil {
		r.t.Logf("recorder: undecodable transition on %s: %v", m.Subject, err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obs.Transitions = append(r.obs.Transitions, Transition{At: at, Subject: m.Subject, Kind: string(tr.Kind), ID: tr.ID,
		Event: tr.Event, From: tr.From, To: tr.To, EventID: tr.EventID, Index: tr.Index})
}

func (r *recorder) loop() {
	defer close(r.done)
	tick := time.NewTicker(samplePeriod)
	defer tick.Stop()
	for {
		select {
		case <-r.quit:
			r.sample()
			return
		case <-tick.C:
			r.sample()
		}
	}
}

// procs turns pids into Procs, dropping those that ended in between.
func procs(pids []int) []Proc {
	var out []Proc
	for _, pid := range pids {
		if p, err := ProcOf(pid); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// sample takes one look at every node.
func (r *recorder) sample() {
	s := Sample{Began: r.now(), Nodes: map[string]NodeSample{}}
	all := r.c.AllPluginPIDs()
	for _, n := range r.c.Nodes {
		s.Nodes[n.ID] = NodeSample{Running: r.c.Running(n), PID: r.c.PID(n), Plugins: procs(all[n.ID])}
	}
	s.Orphans = procs(all[orphansKey])
	s.At = r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if tp := r.obs.Tampered; tp != nil {
		// A process running the tampered file: say what it is while it is there to ask.
		note := func(ps []Proc) {
			for i := range ps {
				if ps[i].Exe.Same(tp.File) {
					ps[i].Note = DescribePlugin(ps[i].PID)
				}
			}
		}
		for _, ns := range s.Nodes {
			note(ns.Plugins)
		}
		note(s.Orphans)
	}
	for id, ns := range s.Nodes {
		prevPID := r.pid[id]
		r.pid[id] = ns.PID
		if was, seen := r.running[id]; seen && was && (!ns.Running || ns.PID != prevPID) {
			// An exit: the node's plugins at its last sample must die with it. The exit
			// happened after that sample; an exit the suite caused is already recorded with
			// its exact time.
			prev := r.obs.Samples[len(r.obs.Samples)-1].At
			if !r.killedSince(id, prev) {
				r.obs.Kills = append(r.obs.Kills, Kill{Node: id, At: prev, Plugins: r.last[id]})
			}
		}
		r.running[id] = ns.Running
		r.last[id] = ns.Plugins
	}
	r.obs.Samples = append(r.obs.Samples, s)
}

// killedSince reports whether a kill of node was recorded at or after at; r.mu is held.
func (r *recorder) killedSince(node string, at time.Duration) bool {
	for _, k := range r.obs.Kills {
		if k.Node == node && k.At >= at {
			return true
		}
	}
	return false
}

// kill SIGKILLs a node's process (not its plugins: invariant 2 says they die by themselves)
// and records the plugin processes it had.
func (r *recorder) kill(n *harness.Node) {
	r.t.Helper()
	plugins := procs(r.c.PluginPIDs(n))
	at := r.now()
	r.c.Kill(n)
	r.mu.Lock()
	r.obs.Kills = append(r.obs.Kills, Kill{Node: n.ID, At: at, Plugins: plugins})
	r.mu.Unlock()
	r.t.Logf("t=%s: SIGKILL node %s (plugin pids %s)", ms(at), n.ID, pids(plugins))
}

// freeze stops a node's whole process group; invariant 1 exempts it until thaw.
func (r *recorder) freeze(n *harness.Node) {
	r.t.Helper()
	at := r.now()
	r.c.Freeze(n)
	r.mu.Lock()
	r.frozen[n.ID] = len(r.obs.Frozen)
	r.obs.Frozen = append(r.obs.Frozen, Interval{Node: n.ID, From: at})
	r.mu.Unlock()
	r.t.Logf("t=%s: SIGSTOP node %s and its plugins", ms(at), n.ID)
}

// thaw resumes a frozen node; from now on the hand-over bound applies to it again.
func (r *recorder) thaw(n *harness.Node) {
	r.t.Helper()
	r.mu.Lock()
	i, ok := r.frozen[n.ID]
	delete(r.frozen, n.ID)
	r.mu.Unlock()
	r.c.Thaw(n)
	at := r.now()
	if ok {
		r.mu.Lock()
		r.obs.Frozen[i].To = at
		r.mu.Unlock()
	}
	r.t.Logf("t=%s: SIGCONT node %s", ms(at), n.ID)
}

func (r *recorder) addWrite(w Write) {
	r.mu.Lock()
	r.obs.Writes = append(r.obs.Writes, w)
	r.mu.Unlock()
}

func (r *recorder) addEvent(e InjectedEvent) {
	r.mu.Lock()
	r.obs.Events = append(r.obs.Events, e)
	r.mu.Unlock()
}

// addCred records an issued credential and returns its position for later updates.
func (r *recorder) addCred(c Cred) int {
	c.IssuedAt = r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.obs.Creds = append(r.obs.Creds, c)
	return len(r.obs.Creds) - 1
}

func (r *recorder) setRevoke(i int, s RevokeState) {
	r.mu.Lock()
	if r.obs.Creds[i].Revoke != RevokeAcked {
		r.obs.Creds[i].Revoke = s
	}
	r.mu.Unlock()
}

// revokeMount marks every credential of a mount as its disable goes: attempted while the
// disable runs, acked once it is acknowledged (disabling a mount revokes its leases).
func (r *recorder) revokeMount(mount string, s RevokeState) {
	r.mu.Lock()
	for i := range r.obs.Creds {
		if r.obs.Creds[i].Mount == mount && r.obs.Creds[i].Revoke != RevokeAcked {
			r.obs.Creds[i].Revoke = s
		}
	}
	r.mu.Unlock()
}

// exitsSince counts the node exits recorded at or after at, whoever caused them.
func (r *recorder) exitsSince(at time.Duration) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range r.obs.Kills {
		if k.At >= at {
			n++
		}
	}
	return n
}

func (r *recorder) expect(e Expectation) {
	r.mu.Lock()
	r.obs.Expect = append(r.obs.Expect, e)
	r.mu.Unlock()
	if !e.OK {
		r.t.Logf("expectation failed: %s: %s", e.Name, e.Evidence)
	}
}

func (r *recorder) setTampered(tp *Tampered) {
	tp.At = r.now()
	r.mu.Lock()
	r.obs.Tampered = tp
	r.mu.Unlock()
}

// creds returns a copy of the credentials recorded so far.
func (r *recorder) creds() []Cred {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Cred(nil), r.obs.Creds...)
}

func (r *recorder) setCredLogin(i int, ok bool, why string) {
	r.mu.Lock()
	r.obs.Creds[i].Checked, r.obs.Creds[i].LoginOK, r.obs.Creds[i].LoginErr = true, ok, why
	r.mu.Unlock()
}

func (r *recorder) update(f func(o *Observations)) {
	r.mu.Lock()
	f(&r.obs)
	r.mu.Unlock()
}

// stop ends the sampling and the subscription; it is idempotent.
func (r *recorder) stop() {
	r.once.Do(func() {
		close(r.quit)
		<-r.done
		if r.watch != nil {
			r.watch.Stop()
		}
		if err := r.sub.Unsubscribe(); err != nil {
			r.t.Logf("recorder: unsubscribe: %v", err)
		}
		r.nc.Close()
	})
}

// observations stops the recorder and returns what it saw.
func (r *recorder) observations() *Observations {
	r.stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.obs
	var gap time.Duration
	for i := 1; i < len(o.Samples); i++ {
		gap = max(gap, o.Samples[i].At-o.Samples[i-1].At)
	}
	if r.watch == nil {
		r.t.Logf("recorder: no process events; longest gap between /proc samples %s", ms(gap))
		return &o
	}
	var runs []NodeRun
	for _, n := range r.c.Nodes {
		for _, run := range r.c.Runs(n) {
			nr := NodeRun{Node: n.ID, PID: run.PID, Started: run.Started.Sub(r.start)}
			if !run.Reaped.IsZero() {
				nr.Done, nr.Reaped = true, run.Reaped.Sub(r.start)
			}
			runs = append(runs, nr)
		}
	}
	o.Watch = r.watch.Result(runs)
	execs, unread := 0, 0
	for _, sp := range o.Watch.Plugins {
		if sp.Execd {
			execs++
			if sp.Exe.IsZero() {
				unread++
			}
		}
	}
	r.t.Logf("recorder: kernel process events: %d read over t=%s..%s (%d dropped-event reports), %d node processes, %d processes below them (%d exec'd, %d gone before their binary was read); longest gap between /proc samples %s",
		o.Watch.Events, ms(o.Watch.From), ms(o.Watch.To), len(o.Watch.Lost), len(o.Watch.Nodes), len(o.Watch.Plugins), execs, unread, ms(gap))
	return &o
}
