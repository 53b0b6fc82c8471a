package chaos

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Bounds are the time limits the checker allows.
type Bounds struct {
	// HandOver is how long two nodes may both have plugin processes (DESIGN.md invariant 1:
	// "leader lease + kill time"). The fast Raft profile's lease is 100 ms and a node that
	// loses leadership SIGKILLs its plugins, which takes milliseconds; 1 s leaves room for the
	// 20 ms sampling period and for the scheduling noise of a shared 2-core machine while
	// staying far below what a graceful plugin stop (go-plugin waits 2 s before SIGKILL) or a
	// missed kill would show.
	HandOver time.Duration
	// PluginDeath is how long a plugin process may outlive its node (invariant 2). Pdeathsig
	// fires when the parent dies, so milliseconds in practice; 1 s for the same reasons.
	PluginDeath time.Duration
	// MaxSampleGap is the longest gap between two samples the checker accepts: a longer one
	// would blind invariant 1, so it fails the run rather than pass it vacuously.
	MaxSampleGap time.Duration
}

// DefaultBounds are the bounds the suite runs with; see Bounds for why.
func DefaultBounds() Bounds {
	return Bounds{HandOver: time.Second, PluginDeath: time.Second, MaxSampleGap: time.Second}
}

// invariantNames are DESIGN.md's invariants as failures name them; 0 is a USERS.md
// expectation or a flaw in the recording itself.
var invariantNames = map[int]string{
	0: "expectation",
	1: "at most one node runs plugin processes",
	2: "no plugin process outlives its node",
	3: "an acknowledged write survives on every node",
	4: "an injected event is applied exactly once, in one order on every node",
	5: "root and issued credentials survive rotation, rollback and revocation",
	6: "a tampered plugin binary never runs",
	8: "a rotation cut short is resolved within the failover plus the rollback window",
}

// Failure is one violated invariant with the evidence for it.
type Failure struct {
	Invariant int
	Evidence  string
}

func (f Failure) String() string {
	if f.Invariant == 0 {
		return "expectation: " + f.Evidence
	}
	return fmt.Sprintf("invariant %d (%s): %s", f.Invariant, invariantNames[f.Invariant], f.Evidence)
}

// maxPerInvariant caps the failures reported per invariant; the rest are counted.
const maxPerInvariant = 8

type report struct {
	out     []Failure
	count   map[int]int
	dropped map[int]int
}

func (r *report) fail(inv int, format string, args ...any) {
	r.count[inv]++
	if r.count[inv] > maxPerInvariant {
		r.dropped[inv]++
		return
	}
	r.out = append(r.out, Failure{Invariant: inv, Evidence: fmt.Sprintf(format, args...)})
}

// Check returns every invariant the observations violate, each failure naming the invariant
// and its evidence; nil means the run kept them all.
func Check(o *Observations, b Bounds) []Failure {
	r := &report{count: map[int]int{}, dropped: map[int]int{}}
	checkRecording(o, b, r)
	checkOneRunner(o, b, r)
	checkNoOrphans(o, b, r)
	checkWrites(o, r)
	checkEvents(o, r)
	checkCreds(o, r)
	checkTampered(o, r)
	for _, e := range o.Expect {
		if !e.OK {
			r.fail(e.Invariant, "%s: %s", e.Name, e.Evidence)
		}
	}
	invs := make([]int, 0, len(r.dropped))
	for inv := range r.dropped {
		invs = append(invs, inv)
	}
	sort.Ints(invs)
	for _, inv := range invs {
		r.out = append(r.out, Failure{Invariant: inv, Evidence: fmt.Sprintf("… and %d more failures of this invariant", r.dropped[inv])})
	}
	return r.out
}

