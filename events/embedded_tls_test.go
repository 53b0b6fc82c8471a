package events

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/baton-hq/baton/internal/apitls"
)

// tlsFiles are a CA and a certificate it signed, written to files.
type tlsFiles struct{ ca, cert, key string }

// newTLSFiles makes a CA and a certificate for hosts signed by it, in a temporary directory.
func newTLSFiles(t testing.TB, name string, hosts ...string) tlsFiles {
	t.Helper()
	ca, err := apitls.NewCA(name+" CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(name, hosts, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := tlsFiles{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(f.ca, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := is.WriteFiles(f.cert, f.key); err != nil {
		t.Fatal(err)
	}
	return f
}

// startTLSNATS runs an embedded server serving TLS with f's certificate.
func startTLSNATS(t testing.TB, f tlsFiles) *Embedded {
	t.Helper()
	e, err := RunEmbedded(EmbeddedConfig{DataDir: t.TempDir(), Logger: testLogger(), Cluster: testCluster, Keys: testIDs.Keys(),
		TLSCertFile: f.cert, TLSKeyFile: f.key})
	if err != nil {
		t.Fatalf("RunEmbedded: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// plainConnect speaks the NATS protocol in clear, as an attacker without TLS would, with a
// correctly signed nkey CONNECT for id, publishes an event and pings. It returns what the
// server answered until it closed the connection or sent PONG (or the bound ran out).
func plainConnect(t *testing.T, addr string, id Identity) (info string, answer string) {
	t.Helper()
	info, answer, _ = rawConnect(t, addr, nil, id, nil)
	return info, answer
}

// rawConnect speaks the NATS protocol by hand: it reads INFO, upgrades to TLS with tc unless
// it is nil, and sends a CONNECT for id signed over sig's nonce (the server's own when
// sig is nil: a replayed signature otherwise), a PUB of an event and a PING. It returns the
// INFO, what the server answered, and the signature it sent.
func rawConnect(t *testing.T, addr string, tc *tls.Config, id Identity, sig []byte) (info, answer string, sent []byte) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	var conn net.Conn = raw
	r := bufio.NewReader(conn)
	info, err = r.ReadString('\n')
	if err != nil {
		t.Fatalf("INFO: %v", err)
	}
	var in struct {
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(info), "INFO ")), &in); err != nil {
		t.Fatalf("INFO %q: %v", info, err)
	}
	if tc != nil {
		tconn := tls.Client(raw, tc)
		if err := tconn.Handshake(); err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		conn, r = tconn, bufio.NewReader(tconn)
	}
	if sig == nil {
		kp, err := nkeys.FromSeed(slices.Clone(id.Seed))
		if err != nil {
			t.Fatal(err)
		}
		if sig, err = kp.Sign([]byte(in.Nonce)); err != nil {
			t.Fatal(err)
		}
	}
	connect, _ := json.Marshal(map[string]any{"verbose": false, "pedantic": false, "protocol": 1, "nkey": id.Public,
		"sig": base64.RawURLEncoding.EncodeToString(sig)})
	data, err := Encode(reloadEvent("plain-1"))
	if err != nil {
		t.Fatal(err)
	}
	msg := fmt.Sprintf("CONNECT %s\r\nPUB %s %d\r\n%s\r\nPING\r\n", connect, EventSubject(testCluster, KindReload), len(data), data)
	// The server may close before all of it is written; what it answered is what counts.
	_, _ = conn.Write([]byte(msg))
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil || strings.HasPrefix(line, "PONG") {
			return info, b.String(), sig
		}
	}
}

