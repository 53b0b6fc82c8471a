package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/apitls"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/test/testutil"
)

// testPKI is a CA and files for one node certificate (127.0.0.1), written in a temp dir.
type testPKI struct {
	ca                        *apitls.CA
	dir, caFile               string
	certFile, keyFile         string
	clientCert, clientKey     string
	strangerCert, strangerKey string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	var err error
	if p.ca, err = apitls.NewCA("test CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	p.caFile = filepath.Join(p.dir, "ca.pem")
	if err := os.WriteFile(p.caFile, p.ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	p.certFile, p.keyFile = p.issue(t, p.ca, "node")
	p.clientCert, p.clientKey = p.issue(t, p.ca, "client")
	other, err := apitls.NewCA("another CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p.strangerCert, p.strangerKey = p.issue(t, other, "stranger")
	return p
}

// issue writes a certificate for 127.0.0.1 signed by ca, named name, and returns its files.
func (p *testPKI) issue(t *testing.T, ca *apitls.CA, name string) (string, string) {
	t.Helper()
	is, err := ca.Issue(name, []string{"127.0.0.1", "localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cf, kf := filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem")
	if err := is.WriteFiles(cf, kf); err != nil {
		t.Fatal(err)
	}
	return cf, kf
}

// newTLSNode starts a real node (no NATS) whose API listener serves TLS with p's node
// certificate and opts; it is sealed and uninitialised.
func newTLSNode(t *testing.T, p *testPKI, opts apitls.ServerOptions) (*Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	s, err := New(Config{
		Core: core.Config{
			NodeID: "tls", DataDir: t.TempDir(), NoNATS: true,
			RaftBind: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
			Logger:   hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info}),
		},
		Listen: "127.0.0.1:0", StartTimeout: 10 * time.Second,
		TLS: &ListenerTLS{CertFile: p.certFile, KeyFile: p.keyFile, Options: opts},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, logs
}

// client is an HTTP client with its own transport (closed at cleanup) and tls settings.
func tlsClient(t *testing.T, c *tls.Config) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: c, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func clientTLS(t *testing.T, o apitls.ClientOptions) *tls.Config {
	t.Helper()
	c, err := apitls.ClientConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// initBody is a sys/init request: what an attacker would most like to get through first.
const initBody = `{"secret_shares":1,"secret_threshold":1}`

func doInit(hc *http.Client, url string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPut, url+"/v1/sys/init", strings.NewReader(initBody))
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b), nil
}

// TestTLSListenerRefusesStrangers walks up to a TLS listener as an attacker would: in plain
// HTTP, without the CA, with TLS 1.2 against tls13, without a client certificate and with
// one from another CA. Each is refused and the node stays uninitialised; the client set up
// as the operator's is served.
func TestTLSListenerRefusesStrangers(t *testing.T) {
	p := newTestPKI(t)
	tests := []struct {
		name string
		opts apitls.ServerOptions
		// client is the attacker's TLS setting; nil means plain HTTP.
		client *tls.Config
		// want is in the error (or, for plain HTTP, in the 400 reply).
		want string
	}{
		{"plain HTTP", apitls.ServerOptions{}, nil, "Client sent an HTTP request to an HTTPS server"},
		{"no CA", apitls.ServerOptions{}, clientTLS(t, apitls.ClientOptions{}), "certificate signed by unknown authority"},
		{"TLS 1.2 against tls13", apitls.ServerOptions{MinVersion: tls.VersionTLS13},
			func() *tls.Config {
				c := clientTLS(t, apitls.ClientOptions{CACert: p.caFile})
				c.MaxVersion = tls.VersionTLS12
				return c
			}(), "protocol version"},
		{"no client certificate", apitls.ServerOptions{ClientCAFile: p.caFile, RequireClientCert: true},
			clientTLS(t, apitls.ClientOptions{CACert: p.caFile}), "certificate required"},
		{"client certificate from another CA", apitls.ServerOptions{ClientCAFile: p.caFile, RequireClientCert: true},
			func() *tls.Config {
				// Go's client sends only a certificate the server's CA list accepts; an
				// attacker sends theirs regardless.
				c := clientTLS(t, apitls.ClientOptions{CACert: p.caFile})
				pair, err := tls.LoadX509KeyPair(p.strangerCert, p.strangerKey)
				if err != nil {
					t.Fatal(err)
				}
				c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
				return c
			}(), "unknown certificate authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTLSNode(t, p, tt.opts)
			if !strings.HasPrefix(s.URL(), "https://") {
				t.Fatalf("api_addr %q, want https", s.URL())
			}
			url := s.URL()
			hc := tlsClient(t, tt.client)
			if tt.client == nil {
				url = "http://" + s.Addr()
			}
			status, body, err := doInit(hc, url)
			switch {
			case tt.client == nil:
				if err != nil || status != http.StatusBadRequest || !strings.Contains(body, tt.want) {
					t.Errorf("plain HTTP: %d %q, %v; want 400 %q", status, body, err, tt.want)
				}
			case err == nil:
				t.Errorf("served: %d %s", status, body)
			case !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %v, want %q", err, tt.want)
			}
			if s.Node.Initialized() {
				t.Fatal("the refused sys/init initialised the node")
			}

			// The operator's client, with the CA (and a client certificate when required),
			// is served.
			good := apitls.ClientOptions{CACert: p.caFile}
			if tt.opts.RequireClientCert {
				good.ClientCert, good.ClientKey = p.clientCert, p.clientKey
			}
			resp, err := tlsClient(t, clientTLS(t, good)).Get(s.URL() + "/v1/sys/seal-status")
			if err != nil {
				t.Fatalf("operator's client: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("operator's client: %d", resp.StatusCode)
			}
		})
	}
}

// TestReloadTLS: after the files change and ReloadTLS, a new connection sees the new
// certificate's serial; files that do not load leave the certificate in use.
func TestReloadTLS(t *testing.T) {
	p := newTestPKI(t)
	s, logs := newTLSNode(t, p, apitls.ServerOptions{})
	serial := func() string {
		t.Helper()
		c, err := tls.Dial("tcp", s.Addr(), clientTLS(t, apitls.ClientOptions{CACert: p.caFile}))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	next, err := p.ca.Issue("node", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := next.WriteFiles(p.certFile, p.keyFile); err != nil {
		t.Fatal(err)
	}
	if before == next.Cert.SerialNumber.String() {
		t.Fatal("the new certificate has the old serial")
	}
	if got := serial(); got != before {
		t.Fatalf("serial changed to %s before the reload", got)
	}
	if err := s.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got != next.Cert.SerialNumber.String() {
		t.Fatalf("after the reload the listener serves serial %s, want %s", got, next.Cert.SerialNumber)
	}
	if !strings.Contains(logs.String(), "API listener certificate reloaded") {
		t.Error("no log line for the reload")
	}

	// A half-written renewal: the key no longer matches. Refused, the certificate stays.
	other, err := p.ca.Issue("node", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.keyFile, other.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.ReloadTLS(); err == nil || strings.Contains(err.Error(), "PRIVATE KEY-----\nM") {
		t.Fatalf("ReloadTLS with a mismatched key = %v, want an error that does not quote the key", err)
	}
	if got := serial(); got != next.Cert.SerialNumber.String() {
		t.Fatalf("after a failed reload the listener serves %s, want %s kept", got, next.Cert.SerialNumber)
	}
}

// TestReloadTLSPlain: a plain listener has no certificate to reload.
func TestReloadTLSPlain(t *testing.T) {
	s, _ := newLimitedNode(t, DefaultLimits())
	if err := s.ReloadTLS(); !errors.Is(err, ErrNoTLS) {
		t.Fatalf("ReloadTLS on plain HTTP = %v, want ErrNoTLS", err)
	}
}

// TestPeerTLSTrustsOwnChain: the node-to-node client trusts the CA in the node's own
// certificate file, and presents the node's certificate to a listener that requires one.
func TestPeerTLSTrustsOwnChain(t *testing.T) {
	p := newTestPKI(t)
	s, _ := newTLSNode(t, p, apitls.ServerOptions{ClientCAFile: p.caFile, RequireClientCert: true})
	r, err := apitls.NewReloader(p.certFile, p.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := apitls.PeerConfig(r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tlsClient(t, peer).Get(s.URL() + "/v1/sys/seal-status")
	if err != nil {
		t.Fatalf("peer client: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("peer client: %d", resp.StatusCode)
	}
}

// TestTLSReplayRefused: the bytes a legitimate client sent for a sys/init over TLS, captured
// on the wire and replayed to another node holding the same certificate, initialise nothing:
// the server's fresh handshake randomness makes the captured session worthless.
func TestTLSReplayRefused(t *testing.T) {
	p := newTestPKI(t)
	victim, _ := newTLSNode(t, p, apitls.ServerOptions{})
	target, _ := newTLSNode(t, p, apitls.ServerOptions{})

	// A recording proxy in front of victim.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var captured syncBuffer
	proxied := make(chan struct{})
	go func() {
		defer close(proxied)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		up, err := net.Dial("tcp", victim.Addr())
		if err != nil {
			return
		}
		defer up.Close()
		done := make(chan struct{})
		go func() { _, _ = io.Copy(c, up); close(done) }()
		_, _ = io.Copy(io.MultiWriter(up, &captured), c)
		_ = up.(*net.TCPConn).CloseWrite()
		<-done
	}()
	hc := tlsClient(t, clientTLS(t, apitls.ClientOptions{CACert: p.caFile}))
	status, body, err := doInit(hc, "https://"+ln.Addr().String())
	if err != nil || status != http.StatusOK {
		t.Fatalf("the legitimate sys/init through the proxy: %d %s %v", status, body, err)
	}
	hc.CloseIdleConnections()
	<-proxied
	if !victim.Node.Initialized() {
		t.Fatal("the legitimate sys/init did not initialise the victim")
	}

	// Replay the captured client bytes to the other node.
	c, err := net.Dial("tcp", target.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(captured.String())); err != nil {
		t.Logf("replay write: %v", err)
	}
	reply, _ := io.ReadAll(c)
	if strings.Contains(string(reply), "HTTP/1.1 200") || strings.Contains(string(reply), "root_token") {
		t.Fatalf("the replay was served: %q", reply)
	}
	if target.Node.Initialized() {
		t.Fatal("the replayed sys/init initialised the target")
	}
}
