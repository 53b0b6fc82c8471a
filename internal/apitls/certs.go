// Package apitls is TLS for the HTTP API: the listener's certificate, held so that SIGHUP can
// swap it without a restart; the server and client tls.Config built from OpenBao's listener
// keys and client variables; and a small CA that makes ECDSA P-256 certificates for the dev
// node (-dev-tls) and for `node operator tls-cert`.
//
// It knows nothing of the config file or the CLI: callers hand it file names and parsed
// versions. The cluster port's mutual TLS (Raft, the join) is raftstore's and core's, not
// this package's.
package apitls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// CA is a certificate authority held in memory: it signs node certificates.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// CertPEM is Cert, PEM-encoded.
	CertPEM []byte
}

// NewCA makes a self-signed CA valid for ttl, its key ECDSA P-256.
func NewCA(commonName string, ttl time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("apitls: CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("apitls: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("apitls: CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der)}, nil
}

// LoadCA reads a CA certificate and its key (PEM, as KeyPEM writes it), to issue more node
// certificates from a CA made earlier.
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("apitls: load CA: %w", err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("apitls: load CA: the key is not an ECDSA key: use a CA made by node operator tls-cert")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("apitls: load CA: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("apitls: load CA: %s is not a CA certificate", certFile)
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", pair.Certificate[0])}, nil
}

// KeyPEM is the CA's private key, PEM-encoded (PKCS#8).
func (ca *CA) KeyPEM() ([]byte, error) { return keyPEM(ca.Key) }

// Issued is a certificate the CA signed, with its key.
type Issued struct {
	Cert *x509.Certificate
	// CertPEM holds the certificate followed by the CA's (the chain a server presents);
	// KeyPEM its private key.
	CertPEM, KeyPEM []byte
}

// Issue signs a certificate for commonName valid for ttl whose SANs are hosts (each an IP
// address or a DNS name). It serves both as a server certificate and as a client one, so
// that a node presents it when it forwards to a listener that verifies client certificates.
func (ca *CA) Issue(commonName string, hosts []string, ttl time.Duration) (*Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("apitls: key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("apitls: certificate for %s: %w", commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("apitls: certificate for %s: %w", commonName, err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, err
	}
	chain := append(pemBlock("CERTIFICATE", der), ca.CertPEM...)
	return &Issued{Cert: cert, CertPEM: chain, KeyPEM: kp}, nil
}

// WriteFiles writes the certificate (0644) and its key (0600).
func (is *Issued) WriteFiles(certFile, keyFile string) error {
	if err := os.WriteFile(certFile, is.CertPEM, 0o644); err != nil {
		return fmt.Errorf("apitls: %w", err)
	}
	if err := os.WriteFile(keyFile, is.KeyPEM, 0o600); err != nil {
		return fmt.Errorf("apitls: %w", err)
	}
	return nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("apitls: serial: %w", err)
	}
	return s, nil
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("apitls: encode key: %w", err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