// TestEmbeddedTLS walks into an embedded server that serves TLS as each kind of client:
// only a TLS client that trusts the server's CA and holds an admitted nkey gets in, and only
// its event reaches the stream.
func TestEmbeddedTLS(t *testing.T) {
	srv := newTLSFiles(t, "nats", "127.0.0.1")
	other := newTLSFiles(t, "intruder", "127.0.0.1")
	e := startTLSNATS(t, srv)
	url := e.ClientURL()
	if !strings.HasPrefix(url, "tls://127.0.0.1:") {
		t.Fatalf("ClientURL = %q, want tls://127.0.0.1:…", url)
	}
	addr := strings.TrimPrefix(url, "tls://")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	node, err := Connect(ctx, ClientConfig{URL: url, Identity: &testIDs.Node, InboxPrefix: NodeInboxPrefix, CAFile: srv.ca, Logger: testLogger()})
	if err != nil {
		t.Fatalf("node over TLS: %v", err)
	}
	t.Cleanup(node.Close)
	if st, err := node.TLSConnectionState(); err != nil {
		t.Fatalf("node connection is not TLS: %v", err)
	} else if st.Version != tls.VersionTLS13 {
		t.Errorf("node connection negotiated %s, want TLS 1.3", tls.VersionName(st.Version))
	}
	stream, err := EnsureStream(ctx, newJS(t, node), testCluster, 1)
	if err != nil {
		t.Fatal(err)
	}
	stored := func() uint64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		si, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return si.State.Msgs
	}

	refused := []struct {
		name string
		cfg  ClientConfig
		want string
	}{
		{"TLS without the CA", ClientConfig{URL: url, Identity: &testIDs.Operator}, "certificate signed by unknown authority"},
		{"TLS trusting another CA", ClientConfig{URL: url, Identity: &testIDs.Operator, CAFile: other.ca}, "certificate signed by unknown authority"},
		{"a certificate from elsewhere and no seed", ClientConfig{URL: url, CAFile: srv.ca, CertFile: other.cert, KeyFile: other.key}, "refused this client's credentials"},
		{"the right CA and an unknown seed", ClientConfig{URL: url, CAFile: srv.ca, Identity: func() *Identity {
			id, err := NewIdentity(RoleOperator)
			if err != nil {
				t.Fatal(err)
			}
			return &id
		}()}, "refused this client's credentials"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = testLogger()
			nc, err := Connect(ctx, tt.cfg)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Connect: %v, want %q", err, tt.want)
			}
		})
	}

	t.Run("the plain probe is served by a plain server", func(t *testing.T) {
		// The control: the same clear-text client gets a PONG from a server without TLS, so
		// the probe below fails if TLS stops being required.
		plain := startNATS(t, t.TempDir(), 0)
		_, answer := plainConnect(t, strings.TrimPrefix(plain.ClientURL(), "nats://"), testIDs.Operator)
		if !strings.Contains(answer, "PONG") {
			t.Fatalf("a plain server did not answer the probe: %q", answer)
		}
	})
	t.Run("plain client with a good seed", func(t *testing.T) {
		info, answer := plainConnect(t, addr, testIDs.Operator)
		t.Logf("server answered a plain client: %q", answer)
		if !strings.Contains(info, `"tls_required":true`) {
			t.Errorf("INFO does not require TLS: %s", info)
		}
		if strings.Contains(answer, "PONG") || strings.Contains(answer, "+OK") {
			t.Errorf("a plain client was served: %q", answer)
		}
	})
	if n := stored(); n != 0 {
		t.Fatalf("refused clients stored %d events", n)
	}

	t.Run("TLS with the CA and the operator seed injects", func(t *testing.T) {
		op, err := Connect(ctx, ClientConfig{URL: url, Identity: &testIDs.Operator, CAFile: srv.ca, Logger: testLogger()})
		if err != nil {
			t.Fatalf("operator over TLS: %v", err)
		}
		defer op.Close()
		inject(t, op, reloadEvent("tls-1"))
		if n := stored(); n != 1 {
			t.Fatalf("stream holds %d events, want 1", n)
		}
	})

	t.Run("a replayed CONNECT signature over TLS", func(t *testing.T) {
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(srv.ca)
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("CA: %v", err)
		}
		tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
		// The control: the operator's own signature of this connection's nonce is served.
		_, answer, sig := rawConnect(t, addr, tc, testIDs.Operator, nil)
		if !strings.Contains(answer, "PONG") {
			t.Fatalf("the operator's signed CONNECT over TLS was not served: %q", answer)
		}
		// TLS 1.1 is refused at the handshake.
		old, err := net.DialTimeout("tcp", addr, waitTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()
		if err := old.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
			t.Fatal(err)
		}
		if _, err := bufio.NewReader(old).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		if err := tls.Client(old, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS11}).Handshake(); err == nil {
			t.Error("a TLS 1.1 handshake succeeded")
		}
		// The same signature on a new connection (another nonce) is refused.
		_, answer, _ = rawConnect(t, addr, tc, testIDs.Operator, sig)
		if strings.Contains(answer, "PONG") || !strings.Contains(strings.ToLower(answer), "authorization violation") {
			t.Errorf("a replayed signature: %q", answer)
		}
	})
	if n := stored(); n != 2 {
		// The control's PUB of plain-1 is stored; the replay's is not.
		t.Fatalf("stream holds %d events, want 2", n)
	}

	// Authorize reloads the server's options: TLS must stay required after it.
	if err := e.Authorize(testIDs.Keys()); err != nil {
		t.Fatal(err)
	}
	t.Run("plain client after a reload of the keys", func(t *testing.T) {
		_, answer := plainConnect(t, addr, testIDs.Operator)
		if strings.Contains(answer, "PONG") {
			t.Errorf("a plain client was served after Authorize: %q", answer)
		}
		op, err := Connect(ctx, ClientConfig{URL: url, Identity: &testIDs.Operator, CAFile: srv.ca, Logger: testLogger()})
		if err != nil {
			t.Fatalf("operator over TLS after Authorize: %v", err)
		}
		op.Close()
	})
	if n := stored(); n != 2 {
		t.Fatalf("stream holds %d events, want the two sent over TLS", n)
	}
}

