package server

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/baton-hq/baton/internal/apitls"
)

// ListenerTLS is the API listener's TLS: OpenBao's listener keys, parsed by internal/config.
type ListenerTLS struct {
	// CertFile (the certificate, optionally followed by its CA) and KeyFile are read at start
	// and again by ReloadTLS.
	CertFile, KeyFile string
	// Options are the versions, cipher suites and client-certificate settings.
	Options apitls.ServerOptions
	// PeerCAFiles are CAs trusted when this node calls another node's API (forwarding, join)
	// besides the system's roots and the CA certificates in CertFile
	// (storage.retry_join.leader_ca_cert_file, tls_client_ca_file).
	PeerCAFiles []string
}

// configs loads the certificate and builds the listener's and the node-to-node tls.Config.
func (t *ListenerTLS) configs() (*apitls.Reloader, *tls.Config, *tls.Config, error) {
	if t.CertFile == "" || t.KeyFile == "" {
		return nil, nil, nil, errors.New("server: TLS needs a certificate file and a key file")
	}
	certs, err := apitls.NewReloader(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("server: listener TLS: %w", err)
	}
	srv, err := apitls.ServerConfig(certs, t.Options)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("server: listener TLS: %w", err)
	}
	peer, err := apitls.PeerConfig(certs, t.PeerCAFiles...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("server: listener TLS: %w", err)
	}
	return certs, srv, peer, nil
}

// ErrNoTLS is ReloadTLS's answer on a plain HTTP listener.
var ErrNoTLS = errors.New("server: the API listener serves plain HTTP: no certificate to reload")

// ReloadTLS reads the listener's certificate and key files again (SIGHUP): new connections
// get the new certificate, open ones keep theirs. When the files do not load, the
// certificate in use stays and the error says why.
func (s *Server) ReloadTLS() error {
	if s.certs == nil {
		return ErrNoTLS
	}
	if err := s.certs.Reload(); err != nil {
		return err
	}
	leaf := s.certs.Leaf()
	s.log.Info("API listener certificate reloaded", "subject", leaf.Subject.String(), "serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter)
	return nil
}
