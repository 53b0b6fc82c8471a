package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

// Bounds of the dev-mode test.
const (
	devStartTimeout = 3 * time.Minute // go run compiles the node (cached: a link) and starts it
	devStopTimeout  = 45 * time.Second
)

// devOutput is what the dev node prints that an operator copies.
type devOutput struct {
	addr, token, pluginDir, dataDir, natsURL string
	exportLine, readLine, eventLine          string
	// appLines are the banner's application-token example: policy write, token create,
	// token revoke (in that order).
	appLines [3]string
}

var (
	devField  = regexp.MustCompile(`^\s*(API address|Root token|Plugin dir|Data dir|NATS):\s+(\S+)`)
	devAddr   = regexp.MustCompile(`^http://127\.0\.0\.1:[1-9][0-9]*$`)
	devExport = regexp.MustCompile(`^\s*export BATON_ADDR=(\S+) BATON_TOKEN=(\S+)\s*$`)
)

// TestDevModeReadme runs the README's first command as written, `go run ./cmd/node server
// -dev` (on a free port, NATS on any port), and the built binary with the same flags; then
// the copy-paste example the node prints, with the built CLI and the printed BATON_ADDR and
// BATON_TOKEN: the credential has a username, a password and a lease. SIGINT ends the node
// with exit code 0, no plugin process left and its temporary directories gone.
//
// Under go run the signal goes to the node alone: the go command exits 1 whenever it is
// interrupted itself (cmd/go/internal/work/exec.go), whatever its child does, and otherwise
// passes the child's failure on. The built binary gets Ctrl-C as a terminal sends it, to the
// whole process group, its plugins included.
func TestDevModeReadme(t *testing.T) {
	bins, err := harness.Build()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		argv  []string
		group bool // SIGINT to the process group, else to the node process alone
	}{
		{name: "go run", argv: []string{"go", "run", "./cmd/node"}},
		{name: "built binary", argv: []string{bins.Node.Path}, group: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runDev(t, bins.Node.Path, tt.argv, tt.group)
		})
	}
}

