package cli

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/apitls"
)

// newTLSFakeAPI serves the fake API over TLS with a certificate from a new CA; with
// requireClient it also requires a client certificate from that CA. It returns the CA file
// and a client certificate and key from the CA.
func newTLSFakeAPI(t *testing.T, routes map[string]reply, requireClient bool) (f *fakeAPI, caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	ca, err := apitls.NewCA("cli test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	issue := func(name string) (string, string) {
		is, err := ca.Issue(name, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, k := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		if err := is.WriteFiles(c, k); err != nil {
			t.Fatal(err)
		}
		return c, k
	}
	srvCert, srvKey := issue("server")
	certFile, keyFile = issue("client")
	pair, err := tls.LoadX509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	f = &fakeAPI{routes: routes}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	if requireClient {
		pool := x509.NewCertPool()
		pool.AddCert(ca.Cert)
		f.srv.TLS.ClientCAs, f.srv.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f, caFile, certFile, keyFile
}

// TestCLITLSEnvironment: the CLI reaches an https API with the CA from BATON_CACERT,
// BAO_CACERT or VAULT_CACERT (or with skip-verify), presents BATON_CLIENT_CERT/KEY when the
// listener requires it, and without them fails with a message that says what to set and
// never the token.
func TestCLITLSEnvironment(t *testing.T) {
	routes := map[string]reply{"GET /v1/database/roles/dev": {body: `{"data":{"db_name":"dev"}}`}}
	f, ca, cert, key := newTLSFakeAPI(t, routes, false)
	mtls, mca, mcert, mkey := newTLSFakeAPI(t, routes, true)
	base := map[string]string{"BATON_ADDR": f.srv.URL, "BATON_TOKEN": testToken}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	mbase := with(base, "BATON_ADDR", mtls.srv.URL)
	tests := []struct {
		name    string
		env     map[string]string
		code    int
		wantErr string
	}{
		{"BATON_CACERT", with(base, "BATON_CACERT", ca), ExitOK, ""},
		{"BAO_CACERT", with(base, "BAO_CACERT", ca), ExitOK, ""},
		{"VAULT_CACERT", with(base, "VAULT_CACERT", ca), ExitOK, ""},
		{"BATON_SKIP_VERIFY", with(base, "BATON_SKIP_VERIFY", "true"), ExitOK, ""},
		{"VAULT_SKIP_VERIFY=1", with(base, "VAULT_SKIP_VERIFY", "1"), ExitOK, ""},
		{"no CA", base, ExitError, "set BATON_CACERT to the file of the CA"},
		{"skip verify false", with(base, "BAO_SKIP_VERIFY", "false"), ExitError, "certificate signed by unknown authority"},
		{"skip verify not a boolean", with(base, "BATON_SKIP_VERIFY", "yes please"), ExitUsage, `BATON_SKIP_VERIFY="yes please": want true or false`},
		{"CA file missing", with(base, "BATON_CACERT", filepath.Join(t.TempDir(), "none.pem")), ExitError, "none.pem"},
		{"client certificate", with(mbase, "BATON_CACERT", mca, "BATON_CLIENT_CERT", mcert, "BATON_CLIENT_KEY", mkey), ExitOK, ""},
		{"BAO_ client certificate", with(mbase, "BAO_CACERT", mca, "BAO_CLIENT_CERT", mcert, "BAO_CLIENT_KEY", mkey), ExitOK, ""},
		{"no client certificate", with(mbase, "BATON_CACERT", mca), ExitError, "certificate required"},
		{"client certificate from another CA", with(mbase, "BATON_CACERT", mca, "BATON_CLIENT_CERT", cert, "BATON_CLIENT_KEY", key), ExitError, "certificate"},
		{"client certificate without key", with(mbase, "BATON_CACERT", mca, "BATON_CLIENT_CERT", mcert), ExitError, "needs both a certificate and a key file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.requests()) + len(mtls.requests())
			r := runCLI(t, tt.env, "", "read", "database/roles/dev")
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.wantErr != "" && !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("stderr %q, want %q", r.stderr, tt.wantErr)
			}
			if strings.Contains(r.stdout+r.stderr, testToken) {
				t.Error("the output shows the token")
			}
			served := len(f.requests()) + len(mtls.requests()) - before
			if (tt.code == ExitOK) != (served == 1) {
				t.Errorf("%d requests reached the API", served)
			}
		})
	}
}

