// Package chaos is Baton's chaos suite: a real 3-node cluster (node processes, plugin
// processes, NATS, PostgreSQL; see test/harness) failed over while load runs, with DESIGN.md's
// invariants checked after every scenario.
//
// The package splits in two. Untagged, and run by `go test ./...`: the observations a run
// records (plain data) and Check, the invariant checker, with unit tests that feed it broken
// observations, so that a checker which stopped seeing a violation fails CI. Behind the `chaos`
// build tag: the recorder, the load, the scenarios and the failover figures, which start
// clusters (see chaos_test.go for the commands).
package chaos

import (
	"time"
)

// FileID identifies a file by device and inode: what /proc/<pid>/exe of a process points to,
// even after the file was replaced or removed.
type FileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
	// Size tells a copy of the file from a copy of another: a node runs a verified private
	// copy of a plugin binary (another inode), and the tampered binary is the original with
	// bytes appended, so only a copy of the tampered bytes has its size.
	Size int64 `json:"size"`
}

// IsZero reports whether the identity is unknown.
func (f FileID) IsZero() bool { return f.Dev == 0 && f.Ino == 0 }

// Same reports whether a process image f is the file t or a copy of it (same size, which the
// tamper scenario makes unique to the tampered bytes).
func (f FileID) Same(t FileID) bool {
	if t.Size > 0 {
		// An inode number alone is not an identity over time: it is freed and reused.
		return f.Size == t.Size
	}
	return f.Dev == t.Dev && f.Ino == t.Ino
}

// Proc is one process seen in a sample. Start (clock ticks since boot, /proc/<pid>/stat field
// 22) tells a reused pid from the process first seen under it.
type Proc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	// Exe is the executable the process runs, zero when it could not be read (the process
	// ended between the listing and the read).
	Exe FileID `json:"exe"`
	// Note describes the process when the recorder found it suspicious (DescribePlugin).
	Note string `json:"note,omitempty"`
}

// NodeSample is what one node looked like at a sample.
type NodeSample struct {
	// Running: the node process is alive (not necessarily unsealed or active).
	Running bool `json:"running"`
	// PID is the node's process id (of its current or last run): a change between two
	// samples is an exit and a restart, however quick.
	PID int `json:"pid"`
	// Plugins are the live processes in the node's process tree, the node excluded.
	Plugins []Proc `json:"plugins,omitempty"`
}

// Sample is one look at every node, taken about every 20 ms.
type Sample struct {
	// Began is when the look began, At when it ended (both since the recording started):
	// a process in it was alive at some moment in between. Began is 0 when unknown.
	Began time.Duration         `json:"began,omitempty"`
	At    time.Duration         `json:"at"`
	Nodes map[string]NodeSample `json:"nodes"`
	// Orphans are plugin processes (their executable is in the plugin directory) whose parent
	// is gone.
	Orphans []Proc `json:"orphans,omitempty"`
}

// Interval is a span of the recording; To == 0 means "until the end".
type Interval struct {
	Node string        `json:"node"`
	From time.Duration `json:"from"`
	To   time.Duration `json:"to"`
}

// Contains reports whether at lies in the interval.
func (iv Interval) Contains(at time.Duration) bool {
	return at >= iv.From && (iv.To == 0 || at <= iv.To)
}

// Kill is a node process killed by the suite (SIGKILL, a fault point, or a stop).
type Kill struct {
	Node string        `json:"node"`
	At   time.Duration `json:"at"`
	// Plugins were the node's plugin processes just before the kill.
	Plugins []Proc `json:"plugins,omitempty"`
}

// WriteKind names what an acknowledged write changed.
type WriteKind string

// Write kinds.
const (
	WriteCatalog WriteKind = "catalog"
	WriteConfig  WriteKind = "config"
	WriteMount   WriteKind = "mount"
	WriteRole    WriteKind = "role"
)

