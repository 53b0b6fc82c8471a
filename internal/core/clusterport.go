package core

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/clusterpki"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/raftstore/state"
)

// The cluster port: Raft and the forwarding of requests from standbys, both over mutual TLS
// with certificates from the cluster CA made at init. The CA key lives in the replicated
// state sealed by the barrier (Seal.ClusterCA) and, with the node's own certificate and key,
// in the local seal file sealed by the barrier too, so a restarted node opens its cluster
// port as soon as it is unsealed, before Raft has told it anything.

// ProtocolForward is the ALPN protocol of forwarded client requests on the cluster port.
const ProtocolForward = "baton-forward"

// forwardDialTimeout bounds a standby's dial of the active node's cluster port.
const forwardDialTimeout = 5 * time.Second

// errNoIdentity: the node has no cluster certificate to open its cluster port with.
var errNoIdentity = errors.New("core: this node has no cluster certificate (its data predates the cluster CA, or it has not joined): join it again")

// newClusterCA makes the cluster CA at init and this node's first certificate from it; it
// returns what the replicated state keeps (the CA certificate, its key sealed).
func (n *Node) newClusterCA() (*state.ClusterCA, error) {
	now := time.Now()
	ca, err := clusterpki.NewCA(now)
	if err != nil {
		return nil, err
	}
	m, err := clusterpki.Issue(ca, n.cfg.NodeID, n.cfg.ClusterCertTTL, now)
	if err != nil {
		return nil, err
	}
	if err := n.installIdentity(m); err != nil {
		return nil, err
	}
	sealed, err := n.barrier.Encrypt(m.CAKey)
	if err != nil {
		return nil, err
	}
	return &state.ClusterCA{Cert: m.CACert, SealedKey: sealed}, nil
}

// installIdentity makes m this node's cluster identity.
func (n *Node) installIdentity(m clusterpki.Material) error {
	id, err := clusterpki.NewIdentity(n.cfg.NodeID, m, n.cfg.ClusterCertTTL)
	if err != nil {
		return err
	}
	n.ident.Store(id)
	return nil
}

// sealMaterial seals the node's material for the local seal file.
func (n *Node) sealMaterial() ([]byte, error) {
	id := n.ident.Load()
	if id == nil {
		return nil, errNoIdentity
	}
	b, err := json.Marshal(id.Material())
	if err != nil {
		return nil, err
	}
	return n.barrier.Encrypt(b)
}

// loadIdentity opens the material kept in the local seal file (the barrier holds the key)
// and renews the certificate at once when it is due or expired (a node that was down long).
func (n *Node) loadIdentity(ls localSeal) error {
	if len(ls.ClusterTLS) == 0 {
		return errNoIdentity
	}
	b, err := n.barrier.Decrypt(ls.ClusterTLS)
	if err != nil {
		return fmt.Errorf("core: open the cluster certificate: %w", err)
	}
	var m clusterpki.Material
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("core: the cluster certificate in %s is corrupt: %w", n.sealPath(), err)
	}
	if err := n.installIdentity(m); err != nil {
		return err
	}
	return n.renewIfDue(time.Now())
}

// renewIfDue renews this node's certificate once it has lived two thirds of its life, and
// keeps the new one in the local seal file. The old certificate stays valid until it expires,
// so a peer that has not yet seen the new one loses nothing.
func (n *Node) renewIfDue(now time.Time) error {
	id := n.ident.Load()
	if id == nil || !id.RenewDue(now) {
		return nil
	}
	if err := id.Renew(now); err != nil {
		return fmt.Errorf("core: renew the cluster certificate: %w", err)
	}
	n.log.Info("renewed this node's cluster certificate", "not_after", id.Leaf().NotAfter)
	ls, ok, err := n.readLocalSeal()
	if err != nil || !ok {
		return err // a joining node writes its seal file once it has caught up
	}
	if ls.ClusterTLS, err = n.sealMaterial(); err != nil {
		return err
	}
	return n.writeLocalSeal(ls)
}

// renewLoop renews the certificate while the cluster port is open.
func (n *Node) renewLoop(stop <-chan struct{}) {
	every := min(max(n.cfg.ClusterCertTTL/20, 10*time.Millisecond), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			if err := n.renewIfDue(now); err != nil {
				n.log.Error("cluster certificate renewal", "error", err)
			}
		}
	}
}

