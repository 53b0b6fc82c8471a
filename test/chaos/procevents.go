package chaos

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// le is the byte order of netlink messages on every machine Baton's suite runs on (amd64,
// arm64): the host's.
var le = binary.LittleEndian

// Sentinels of procConn.recv.
var (
	// errProcIdle: nothing was queued for a poll period.
	errProcIdle = errors.New("no process event queued")
	// errProcLost: the kernel dropped events, its socket buffer being full.
	errProcLost = errors.New("process events were dropped: socket buffer full")
)

// procKind is the "what" of a process event (linux/cn_proc.h); only those the watch uses.
type procKind uint32

const (
	procAck  procKind = 0x0 // PROC_EVENT_NONE: the answer to a subscription
	procFork procKind = 0x1
	procExec procKind = 0x2
	procExit procKind = 0x80000000
)

const (
	nlmsgHdrLen = 16 // struct nlmsghdr
	cnMsgLen    = 20 // struct cn_msg, before its data
	procHdrLen  = 16 // struct proc_event: what, cpu, timestamp_ns
)

// procEvent is one process event the kernel sent.
type procEvent struct {
	Kind procKind
	// At is the kernel's CLOCK_MONOTONIC time of the event (timestamp_ns), taken when it
	// happened, however late it is read.
	At time.Duration
	// PID and TGID are the task the event is about (for a fork, the child); a process is a
	// task with PID == TGID, the others are its threads.
	PID, TGID int
	// ParentTGID is the forking process (fork only).
	ParentTGID int
	// Err is the answer to a subscription (ack only): 0 or an errno.
	Err uint32
}

// parseProcEvents decodes one datagram of the process event connector, which may hold
// several netlink messages. Messages of other connectors are skipped; a truncated one is an
// error.
func parseProcEvents(b []byte) ([]procEvent, error) {
	var out []procEvent
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return out, fmt.Errorf("netlink message of %d bytes, shorter than its header", len(b))
		}
		n := int(le.Uint32(b))
		if n < nlmsgHdrLen || n > len(b) {
			return out, fmt.Errorf("netlink message length %d out of range (%d bytes left)", n, len(b))
		}
		msg := b[nlmsgHdrLen:n]
		if next := (n + 3) &^ 3; next < len(b) {
			b = b[next:]
		} else {
			b = nil
		}
		if len(msg) < cnMsgLen {
			return out, fmt.Errorf("connector message of %d bytes, shorter than its header", len(msg))
		}
		if le.Uint32(msg[0:]) != 1 || le.Uint32(msg[4:]) != 1 { // CN_IDX_PROC, CN_VAL_PROC
			continue
		}
		data := msg[cnMsgLen:]
		if dl := int(le.Uint16(msg[16:])); dl < len(data) {
			data = data[:dl]
		}
		if len(data) < procHdrLen+8 {
			return out, fmt.Errorf("process event of %d bytes, too short", len(data))
		}
		ev := procEvent{Kind: procKind(le.Uint32(data[0:])), At: time.Duration(le.Uint64(data[8:]))}
		d := data[procHdrLen:]
		u := func(i int) int { return int(le.Uint32(d[4*i:])) }
		switch ev.Kind {
		case procAck:
			ev.Err = le.Uint32(d)
		case procFork:
			if len(d) < 16 {
				return out, fmt.Errorf("fork event of %d bytes, too short", len(data))
			}
			ev.ParentTGID, ev.PID, ev.TGID = u(1), u(2), u(3)
		case procExec, procExit:
			ev.PID, ev.TGID = u(0), u(1)
		default:
			continue
		}
		out = append(out, ev)
	}
	return out, nil
}

// procSpan is one process's life in a procTree.
type procSpan struct {
	pid int
	// parent is the index of the parent's span, -1 for the tree's root process.
	parent int
	from   time.Duration
	to     time.Duration
	ended  bool
	// seeded: the process was alive when the watch began; from is then that moment, not its
	// fork, unless the fork event came later and refined it.
	seeded bool
	// exec is the time of its last exec, if it exec'd; exe what that exec ran, zero when
	// the process was gone (or its pid reused) before the watcher could read it.
	exec  time.Duration
	execd bool
	exe   FileID
}