func checkRecording(o *Observations, b Bounds, r *report) {
	if len(o.Samples) == 0 {
		r.fail(0, "the recording holds no process samples: invariants 1, 2 and 6 cannot be checked")
		return
	}
	if o.Watch != nil {
		// The kernel's events watch invariants 1 and 2 whenever the recorder ran; the
		// samples only cross-check them, so a late sample blinds nothing.
		checkWatch(o, o.Watch, r)
		return
	}
	for i := 1; i < len(o.Samples); i++ {
		if gap := o.Samples[i].At - o.Samples[i-1].At; b.MaxSampleGap > 0 && gap > b.MaxSampleGap {
			r.fail(0, "no process sample between t=%s and t=%s (gap %s > %s): invariant 1 was not watched then",
				ms(o.Samples[i-1].At), ms(o.Samples[i].At), ms(gap), ms(b.MaxSampleGap))
		}
	}
}

// crossCheckSlack is how far a sample may see a process outside its span in the events: the
// kernel makes a child visible in /proc a moment before it reports the fork, and reports an
// exit a moment before the process stops showing as alive; a preempted exiting task can
// stretch that moment on a loaded machine. The cross-check is there to catch a process the
// events miss altogether, which no slack hides.
const crossCheckSlack = time.Second

// checkWatch refuses to claim what the kernel's process events did not show (events it
// dropped, a node process it did not report), and cross-checks them with the samples: every
// plugin process a sample saw under a node must be alive under that node in the events then.
func checkWatch(o *Observations, w *ProcWatch, r *report) {
	for _, at := range w.Lost {
		r.fail(0, "the kernel dropped process events at t=%s (socket buffer full): invariants 1 and 2 were not watched from then on", ms(at))
	}
	for _, p := range w.Problems {
		r.fail(0, "process watch: %s", p)
	}
	alive := func(node string, pid int, lo, hi time.Duration) bool {
		for _, sp := range w.Plugins {
			if sp.Node == node && sp.PID == pid && sp.From <= hi+crossCheckSlack && sp.end(w.To)+crossCheckSlack >= lo {
				return true
			}
		}
		return false
	}
	for _, s := range o.Samples {
		lo := s.Began
		if lo == 0 {
			lo = s.At
		}
		if lo < w.From || s.At > w.To {
			continue
		}
		for _, n := range sortedKeys(s.Nodes) {
			for _, p := range s.Nodes[n].Plugins {
				if !alive(n, p.PID, lo, s.At) {
					r.fail(0, "polling saw pid %d under node %s at t=%s, which the kernel's process events do not show alive there then: the event watch missed a process",
						p.PID, n, ms(s.At))
				}
			}
		}
	}
}

// checkOneRunner is invariant 1: at no sample do two nodes have plugin processes for longer
// than the hand-over bound. A frozen node is exempt while frozen; its first sample after it
// resumes starts the clock again.
func checkOneRunner(o *Observations, b Bounds, r *report) {
	if o.Watch != nil {
		checkOneRunnerWatched(o, o.Watch, b, r)
		return
	}
	var (
		inEpisode bool
		start     time.Duration
		last      time.Duration
		reported  bool
		evidence  string
	)
	end := func() {
		if inEpisode && reported {
			r.fail(1, "%s from t=%s to t=%s (%s, bound %s)", evidence, ms(start), ms(last), ms(last-start), ms(b.HandOver))
		}
		inEpisode, reported = false, false
	}
	for _, s := range o.Samples {
		var busy []string
		for _, n := range sortedKeys(s.Nodes) {
			ns := s.Nodes[n]
			if len(ns.Plugins) > 0 && !o.frozenAt(n, s.At) {
				busy = append(busy, fmt.Sprintf("%s (pids %s)", n, pids(ns.Plugins)))
			}
		}
		if len(busy) < 2 {
			end()
			continue
		}
		if !inEpisode {
			inEpisode, start = true, s.At
		}
		last = s.At
		if s.At-start > b.HandOver && !reported {
			reported = true
			evidence = "nodes " + strings.Join(busy, " and ") + " both ran plugin processes"
		}
	}
	end()
}