// clusterTLS is the cluster port's TLS configuration: this node's current certificate, and
// a peer admitted only with a certificate from the cluster CA naming a member.
func (n *Node) clusterTLS() (*tls.Config, error) {
	id := n.ident.Load()
	if id == nil {
		return nil, errNoIdentity
	}
	return id.TLSConfig(n.isPeerMember, n.log.Named("cluster-port")), nil
}

// isPeerMember says whether a peer's certificate names a member: a server of the Raft
// configuration this node knows (so a removed node is refused at once), or, on a node that
// has just joined and knows no configuration yet, one of the peers the join answer named.
func (n *Node) isPeerMember(id string) bool {
	st := n.raftPtr.Load()
	if st == nil {
		return false
	}
	if st.IsMember(id) {
		return true
	}
	if st.HasConfiguration() {
		return false
	}
	peers, _ := n.joinPeers.Load().([]string)
	return slices.Contains(peers, id)
}

// SetForwardHandler installs the handler that serves requests forwarded by standbys on the
// cluster port (the API's); call it before Unseal or Init.
func (n *Node) SetForwardHandler(h http.Handler) { n.fwdHandler = h }

// serveForwarded serves forwarded requests on the store's forwarding listener until the
// store closes; it returns the server, to be closed with the store.
func (n *Node) serveForwarded(st *raftstore.Store) *http.Server {
	ln := st.Listener(ProtocolForward)
	if ln == nil || n.fwdHandler == nil {
		return nil
	}
	srv := &http.Server{
		Handler:           n.fwdHandler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          n.log.Named("forward").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			n.log.Warn("forwarding server", "error", err)
		}
	}()
	return srv
}

// Forwarder carries a standby's requests to the active node over the cluster port: it
// dials the node Raft names as leader, at the address Raft has for it, and goes on only if
// that node's certificate, from the cluster CA, names that same node. It never uses an API
// address read from the state.
type Forwarder struct {
	n  *Node
	tr *http.Transport
}

// Forwarder is the node's forwarder (one per node; its connections are pooled per leader).
func (n *Node) Forwarder() *Forwarder {
	f := &Forwarder{n: n}
	f.tr = &http.Transport{
		DialContext:         f.dial,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
	}
	return f
}

// Target is the URL under which RoundTrip reaches the active node named leaderID; the host
// carries the id (hex), so connections are pooled per leader and never reused for another.
func (f *Forwarder) Target(leaderID string) *url.URL {
	return &url.URL{Scheme: "http", Host: hex.EncodeToString([]byte(leaderID)) + ".leader"}
}

// RoundTrip implements http.RoundTripper.
func (f *Forwarder) RoundTrip(r *http.Request) (*http.Response, error) { return f.tr.RoundTrip(r) }

// CloseIdleConnections drops pooled connections (to a former leader).
func (f *Forwarder) CloseIdleConnections() { f.tr.CloseIdleConnections() }

func (f *Forwarder) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(strings.TrimSuffix(host, ".leader"))
	if err != nil {
		return nil, fmt.Errorf("core: forward: bad target %q", host)
	}
	want := string(raw)
	st := f.n.raftPtr.Load()
	if st == nil {
		return nil, ErrSealed
	}
	id, raftAddr := st.Leader()
	if id != want || raftAddr == "" {
		return nil, fmt.Errorf("core: forward: Raft's leader is now %q, not %q: retry", id, want)
	}
	timeout := forwardDialTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	c, err := st.DialProtocol(raftAddr, ProtocolForward, timeout)
	if err != nil {
		return nil, fmt.Errorf("core: forward to %s at %s: %w", id, raftAddr, err)
	}
	cs, ok := c.(interface{ ConnectionState() *tls.ConnectionState })
	if !ok || cs.ConnectionState() == nil || len(cs.ConnectionState().PeerCertificates) == 0 ||
		cs.ConnectionState().PeerCertificates[0].Subject.CommonName != id {
		c.Close()
		f.n.log.Warn("refused to forward: the node at the leader's address is not the leader", "leader", id, "address", raftAddr)
		return nil, fmt.Errorf("core: forward: the node at %s is not %s", raftAddr, id)
	}
	return c, nil
}
