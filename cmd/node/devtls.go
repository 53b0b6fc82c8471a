package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/baton-hq/baton/internal/apitls"
	"github.com/baton-hq/baton/internal/server"
)

// The files -dev-tls writes, as OpenBao's -dev-tls names them.
const (
	devCAFile   = "baton-ca.pem"
	devCertFile = "baton-cert.pem"
	devKeyFile  = "baton-key.pem"
	// devTLSValidity is how long the dev CA and certificate are valid: a dev node is
	// throwaway, but may run for a while.
	devTLSValidity = 30 * 24 * time.Hour
)

// devCerts is -dev-tls's CA and server certificate on disk. A nil *devCerts is a plain dev
// node.
type devCerts struct {
	dir string
	// temp says whether dir is ours to remove at exit.
	temp bool
}

// makeDevCerts makes a CA and a certificate for 127.0.0.1, ::1, localhost and the listen
// host in dir (a new temp dir when empty).
func makeDevCerts(dir, listen string) (*devCerts, error) {
	d := &devCerts{dir: dir}
	if dir == "" {
		var err error
		if d.dir, err = os.MkdirTemp("", "baton-tls-"); err != nil {
			return nil, err
		}
		d.temp = true
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := apitls.NewCA("Baton dev CA", devTLSValidity)
	if err != nil {
		d.cleanup()
		return nil, err
	}
	hosts := []string{"127.0.0.1", "::1", "localhost"}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	cert, err := ca.Issue("baton-dev", hosts, devTLSValidity)
	if err == nil {
		err = cert.WriteFiles(filepath.Join(d.dir, devCertFile), filepath.Join(d.dir, devKeyFile))
	}
	if err == nil {
		err = os.WriteFile(d.caFile(), ca.CertPEM, 0o644)
	}
	if err != nil {
		d.cleanup()
		return nil, fmt.Errorf("writing the dev certificates to %s: %w", d.dir, err)
	}
	return d, nil
}

// listener is the server's TLS setting: nil for a plain dev node.
func (d *devCerts) listener() *server.ListenerTLS {
	if d == nil {
		return nil
	}
	return &server.ListenerTLS{CertFile: filepath.Join(d.dir, devCertFile), KeyFile: filepath.Join(d.dir, devKeyFile)}
}

// caFile is the CA's path, "" for a plain dev node.
func (d *devCerts) caFile() string {
	if d == nil {
		return ""
	}
	return filepath.Join(d.dir, devCAFile)
}

// cleanup removes a temp dir; a directory the operator named is kept.
func (d *devCerts) cleanup() {
	if d != nil && d.temp {
		os.RemoveAll(d.dir)
	}
}
