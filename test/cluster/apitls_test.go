package cluster

import (
	"net/http"
	"strings"
	"testing"
	"time"

	openbao "github.com/openbao/openbao/api/v2"

	"github.com/baton-hq/baton/test/testutil"
)

// TestTLSClusterForwards: a 3-node cluster whose API listeners all serve TLS and require a
// client certificate forms (join over https), and a standby forwards a write and a creds
// read to the active node over https, presenting its own certificate; the same standby
// refuses a plain HTTP request and a client without a certificate, and those change nothing.
func TestTLSClusterForwards(t *testing.T) {
	c := New(t, 3, Options{APITLS: true, RequireClientCert: true})
	a := c.Active()
	for _, m := range c.Nodes {
		if !strings.HasPrefix(m.S.URL(), "https://") {
			t.Fatalf("%s api_addr %q, want https", m.ID, m.S.URL())
		}
	}
	setupDB(t, c, a)
	ctx := testutil.Context(t, 60*time.Second)
	standby := c.Nodes[1]
	if standby == a {
		standby = c.Nodes[2]
	}
	standby.Client.Must(t, ctx, "POST", "sys/mounts/from-standby", map[string]any{"type": "database"})
	if r := a.Client.Must(t, ctx, "GET", "sys/mounts/from-standby", nil); r.Data()["type"] != "database" {
		t.Fatalf("the mount made through the standby: %s", r.Raw)
	}
	r := standby.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	if d := r.Data(); d["username"] == "" || d["password"] == "" {
		t.Fatalf("creds through the standby: %s", r.Raw)
	}

	// OpenBao's own Go client, configured with the CA (and a client certificate, which these
	// listeners require), gets creds through the standby.
	bc := openbao.DefaultConfig()
	bc.Address = standby.S.URL()
	if err := bc.ConfigureTLS(&openbao.TLSConfig{CACert: c.CAFile, ClientCert: c.ClientCert, ClientKey: c.ClientKey}); err != nil {
		t.Fatal(err)
	}
	bao, err := openbao.NewClient(bc)
	if err != nil {
		t.Fatal(err)
	}
	bao.SetToken(c.Token)
	sec, err := bao.Logical().ReadWithContext(ctx, "database/creds/ro")
	if err != nil || sec == nil || sec.Data["username"] == nil || sec.Data["password"] == nil || sec.LeaseID == "" {
		t.Fatalf("OpenBao's client reading creds through the standby: %v %+v", err, sec)
	}

	// Strangers at the standby's door: plain HTTP, and TLS without a client certificate.
	plain := &testutil.Client{Addr: "http://" + standby.S.Addr(), Token: c.Token}
	if r, _ := plain.Do(ctx, "POST", "sys/mounts/plain", map[string]any{"type": "database"}); r.Status != http.StatusBadRequest || !strings.Contains(r.Raw, "HTTP request to an HTTPS server") {
		t.Errorf("plain HTTP to the standby: %d %q, want Go's 400 for HTTP to HTTPS", r.Status, r.Raw)
	}
	noCert := &testutil.Client{Addr: standby.S.URL(), Token: c.Token, HTTP: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: c.HTTP.Transport.(*http.Transport).TLSClientConfig.Clone()}}}
	noCert.HTTP.Transport.(*http.Transport).TLSClientConfig.Certificates = nil
	if _, err := noCert.Do(ctx, "POST", "sys/mounts/nocert", map[string]any{"type": "database"}); err == nil {
		t.Error("a client without a certificate was served")
	}
	for _, mount := range []string{"plain", "nocert"} {
		if r, _ := a.Client.Do(ctx, "GET", "sys/mounts/"+mount, nil); r.Status != http.StatusNotFound {
			t.Errorf("mount %s exists after a refused request: %d %s", mount, r.Status, r.Raw)
		}
	}
}

// TestTLSRetryJoin: a node whose retry_join names the first node's https api_addr (whose
// listener requires client certificates) probes it, learns the cluster is initialised, and
// joins once unsealed, over TLS with its own certificate.
func TestTLSRetryJoin(t *testing.T) {
	opts := Options{APITLS: true, RequireClientCert: true}
	c := New(t, 1, opts)
	m := c.AddRetryJoin(opts)
	ctx := testutil.Context(t, 2*time.Minute)
	testutil.Eventually(t, 30*time.Second, "the joining node reports initialized (its probe reached the https target)", func() bool {
		r, err := m.Client.Do(ctx, "GET", "sys/seal-status", nil)
		return err == nil && r.Body["initialized"] == true
	})
	m.Client.Must(t, ctx, "PUT", "sys/unseal", map[string]any{"key": c.Key})
	testutil.Eventually(t, 30*time.Second, "the joined node answers as a standby", func() bool {
		r, err := m.Client.Do(ctx, "GET", "sys/health", nil)
		return err == nil && r.Status == http.StatusTooManyRequests
	})
	r := c.Nodes[0].Client.Must(t, ctx, "GET", "sys/storage/raft/configuration", nil)
	if !strings.Contains(r.Raw, `"node_id":"`+m.ID+`"`) {
		t.Fatalf("raft configuration after the join lacks %s: %s", m.ID, r.Raw)
	}
}