// Write is one catalog, mount, role or connection write of the load, acknowledged or not.
// Writes to one Key are made one after another, in Seq order.
type Write struct {
	Kind WriteKind `json:"kind"`
	// Key is what the final read looks up (for example "catalog/database/chaos-3" or
	// "config/database/db1").
	Key string `json:"key"`
	Seq int    `json:"seq"`
	// Value is what the write stored, as the final read shows it.
	Value string `json:"value"`
	// Acked: the API answered 2xx. An unacknowledged write may still have committed.
	Acked bool   `json:"acked"`
	Node  string `json:"node,omitempty"`
	Err   string `json:"err,omitempty"`
}

// InjectedEvent is one event the load injected over NATS.
type InjectedEvent struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Via is "inject" (request/reply, answered with the index) or "jetstream" (stored in the
	// stream; the active node's consumer applies it).
	Via string `json:"via"`
	// Acked: the injection subject answered an index, or JetStream stored the event.
	Acked bool `json:"acked"`
	// Index is the Raft index the injection subject answered, 0 when unknown.
	Index uint64 `json:"index,omitempty"`
	Err   string `json:"err,omitempty"`
}

// Applied is one entry of a node's applied-command log (sys/lifecycle?applied=true&local=true).
type Applied struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Index uint64 `json:"index"`
}

// NodeLog is what one node had applied when the run ended, read from the node itself.
type NodeLog struct {
	// AppliedIndex is the node's last applied Raft index (sys/leader, a local read), read
	// before Log, so that Log holds at least everything up to it.
	AppliedIndex uint64    `json:"applied_index"`
	Log          []Applied `json:"log"`
	Err          string    `json:"err,omitempty"`
}

// RevokeState says what became of a credential's lease.
type RevokeState string

// Revocation states.
const (
	// NotRevoked: nobody asked.
	NotRevoked RevokeState = ""
	// RevokeAttempted: asked, never acknowledged; the user may or may not be gone.
	RevokeAttempted RevokeState = "attempted"
	// RevokeAcked: the revocation (or the disable of its mount) was acknowledged.
	RevokeAcked RevokeState = "acked"
)

// Cred is a credential Baton issued (an acknowledged creds request).
type Cred struct {
	LeaseID  string `json:"lease_id"`
	Mount    string `json:"mount"`
	Role     string `json:"role"`
	Username string `json:"username"`
	// Password is kept to log in at the end; it is never printed.
	Password string        `json:"-"`
	IssuedAt time.Duration `json:"issued_at"`
	Revoke   RevokeState   `json:"revoke"`
	// Checked: the final login was tried; LoginOK is its outcome, LoginErr why it failed.
	Checked  bool   `json:"checked"`
	LoginOK  bool   `json:"login_ok"`
	LoginErr string `json:"login_err,omitempty"`
}

// RootCheck is the end-of-run proof that a connection's stored root credential still logs in
// after any rollback: the WAL is empty and Baton, which logs in with that credential, issues a
// credential on a freshly reset connection.
type RootCheck struct {
	Connection string `json:"connection"`
	// WALEntries left when the check ran (after waiting for the rollback manager).
	WALEntries int    `json:"wal_entries"`
	CredsOK    bool   `json:"creds_ok"`
	Err        string `json:"err,omitempty"`
}

// Tampered describes a plugin binary the suite modified after it was registered.
type Tampered struct {
	Path   string `json:"path"`
	File   FileID `json:"file"`
	SHA256 string `json:"sha256"`
	// At is when the tampered file was created. Only what was sampled from then on can run
	// it: an older sample may show the same inode number, freed and reused since (nodes run
	// private copies of plugin binaries, created and deleted all the time).
	At time.Duration `json:"at"`
}

// Expectation is a scenario's own must-hold result, attributed to an invariant (0 when it
// answers a USERS.md failure rather than one of DESIGN.md's invariants).
type Expectation struct {
	Invariant int    `json:"invariant"`
	Name      string `json:"name"`
	OK        bool   `json:"ok"`
	Evidence  string `json:"evidence,omitempty"`
}

// Transition is a lifecycle transition received on baton.<cluster>.transitions.>.
type Transition struct {
	At      time.Duration `json:"at"`
	Subject string        `json:"subject"`
	Kind    string        `json:"kind"`
	ID      string        `json:"id"`
	Event   string        `json:"event"`
	From    string        `json:"from"`
	To      string        `json:"to"`
	EventID string        `json:"event_id,omitempty"`
	Index   uint64        `json:"index"`
}

