package chaos

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestStatFields(t *testing.T) {
	f, err := statFields([]byte("123 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19"))
	if err != nil {
		t.Fatal(err)
	}
	if f[0] != "S" || f[19] != "777" {
		t.Fatalf("fields = %q", f)
	}
	if _, err := statFields([]byte("garbage")); err == nil {
		t.Fatal("a stat line without a command name was accepted")
	}
}

// TestProcOf runs a real child from a copy of a binary, then replaces the file the way the
// tamper scenario does (a new file renamed over the old): the child's identity stays the old
// file's, and a dead child is no longer Alive.
func TestProcOf(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sleeper")
	copyFile(t, sleep, bin)
	cmd := exec.Command(bin, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	orig, err := FileIDOf(bin)
	if err != nil {
		t.Fatal(err)
	}
	var p Proc
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err = ProcOf(cmd.Process.Pid)
		if err == nil && p.Exe == orig || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond) // the exec may not have happened yet
	}
	if err != nil || p.Exe != orig || p.Start == 0 {
		t.Fatalf("ProcOf = %+v, %v; want exe %+v", p, err, orig)
	}
	if !Alive(p) {
		t.Fatal("a running child is not Alive")
	}
	if Alive(Proc{PID: p.PID, Start: p.Start + 1}) {
		t.Fatal("a different start time (a reused pid) counted as the same process")
	}
	copyFile(t, sleep, bin+".new")
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	now, _ := FileIDOf(bin)
	if again, _ := ProcOf(cmd.Process.Pid); again.Exe != orig || now == orig {
		t.Fatalf("after replacing the file: process exe %+v, file %+v, original %+v", again.Exe, now, orig)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if Alive(p) {
		t.Fatal("a reaped child is still Alive")
	}
	if _, err := ProcOf(p.PID); err == nil {
		t.Fatal("ProcOf found a reaped child")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