// procTree folds process events into the lives of every process descending from root, with
// the parent each was forked from (a reparented orphan keeps it: that is whose plugin it
// was). It is plain data; ProcWatcher feeds it.
type procTree struct {
	root  int
	spans []procSpan
	live  map[int]int // pid -> index of its open span
	// last maps an ended span's pid to it until the pid is forked again: an exec of that
	// pid before then is the same process (a thread other than the leader called execve,
	// and the kernel reported the leader's exit first).
	last map[int]int
}

func newProcTree(root int) *procTree {
	return &procTree{root: root, live: map[int]int{}, last: map[int]int{}}
}

// parentIndex is the span of a live parent, -1 for the root, ok false when the parent is not
// in the tree.
func (t *procTree) parentIndex(ppid int) (int, bool) {
	if ppid == t.root {
		return -1, true
	}
	i, ok := t.live[ppid]
	return i, ok
}

// seed adds the descendants of root in a /proc listing (pid -> ppid) taken at at, parents
// before their children.
func (t *procTree) seed(ppids map[int]int, at time.Duration) {
	children := map[int][]int{}
	for pid, ppid := range ppids {
		children[ppid] = append(children[ppid], pid)
	}
	// By pid, so that the spans (and the report built from them) come out in the same order
	// whatever order the map gave.
	for _, c := range children {
		slices.Sort(c)
	}
	queue := []int{t.root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			queue = append(queue, c)
			if _, ok := t.live[c]; ok {
				continue
			}
			if pi, ok := t.parentIndex(p); ok {
				t.open(procSpan{pid: c, parent: pi, from: at, seeded: true})
			}
		}
	}
}

func (t *procTree) open(s procSpan) {
	t.spans = append(t.spans, s)
	t.live[s.pid] = len(t.spans) - 1
}

func (t *procTree) close(i int, at time.Duration) {
	t.spans[i].to, t.spans[i].ended = at, true
	delete(t.live, t.spans[i].pid)
	t.last[t.spans[i].pid] = i
}

// apply folds one event into the tree. Threads are ignored: a process lives from its fork to
// its leader's exit.
func (t *procTree) apply(ev procEvent) {
	switch ev.Kind {
	case procFork:
		if ev.PID != ev.TGID {
			return
		}
		delete(t.last, ev.PID)
		if i, ok := t.live[ev.PID]; ok {
			if s := &t.spans[i]; s.seeded && ev.At <= s.from {
				// The fork of a process the listing already showed: now its start is exact.
				s.from, s.seeded = ev.At, false
				return
			}
			// A pid forked again while its span is open: its exit was not seen (events
			// lost). It ended by now at the latest.
			t.close(i, ev.At)
			delete(t.last, ev.PID)
		}
		pi, ok := t.parentIndex(ev.ParentTGID)
		if !ok {
			return
		}
		t.open(procSpan{pid: ev.PID, parent: pi, from: ev.At})
	case procExit:
		if ev.PID != ev.TGID {
			return
		}
		i, ok := t.live[ev.PID]
		if !ok {
			return
		}
		if s := t.spans[i]; s.seeded && ev.At < s.from {
			return // an earlier process under the pid, gone before the listing
		}
		t.close(i, ev.At)
	case procExec:
		i, ok := t.live[ev.TGID]
		if !ok {
			if i, ok = t.last[ev.TGID]; !ok {
				return
			}
			t.spans[i].to, t.spans[i].ended = 0, false
			t.live[ev.TGID] = i
			delete(t.last, ev.TGID)
		}
		s := &t.spans[i]
		s.exec, s.execd, s.exe = ev.At, true, FileID{}
	}
}