// ProcSpan is one process's life as the kernel's process events told it.
type ProcSpan struct {
	// Node is the node whose process tree it was forked in, Run the pid of that node's
	// process (for a node process itself, its own pid).
	Node string `json:"node"`
	Run  int    `json:"run"`
	PID  int    `json:"pid"`
	// From is its fork; To its exit, if Ended, else it still ran when the watch ended.
	From  time.Duration `json:"from"`
	To    time.Duration `json:"to,omitempty"`
	Ended bool          `json:"ended"`
	// Seeded: it was alive when the watch began, and From is that moment.
	Seeded bool `json:"seeded,omitempty"`
	// Execd: it exec'd a binary, last at Exec; Exe is that binary as read when the watcher
	// handled the event, zero when the process was already gone.
	Exec  time.Duration `json:"exec,omitempty"`
	Execd bool          `json:"execd,omitempty"`
	Exe   FileID        `json:"exe"`
}

// end is when the process was last alive within a watch that ended at watchEnd.
func (s ProcSpan) end(watchEnd time.Duration) time.Duration {
	if s.Ended {
		return s.To
	}
	return watchEnd
}

// ProcWatch is what the kernel's process event connector reported during a recording: the
// exact fork and exit time of every node process and every process below one, however late
// the watcher read them. Polling /proc is then only a cross-check.
type ProcWatch struct {
	// From and To are the span the watch covered.
	From time.Duration `json:"from"`
	To   time.Duration `json:"to"`
	// Lost are the times the kernel reported dropped events (its socket buffer was full):
	// from the first one on, the watch may miss processes.
	Lost []time.Duration `json:"lost,omitempty"`
	// Problems are what the watch could not account for (a node process missing from the
	// events, an unreadable event).
	Problems []string `json:"problems,omitempty"`
	// Events is how many events were read (every process and thread of the machine).
	Events int `json:"events"`
	// Nodes are the node processes, Plugins the processes forked below them.
	Nodes   []ProcSpan `json:"nodes,omitempty"`
	Plugins []ProcSpan `json:"plugins,omitempty"`
}

// Observations are everything one scenario recorded. They are plain data so the checker can
// be tested on hand-made, deliberately broken observations.
type Observations struct {
	Scenario string   `json:"scenario"`
	Nodes    []string `json:"nodes"`
	Samples  []Sample `json:"samples"`
	// Watch is the kernel's account of the processes, nil when process events were not
	// available (then the samples alone watch invariants 1 and 2, and must be frequent).
	Watch *ProcWatch `json:"watch,omitempty"`
	// Frozen are the spans during which a node's process group was stopped (SIGSTOP).
	Frozen []Interval `json:"frozen,omitempty"`
	Kills  []Kill     `json:"kills,omitempty"`
	// FinalOrphans are the plugin processes without a parent found once the run was over.
	FinalOrphans []Proc          `json:"final_orphans,omitempty"`
	Writes       []Write         `json:"writes,omitempty"`
	Events       []InjectedEvent `json:"events,omitempty"`
	// Final maps each write's Key to what the active node answered at the end ("" absent).
	Final map[string]string `json:"final,omitempty"`
	// ReadIndex is the active node's applied index after the final reads: every node must
	// have applied at least this far.
	ReadIndex   uint64             `json:"read_index"`
	Logs        map[string]NodeLog `json:"logs,omitempty"`
	Creds       []Cred             `json:"creds,omitempty"`
	Root        []RootCheck        `json:"root,omitempty"`
	Tampered    *Tampered          `json:"tampered,omitempty"`
	Expect      []Expectation      `json:"expect,omitempty"`
	Transitions []Transition       `json:"transitions,omitempty"`
}

// frozenAt reports whether node was frozen at a time.
func (o *Observations) frozenAt(node string, at time.Duration) bool {
	for _, iv := range o.Frozen {
		if iv.Node == node && iv.Contains(at) {
			return true
		}
	}
	return false
}
