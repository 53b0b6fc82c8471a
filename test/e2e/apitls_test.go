package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	openbao "github.com/openbao/openbao/api/v2"

	"github.com/baton-hq/baton/internal/apitls"
	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

// lockedBuffer is a process's stderr, read by the test while the process writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTLSListenerSIGHUP starts the built node from an HCL file whose listener serves TLS
// (certificates from `node operator tls-cert`), replaces the certificate files, sends SIGHUP,
// and sees the new serial on a new connection; a config without certificates and without
// tls_disable is refused at start with a message that says what to write.
func TestTLSListenerSIGHUP(t *testing.T) {
	bins, err := harness.Build()
	if err != nil {
		t.Fatal(err)
	}
	dir := testutil.ShortTempDir(t)
	ctx := testutil.Context(t, 2*time.Minute)
	certs := filepath.Join(dir, "tls")
	if out, err := exec.CommandContext(ctx, bins.Node.Path, "operator", "tls-cert", "-out-dir", certs, "-node", "node1=127.0.0.1,localhost").CombinedOutput(); err != nil {
		t.Fatalf("operator tls-cert: %v\n%s", err, out)
	}
	port, cport := testutil.FreePort(t), testutil.FreePort(t)
	conf := fmt.Sprintf(`api_addr = "https://127.0.0.1:%d"
cluster_addr = "127.0.0.1:%d"
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_cert_file   = %q
  tls_key_file    = %q
  tls_min_version = "tls12"
}
storage "raft" {
  path    = %q
  node_id = "node1"
}
nats { port = 0 }
`, port, cport, port, cport, filepath.Join(certs, "node1.pem"), filepath.Join(certs, "node1-key.pem"), filepath.Join(dir, "data"))

	// Without certificates and without tls_disable: refused, with what to write.
	bad := filepath.Join(dir, "bad.hcl")
	badConf := regexp.MustCompile(`(?m)^  tls_(cert|key)_file.*\n`).ReplaceAllString(conf, "")
	if err := os.WriteFile(bad, []byte(badConf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, bins.Node.Path, "server", "-config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "listener.tls_disable: the listener serves TLS unless tls_disable = true") {
		t.Fatalf("a TLS listener without certificates: %v\n%s", err, out)
	}

	good := filepath.Join(dir, "node1.hcl")
	if err := os.WriteFile(good, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bins.Node.Path, "server", "-config", good)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	caFile := filepath.Join(certs, "ca.pem")
	tc, err := apitls.ClientConfig(apitls.ClientOptions{CACert: caFile})
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	serial := func() string {
		c, err := tls.Dial("tcp", addr, tc)
		if err != nil {
			return ""
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	var before string
	testutil.Eventually(t, time.Minute, "the TLS listener answers", func() bool { before = serial(); return before != "" })

	// Plain HTTP to the TLS listener is answered 400 and initialises nothing.
	plain := &testutil.Client{Addr: "http://" + addr}
	if r, _ := plain.Do(ctx, "PUT", "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1}); r.Status != 400 || !strings.Contains(r.Raw, "HTTP request to an HTTPS server") {
		t.Fatalf("plain HTTP sys/init: %d %q", r.Status, r.Raw)
	}

	// The CLI reaches it with BATON_CACERT (and reports it uninitialised), and not without.
	cli := func(env ...string) (string, error) {
		c := exec.CommandContext(ctx, bins.Node.Path, "status")
		c.Env = append(cleanEnv(), append(env, "BATON_ADDR=https://"+addr)...)
		b, err := c.CombinedOutput()
		return string(b), err
	}
	if got, err := cli("BATON_CACERT=" + caFile); !regexp.MustCompile(`Initialized\s+false`).MatchString(got) {
		t.Fatalf("status with BATON_CACERT: %v\n%s", err, got)
	}
	if got, err := cli(); err == nil || !strings.Contains(got, "certificate signed by unknown authority") {
		t.Fatalf("status without a CA: %v\n%s", err, got)
	}

	// Renew: a new certificate from the same CA, written over the old files.
	renew := filepath.Join(dir, "renew")
	if out, err := exec.CommandContext(ctx, bins.Node.Path, "operator", "tls-cert", "-out-dir", renew,
		"-ca-cert", caFile, "-ca-key", filepath.Join(certs, "ca-key.pem"), "-node", "node1=127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("renewing: %v\n%s", err, out)
	}
	for _, f := range []string{"node1.pem", "node1-key.pem"} {
		b, err := os.ReadFile(filepath.Join(renew, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certs, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := serial(); got != before {
		t.Fatalf("the serial changed to %s before SIGHUP", got)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var after string
	testutil.Eventually(t, 30*time.Second, "a new connection sees the renewed certificate", func() bool {
		after = serial()
		return after != "" && after != before
	})
	// The node logs the reload just after the swap.
	testutil.Eventually(t, 30*time.Second, "the reload logged", func() bool {
		return strings.Contains(logs.String(), "API listener certificate reloaded")
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("node exited with %v after SIGTERM\n%s", err, logs.String())
		}
	case <-time.After(devStopTimeout):
		t.Fatalf("node still runs %s after SIGTERM", devStopTimeout)
	}
}

var devCACert = regexp.MustCompile(`^\s*export BATON_CACERT=(\S+) BAO_CACERT=(\S+)\s*$`)

// TestDevTLS runs the built node with -dev -dev-tls: it serves https on loopback, its banner
// prints a BATON_CACERT/BAO_CACERT line with which the printed CLI example issues a
// credential, while the CLI without it fails certificate verification; the temporary
// certificate directory is gone after SIGINT.
func TestDevTLS(t *testing.T) {
	bins, err := harness.Build()
	if err != nil {
		t.Fatal(err)
	}
	p := startDev(t, []string{bins.Node.Path, "server", "-dev", "-dev-tls", "-dev-listen-address", "127.0.0.1:0", "-dev-nats-port", "0"})
	var caLine string
	lines := make(chan string, 256)
	go func() {
		for l := range p.lines {
			if devCACert.MatchString(l) {
				caLine = l
			}
			lines <- l
		}
		close(lines)
	}()
	out := readDevOutput(t, lines, p.exited, &p.waitErr, &p.stderr)
	if !strings.HasPrefix(out.addr, "https://127.0.0.1:") {
		t.Fatalf("dev -dev-tls address %q, want https://127.0.0.1:PORT", out.addr)
	}
	m := devExport.FindStringSubmatch(out.exportLine)
	ca := devCACert.FindStringSubmatch(caLine)
	if m == nil || ca == nil || ca[1] != ca[2] {
		t.Fatalf("banner export lines %q and %q", out.exportLine, caLine)
	}
	ctx := testutil.Context(t, callTimeout)
	run := func(env ...string) (string, error) {
		c := exec.CommandContext(ctx, bins.Node.Path, "read", "database/creds/dev")
		c.Env = append(cleanEnv(), append(env, "BATON_ADDR="+m[1], "BATON_TOKEN="+m[2])...)
		b, err := c.CombinedOutput()
		return string(b), err
	}
	for _, env := range []string{"BATON_CACERT=" + ca[1], "BAO_CACERT=" + ca[2], "VAULT_CACERT=" + ca[1]} {
		if got, err := run(env); err != nil || !strings.Contains(got, "password") {
			t.Fatalf("read database/creds/dev with %s: %v\n%s", env, err, got)
		}
	}
	if got, err := run(); err == nil || !strings.Contains(got, "BATON_CACERT") {
		t.Fatalf("read without the CA: %v\n%s", err, got)
	}
	p.interrupt(t, -p.pgid)
	if _, err := os.Stat(filepath.Dir(ca[1])); !os.IsNotExist(err) {
		t.Errorf("the dev TLS directory %s is left behind (%v)", filepath.Dir(ca[1]), err)
	}
}

// TestTLSClusterFromHCL: three node processes whose HCL files give every API listener a
// certificate (https api_addr and retry_join) form a cluster, issue credentials through a
// standby (forwarded over https), fail over when the active node is killed and issue again
// through the new active node; a client without the CA is refused by every node.
func TestTLSClusterFromHCL(t *testing.T) {
	c := harness.Start(t, harness.Options{TLS: true, PerformanceMultiplier: testMultiplier})
	c.SetupTestDB(t)
	ctx := testutil.Context(t, 3*callTimeout)
	active := c.WaitActive(t, nil, failoverTimeout)
	var standby *harness.Node
	for _, n := range c.Nodes {
		if !strings.HasPrefix(n.APIAddr, "https://") {
			t.Fatalf("%s api_addr %q, want https", n.ID, n.APIAddr)
		}
		if n != active && standby == nil {
			standby = n
		}
	}
	creds := func(cl *testutil.Client, what string) {
		t.Helper()
		r := cl.Must(t, ctx, "GET", harness.Mount+"/creds/"+harness.TestRole, nil)
		if d := r.Data(); d["username"] == nil || d["password"] == nil {
			t.Fatalf("%s: %s", what, r.Raw)
		}
	}
	creds(standby.Client, "creds through a standby")
	for _, n := range c.Nodes {
		stranger := &testutil.Client{Addr: n.APIAddr, Token: c.Token}
		if _, err := stranger.Do(ctx, "GET", "sys/health", nil); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("%s served a client without the CA (%v)", n.ID, err)
		}
	}
	c.Kill(active)
	next := c.WaitActive(t, active, failoverTimeout)
	creds(next.Client, "creds from the new active node")

	// OpenBao's Go client, configured with the CA, through a surviving standby.
	for _, n := range c.Nodes {
		if n == active || n == next {
			continue
		}
		bc := openbao.DefaultConfig()
		bc.Address = n.APIAddr
		if err := bc.ConfigureTLS(&openbao.TLSConfig{CACert: c.CAFile}); err != nil {
			t.Fatal(err)
		}
		bao, err := openbao.NewClient(bc)
		if err != nil {
			t.Fatal(err)
		}
		bao.SetToken(c.Token)
		sec, err := bao.Logical().ReadWithContext(ctx, harness.Mount+"/creds/"+harness.TestRole)
		if err != nil || sec == nil || sec.Data["username"] == nil || sec.LeaseID == "" {
			t.Fatalf("OpenBao's client after the failover, through %s: %v %+v", n.ID, err, sec)
		}
	}
}