func runDev(t *testing.T, cliPath string, argv []string, group bool) {
	// Port 0: the node picks its port when it listens, so no other test can take it in the
	// meantime (go run may compile for a minute first).
	p := startDev(t, append(argv, "server", "-dev", "-dev-listen-address", "127.0.0.1:0", "-dev-nats-port", "0"))
	out := p.banner(t)
	if !devAddr.MatchString(out.addr) || !strings.HasPrefix(out.token, "s.") {
		t.Fatalf("dev node printed address %q and token %q, want http://127.0.0.1:PORT and an s. token", out.addr, out.token)
	}
	m := devExport.FindStringSubmatch(out.exportLine)
	if m == nil || m[1] != out.addr || m[2] != out.token {
		t.Fatalf("export line %q does not carry the printed address and token", out.exportLine)
	}
	// The printed command is this very command (go run ./cmd/node, or the binary's path)
	// followed by `read database/creds/dev`: run those arguments with the built CLI.
	printed := strings.Fields(strings.TrimSpace(out.readLine))
	if !slices.Equal(printed[:len(printed)-2], argv) {
		t.Fatalf("printed example %q does not start with %q", out.readLine, strings.Join(argv, " "))
	}
	ctx := testutil.Context(t, callTimeout)
	cli := exec.CommandContext(ctx, cliPath, printed[len(printed)-2:]...)
	cli.Env = append(cleanEnv(), "BATON_ADDR="+m[1], "BATON_TOKEN="+m[2])
	got, err := cli.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", out.readLine, err, got)
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(got), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			fields[f[0]] = f[1]
		}
	}
	if fields["username"] == "" || fields["password"] == "" || !strings.HasPrefix(fields["lease_id"], "database/creds/dev/") {
		t.Fatalf("read database/creds/dev printed no username, password and lease:\n%s", got)
	}
	if plugins := harness.ProcessesIn(out.pluginDir); len(plugins) == 0 {
		t.Fatalf("no plugin process runs from %s after issuing a credential", out.pluginDir)
	}

	// The banner's application token, as printed (the node command replaced by the built
	// CLI, TOKEN_ACCESSOR by the accessor token create printed): the token reads credentials
	// and nothing else; once revoked it reads nothing.
	shell := func(line string) string {
		t.Helper()
		line = strings.Replace(line, strings.Join(argv, " "), cliPath, 1)
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", line)
		cmd.Env = append(cleanEnv(), "BATON_ADDR="+m[1], "BATON_TOKEN="+m[2])
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, b)
		}
		return string(b)
	}
	shell(out.appLines[0])
	created := map[string]string{}
	for _, l := range strings.Split(shell(out.appLines[1]), "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			created[f[0]] = f[1]
		}
	}
	appToken, appAccessor := created["token"], created["token_accessor"]
	if appToken == "" || appAccessor == "" {
		t.Fatalf("token create printed no token and accessor: %v", created)
	}
	asApp := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, cliPath, args...)
		cmd.Env = append(cleanEnv(), "BATON_ADDR="+m[1], "BATON_TOKEN="+appToken)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if got, err := asApp("read", "database/creds/dev"); err != nil || !strings.Contains(got, "password") {
		t.Fatalf("the banner's app token reading creds: %v\n%s", err, got)
	}
	if got, err := asApp("operator", "seal"); err == nil || !strings.Contains(got, "permission denied") {
		t.Fatalf("the banner's app token sealing: %v\n%s", err, got)
	}
	shell(strings.Replace(out.appLines[2], "TOKEN_ACCESSOR", appAccessor, 1))
	if got, err := asApp("read", "database/creds/dev"); err == nil || !strings.Contains(got, "permission denied") {
		t.Fatalf("the revoked app token reading creds: %v\n%s", err, got)
	}

	// NATS: the README's example as written (the operator seed from the API, then a synchronous
	// injection with it), then the banner's own event command; without a seed NATS refuses.
	runCLI := func(env []string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, cliPath, args...)
		cmd.Env = append(cleanEnv(), env...)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	api := []string{"BATON_ADDR=" + m[1], "BATON_TOKEN=" + m[2]}
	seed := filepath.Join(t.TempDir(), "operator.nk")
	if got, err := runCLI(api, "operator", "nats-creds", "-out", seed); err != nil {
		t.Fatalf("operator nats-creds -out: %v\n%s", err, got)
	}
	// The README's shell exported BATON_TOKEN above: the event carries it.
	if got, err := runCLI(api, "event", "inject", "-nats", out.natsURL, "-nkey-seed", seed, "-sync",
		"-target-type=plugin", "-target=baton-postgresql-plugin", "reload"); err != nil || !strings.Contains(got, "committed at index") {
		t.Fatalf("README's event inject: %v\n%s", err, got)
	}
	// The same without a token: NATS admits the operator, the node refuses the event.
	if got, err := runCLI(nil, "event", "inject", "-nats", out.natsURL, "-nkey-seed", seed, "-sync",
		"-target-type=plugin", "-target=baton-postgresql-plugin", "reload"); err == nil || !strings.Contains(got, "permission denied") {
		t.Fatalf("event inject without a token: %v\n%s", err, got)
	}
	evArgs := strings.Fields(strings.TrimSpace(out.eventLine))
	if !slices.Equal(evArgs[:len(argv)], argv) {
		t.Fatalf("printed event command %q does not start with %q", out.eventLine, strings.Join(argv, " "))
	}
	// The banner's export line set BATON_TOKEN in the same shell.
	if got, err := runCLI(api, evArgs[len(argv):]...); err != nil || !strings.Contains(got, "committed at index") {
		t.Fatalf("the banner's event command: %v\n%s", err, got)
	}
	if got, err := runCLI(nil, "event", "inject", "-nats", out.natsURL, "-timeout=5s", "-sync", "step_down"); err == nil || !strings.Contains(got, "Authorization Violation") {
		t.Fatalf("event inject without a seed: %v\n%s", err, got)
	}

	target := -p.pgid
	if !group {
		kids := harness.Children(p.pgid)
		if len(kids) != 1 {
			t.Fatalf("go run has children %v, want the node alone", kids)
		}
		target = kids[0]
	}
	p.interrupt(t, target)
	if left := harness.ProcessesIn(out.pluginDir); len(left) > 0 {
		t.Errorf("plugin processes outlived the dev node: %s", harness.Describe(left))
	}
	for _, d := range []string{out.pluginDir, out.dataDir} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("dev node left %s behind (%v)", d, err)
		}
	}
}

