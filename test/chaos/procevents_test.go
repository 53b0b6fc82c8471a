package chaos

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/baton-hq/baton/test/testutil"
)

// procMsg builds one netlink message of the process event connector, as the kernel sends it.
func procMsg(idx uint32, kind procKind, at time.Duration, data ...uint32) []byte {
	payload := make([]byte, procHdrLen+24) // event_data is a union of at least 24 bytes
	le.PutUint32(payload[0:], uint32(kind))
	le.PutUint64(payload[8:], uint64(at))
	for i, d := range data {
		le.PutUint32(payload[procHdrLen+4*i:], d)
	}
	b := make([]byte, nlmsgHdrLen+cnMsgLen+len(payload))
	le.PutUint32(b[0:], uint32(len(b)))
	le.PutUint32(b[16:], idx)
	le.PutUint32(b[20:], 1)
	le.PutUint16(b[32:], uint16(len(payload)))
	copy(b[nlmsgHdrLen+cnMsgLen:], payload)
	return b
}

func TestParseProcEvents(t *testing.T) {
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	tests := []struct {
		name    string
		in      []byte
		want    []procEvent
		wantErr bool
	}{
		{name: "fork", in: procMsg(1, procFork, 5*time.Second, 100, 100, 101, 101),
			want: []procEvent{{Kind: procFork, At: 5 * time.Second, PID: 101, TGID: 101, ParentTGID: 100}}},
		{name: "a thread's clone", in: procMsg(1, procFork, 1, 100, 100, 102, 100),
			want: []procEvent{{Kind: procFork, At: 1, PID: 102, TGID: 100, ParentTGID: 100}}},
		{name: "exec and exit in one datagram", in: cat(procMsg(1, procExec, 7, 101, 101), procMsg(1, procExit, 9, 101, 101, 0, 17)),
			want: []procEvent{{Kind: procExec, At: 7, PID: 101, TGID: 101}, {Kind: procExit, At: 9, PID: 101, TGID: 101}}},
		{name: "the subscription's answer", in: procMsg(1, procAck, 3, 1),
			want: []procEvent{{Kind: procAck, At: 3, Err: 1}}},
		{name: "another connector is skipped", in: procMsg(7, procFork, 1, 1, 1, 2, 2), want: nil},
		{name: "an event kind the watch does not use is skipped", in: procMsg(1, 0x200, 1, 1, 1), want: nil},
		{name: "a truncated message", in: procMsg(1, procFork, 1, 1, 1, 2, 2)[:30], wantErr: true},
		{name: "a length past the datagram", in: func() []byte {
			b := procMsg(1, procExit, 1, 1, 1)
			le.PutUint32(b, uint32(len(b)+8))
			return b
		}(), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcEvents(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("events = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("event %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func fork(at time.Duration, parent, child int) procEvent {
	return procEvent{Kind: procFork, At: at, ParentTGID: parent, PID: child, TGID: child}
}

func exit(at time.Duration, pid int) procEvent {
	return procEvent{Kind: procExit, At: at, PID: pid, TGID: pid}
}

// TestProcTree feeds the tree hand-made event sequences and checks the lives it derives,
// split by node.
func TestProcTree(t *testing.T) {
	const root, node = 1, 10
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	runs := []NodeRun{{Node: "n1", PID: node, Started: ms(1)}}
	tests := []struct {
		name   string
		seed   map[int]int // pid -> ppid, listed at 5 ms
		events []procEvent
		want   []ProcSpan // plugins of n1
		nodes  int        // node spans found
	}{
		{name: "a plugin forked and gone between two polls is seen",
			events: []procEvent{fork(ms(0), root, node), fork(ms(100), node, 11), exit(ms(110), 11)},
			want:   []ProcSpan{{Node: "n1", Run: node, PID: 11, From: ms(100), To: ms(110), Ended: true}}, nodes: 1},
		{name: "threads are not processes",
			events: []procEvent{fork(ms(0), root, node), {Kind: procFork, At: ms(2), ParentTGID: node, PID: 12, TGID: node},
				{Kind: procExit, At: ms(3), PID: 12, TGID: node}},
			want: nil, nodes: 1},
		{name: "a grandchild belongs to the node, and keeps belonging when orphaned",
			events: []procEvent{fork(ms(0), root, node), fork(ms(10), node, 11), fork(ms(20), 11, 12), exit(ms(30), node), exit(ms(40), 11), exit(ms(50), 12)},
			want: []ProcSpan{{Node: "n1", Run: node, PID: 11, From: ms(10), To: ms(40), Ended: true},
				{Node: "n1", Run: node, PID: 12, From: ms(20), To: ms(50), Ended: true}}, nodes: 1},
		{name: "processes outside the root's tree are ignored",
			events: []procEvent{fork(ms(0), root, node), fork(ms(10), 2, 20), fork(ms(11), 20, 21), exit(ms(12), 21)},
			want:   nil, nodes: 1},
		{name: "the listing seeds what ran before, and a later fork event refines it",
			seed:   map[int]int{node: root, 11: node, 12: node, 50: 2},
			events: []procEvent{fork(ms(4), node, 12), exit(ms(60), 11)},
			want: []ProcSpan{{Node: "n1", Run: node, PID: 11, From: ms(5), To: ms(60), Ended: true, Seeded: true},
				{Node: "n1", Run: node, PID: 12, From: ms(4)}}, nodes: 1},
		{name: "an exit stamped before the listing is an earlier process under the pid",
			seed:   map[int]int{node: root, 11: node},
			events: []procEvent{exit(ms(3), 11)},
			want:   []ProcSpan{{Node: "n1", Run: node, PID: 11, From: ms(5), Seeded: true}}, nodes: 1},
		{name: "an exec after the leader's exit is the same process",
			events: []procEvent{fork(ms(0), root, node), fork(ms(10), node, 11), exit(ms(20), 11), {Kind: procExec, At: ms(20), PID: 11, TGID: 11}},
			want:   []ProcSpan{{Node: "n1", Run: node, PID: 11, From: ms(10), Exec: ms(20), Execd: true}}, nodes: 1},
		{name: "an exec of a reused pid does not revive the old process",
			events: []procEvent{fork(ms(0), root, node), fork(ms(10), node, 11), exit(ms(20), 11), fork(ms(30), 2, 11), {Kind: procExec, At: ms(31), PID: 11, TGID: 11}},
			want:   []ProcSpan{{Node: "n1", Run: node, PID: 11, From: ms(10), To: ms(20), Ended: true}}, nodes: 1},
		{name: "a pid reused by the node's next run is told apart by time",
			events: []procEvent{fork(ms(-50), root, node), fork(ms(-40), node, 11), exit(ms(-30), node), exit(ms(-20), 11), fork(ms(0), root, node), fork(ms(10), node, 12)},
			want:   []ProcSpan{{Node: "n1", Run: node, PID: 12, From: ms(10)}}, nodes: 1},
		{name: "a node run missing from the events is reported, not ignored",
			events: []procEvent{fork(ms(10), root, 99)},
			want:   nil, nodes: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newProcTree(root)
			if tc.seed != nil {
				tr.seed(tc.seed, ms(5))
			}
			for _, ev := range tc.events {
				tr.apply(ev)
			}
			w := tr.attribute(runs, 0, ms(100))
			if len(w.Nodes) != tc.nodes {
				t.Fatalf("node spans = %+v, want %d", w.Nodes, tc.nodes)
			}
			if tc.nodes == 0 && len(w.Problems) == 0 {
				t.Fatal("a node run without a process in the events was not reported")
			}
			if len(w.Plugins) != len(tc.want) {
				t.Fatalf("plugins = %+v, want %+v", w.Plugins, tc.want)
			}
			for i := range tc.want {
				if w.Plugins[i] != tc.want[i] {
					t.Errorf("plugin %d = %+v, want %+v", i, w.Plugins[i], tc.want[i])
				}
			}
		})
	}
}

// startWatch starts a real watch of this test binary's descendants, or skips when the kernel
// cannot give process events here (not root, no connector): the chaos recorder then falls
// back to polling, and says so.
func startWatch(t *testing.T) *ProcWatcher {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	w, err := StartProcWatch(os.Getpid(), time.Now())
	if err != nil {
		if os.Getenv("BATON_REQUIRE_PROC_EVENTS") != "" {
			t.Fatalf("process events unavailable, and BATON_REQUIRE_PROC_EVENTS is set: %v", err)
		}
		t.Skipf("process events unavailable here (%v): the recorder falls back to polling", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// TestProcWatchSeesShortLivedChild forks a child that lives 10 ms, which a 1 s poll (and
// usually a 20 ms one) would miss, and finds both its fork and its exit in the watch.
func TestProcWatchSeesShortLivedChild(t *testing.T) {
	w := startWatch(t)
	cmd := exec.Command("sleep", "0.01")
	if err := cmd.Run(); err != nil {
		t.Fatalf("sleep: %v", err)
	}
	pid := cmd.Process.Pid
	// The child is a "node" here, so that the watch reports it like one.
	res := w.Result([]NodeRun{{Node: "child", PID: pid, Started: time.Since(w.zero), Done: true, Reaped: time.Since(w.zero)}})
	if len(res.Problems) > 0 || len(res.Lost) > 0 {
		t.Fatalf("watch problems %q, lost at %v", res.Problems, res.Lost)
	}
	if len(res.Nodes) != 1 {
		t.Fatalf("the child pid %d is not in the watch (%d events read)", pid, res.Events)
	}
	s := res.Nodes[0]
	if s.Seeded || !s.Ended || s.From < res.From || s.To < s.From || s.To > res.To {
		t.Fatalf("child pid %d: span %+v, want a fork and an exit within the watch [%s, %s]", pid, s, res.From, res.To)
	}
	if !s.Execd || s.Exec < s.From || s.Exec > s.To {
		t.Fatalf("child pid %d: span %+v, want its exec between its fork and its exit", pid, s)
	}
}

// TestProcWatchIdentifiesExec runs a child that stays, and finds the binary it exec'd.
func TestProcWatchIdentifiesExec(t *testing.T) {
	w := startWatch(t)
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	want, err := FileIDOf(sleep)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sleep, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Since(w.zero)
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	testutil.Eventually(t, 30*time.Second, "the watcher to handle the child's exec", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		i, ok := w.tree.live[cmd.Process.Pid]
		return ok && w.tree.spans[i].execd
	})
	res := w.Result([]NodeRun{{Node: "child", PID: cmd.Process.Pid, Started: started}})
	if len(res.Nodes) != 1 {
		t.Fatalf("the child is not in the watch: %+v", res)
	}
	if s := res.Nodes[0]; !s.Execd || s.Exe != want || s.Ended {
		t.Fatalf("child span %+v, want it running %s (%+v)", s, sleep, want)
	}
}

// TestProcWatchAttributesGrandchildren runs a shell (standing for a node) that forks a short
// child (standing for a plugin) and exits before it: the child is the shell's, and its exit
// is seen after the shell's.
func TestProcWatchAttributesGrandchildren(t *testing.T) {
	w := startWatch(t)
	cmd := exec.Command("sh", "-c", "sleep 0.05 & echo $!")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Since(w.zero)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read the child's pid: %v", err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("child pid %q: %v", line, err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// The orphaned sleep is reparented away from this process; poll (bounded) until it is gone.
	deadline := time.Now().Add(10 * time.Second)
	for Alive(Proc{PID: child, Start: mustStart(t, child)}) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	res := w.Result([]NodeRun{{Node: "sh", PID: cmd.Process.Pid, Started: started, Done: true, Reaped: time.Since(w.zero)}})
	if len(res.Problems) > 0 || len(res.Lost) > 0 {
		t.Fatalf("watch problems %q, lost at %v", res.Problems, res.Lost)
	}
	if len(res.Nodes) != 1 || !res.Nodes[0].Ended {
		t.Fatalf("node spans = %+v, want the shell's, ended", res.Nodes)
	}
	var got *ProcSpan
	for i := range res.Plugins {
		if res.Plugins[i].PID == child {
			got = &res.Plugins[i]
		}
	}
	if got == nil {
		t.Fatalf("the shell's child pid %d is not among its processes: %+v", child, res.Plugins)
	}
	if got.Node != "sh" || got.Run != cmd.Process.Pid || got.From < res.Nodes[0].From || !got.Ended || got.To < res.Nodes[0].To {
		t.Fatalf("child span %+v, node span %+v: want the child forked after the shell and gone after it", *got, res.Nodes[0])
	}
}

// mustStart reads a process's start time, 0 when it is already gone.
func mustStart(t *testing.T, pid int) uint64 {
	t.Helper()
	s, err := startTime(pid)
	if err != nil {
		return 0
	}
	return s
}