// NodeRun is one run of a node process as the harness started it, in recording time.
type NodeRun struct {
	Node string
	PID  int
	// Started is a moment the process existed under PID (after its fork, before its reaping).
	Started time.Duration
	// Reaped is when the harness reaped it, if Done.
	Reaped time.Duration
	Done   bool
}

// attribute splits the tree into node processes and their plugin processes (every process
// forked below a node run), for a watch that covered [from, to]. A run that was alive during
// the watch but has no process in the tree is a problem: the watch missed it.
func (t *procTree) attribute(runs []NodeRun, from, to time.Duration) (w ProcWatch) {
	w.From, w.To = from, to
	owner := map[int]int{} // span index of a node process -> index in w.Nodes
	for _, r := range runs {
		if r.Done && r.Reaped < from {
			continue // over before the watch began
		}
		best := -1
		for i, s := range t.spans {
			if s.pid == r.PID && s.parent == -1 && (s.seeded || s.from <= r.Started) {
				best = i
			}
		}
		if best < 0 {
			w.Problems = append(w.Problems, fmt.Sprintf("node %s's process (pid %d, started at t=%s) is missing from the kernel's process events", r.Node, r.PID, ms(r.Started)))
			continue
		}
		owner[best] = len(w.Nodes)
		w.Nodes = append(w.Nodes, t.export(best, r.Node, r.PID))
	}
	// memo: span index -> index in w.Nodes of the node it descends from, -1 for none.
	memo := map[int]int{}
	var nodeOf func(i int) int
	nodeOf = func(i int) int {
		if v, ok := memo[i]; ok {
			return v
		}
		memo[i] = -1 // a cycle cannot happen (parents come first); this ends one anyway
		v := -1
		if p := t.spans[i].parent; p >= 0 {
			if n, ok := owner[p]; ok {
				v = n
			} else {
				v = nodeOf(p)
			}
		}
		memo[i] = v
		return v
	}
	for i := range t.spans {
		if _, isNode := owner[i]; isNode {
			continue
		}
		if n := nodeOf(i); n >= 0 {
			w.Plugins = append(w.Plugins, t.export(i, w.Nodes[n].Node, w.Nodes[n].PID))
		}
	}
	return w
}

func (t *procTree) export(i int, node string, run int) ProcSpan {
	s := t.spans[i]
	return ProcSpan{Node: node, Run: run, PID: s.pid, From: s.from, To: s.to, Ended: s.ended, Seeded: s.seeded,
		Exec: s.exec, Execd: s.execd, Exe: s.exe}
}

// ProcWatcher follows every process descending from one root process (the test binary:
// nodes, their plugins, whatever they start) through the kernel's process event connector.
// The kernel queues each fork, exec and exit with its own timestamp while the watcher is
// descheduled, so a busy machine delays the watch but cannot blind it; only a full socket
// buffer can, and that is recorded (Lost).
type ProcWatcher struct {
	conn *procConn
	zero time.Time
	// offset is the kernel's monotonic time at the recording's zero; boot is how far boot
	// time (which /proc's start times count in) is ahead of it.
	offset time.Duration
	boot   time.Duration
	from   time.Duration

	mu     sync.Mutex
	tree   *procTree
	lost   []time.Duration
	events int
	to     time.Duration
	err    error

	quit chan struct{}
	done chan struct{}
	once sync.Once
}

// procWatchDrain bounds how long Stop reads what the kernel queued before it.
const procWatchDrain = 10 * time.Second

// StartProcWatch subscribes to the kernel's process events and starts following the
// descendants of root (those alive now are read from /proc), with times relative to zero.
// An error means process events are not available here and says why; the caller falls back
// to polling.
func StartProcWatch(root int, zero time.Time) (*ProcWatcher, error) {
	conn, err := openProcEvents()
	if err != nil {
		return nil, err
	}
	mono, err := monotonicNow()
	if err != nil {
		conn.Close()
		return nil, err
	}
	boot, err := bootOffset()
	if err != nil {
		conn.Close()
		return nil, err
	}
	// Go's monotonic readings (time.Since) use the kernel's CLOCK_MONOTONIC too.
	w := &ProcWatcher{conn: conn, zero: zero, offset: mono - time.Since(zero), boot: boot, tree: newProcTree(root),
		quit: make(chan struct{}), done: make(chan struct{})}
	// Subscribed first, listed second: a process forked in between is in both, which the
	// tree reconciles; none is in neither.
	w.from = time.Since(zero)
	ppids, err := listPPIDs()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("list the processes already running: %w", err)
	}
	w.tree.seed(ppids, w.from)
	go w.loop()
	return w, nil
}

