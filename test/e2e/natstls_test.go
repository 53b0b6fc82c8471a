package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-hq/baton/test/harness"
	"github.com/baton-hq/baton/test/testutil"
)

// TestEmbeddedNATSTLS runs the built node from an HCL file whose nats block serves the
// embedded NATS over TLS (certificates from `node operator tls-cert`): the CLI without the CA
// cannot inject and the node stays unsealed; with -nats-ca-cert and the operator seed from
// `operator nats-creds` a seal event is committed and the node is sealed. A config with the
// certificate but no ca_file is refused at start with what to write.
func TestEmbeddedNATSTLS(t *testing.T) {
	bins, err := harness.Build()
	if err != nil {
		t.Fatal(err)
	}
	dir := testutil.ShortTempDir(t)
	ctx := testutil.Context(t, 2*time.Minute)
	certs := filepath.Join(dir, "tls")
	if out, err := exec.CommandContext(ctx, bins.Node.Path, "operator", "tls-cert", "-out-dir", certs, "-node", "nats=127.0.0.1").CombinedOutput(); err != nil {
		t.Fatalf("operator tls-cert: %v\n%s", err, out)
	}
	caFile := filepath.Join(certs, "ca.pem")
	port, cport, nport := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	conf := fmt.Sprintf(`api_addr = "http://127.0.0.1:%d"
cluster_addr = "127.0.0.1:%d"
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
storage "raft" {
  path    = %q
  node_id = "node1"
}
nats {
  port = %d
  tls {
    cert_file = %q
    key_file  = %q
    ca_file   = %q
  }
}
`, port, cport, port, cport, filepath.Join(dir, "data"), nport, filepath.Join(certs, "nats.pem"), filepath.Join(certs, "nats-key.pem"), caFile)

	bad := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(bad, []byte(strings.Replace(conf, fmt.Sprintf("    ca_file   = %q\n", caFile), "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, bins.Node.Path, "server", "-config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "nats.tls.ca_file: is needed when the embedded server serves TLS") {
		t.Fatalf("embedded TLS without ca_file: %v\n%s", err, out)
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
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})

	cl := &testutil.Client{Addr: fmt.Sprintf("http://127.0.0.1:%d", port)}
	var init testutil.Reply
	testutil.Eventually(t, time.Minute, "sys/init answers", func() bool {
		init, err = cl.Do(ctx, "PUT", "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
		return err == nil && init.Status == 200
	})
	root, _ := init.Body["root_token"].(string)
	keys, _ := init.Body["keys"].([]any)
	if root == "" || len(keys) != 1 {
		t.Fatalf("sys/init: %s", init.Raw)
	}
	cl.Must(t, ctx, "PUT", "sys/unseal", map[string]any{"key": keys[0]})
	cl.Token = root
	// sealed reports what sys/seal-status says; an error or no answer is neither.
	sealed := func(want bool) bool {
		r, err := cl.Do(ctx, "GET", "sys/seal-status", nil)
		return err == nil && r.Status == 200 && r.Body["sealed"] == want
	}
	testutil.Eventually(t, time.Minute, "the node is unsealed and active", func() bool {
		r, err := cl.Do(ctx, "GET", "sys/health", nil)
		return err == nil && r.Status == 200
	})

	node := func(env []string, args ...string) (string, error) {
		c := exec.CommandContext(ctx, bins.Node.Path, args...)
		c.Env = append(cleanEnv(), append(env, "BATON_ADDR="+cl.Addr, "BATON_TOKEN="+root)...)
		b, err := c.CombinedOutput()
		return string(b), err
	}
	seed := filepath.Join(dir, "operator.nk")
	if got, err := node(nil, "operator", "nats-creds", "-out", seed); err != nil {
		t.Fatalf("operator nats-creds: %v\n%s", err, got)
	}
	url := fmt.Sprintf("tls://127.0.0.1:%d", nport)
	inject := []string{"event", "inject", "-nats", url, "-nkey-seed", seed, "-timeout", "20s", "-sync", "seal"}
	if got, err := node(nil, inject...); err == nil || !strings.Contains(got, "certificate signed by unknown authority") {
		t.Fatalf("inject without the CA: %v\n%s", err, got)
	}
	if !sealed(false) {
		t.Fatal("not unsealed after an event injected without the CA")
	}
	got, err := node([]string{"BATON_NATS_CACERT=" + caFile}, inject...)
	if err != nil || !strings.Contains(got, "committed at index") {
		t.Fatalf("inject with the CA: %v\n%s\nnode log:\n%s", err, got, logs.String())
	}
	testutil.Eventually(t, 30*time.Second, "the node sealed by the event over TLS", func() bool { return sealed(true) })
}