// TestOperatorTLSCert: the command makes a CA and, per -node, a certificate for its hosts
// that verifies against the CA as a server and as a client certificate, keys 0600; it
// refuses to overwrite and then writes nothing; -ca-cert/-ca-key sign with an existing CA.
func TestOperatorTLSCert(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, nil, "", "operator", "tls-cert", "-out-dir", dir,
		"-node", "node1=10.0.0.11,node1.example.com", "-node", "node2=10.0.0.12", "-node", "node3=10.0.0.13,::1")
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	for _, n := range []struct{ name, host string }{{"node1", "node1.example.com"}, {"node1", "10.0.0.11"}, {"node2", "10.0.0.12"}, {"node3", "::1"}} {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, n.name+".pem"), filepath.Join(dir, n.name+"-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: n.host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("%s for %s as a server: %v", n.name, n.host, err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s as a client: %v", n.name, err)
		}
		if leaf.PublicKeyAlgorithm != x509.ECDSA {
			t.Errorf("%s key algorithm %s, want ECDSA", n.name, leaf.PublicKeyAlgorithm)
		}
		if len(pair.Certificate) != 2 {
			t.Errorf("%s.pem holds %d certificates, want the leaf and the CA", n.name, len(pair.Certificate))
		}
		st, err := os.Stat(filepath.Join(dir, n.name+"-key.pem"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s-key.pem mode %v (%v), want 0600", n.name, st.Mode().Perm(), err)
		}
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, "node1.pem"), filepath.Join(dir, "node2-key.pem")); err == nil {
		t.Error("node1's certificate loads with node2's key")
	}

	// A second run over the same directory refuses and leaves node1's files as they were.
	old, _ := os.ReadFile(filepath.Join(dir, "node1.pem"))
	r = runCLI(t, nil, "", "operator", "tls-cert", "-out-dir", dir, "-node", "node4=10.0.0.14", "-node", "node1=10.0.0.11")
	if r.code != ExitError || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("overwrite: exit %d, %s", r.code, r.stderr)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "node1.pem")); string(now) != string(old) {
		t.Error("node1.pem was overwritten")
	}
	if _, err := os.Stat(filepath.Join(dir, "node4.pem")); err == nil {
		t.Error("node4.pem was written although the run was refused")
	}

	// A fourth node from the same CA.
	more := t.TempDir()
	r = runCLI(t, nil, "", "operator", "tls-cert", "-out-dir", more, "-ca-cert", filepath.Join(dir, "ca.pem"), "-ca-key", filepath.Join(dir, "ca-key.pem"), "-node", "node4=10.0.0.14")
	if r.code != ExitOK {
		t.Fatalf("with -ca-cert: exit %d: %s", r.code, r.stderr)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(more, "node4.pem"), filepath.Join(more, "node4-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "10.0.0.14", Roots: pool}); err != nil {
		t.Errorf("node4 from the existing CA: %v", err)
	}
	if _, err := os.Stat(filepath.Join(more, "ca-key.pem")); err == nil {
		t.Error("a new CA key was written although -ca-key was given")
	}

	for _, bad := range [][]string{{}, {"-node", "node1"}, {"-node", "=1.2.3.4"}, {"-node", "a=1.2.3.4", "-days", "0"}, {"-node", "a=b", "-ca-cert", "x"}} {
		r := runCLI(t, nil, "", append([]string{"operator", "tls-cert", "-out-dir", t.TempDir()}, bad...)...)
		if r.code != ExitUsage {
			t.Errorf("%q: exit %d, want usage (%s)", bad, r.code, r.stderr)
		}
	}
}

// TestGroupHelp: `event --help` (and -h, -help) prints the group's listing and, the group
// having one command, the usage of event inject with its flags, on stdout, exit 0; a group
// of several commands prints its listing.
func TestGroupHelp(t *testing.T) {
	for _, flag := range []string{"--help", "-help", "-h"} {
		r := runCLI(t, nil, "", "event", flag)
		if r.code != ExitOK || r.stderr != "" {
			t.Fatalf("event %s: exit %d, stderr %q", flag, r.code, r.stderr)
		}
		for _, want := range []string{"Usage: node event <subcommand>", "event inject", "Usage: node event inject [options] KIND", "-nkey-seed", "-target-type", "step_down, seal"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("event %s: no %q in\n%s", flag, want, r.stdout)
			}
		}
	}
	r := runCLI(t, nil, "", "operator", "raft", "--help")
	if r.code != ExitOK || !strings.Contains(r.stdout, "operator raft join") || !strings.Contains(r.stdout, "operator raft remove-peer") {
		t.Fatalf("operator raft --help: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, nil, "", "event", "nosuch", "--help"); r.code != ExitUsage {
		t.Errorf("event nosuch --help: exit %d, want usage", r.code)
	}
}