func (w *ProcWatcher) loop() {
	defer close(w.done)
	buf := make([]byte, 1<<16)
	var (
		end      time.Duration
		stopping bool
		drainBy  time.Time
	)
	for {
		if !stopping {
			select {
			case <-w.quit:
				stopping, end, drainBy = true, time.Since(w.zero), time.Now().Add(procWatchDrain)
			default:
			}
		}
		if stopping && time.Now().After(drainBy) {
			w.finish(end, fmt.Errorf("the kernel's process events up to t=%s were not all read within %s", ms(end), procWatchDrain))
			return
		}
		n, err := w.conn.recv(buf)
		switch {
		case errors.Is(err, errProcIdle):
			if stopping {
				w.finish(end, nil) // everything queued before the stop has been read
				return
			}
			continue
		case errors.Is(err, errProcLost):
			w.mu.Lock()
			w.lost = append(w.lost, time.Since(w.zero))
			w.mu.Unlock()
			continue
		case err != nil:
			w.finish(time.Since(w.zero), err)
			return
		}
		evs, err := parseProcEvents(buf[:n])
		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = err
		}
		past := false
		for _, ev := range evs {
			ev.At -= w.offset
			if stopping && ev.At > end {
				past = true
				continue
			}
			w.events++
			w.tree.apply(ev)
			if ev.Kind == procExec {
				w.identify(ev.TGID)
			}
		}
		w.mu.Unlock()
		if past {
			// The kernel queues events in the order it stamps them (per CPU, within
			// microseconds): once one is past the stop, those before it have been read.
			w.finish(end, nil)
			return
		}
	}
}

// clockTick is the unit of /proc/<pid>/stat's start time (USER_HZ, 100 on every Linux).
const clockTick = 10 * time.Millisecond

// identify reads what a process of the tree just exec'd, if it is still the process the
// event was about: its start time (boot-based clock ticks) must match its fork event. A
// watcher read late may find it gone; the span then says so (zero Exe). w.mu is held.
func (w *ProcWatcher) identify(pid int) {
	i, ok := w.tree.live[pid]
	if !ok {
		return
	}
	s := &w.tree.spans[i]
	st, err := startTime(pid)
	if err != nil {
		return
	}
	if !s.seeded {
		fork := s.from + w.offset + w.boot
		if d := time.Duration(st)*clockTick - fork; d < -2*clockTick || d > 2*clockTick {
			return // the pid is another process's by now
		}
	}
	if id, err := FileIDOf(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		s.exe = id
	}
}

func (w *ProcWatcher) finish(end time.Duration, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.to = end
	if err != nil && w.err == nil {
		w.err = err
	}
}

// Stop ends the watch at the current time, once every event the kernel stamped before it has
// been read (bounded), and closes the subscription. It is idempotent.
func (w *ProcWatcher) Stop() {
	w.once.Do(func() {
		close(w.quit)
		<-w.done
		w.conn.Close()
	})
}

// Result stops the watch and returns what it saw, split by node: runs are the node processes
// the harness started.
func (w *ProcWatcher) Result(runs []NodeRun) *ProcWatch {
	w.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.tree.attribute(runs, w.from, w.to)
	r.Lost = append([]time.Duration(nil), w.lost...)
	r.Events = w.events
	if w.err != nil {
		r.Problems = append(r.Problems, "reading the kernel's process events: "+w.err.Error())
	}
	return &r
}
