package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/baton-hq/baton/internal/apitls"
)

var cmdOperatorTLSCert = &command{
	name:     "operator tls-cert",
	synopsis: "Make a CA and API listener certificates for the nodes of a cluster",
	help: `Makes ECDSA P-256 certificates for the API listeners (listener "tcp" tls_cert_file and
tls_key_file), in -out-dir, with no network access:

  ca.pem, ca-key.pem        a new CA (unless -ca-cert and -ca-key name an existing one);
                            keep ca-key.pem offline, give ca.pem to clients (BATON_CACERT)
  NAME.pem, NAME-key.pem    for each -node NAME=HOST[,HOST…]: the certificate (followed by
                            the CA's, so that nodes trust each other with no further setting)
                            and its key (mode 0600); HOSTs are its IP and DNS names

Each certificate serves both as a server and as a client certificate, so that a standby
presents it when it forwards to a listener with tls_require_and_verify_client_cert. Existing
files are never overwritten. Example, for a 3-node cluster:

  node operator tls-cert -out-dir /etc/baton/tls \
      -node node1=10.0.0.11,node1.example.com \
      -node node2=10.0.0.12,node2.example.com \
      -node node3=10.0.0.13,node3.example.com`,
	local: true,
	run:   runOperatorTLSCert,
}

// nodeFlag collects -node NAME=HOST[,HOST…].
type nodeFlag []nodeSpec

type nodeSpec struct {
	name  string
	hosts []string
}

func (n *nodeFlag) String() string { return "" }

func (n *nodeFlag) Set(v string) error {
	name, hosts, ok := strings.Cut(v, "=")
	if !ok || name == "" || hosts == "" || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("want NAME=HOST[,HOST…], such as node1=10.0.0.11,node1.example.com")
	}
	s := nodeSpec{name: name}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			s.hosts = append(s.hosts, h)
		}
	}
	*n = append(*n, s)
	return nil
}

func runOperatorTLSCert(in *invocation, args []string) error {
	dir := in.fs.String("out-dir", ".", "Directory the files are written to (created when missing).")
	caCert := in.fs.String("ca-cert", "", "Sign with this existing CA certificate (with -ca-key) instead of making a new CA.")
	caKey := in.fs.String("ca-key", "", "The existing CA's private key.")
	days := in.fs.Int("days", 365, "Validity of the node certificates, in days (a new CA gets ten times as long).")
	var nodes nodeFlag
	in.fs.Var(&nodes, "node", "NAME=HOST[,HOST…]: a certificate NAME.pem for these IP addresses and DNS names; repeat for each node.")
	if _, err := in.parse(args, 0, 0); err != nil {
		return err
	}
	if len(nodes) == 0 {
		return usagef("give at least one -node NAME=HOST[,HOST…]")
	}
	if *days < 1 {
		return usagef("invalid -days %d: want 1 or more", *days)
	}
	if (*caCert == "") != (*caKey == "") {
		return usagef("-ca-cert and -ca-key go together")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	// Refuse before writing anything, so that a clash leaves the directory as it was.
	var planned []string
	if *caCert == "" {
		planned = append(planned, "ca.pem", "ca-key.pem")
	}
	for _, n := range nodes {
		planned = append(planned, n.name+".pem", n.name+"-key.pem")
	}
	for _, f := range planned {
		if _, err := os.Stat(filepath.Join(*dir, f)); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s already exists: move it away or pick another -out-dir (nothing was written)", filepath.Join(*dir, f))
		}
	}
	ttl := time.Duration(*days) * 24 * time.Hour
	var (
		ca  *apitls.CA
		err error
	)
	if *caCert != "" {
		ca, err = apitls.LoadCA(*caCert, *caKey)
	} else {
		ca, err = apitls.NewCA("Baton API CA", 10*ttl)
	}
	if err != nil {
		return err
	}
	if *caCert == "" {
		key, err := ca.KeyPEM()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*dir, "ca.pem"), ca.CertPEM, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*dir, "ca-key.pem"), key, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(in.stdout, "CA:   %s (key %s: keep it offline)\n", filepath.Join(*dir, "ca.pem"), filepath.Join(*dir, "ca-key.pem"))
	}
	for _, n := range nodes {
		is, err := ca.Issue(n.name, n.hosts, ttl)
		if err != nil {
			return err
		}
		cf, kf := filepath.Join(*dir, n.name+".pem"), filepath.Join(*dir, n.name+"-key.pem")
		if err := is.WriteFiles(cf, kf); err != nil {
			return err
		}
		fmt.Fprintf(in.stdout, "%s: %s, %s (for %s; until %s)\n", n.name, cf, kf, strings.Join(n.hosts, ", "), is.Cert.NotAfter.UTC().Format(time.DateOnly))
	}
	return nil
}
