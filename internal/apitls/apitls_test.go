package apitls

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIssue: IP SANs and DNS SANs land where x509 verification looks for them, the chain in
// CertPEM verifies against the CA, and LoadCA reads back a CA that signs.
func TestIssue(t *testing.T) {
	ca, err := NewCA("unit CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue("n1", []string{"10.0.0.1", "::1", "n1.example.com", ""}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(is.Cert.IPAddresses) != 2 || !is.Cert.IPAddresses[0].Equal(net.ParseIP("10.0.0.1")) || len(is.Cert.DNSNames) != 1 || is.Cert.DNSNames[0] != "n1.example.com" {
		t.Fatalf("SANs: IPs %v, DNS %v", is.Cert.IPAddresses, is.Cert.DNSNames)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, host := range []string{"10.0.0.1", "::1", "n1.example.com"} {
		if _, err := is.Cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool}); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if _, err := is.Cert.Verify(x509.VerifyOptions{DNSName: "n2.example.com", Roots: pool}); err == nil {
		t.Error("verified for a host it does not name")
	}

	dir := t.TempDir()
	key, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if err := os.WriteFile(cf, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, key, 0o600); err != nil {
		t.Fatal(err)
	}
	back, err := LoadCA(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	again, err := back.Issue("n2", []string{"10.0.0.2"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.Cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("a certificate from the reloaded CA: %v", err)
	}
	// A leaf is not a CA.
	lf, lk := filepath.Join(dir, "leaf.pem"), filepath.Join(dir, "leaf-key.pem")
	if err := is.WriteFiles(lf, lk); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCA(lf, lk); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("LoadCA of a leaf = %v", err)
	}
	if st, err := os.Stat(lk); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
}

// TestConfigsRefuseNonsense: settings that cannot work are refused when the configs are
// built, not at the first handshake.
func TestConfigsRefuseNonsense(t *testing.T) {
	dir := t.TempDir()
	ca, err := NewCA("unit CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue("n1", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := filepath.Join(dir, "n1.pem"), filepath.Join(dir, "n1-key.pem")
	if err := is.WriteFiles(cf, kf); err != nil {
		t.Fatal(err)
	}
	r, err := NewReloader(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"max below min", errOf(ServerConfig(r, ServerOptions{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS12})), "below the minimum"},
		{"require without CA", errOf(ServerConfig(r, ServerOptions{RequireClientCert: true})), "needs a client CA file"},
		{"client CA not PEM", errOf(ServerConfig(r, ServerOptions{ClientCAFile: notPEM})), "holds no PEM certificate"},
		{"client cert without key", errOf(ClientConfig(ClientOptions{ClientCert: cf})), "needs both"},
		{"CA file missing", errOf(ClientConfig(ClientOptions{CACert: filepath.Join(dir, "none.pem")})), "none.pem"},
		{"peer CA not PEM", errOf(PeerConfig(r, notPEM)), "holds no PEM certificate"},
		{"reloader on missing files", errOf(NewReloader(filepath.Join(dir, "x.pem"), kf)), "x.pem"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, c.err, c.want)
		}
	}
	c, err := ServerConfig(r, ServerOptions{})
	if err != nil || c.MinVersion != tls.VersionTLS12 || c.ClientAuth != tls.NoClientCert {
		t.Errorf("defaults: %v, min %x, client auth %v", err, c.MinVersion, c.ClientAuth)
	}
	c, err = ServerConfig(r, ServerOptions{ClientCAFile: cf})
	if err != nil || c.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Errorf("CA without requirement: %v, %v", err, c.ClientAuth)
	}
}

func errOf[T any](_ T, err error) error { return err }
