package e2e

import (
	"bufio"
	"bytes"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

// TestDevNodeDisableRightAfterBanner is issue 9 item 1 exactly as it was met: a fresh dev node
// (the built binary with the README's flags), and right after its banner, before any
// credential, DELETE /v1/sys/mounts/database. It answered 409 "plugin "database/dev-test" is
// disabled (terminal): event conn_delete refused" on every retry. It must answer 204, again
// 204 when repeated, and the mount must be gone; the node then stops cleanly on SIGINT.
func TestDevNodeDisableRightAfterBanner(t *testing.T) {
	bins, err := harness.Build()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bins.Node.Path, "server", "-dev", "-dev-listen-address", "127.0.0.1:0", "-dev-nats-port", "0")
	cmd.Dir = testutil.Root()
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	var waitErr error
	lines := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		waitErr = cmd.Wait()
		close(exited)
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			go func() {
				for range lines {
				}
			}()
			select {
			case <-exited:
			case <-time.After(devStopTimeout):
				t.Errorf("dev node's stdout still open %s after SIGKILL to its group", devStopTimeout)
			}
		}
		if left := harness.GroupProcesses(pgid); len(left) > 0 {
			t.Errorf("dev node processes left: %s", harness.Describe(left))
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	out := readDevOutput(t, lines, exited, &waitErr, &stderr)
	ctx := testutil.Context(t, 2*callTimeout)
	cl := &testutil.Client{Addr: out.addr, Token: out.token}
	for round := 1; round <= 2; round++ {
		r, err := cl.Do(ctx, "DELETE", "sys/mounts/database", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusNoContent {
			t.Fatalf("DELETE sys/mounts/database right after the banner (round %d): %d %s", round, r.Status, r.Raw)
		}
	}
	r := cl.Must(t, ctx, "GET", "sys/mounts", nil)
	if _, ok := r.Body["database/"]; ok {
		t.Fatalf("database/ still mounted: %s", r.Raw)
	}

	if err := syscall.Kill(-pgid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		stopped = true
		if waitErr != nil {
			t.Fatalf("dev node ended with %v after SIGINT, want exit code 0\n%s", waitErr, stderr.String())
		}
	case <-time.After(devStopTimeout):
		t.Fatalf("dev node still runs %s after SIGINT\n%s", devStopTimeout, stderr.String())
	}
}
