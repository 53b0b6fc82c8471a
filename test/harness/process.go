package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is one run of a node process.
type proc struct {
	pid  int
	done chan struct{} // closed once the process has been reaped
	// state is the exit status, set before done is closed.
	state *os.ProcessState
	// started is taken after the fork, before the reaping: the pid was the child's then.
	// reaped is set before done is closed.
	started, reaped time.Time
}

// exited reports whether the process has been reaped.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to d for the process to be reaped.
func (p *proc) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// startProcess starts cmd in its own process group, from an OS thread locked to a goroutine
// that then waits for it. Pdeathsig fires when the forking *thread* dies: the locked thread
// lives exactly as long as the child, and if the test binary dies (a timeout panic, a
// SIGKILL) the kernel kills the node, whose own plugins then die with it. The goroutine ends
// still locked, so the runtime retires the thread instead of reusing it.
func startProcess(cmd *exec.Cmd) (*proc, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		p.started = time.Now()
		started <- nil
		_ = cmd.Wait() // a non-zero exit is an error here; the state says it all
		p.state = cmd.ProcessState
		p.reaped = time.Now()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// procInfo is what the harness reads of a process from /proc.
type procInfo struct {
	pid, ppid, pgid int
	state           byte
	exe             string // "" when unreadable (kernel threads, gone)
	argv0           string // argv[0], read for private copies of plugin binaries only
}

// parseStat reads pid, state, ppid and pgrp from the content of /proc/PID/stat. The command
// name sits in parentheses and may itself hold spaces and parentheses: the fields that follow
// start after the last ')'.
func parseStat(s string) (procInfo, error) {
	open := strings.IndexByte(s, '(')
	closing := strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return procInfo{}, fmt.Errorf("malformed stat %q", s)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return procInfo{}, fmt.Errorf("malformed stat pid %q", s[:open])
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return procInfo{}, fmt.Errorf("malformed stat fields %q", s[closing+1:])
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	if err := errors.Join(err1, err2); err != nil {
		return procInfo{}, fmt.Errorf("malformed stat: %w", err)
	}
	return procInfo{pid: pid, ppid: ppid, pgid: pgid, state: f[0][0]}, nil
}

// processes lists the live processes of the machine (zombies left out: they are dead and
// hold no resources but a pid).
func processes() []procInfo {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone since ReadDir
		}
		p, err := parseStat(string(b))
		if err != nil || p.pid != pid || p.state == 'Z' || p.state == 'X' {
			continue
		}
		p.exe, _ = os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if privateCopy(p.exe) {
			p.argv0 = argv0(pid)
		}
		out = append(out, p)
	}
	return out
}

// descendants returns the pids below root in ps (root itself left out), sorted.
func descendants(ps []procInfo, root int) []int {
	children := map[int][]int{}
	for _, p := range ps {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	sort.Ints(out)
	return out
}

// inDir reports whether the executable path exe lies directly in dir.
func inDir(exe, dir string) bool {
	exe = strings.TrimSuffix(exe, " (deleted)")
	return exe != "" && filepath.Dir(exe) == filepath.Clean(dir)
}

// privateCopy reports whether exe is a node's verified private copy of a plugin binary
// (/tmp/baton-<pid>-*/p*/<name>); such a process names the binary it was copied from in its
// argv[0].
func privateCopy(exe string) bool {
	m, _ := filepath.Match("/tmp/baton-*/p*/*", strings.TrimSuffix(exe, " (deleted)"))
	return m
}

// runsFrom reports whether p runs a plugin binary of dir: the binary itself, or a node's
// private copy of it.
func (p procInfo) runsFrom(dir string) bool {
	if inDir(p.exe, dir) {
		return true
	}
	return privateCopy(p.exe) && inDir(p.argv0, dir)
}

// describe renders pids with their command lines, for failure messages.
func describe(pids []int) string {
	parts := make([]string, 0, len(pids))
	for _, pid := range pids {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		parts = append(parts, fmt.Sprintf("%d (%s)", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))))
	}
	return strings.Join(parts, ", ")
}

// ProcessesIn lists the live processes whose executable lies directly in dir (a plugin
// directory), sorted; a process whose binary was deleted since it started still counts.
func ProcessesIn(dir string) []int {
	var out []int
	for _, p := range processes() {
		if p.runsFrom(dir) {
			out = append(out, p.pid)
		}
	}
	sort.Ints(out)
	return out
}

// GroupProcesses lists the live processes of process group pgid, sorted.
func GroupProcesses(pgid int) []int {
	var out []int
	for _, p := range processes() {
		if p.pgid == pgid {
			out = append(out, p.pid)
		}
	}
	sort.Ints(out)
	return out
}

// Describe renders pids with their command lines, for failure messages.
func Describe(pids []int) string { return describe(pids) }

// Children lists the live direct children of pid, sorted.
func Children(pid int) []int {
	var out []int
	for _, p := range processes() {
		if p.ppid == pid {
			out = append(out, p.pid)
		}
	}
	sort.Ints(out)
	return out
}

// argv0 is the first word of a process's command line.
func argv0(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(b), "\x00")
	return first
}