// checkOneRunnerWatched is invariant 1 on the kernel's process events: the exact spans
// during which two or more nodes, not frozen, each had a process below them. Every fork and
// exit is a boundary, so no overlap is too short or too late to be seen.
func checkOneRunnerWatched(o *Observations, w *ProcWatch, b Bounds, r *report) {
	// A plugin counts while its node process lives; once the node is gone it is an orphan,
	// which invariant 2 judges.
	type run struct {
		node string
		pid  int
	}
	nodeEnd := map[run]time.Duration{}
	for _, n := range w.Nodes {
		nodeEnd[run{n.Node, n.PID}] = n.end(w.To)
	}
	until := func(sp ProcSpan) time.Duration {
		if e, ok := nodeEnd[run{sp.Node, sp.Run}]; ok && e < sp.end(w.To) {
			return e
		}
		return sp.end(w.To)
	}
	cuts := []time.Duration{w.From, w.To}
	for _, sp := range w.Plugins {
		cuts = append(cuts, sp.From, until(sp))
	}
	for _, iv := range o.Frozen {
		cuts = append(cuts, iv.From)
		if iv.To != 0 {
			cuts = append(cuts, iv.To)
		}
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	var (
		inEpisode, reported bool
		start, last         time.Duration
		evidence            string
	)
	end := func() {
		if inEpisode && reported {
			r.fail(1, "%s from t=%s to t=%s (%s, bound %s; the kernel's process events)", evidence, ms(start), ms(last), ms(last-start), ms(b.HandOver))
		}
		inEpisode, reported = false, false
	}
	for i := 0; i+1 < len(cuts); i++ {
		lo, hi := cuts[i], cuts[i+1]
		if lo < w.From || hi > w.To {
			continue
		}
		mid := lo + (hi-lo)/2
		busy := map[string][]Proc{}
		for _, sp := range w.Plugins {
			if sp.From <= mid && mid < until(sp) && !o.frozenAt(sp.Node, mid) {
				busy[sp.Node] = append(busy[sp.Node], Proc{PID: sp.PID})
			}
		}
		if len(busy) < 2 {
			end()
			continue
		}
		if !inEpisode {
			inEpisode, start = true, lo
		}
		last = hi
		if last-start > b.HandOver && !reported {
			reported = true
			var parts []string
			for _, n := range sortedKeys(busy) {
				parts = append(parts, fmt.Sprintf("%s (pids %s)", n, pids(busy[n])))
			}
			evidence = "nodes " + strings.Join(parts, " and ") + " both ran plugin processes"
		}
	}
	end()
}

// checkNoOrphans is invariant 2: the plugin processes of a killed node are gone within the
// bound, no process stays an orphan longer than that, and none is left at the end.
func checkNoOrphans(o *Observations, b Bounds, r *report) {
	type key struct {
		pid   int
		start uint64
	}
	seen := func(s Sample, p Proc) (string, bool) {
		for _, n := range sortedKeys(s.Nodes) {
			for _, q := range s.Nodes[n].Plugins {
				if q.PID == p.PID && q.Start == p.Start {
					return "under node " + n, true
				}
			}
		}
		for _, q := range s.Orphans {
			if q.PID == p.PID && q.Start == p.Start {
				return "as an orphan", true
			}
		}
		return "", false
	}
	for _, k := range o.Kills {
		for _, p := range k.Plugins {
			for _, s := range o.Samples {
				if s.At <= k.At+b.PluginDeath {
					continue
				}
				if where, ok := seen(s, p); ok {
					r.fail(2, "plugin pid %d of node %s was still alive %s at t=%s, %s after the node was killed at t=%s (bound %s)",
						p.PID, k.Node, where, ms(s.At), ms(s.At-k.At), ms(k.At), ms(b.PluginDeath))
					break
				}
			}
		}
	}
	first := map[key]time.Duration{}
	reported := map[key]bool{}
	for _, s := range o.Samples {
		for _, p := range s.Orphans {
			k := key{p.PID, p.Start}
			f, ok := first[k]
			if !ok {
				first[k] = s.At
				continue
			}
			if s.At-f > b.PluginDeath && !reported[k] {
				reported[k] = true
				r.fail(2, "plugin pid %d ran without its node from t=%s to at least t=%s (bound %s)", p.PID, ms(f), ms(s.At), ms(b.PluginDeath))
			}
		}
	}
	if len(o.FinalOrphans) > 0 {
		r.fail(2, "plugin processes left without their node at the end of the run: pids %s", pids(o.FinalOrphans))
	}
	if w := o.Watch; w != nil {
		// Exact: each node process's exit and each of its plugins' exits, from the kernel.
		for _, n := range w.Nodes {
			if !n.Ended {
				continue
			}
			for _, p := range w.Plugins {
				if p.Node != n.Node || p.Run != n.PID {
					continue
				}
				if late := p.end(w.To) - n.To; late > b.PluginDeath {
					how := "exited at t=" + ms(p.To)
					if !p.Ended {
						how = "still ran when the watch ended at t=" + ms(w.To)
					}
					r.fail(2, "plugin pid %d of node %s (pid %d) %s, %s after its node exited at t=%s (bound %s)",
						p.PID, n.Node, n.PID, how, ms(late), ms(n.To), ms(b.PluginDeath))
				}
			}
		}
	}
}

// checkWrites is invariant 3: the last acknowledged write of every key is what the active node
// reads at the end (or a later attempt overwrote it), and every node applied the same commands
// up to at least the index of that read.
func checkWrites(o *Observations, r *report) {
	byKey := map[string][]Write{}
	for _, w := range o.Writes {
		byKey[w.Key] = append(byKey[w.Key], w)
	}
	for _, key := range sortedKeys(byKey) {
		ws := byKey[key]
		sort.SliceStable(ws, func(i, j int) bool { return ws[i].Seq < ws[j].Seq })
		lastAcked := -1
		for i, w := range ws {
			if w.Acked {
				lastAcked = i
			}
		}
		if lastAcked < 0 {
			continue
		}
		final, read := o.Final[key]
		if !read {
			r.fail(3, "%s: acknowledged %s write #%d was never read back at the end", key, ws[lastAcked].Kind, ws[lastAcked].Seq)
			continue
		}
		ok := false
		for _, w := range ws[lastAcked:] {
			if w.Value == final {
				ok = true
			}
		}
		if !ok {
			w := ws[lastAcked]
			r.fail(3, "%s: acknowledged %s write #%d (value %q, through %s) is lost: the active node reads %q at the end",
				key, w.Kind, w.Seq, w.Value, w.Node, final)
		}
	}
	if len(o.Logs) == 0 && len(o.Writes)+len(o.Events) > 0 {
		r.fail(3, "no node's applied log was read: cannot show the writes reached every node")
		return
	}
	nodes := slices.Clone(o.Nodes)
	sort.Strings(nodes)
	var usable []string
	for _, n := range nodes {
		l, ok := o.Logs[n]
		switch {
		case !ok:
			r.fail(3, "node %s: its applied log was not read", n)
		case l.Err != "":
			r.fail(3, "node %s: reading its applied log failed: %s", n, l.Err)
		case l.AppliedIndex < o.ReadIndex:
			r.fail(3, "node %s applied only up to index %d, short of index %d where the final reads were made: acknowledged writes may be missing there",
				n, l.AppliedIndex, o.ReadIndex)
			usable = append(usable, n)
		default:
			usable = append(usable, n)
		}
	}
	if len(usable) < 2 {
		return
	}
	// Compare every node's log with the first one's over the window all of them cover.
	var lo, hi uint64
	hi = ^uint64(0)
	for _, n := range usable {
		l := o.Logs[n]
		if len(l.Log) > 0 && l.Log[0].Index > lo {
			lo = l.Log[0].Index
		}
		hi = min(hi, l.AppliedIndex)
	}
	window := func(n string) map[uint64]Applied {
		m := map[uint64]Applied{}
		for _, a := range o.Logs[n].Log {
			if a.Index >= lo && a.Index <= hi {
				m[a.Index] = a
			}
		}
		return m
	}
	ref := usable[0]
	refLog := window(ref)
	for _, n := range usable[1:] {
		other := window(n)
		idx := make([]uint64, 0, len(refLog)+len(other))
		for i := range refLog {
			idx = append(idx, i)
		}
		for i := range other {
			if _, dup := refLog[i]; !dup {
				idx = append(idx, i)
			}
		}
		slices.Sort(idx)
		for _, i := range idx {
			if a, b := refLog[i], other[i]; a.ID != b.ID {
				r.fail(3, "nodes %s and %s diverge at index %d: %s applied %s, %s applied %s (both applied up to index %d)",
					ref, n, i, ref, describeApplied(a), n, describeApplied(b), hi)
				break
			}
		}
	}
}

// checkEvents is invariant 4: every acknowledged event appears exactly once in every node's
// applied log, at the same index everywhere (the index the injection answered, when it
// answered one), so all nodes applied the events in one order; an unacknowledged event
// appears at most once.
func checkEvents(o *Observations, r *report) {
	if len(o.Events) == 0 {
		return
	}
	nodes := slices.Clone(o.Nodes)
	sort.Strings(nodes)
	where := map[string]map[string][]uint64{} // node -> event id -> indexes
	for _, n := range nodes {
		l, ok := o.Logs[n]
		if !ok || l.Err != "" {
			r.fail(4, "node %s: no applied log, so its events cannot be checked", n)
			continue
		}
		m := map[string][]uint64{}
		for _, a := range l.Log {
			m[a.ID] = append(m[a.ID], a.Index)
		}
		where[n] = m
	}
	orders := map[string][]string{}
	for _, ev := range o.Events {
		var idx uint64
		var idxNode string
		for _, n := range nodes {
			m, ok := where[n]
			if !ok {
				continue
			}
			got := m[ev.ID]
			switch {
			case len(got) > 1:
				r.fail(4, "event %s (%s) was applied %d times on node %s, at indexes %v", ev.ID, ev.Kind, len(got), n, got)
			case len(got) == 0 && ev.Acked:
				r.fail(4, "acknowledged event %s (%s, via %s, index %d) is missing from node %s's applied log", ev.ID, ev.Kind, ev.Via, ev.Index, n)
			case len(got) == 1:
				if ev.Index != 0 && got[0] != ev.Index {
					r.fail(4, "event %s (%s) was answered with index %d but node %s applied it at index %d", ev.ID, ev.Kind, ev.Index, n, got[0])
				}
				if idxNode != "" && got[0] != idx {
					r.fail(4, "event %s (%s) sits at index %d on node %s but at index %d on node %s", ev.ID, ev.Kind, idx, idxNode, got[0], n)
				}
				idx, idxNode = got[0], n
			}
		}
	}
	// Order: the acknowledged events, as each node's log orders them.
	acked := map[string]bool{}
	for _, ev := range o.Events {
		if ev.Acked {
			acked[ev.ID] = true
		}
	}
	for _, n := range nodes {
		if _, ok := where[n]; !ok {
			continue
		}
		for _, a := range o.Logs[n].Log {
			if acked[a.ID] {
				orders[n] = append(orders[n], a.ID)
			}
		}
	}
	var ref string
	for _, n := range nodes {
		if _, ok := orders[n]; !ok {
			continue
		}
		if ref == "" {
			ref = n
			continue
		}
		a, b := orders[ref], orders[n]
		for i := 0; i < min(len(a), len(b)); i++ {
			if a[i] != b[i] {
				r.fail(4, "nodes %s and %s applied the events in different orders: event #%d is %s on %s but %s on %s", ref, n, i+1, a[i], ref, b[i], n)
				break
			}
		}
	}
}

// checkCreds is invariant 5: every credential issued and never revoked still logs in, every
// revoked one does not, and every rotated connection's root credential works after rollback.
func checkCreds(o *Observations, r *report) {
	for _, c := range o.Creds {
		if !c.Checked {
			continue
		}
		switch {
		case c.Revoke == NotRevoked && !c.LoginOK:
			r.fail(5, "credential %s (user %s, issued at t=%s) was never revoked but no longer logs in: %s", c.LeaseID, c.Username, ms(c.IssuedAt), c.LoginErr)
		case c.Revoke == RevokeAcked && c.LoginOK:
			r.fail(5, "credential %s (user %s, issued at t=%s) was revoked (acknowledged) but still logs in", c.LeaseID, c.Username, ms(c.IssuedAt))
		}
	}
	for _, rc := range o.Root {
		if rc.WALEntries > 0 {
			r.fail(5, "connection %s: %d WAL entries remain after rollback had time to run", rc.Connection, rc.WALEntries)
		}
		if !rc.CredsOK {
			r.fail(5, "connection %s: its stored root credential no longer works (creds after a reset failed): %s", rc.Connection, rc.Err)
		}
	}
}

// checkTampered is invariant 6: no process ever sampled ran the tampered binary.
func checkTampered(o *Observations, r *report) {
	t := o.Tampered
	if t == nil {
		return
	}
	if t.File.IsZero() {
		r.fail(6, "the tampered binary %s has no recorded identity: cannot check what ran", t.Path)
		return
	}
	reported := map[int]bool{}
	hit := func(at string, owner string, p Proc) {
		if p.Exe.Same(t.File) && !reported[p.PID] {
			reported[p.PID] = true
			note := ""
			if p.Note != "" {
				note = ": " + p.Note
			}
			r.fail(6, "pid %d (%s) ran the tampered binary %s (sha256 %s, inode %d) at %s%s", p.PID, owner, t.Path, t.SHA256, t.File.Ino, at, note)
		}
	}
	for _, s := range o.Samples {
		if s.At < t.At {
			continue
		}
		for _, n := range sortedKeys(s.Nodes) {
			for _, p := range s.Nodes[n].Plugins {
				hit("t="+ms(s.At), "node "+n, p)
			}
		}
		for _, p := range s.Orphans {
			hit("t="+ms(s.At), "orphan", p)
		}
	}
	for _, k := range o.Kills {
		if k.At < t.At {
			continue
		}
		for _, p := range k.Plugins {
			hit("the kill at t="+ms(k.At), "node "+k.Node, p)
		}
	}
	for _, p := range o.FinalOrphans {
		hit("the end", "orphan", p)
	}
	if w := o.Watch; w != nil {
		// Every exec below a node since the tampering, as the watcher read it when the kernel
		// reported it. One it could not read (the process was gone first) may have run
		// anything, unless a sample saw what it ran.
		sampled := func(sp ProcSpan) bool {
			for _, s := range o.Samples {
				if s.At < sp.Exec || s.At > sp.end(w.To) {
					continue
				}
				for _, q := range s.Nodes[sp.Node].Plugins {
					if q.PID == sp.PID && !q.Exe.IsZero() {
						return true // and hit above judged it
					}
				}
			}
			return false
		}
		for _, sp := range w.Plugins {
			if !sp.Execd || sp.Exec < t.At {
				continue
			}
			switch {
			case !sp.Exe.IsZero():
				hit("its exec at t="+ms(sp.Exec), "node "+sp.Node, Proc{PID: sp.PID, Exe: sp.Exe})
			case !sampled(sp):
				r.fail(0, "pid %d under node %s exec'd at t=%s and was gone before its executable could be read: invariant 6 cannot be claimed for it",
					sp.PID, sp.Node, ms(sp.Exec))
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func pids(ps []Proc) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p.PID)
	}
	return strings.Join(s, ",")
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func describeApplied(a Applied) string {
	if a.ID == "" {
		return "nothing"
	}
	if a.Type == "" {
		return a.ID
	}
	return a.ID + " (" + a.Type + ")"
}
