package events

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/baton-hq/baton/test/testutil"
)

func openBus(t *testing.T, cfg BusConfig) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	b, err := OpenBus(ctx, cfg)
	if err != nil {
		t.Fatalf("OpenBus: %v", err)
	}
	return b
}

// checkBusWorks proves the bus's three parts reach the server: JetStream holds the cluster's
// stream, and a transition handed to the publisher arrives on its subject.
func checkBusWorks(t *testing.T, b *Bus, watcher *nats.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := EnsureStream(ctx, b.JetStream(), testCluster, 1); err != nil {
		t.Fatalf("EnsureStream through the bus: %v", err)
	}
	ch := subscribe(t, watcher, TransitionsWildcard(testCluster))
	tr := Transition{Kind: TransitionPlugin, ID: "database/", Event: "started", From: "starting", To: "running", Index: 7}
	b.Publisher().PublishTransition(tr)
	if m := receive(t, ch); m.Subject != TransitionSubject(testCluster, tr.Kind, tr.ID) {
		t.Fatalf("transition on %q", m.Subject)
	}
}

// TestBusEmbedded: with no URL the bus runs its own server (on the given port, with its store in
// the given directory), names its connection, and Close shuts the server down.
func TestBusEmbedded(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nats")
	port := testutil.FreePort(t)
	b := openBus(t, BusConfig{Cluster: testCluster, EmbeddedDir: dir, EmbeddedPort: port, Client: ClientConfig{Name: "baton-n1"}})
	closed := false
	t.Cleanup(func() {
		if !closed {
			b.Close()
		}
	})
	if b.embedded == nil || b.embedded.Port() != port || !strings.HasSuffix(b.ClientURL(), ":"+strconv.Itoa(port)) {
		t.Fatalf("embedded server: %v, ClientURL %q, want port %d", b.embedded, b.ClientURL(), port)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Fatalf("store dir: %v", err)
	}
	if b.Conn().Opts.Name != "baton-n1" || !b.Conn().IsConnected() {
		t.Fatalf("connection: name %q, connected %v", b.Conn().Opts.Name, b.Conn().IsConnected())
	}
	// The server admits only the bus's own key until the cluster's keys are authorised.
	if _, err := nats.Connect(b.ClientURL(), nats.Nkey(testIDs.Watcher.Public, signer(testIDs.Watcher))); err == nil {
		t.Fatal("a watcher key connected before it was authorised")
	}
	if err := b.Authorize(testIDs.Keys()); err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	if keys, err := ReadAuthorizedKeys(filepath.Join(dir, AuthorizedKeysFile)); err != nil || len(keys.Watcher) != 1 || keys.Watcher[0] != testIDs.Watcher.Public {
		t.Fatalf("authorised keys file: %+v, %v", keys, err)
	}
	checkBusWorks(t, b, connectAs(t, b.ClientURL(), testIDs.Watcher))

	b.Close()
	closed = true
	if !b.Conn().IsClosed() {
		t.Fatal("connection open after Close")
	}
	if c, err := net.DialTimeout("tcp", b.ClientURL()[len("nats://"):], time.Second); err == nil {
		c.Close()
		t.Fatal("embedded server still listening after Close")
	}
}

// TestBusExternal: with a URL the bus runs no server, and Close leaves the external server up.
func TestBusExternal(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	b := openBus(t, BusConfig{Cluster: testCluster, URL: srv.ClientURL(), Client: ClientConfig{Identity: &testIDs.Node}})
	if b.embedded != nil || b.ClientURL() != srv.ClientURL() {
		t.Fatalf("external bus: embedded %v, ClientURL %q, want %q", b.embedded, b.ClientURL(), srv.ClientURL())
	}
	watcher := connect(t, srv.ClientURL())
	checkBusWorks(t, b, watcher)
	b.Close()
	if !b.Conn().IsClosed() || !watcher.IsConnected() {
		t.Fatalf("after Close: bus connection closed %v, external server reachable %v", b.Conn().IsClosed(), watcher.IsConnected())
	}
}

// TestOpenBusErrors: every failing step returns an error naming it and leaves nothing running
// (goleak in TestMain catches a leaked server, connection or publisher).
func TestOpenBusErrors(t *testing.T) {
	srv := startNATS(t, t.TempDir(), 0)
	tests := []struct {
		name string
		cfg  BusConfig
		want string
	}{
		{"embedded without a data dir", BusConfig{Cluster: testCluster}, "empty data dir"},
		{"external server not answering", BusConfig{Cluster: testCluster, URL: "nats://127.0.0.1:1"}, "connect to NATS"},
		{"bad client options", BusConfig{Cluster: testCluster, URL: srv.ClientURL(), Client: ClientConfig{CredsFile: "a", NKeySeedFile: "b"}}, "not several"},
		{"bad cluster name, embedded", BusConfig{Cluster: "a.b", EmbeddedDir: t.TempDir()}, "cluster name"},
		{"bad cluster name, external", BusConfig{Cluster: "", URL: srv.ClientURL(), Client: ClientConfig{Identity: &testIDs.Node}}, "transition publisher"},
		{"external server, no credentials", BusConfig{Cluster: testCluster, URL: srv.ClientURL()}, "Authorization Violation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			b, err := OpenBus(ctx, tt.cfg)
			if err == nil || b != nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("OpenBus = %v, %v; want nil and an error mentioning %q", b, err, tt.want)
			}
		})
	}
}
