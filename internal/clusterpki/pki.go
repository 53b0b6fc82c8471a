// Package clusterpki is the cluster port's public-key infrastructure: the cluster CA made at
// sys/init (ECDSA P-256), the node certificates it signs (the node id as common name and DNS
// name), their renewal before expiry, and the TLS configuration that admits a peer only when
// its certificate chains to the cluster CA and names a current member. It holds no state of
// its own beyond a node's current certificate; the caller (internal/core) keeps the CA key in
// the barrier and says who is a member. It imports only the standard library and hclog.
package clusterpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Lifetimes and the renewal point.
const (
	// CALifetime is how long the cluster CA is valid (as long as OpenBao's cluster
	// certificates, about 30 years): the CA is not rotated; node certificates are.
	CALifetime = 262980 * time.Hour
	// DefaultCertTTL is a node certificate's lifetime when the caller gives none: a day, the
	// period at which OpenBao rotates its raft TLS keys.
	DefaultCertTTL = 24 * time.Hour
	// backdate covers clock skew between nodes: a certificate is valid from a minute ago.
	backdate = time.Minute
)

// Errors callers branch on.
var (
	// ErrNotMember: the peer's certificate is good but names a node that is not a member.
	ErrNotMember = errors.New("clusterpki: peer is not a member of the cluster")
	// ErrUntrusted: the peer's certificate does not chain to the cluster CA (or has expired).
	ErrUntrusted = errors.New("clusterpki: peer certificate is not from the cluster CA")
)

// CA is the cluster's certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA makes a cluster CA.
func NewCA(now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("clusterpki: CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "baton cluster CA"},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("clusterpki: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("clusterpki: CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// ParseCA reads a CA from its certificate and its PKCS#8 key (both DER).
func ParseCA(certDER, keyDER []byte) (*CA, error) {
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("clusterpki: CA certificate: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("clusterpki: CA key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("clusterpki: CA key does not match the CA certificate")
	}
	return &CA{Cert: cert, Key: key}, nil
}

// KeyDER is the CA key as PKCS#8 DER (to be sealed by the barrier by the caller).
func (ca *CA) KeyDER() ([]byte, error) { return x509.MarshalPKCS8PrivateKey(ca.Key) }

// Sign issues a node certificate for nodeID over pub, valid for ttl from now.
func (ca *CA) Sign(nodeID string, pub any, ttl time.Duration, now time.Time) ([]byte, error) {
	if nodeID == "" {
		return nil, errors.New("clusterpki: sign: empty node id")
	}
	if _, ok := pub.(*ecdsa.PublicKey); !ok {
		return nil, fmt.Errorf("clusterpki: sign %s: the key must be ECDSA, got %T", nodeID, pub)
	}
	if ttl <= 0 {
		ttl = DefaultCertTTL
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: nodeID},
		DNSNames:     []string{nodeID},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("clusterpki: sign %s: %w", nodeID, err)
	}
	return der, nil
}

// NewNodeKey makes a node's key pair.
func NewNodeKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("clusterpki: node key: %w", err)
	}
	return k, nil
}

// NewCSR makes the certificate request a joining node sends with its challenge answer.
func NewCSR(key *ecdsa.PrivateKey, nodeID string) ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: nodeID}, DNSNames: []string{nodeID},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("clusterpki: CSR: %w", err)
	}
	return der, nil
}

// ParseCSR reads a CSR, checks its self-signature (the sender holds the key) and that it
// asks for nodeID, and returns its public key.
func ParseCSR(der []byte, nodeID string) (any, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("clusterpki: CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("clusterpki: CSR signature: %w", err)
	}
	if csr.Subject.CommonName != nodeID {
		return nil, fmt.Errorf("clusterpki: CSR names %q, not the joining node %q", csr.Subject.CommonName, nodeID)
	}
	return csr.PublicKey, nil
}

// Material is one node's cluster-port credentials, all DER: the CA certificate and key (every
// member holds the key, sealed by the barrier, so that it can renew its own certificate and,
// when active, sign a joining node's), and the node's certificate and PKCS#8 key.
type Material struct {
	CACert  []byte `json:"ca_cert"`
	CAKey   []byte `json:"ca_key"`
	Cert    []byte `json:"cert"`
	NodeKey []byte `json:"node_key"`
}

// Identity is a node's current certificate on the cluster port, swapped atomically on
// renewal: handshakes in progress keep the old one, which stays valid until it expires, so
// peers see no gap.
type Identity struct {
	nodeID string
	ttl    time.Duration
	ca     *CA
	pool   *x509.CertPool
	cur    atomic.Pointer[tls.Certificate]
	mat    atomic.Pointer[Material]
}

