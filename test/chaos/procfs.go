package chaos

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ProcOf reads a live process's start time and executable from /proc, so a sample can tell a
// reused pid from the process first seen under it and say which file the process runs. An
// error means the process is gone (or was never there).
func ProcOf(pid int) (Proc, error) {
	start, err := startTime(pid)
	if err != nil {
		return Proc{}, err
	}
	p := Proc{PID: pid, Start: start}
	// The exe link resolves to the inode the process was started from, even if that file has
	// since been replaced or removed. It is unreadable for a zombie: leave Exe zero.
	if id, err := FileIDOf(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		p.Exe = id
	}
	return p, nil
}

// FileIDOf returns the device and inode of path, following symbolic links.
func FileIDOf(path string) (FileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileID{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}, fmt.Errorf("stat %s: no inode information on this platform", path)
	}
	return FileID{Dev: uint64(st.Dev), Ino: st.Ino, Size: fi.Size()}, nil
}

// Alive reports whether the process p (same pid and start time) still runs and is not a
// zombie.
func Alive(p Proc) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return false
	}
	fields, err := statFields(b)
	if err != nil || len(fields) < 20 || fields[0] == "Z" || fields[0] == "X" {
		return false
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	return err == nil && start == p.Start
}

// startTime is field 22 of /proc/<pid>/stat.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	fields, err := statFields(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command name, want at least 20", pid, len(fields))
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// statFields splits /proc/<pid>/stat after the command name (which may hold spaces and
// parentheses): the first returned field is the state, field 3 of proc(5).
func statFields(b []byte) ([]string, error) {
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("no command name in %q", s)
	}
	return strings.Fields(s[i+1:]), nil
}

// metadataModeVar is the variable a plugin host sets to "true" when it runs a plugin only to
// ask for its metadata (version, type): such a run serves no database request.
const metadataModeVar = "BAO_PLUGIN_METADATA_MODE"

// DescribePlugin says what a plugin process is, for evidence: its command line and whether it
// runs in metadata mode. Only that one variable is read from its environment, which may hold
// a catalog entry's secrets.
func DescribePlugin(pid int) string {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return fmt.Sprintf("pid %d (gone)", pid)
	}
	mode := "unknown"
	if env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); err == nil {
		mode = "false"
		for _, kv := range strings.Split(string(env), "\x00") {
			if v, ok := strings.CutPrefix(kv, metadataModeVar+"="); ok {
				mode = v
			}
		}
	}
	return fmt.Sprintf("pid %d (%s, metadata mode %s)", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")), mode)
}

// listPPIDs lists the live processes of the machine (zombies left out) with their parents.
func listPPIDs() (map[int]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone since the listing
		}
		f, err := statFields(b)
		if err != nil || len(f) < 2 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			out[pid] = ppid
		}
	}
	return out, nil
}