// readDevOutput reads the dev node's banner until it has printed everything an operator
// copies.
func readDevOutput(t *testing.T, lines <-chan string, exited <-chan struct{}, waitErr *error, stderr *bytes.Buffer) devOutput {
	t.Helper()
	var out devOutput
	var all strings.Builder
	deadline := time.After(devStartTimeout)
	for out.addr == "" || out.token == "" || out.pluginDir == "" || out.dataDir == "" || out.natsURL == "" ||
		out.exportLine == "" || out.readLine == "" || out.eventLine == "" || out.appLines[2] == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				<-exited
				t.Fatalf("dev node exited (%v) before printing its banner:\n%s\n%s", *waitErr, all.String(), stderr.String())
			}
			all.WriteString(l + "\n")
			if m := devField.FindStringSubmatch(l); m != nil {
				switch m[1] {
				case "API address":
					out.addr = m[2]
				case "Root token":
					out.token = m[2]
				case "Plugin dir":
					out.pluginDir = m[2]
				case "Data dir":
					out.dataDir = m[2]
				case "NATS":
					out.natsURL = m[2]
				}
			}
			if devExport.MatchString(l) {
				out.exportLine = l
			}
			if strings.HasSuffix(strings.TrimSpace(l), " read database/creds/dev") {
				out.readLine = l
			}
			if strings.Contains(l, " event inject ") {
				out.eventLine = l
			}
			for i, marker := range []string{" policy write app -", " token create -policy=app", " token revoke -accessor "} {
				if strings.Contains(l, marker) {
					out.appLines[i] = strings.TrimSpace(l)
				}
			}
		case <-deadline:
			t.Fatalf("no dev banner after %s:\n%s\n%s", devStartTimeout, all.String(), stderr.String())
		}
	}
	// The rest of the banner is not needed; keep draining so the node never blocks on stdout.
	go func() {
		for range lines {
		}
	}()
	return out
}

// cleanEnv is the test's environment without BATON_ variables a developer may have set.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BATON_") {
			env = append(env, kv)
		}
	}
	return env
}

// devProc is a dev node started as a process of its own group, its stdout read line by line.
type devProc struct {
	pgid   int
	lines  chan string
	stderr bytes.Buffer
	// exited is closed once the node has been waited for, waitErr set before; a closed
	// channel can be read by the test and by its cleanup alike.
	exited  chan struct{}
	waitErr error
	stopped bool
}

// startDev starts argv (the node binary, or go run, with its arguments) from the repository
// root. Its cleanup kills the whole group unless the test stopped the node, and fails the
// test if any process of the group is left.
func startDev(t *testing.T, argv []string) *devProc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = testutil.Root()
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &devProc{lines: make(chan string, 256), exited: make(chan struct{})}
	cmd.Stderr = &p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.pgid = cmd.Process.Pid
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		// Wait only once stdout is drained, as StdoutPipe requires.
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if !p.stopped {
			_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
			go func() {
				for range p.lines {
				}
			}()
			select {
			case <-p.exited:
			case <-time.After(devStopTimeout):
				// A process outside the group still holds the node's stdout.
				t.Errorf("dev node's stdout still open %s after SIGKILL to its group", devStopTimeout)
			}
		}
		if left := harness.GroupProcesses(p.pgid); len(left) > 0 {
			t.Errorf("dev node processes left: %s", harness.Describe(left))
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return p
}

// banner reads the dev node's banner.
func (p *devProc) banner(t *testing.T) devOutput {
	t.Helper()
	return readDevOutput(t, p.lines, p.exited, &p.waitErr, &p.stderr)
}

// interrupt sends SIGINT to target (the group, or the node process alone) and requires the
// node to exit 0 within devStopTimeout.
func (p *devProc) interrupt(t *testing.T, target int) {
	t.Helper()
	if err := syscall.Kill(target, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		p.stopped = true
		if p.waitErr != nil {
			t.Fatalf("dev node ended with %v after SIGINT, want exit code 0\n%s", p.waitErr, p.stderr.String())
		}
	case <-time.After(devStopTimeout):
		t.Fatalf("dev node still runs %s after SIGINT\n%s", devStopTimeout, p.stderr.String())
	}
}