// NewIdentity loads a node's material.
func NewIdentity(nodeID string, m Material, ttl time.Duration) (*Identity, error) {
	ca, err := ParseCA(m.CACert, m.CAKey)
	if err != nil {
		return nil, err
	}
	if ttl <= 0 {
		ttl = DefaultCertTTL
	}
	id := &Identity{nodeID: nodeID, ttl: ttl, ca: ca, pool: x509.NewCertPool()}
	id.pool.AddCert(ca.Cert)
	if err := id.install(m); err != nil {
		return nil, err
	}
	return id, nil
}

// Issue makes fresh material for nodeID from a CA: a new key and a certificate.
func Issue(ca *CA, nodeID string, ttl time.Duration, now time.Time) (Material, error) {
	key, err := NewNodeKey()
	if err != nil {
		return Material{}, err
	}
	der, err := ca.Sign(nodeID, &key.PublicKey, ttl, now)
	if err != nil {
		return Material{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Material{}, fmt.Errorf("clusterpki: node key: %w", err)
	}
	caKey, err := ca.KeyDER()
	if err != nil {
		return Material{}, fmt.Errorf("clusterpki: CA key: %w", err)
	}
	return Material{CACert: ca.Cert.Raw, CAKey: caKey, Cert: der, NodeKey: keyDER}, nil
}

func (id *Identity) install(m Material) error {
	leaf, err := x509.ParseCertificate(m.Cert)
	if err != nil {
		return fmt.Errorf("clusterpki: node certificate: %w", err)
	}
	if leaf.Subject.CommonName != id.nodeID {
		return fmt.Errorf("clusterpki: the certificate names %q, not this node %q", leaf.Subject.CommonName, id.nodeID)
	}
	key, err := x509.ParsePKCS8PrivateKey(m.NodeKey)
	if err != nil {
		return fmt.Errorf("clusterpki: node key: %w", err)
	}
	id.cur.Store(&tls.Certificate{Certificate: [][]byte{m.Cert}, PrivateKey: key, Leaf: leaf})
	id.mat.Store(&m)
	return nil
}

// CA is the cluster CA this identity trusts and signs with.
func (id *Identity) CA() *CA { return id.ca }

// Material is the current material (to persist after a renewal).
func (id *Identity) Material() Material { return *id.mat.Load() }

// Leaf is the current certificate.
func (id *Identity) Leaf() *x509.Certificate { return id.cur.Load().Leaf }

// RenewDue reports whether the current certificate has lived two thirds of its life at now,
// counted from its issue (NotBefore is backdated for clock skew).
func (id *Identity) RenewDue(now time.Time) bool {
	l := id.Leaf()
	issued := l.NotBefore.Add(backdate)
	return !now.Before(issued.Add(l.NotAfter.Sub(issued) * 2 / 3))
}

// Renew issues a new certificate and key from the CA and makes them current. The old
// certificate stays valid (peers accept it) until it expires.
func (id *Identity) Renew(now time.Time) error {
	m, err := Issue(id.ca, id.nodeID, id.ttl, now)
	if err != nil {
		return err
	}
	return id.install(m)
}

// TLSConfig is the cluster port's configuration for this node, as server and as client: it
// presents the current certificate and admits a peer only when its certificate chains to the
// cluster CA and isMember says its node id (the common name) is a member; every refusal is
// logged (by the verifier here and by raftstore's handshake).
func (id *Identity) TLSConfig(isMember func(nodeID string) bool, log hclog.Logger) *tls.Config {
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		GetCertificate:       func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return id.cur.Load(), nil },
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return id.cur.Load(), nil },
		ClientAuth:           tls.RequireAnyClientCert,
		// Resumed sessions skip the certificate signatures; VerifyConnection still runs on
		// them, so a peer removed since is still refused.
		ClientSessionCache: tls.NewLRUClientSessionCache(64),
		// The server name is not a host name but a node id, so Go's own check is replaced by
		// VerifyConnection, which checks the chain and the membership on both ends.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			peer, err := id.Verify(cs.PeerCertificates, isMember)
			if err != nil {
				log.Warn("refused a cluster peer", "peer", peer, "error", err)
			}
			return err
		},
	}
}

// Verify checks a peer's chain against the cluster CA and its node id against isMember; it
// returns the node id the certificate names (for the log) and the refusal.
func (id *Identity) Verify(chain []*x509.Certificate, isMember func(string) bool) (string, error) {
	if len(chain) == 0 {
		return "", fmt.Errorf("%w: no certificate", ErrUntrusted)
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: id.pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return leaf.Subject.CommonName, fmt.Errorf("%w: %w", ErrUntrusted, err)
	}
	name := leaf.Subject.CommonName
	if name == "" || !isMember(name) {
		return name, fmt.Errorf("%w: %q", ErrNotMember, name)
	}
	return name, nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("clusterpki: serial: %w", err)
	}
	return n, nil
}
