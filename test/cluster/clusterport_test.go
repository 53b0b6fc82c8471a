package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/clusterpki"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

// TestStandbyForwardsOnlyToTheAuthenticatedLeader writes a stranger's address into the state
// as the active node's api_addr (what a replayed join could once do) and sends client requests
// to a standby: they are served by the active node, reached over the cluster port with mutual
// TLS, and the stranger's server sees nothing, token included. After a failover the standby
// forwards to the new active node the same way. A stranger who speaks the forwarding protocol
// to the cluster port (plain HTTP, TLS without a certificate, a certificate from another CA)
// gets no answer, even with the root token, and changes nothing.
func TestStandbyForwardsOnlyToTheAuthenticatedLeader(t *testing.T) {
	c := New(t, 3, Options{})
	ctx := testutil.Context(t, 3*time.Minute)
	var got atomic.Int64
	stranger := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusTeapot)
	}))
	t.Cleanup(stranger.Close)

	leader := c.Nodes[0]
	if _, err := leader.S.Node.Propose(ctx, state.TypeNodeJoin, "", command.SourceAPI, state.NodeJoin{Node: state.Node{
		ID: leader.ID, APIAddr: stranger.URL, RaftAddr: leader.Cfg.Core.RaftAdvertise,
	}}); err != nil {
		t.Fatal(err)
	}
	standby := c.Nodes[1]
	testutil.Eventually(t, 30*time.Second, "the standby to read the stranger's api_addr", func() bool {
		r, err := standby.Client.Do(ctx, "GET", "sys/leader", nil)
		return err == nil && strings.Contains(r.Raw, stranger.URL)
	})
	for range 5 {
		r := standby.Client.Must(t, ctx, "GET", "sys/mounts", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("a forwarded sys/mounts: %d %s", r.Status, r.Raw)
		}
	}
	if n := got.Load(); n != 0 {
		t.Fatalf("%d forwarded requests went to the api_addr in the state", n)
	}

	// The forwarding protocol on the cluster port, walked into without a certificate and with
	// one from another CA, with the root token: no answer, nothing served.
	otherCA, err := clusterpki.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, err := clusterpki.Issue(otherCA, "node1", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(m.NodeKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]*tls.Config{
		"no TLS":         nil,
		"no certificate": {InsecureSkipVerify: true, NextProtos: []string{core.ProtocolForward}},
		"another CA's":   {InsecureSkipVerify: true, NextProtos: []string{core.ProtocolForward}, Certificates: []tls.Certificate{{Certificate: [][]byte{m.Cert}, PrivateKey: key}}},
	} {
		tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}
		scheme := "https"
		if tc == nil {
			scheme = "http"
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", scheme+"://"+leader.Cfg.Core.RaftAdvertise+"/v1/sys/mounts/stolen", strings.NewReader(`{"type":"database"}`))
		req.Header.Set("X-Vault-Token", c.Token)
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: the cluster port answered a stranger's forwarded request: %d", name, resp.StatusCode)
		}
	}
	if _, ok := leader.S.Engine.ReadMount("stolen"); ok {
		t.Fatal("a stranger's request on the cluster port changed the state")
	}

	c.Halt(leader)
	next := c.WaitActive(leader, 30*time.Second)
	other := c.Nodes[1]
	if next == other {
		other = c.Nodes[2]
	}
	testutil.Eventually(t, 30*time.Second, "the standby to forward to the new active node", func() bool {
		r, err := other.Client.Do(ctx, "GET", "sys/mounts", nil)
		return err == nil && r.Status == http.StatusOK
	})
	if n := got.Load(); n != 0 {
		t.Fatalf("%d forwarded requests went to the stranger", n)
	}
}