// A bus whose server listens on every address reaches it on loopback, where its certificate
// is valid; other addresses are left as they are.
func TestReachableURL(t *testing.T) {
	for in, want := range map[string]string{
		"tls://0.0.0.0:4222":     "tls://127.0.0.1:4222",
		"nats://[::]:4222":       "nats://[::1]:4222",
		"tls://10.0.0.5:4222":    "tls://10.0.0.5:4222",
		"nats://127.0.0.1:4222":  "nats://127.0.0.1:4222",
		"tls://nats.example:422": "tls://nats.example:422",
	} {
		if got := reachableURL(in); got != want {
			t.Errorf("reachableURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRunEmbeddedTLSErrors(t *testing.T) {
	f := newTLSFiles(t, "nats", "127.0.0.1")
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name, cert, key, want string
	}{
		{"cert without key", f.cert, "", "a certificate file without a key file: set both or neither"},
		{"key without cert", "", f.key, "a key file without a certificate file: set both or neither"},
		{"missing cert file", missing, f.key, "open " + missing + ": no such file or directory"},
		{"missing key file", f.cert, missing, "open " + missing + ": no such file or directory"},
		{"not a certificate", garbage, f.key, "TLS: " + garbage + " and " + f.key + ": error parsing X509 certificate/key pair"},
		{"key of another certificate", f.cert, newTLSFiles(t, "other", "127.0.0.1").key, "private key does not match public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := RunEmbedded(EmbeddedConfig{DataDir: t.TempDir(), Logger: testLogger(), Cluster: testCluster, Keys: testIDs.Keys(),
				TLSCertFile: tt.cert, TLSKeyFile: tt.key})
			if err == nil {
				e.Shutdown()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("RunEmbedded: %v, want %q", err, tt.want)
			}
		})
	}
}

// A bus whose client config names a certificate and key runs its embedded server on TLS and
// reaches it over TLS, verifying it with the CA.
func TestOpenBusEmbeddedTLS(t *testing.T) {
	f := newTLSFiles(t, "nats", "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	b, err := OpenBus(ctx, BusConfig{Cluster: testCluster, EmbeddedDir: t.TempDir(), Logger: testLogger(),
		Client: ClientConfig{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key}})
	if err != nil {
		t.Fatalf("OpenBus: %v", err)
	}
	t.Cleanup(b.Close)
	if !strings.HasPrefix(b.ClientURL(), "tls://") {
		t.Errorf("ClientURL = %q", b.ClientURL())
	}
	if _, err := b.Conn().TLSConnectionState(); err != nil {
		t.Errorf("the bus's own connection is not TLS: %v", err)
	}

	// Listening on every address, the node still reaches its server (on loopback) over TLS.
	wide, err := OpenBus(ctx, BusConfig{Cluster: testCluster, EmbeddedDir: t.TempDir(), EmbeddedHost: "0.0.0.0", Logger: testLogger(),
		Client: ClientConfig{CAFile: f.ca, CertFile: f.cert, KeyFile: f.key}})
	if err != nil {
		t.Fatalf("OpenBus on 0.0.0.0: %v", err)
	}
	t.Cleanup(wide.Close)
	if a, ok := wide.embedded.Server().Addr().(*net.TCPAddr); !ok || !a.IP.IsUnspecified() {
		t.Errorf("server listens on %v, want every address", wide.embedded.Server().Addr())
	}
	if !strings.HasPrefix(wide.ClientURL(), "tls://127.0.0.1:") || !wide.Conn().IsConnected() {
		t.Errorf("ClientURL %q, connected %v", wide.ClientURL(), wide.Conn().IsConnected())
	}

	// Without the CA the node cannot verify its own server and says so at start.
	_, err = OpenBus(ctx, BusConfig{Cluster: testCluster, EmbeddedDir: t.TempDir(), Logger: testLogger(),
		Client: ClientConfig{CertFile: f.cert, KeyFile: f.key}})
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("OpenBus without the CA: %v", err)
	}
}

// BenchmarkInjectTLS: an operator's Inject (publish and wait for JetStream's ack) to an
// embedded server in clear and over TLS, in the same run: what TLS costs per event.
func BenchmarkInjectTLS(b *testing.B) {
	f := newTLSFiles(b, "nats", "127.0.0.1")
	for _, withTLS := range []bool{false, true} {
		b.Run(fmt.Sprintf("tls=%v", withTLS), func(b *testing.B) {
			cfg := EmbeddedConfig{DataDir: b.TempDir(), Logger: testLogger(), Cluster: testCluster, Keys: testIDs.Keys()}
			ca := ""
			if withTLS {
				cfg.TLSCertFile, cfg.TLSKeyFile, ca = f.cert, f.key, f.ca
			}
			e, err := RunEmbedded(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(e.Shutdown)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			node, err := Connect(ctx, ClientConfig{URL: e.ClientURL(), Identity: &testIDs.Node, InboxPrefix: NodeInboxPrefix, CAFile: ca})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(node.Close)
			if _, err := EnsureStream(ctx, newJS(b, node), testCluster, 1); err != nil {
				b.Fatal(err)
			}
			op, err := Connect(ctx, ClientConfig{URL: e.ClientURL(), Identity: &testIDs.Operator, CAFile: ca})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(op.Close)
			b.ResetTimer()
			for i := range b.N {
				if err := Inject(ctx, op, testCluster, reloadEvent(fmt.Sprintf("bench-%d", i)), WithToken(testToken)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
