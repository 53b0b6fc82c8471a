package events

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baton-hq/baton/test/testutil"
)

func TestRunEmbedded(t *testing.T) {
	dir := t.TempDir()
	e := startNATS(t, dir, 0)
	if !strings.HasPrefix(e.ClientURL(), "nats://127.0.0.1:") || e.Port() == 0 {
		t.Fatalf("ClientURL = %q, port %d", e.ClientURL(), e.Port())
	}
	if !e.Server().JetStreamEnabled() {
		t.Fatal("JetStream off")
	}
	// Another process reaches it over TCP, not only in process, with a key it admits.
	nc, err := nats.Connect(e.ClientURL(), nats.Nkey(testIDs.Operator.Public, signer(testIDs.Operator)))
	if err != nil {
		t.Fatalf("TCP connect: %v", err)
	}
	nc.Close()
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Errorf("store dir: %v", err)
	}
}

func TestRunEmbeddedErrors(t *testing.T) {
	if _, err := RunEmbedded(EmbeddedConfig{}); err == nil {
		t.Error("empty data dir accepted")
	}
	if _, err := RunEmbedded(EmbeddedConfig{DataDir: t.TempDir(), Cluster: testCluster}); err == nil || !strings.Contains(err.Error(), "no authorized nkeys") {
		t.Errorf("a server with no keys: %v", err)
	}
	if _, err := RunEmbedded(EmbeddedConfig{DataDir: t.TempDir(), Cluster: testCluster, Keys: AuthorizedKeys{Operator: []string{"not-a-key"}}}); err == nil || !strings.Contains(err.Error(), "is not an nkey user public key") {
		t.Errorf("a server with a bad key: %v", err)
	}
	// A port in use: nats-server reports it through Fatalf, which must not exit the process.
	first := startNATS(t, t.TempDir(), 0)
	_, err := RunEmbedded(EmbeddedConfig{DataDir: t.TempDir(), Port: first.Port(), ReadyTimeout: 500 * time.Millisecond, Logger: testLogger(), Cluster: testCluster, Keys: testIDs.Keys()})
	if err == nil || !strings.Contains(err.Error(), "not ready") {
		t.Errorf("second server on a used port: %v", err)
	}
}

func TestConnect(t *testing.T) {
	e := startNATS(t, t.TempDir(), 0)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	nc, err := Connect(ctx, ClientConfig{URL: e.ClientURL(), Name: "baton-node-1", Identity: &testIDs.Node})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if nc.Opts.Name != "baton-node-1" || nc.Opts.MaxReconnect != -1 || nc.Opts.ReconnectWait != time.Second {
		t.Errorf("options: name %q, max reconnects %d, wait %s", nc.Opts.Name, nc.Opts.MaxReconnect, nc.Opts.ReconnectWait)
	}
}

func TestConnectErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  ClientConfig
		want string
	}{
		{"no url", ClientConfig{}, "empty NATS URL"},
		{"missing seed file", ClientConfig{URL: "nats://127.0.0.1:1", NKeySeedFile: filepath.Join(dir, "none.nk")}, "nkey seed"},
		{"creds and nkey", ClientConfig{URL: "nats://127.0.0.1:1", CredsFile: "a", NKeySeedFile: "b"}, "not several"},
		{"cert without key", ClientConfig{URL: "nats://127.0.0.1:1", CertFile: "c.pem"}, "both a cert file and a key file"},
		{"nothing listening", ClientConfig{URL: "nats://127.0.0.1:1"}, "connect to NATS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Connect(ctx, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Connect: %v, want %q", err, tt.want)
			}
		})
	}

	cancelled, stop := context.WithCancel(context.Background())
	stop()
	if _, err := Connect(cancelled, ClientConfig{URL: "nats://127.0.0.1:1"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

// With RetryOnFailedConnect a node may start before NATS: it connects once the server is up.
func TestConnectRetryOnFailedConnect(t *testing.T) {
	dir := t.TempDir()
	probe := startNATS(t, t.TempDir(), 0)
	port := probe.Port()
	probe.Shutdown()

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	nc, err := Connect(ctx, ClientConfig{URL: probe.ClientURL(), RetryOnFailedConnect: true, ReconnectWait: 20 * time.Millisecond, Identity: &testIDs.Node})
	if err != nil {
		t.Fatalf("Connect before the server: %v", err)
	}
	t.Cleanup(nc.Close)
	if nc.IsConnected() {
		t.Fatal("connected with no server")
	}
	startNATS(t, dir, port)
	testutil.Eventually(t, waitTimeout, "late connection", nc.IsConnected)
}
