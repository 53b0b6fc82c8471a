package apitls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
)

// Reloader holds the listener's certificate and key, read from files, and swaps them on
// Reload: the tls.Config asks it for the certificate at each handshake, so a renewed
// certificate serves new connections without a restart (open ones keep theirs).
type Reloader struct {
	certFile, keyFile string

	mu   sync.RWMutex
	cert *tls.Certificate
}

// NewReloader reads the pair once; a pair that does not load is refused here, at start.
func NewReloader(certFile, keyFile string) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Reload reads the files again. When they do not load (a half-written renewal, a key that
// does not match) the certificate in use stays and the error says why.
func (r *Reloader) Reload() error {
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		// LoadX509KeyPair's errors describe the PEM, never the key's bytes.
		return fmt.Errorf("apitls: load %s and %s: %w", r.certFile, r.keyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("apitls: parse %s: %w", r.certFile, err)
	}
	pair.Leaf = leaf
	r.mu.Lock()
	r.cert = &pair
	r.mu.Unlock()
	return nil
}

// Leaf is the certificate served now.
func (r *Reloader) Leaf() *x509.Certificate {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cert.Leaf
}

// GetCertificate serves tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cert, nil
}

// GetClientCertificate serves tls.Config.GetClientCertificate: a node presents its listener
// certificate when it calls another node's API (forwarding, join), so that listeners which
// verify client certificates admit their peers.
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cert, nil
}

// caCerts is the CA certificates in the chain of the loaded pair (the file may hold the
// leaf followed by its issuers, as Issue writes it).
func (r *Reloader) caCerts() []*x509.Certificate {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []*x509.Certificate
	for _, der := range r.cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil && c.IsCA {
			out = append(out, c)
		}
	}
	return out
}

// ServerOptions are OpenBao's listener TLS keys, parsed.
type ServerOptions struct {
	// MinVersion and MaxVersion are tls.VersionTLS1x; 0 means TLS 1.2 and Go's newest.
	MinVersion, MaxVersion uint16
	// CipherSuites restricts TLS 1.0–1.2 suites (TLS 1.3's are not configurable); nil
	// means Go's defaults.
	CipherSuites []uint16
	// ClientCAFile verifies client certificates; RequireClientCert refuses a client without
	// one that verifies (tls_require_and_verify_client_cert). With a CA and without the
	// requirement, a client certificate is verified when one is sent.
	ClientCAFile      string
	RequireClientCert bool
}

// ServerConfig is the listener's tls.Config: certificates from r, the rest from o.
func ServerConfig(r *Reloader, o ServerOptions) (*tls.Config, error) {
	min := o.MinVersion
	if min == 0 {
		min = tls.VersionTLS12
	}
	if o.MaxVersion != 0 && o.MaxVersion < min {
		return nil, errors.New("apitls: the maximum TLS version is below the minimum")
	}
	c := &tls.Config{
		GetCertificate: r.GetCertificate,
		MinVersion:     min,
		MaxVersion:     o.MaxVersion,
		CipherSuites:   o.CipherSuites,
	}
	if o.RequireClientCert && o.ClientCAFile == "" {
		return nil, errors.New("apitls: requiring client certificates needs a client CA file")
	}
	if o.ClientCAFile != "" {
		pool, err := poolFromFiles(o.ClientCAFile)
		if err != nil {
			return nil, err
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.VerifyClientCertIfGiven
		if o.RequireClientCert {
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return c, nil
}

// PeerConfig is how a node dials other nodes' API (standby forwarding, join): it trusts the
// system's roots, the CA certificates in its own listener chain (a cluster whose certificates
// one CA signed trusts itself with no further setting) and the files in caFiles; it presents
// its own listener certificate to listeners that ask for one.
func PeerConfig(r *Reloader, caFiles ...string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, c := range r.caCerts() {
		pool.AddCert(c)
	}
	for _, f := range caFiles {
		if f == "" {
			continue
		}
		if err := addPEMFile(pool, f); err != nil {
			return nil, err
		}
	}
	return &tls.Config{RootCAs: pool, GetClientCertificate: r.GetClientCertificate, MinVersion: tls.VersionTLS12}, nil
}

// ClientOptions are the CLI's TLS settings (OpenBao's VAULT_CACERT, VAULT_CLIENT_CERT,
// VAULT_CLIENT_KEY, VAULT_SKIP_VERIFY, VAULT_TLS_SERVER_NAME).
type ClientOptions struct {
	CACert                string
	ClientCert, ClientKey string
	SkipVerify            bool
	ServerName            string
}

// ClientConfig is the CLI's tls.Config: the system roots unless CACert names others.
func ClientConfig(o ClientOptions) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName, InsecureSkipVerify: o.SkipVerify} //nolint:gosec // the operator asked for it
	if o.CACert != "" {
		pool, err := poolFromFiles(o.CACert)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if (o.ClientCert == "") != (o.ClientKey == "") {
		return nil, errors.New("a client certificate needs both a certificate and a key file")
	}
	if o.ClientCert != "" {
		pair, err := tls.LoadX509KeyPair(o.ClientCert, o.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s: %w", o.ClientCert, err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

func poolFromFiles(files ...string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, f := range files {
		if err := addPEMFile(pool, f); err != nil {
			return nil, err
		}
	}
	return pool, nil
}

func addPEMFile(pool *x509.CertPool, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("apitls: CA file: %w", err)
	}
	n := 0
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("apitls: CA file %s: %w", file, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return fmt.Errorf("apitls: CA file %s holds no PEM certificate", file)
	}
	return nil
}
