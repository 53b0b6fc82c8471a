package events

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BusConfig says how a node reaches NATS: an external server, or an embedded one it runs.
type BusConfig struct {
	// Cluster names the cluster in subjects (baton.<cluster>.…); the publisher checks it.
	Cluster string
	// URL is an external server; empty runs an embedded server (RunEmbedded) on EmbeddedDir.
	URL string
	// EmbeddedDir is the embedded server's data directory (its JetStream store).
	EmbeddedDir string
	// EmbeddedPort is the embedded server's client port (0: any free port).
	EmbeddedPort int
	// EmbeddedHost is the address the embedded server listens on ("": 127.0.0.1). When it is
	// every address (0.0.0.0 or ::), the node reaches its server on loopback.
	EmbeddedHost string
	// Client carries the connection's name, credentials, nkey and TLS options; its URL is
	// ignored (URL or the embedded server's URL is used) and its Logger replaced. With the
	// embedded server, CertFile and KeyFile are the server's certificate (TLS only, see
	// EmbeddedConfig) and CAFile is what the node verifies it with; the node presents no
	// client certificate to its own server.
	Client ClientConfig
	// Logger is the node's logger; the server, client and publisher log through named children.
	Logger hclog.Logger
}

// Bus is a node's NATS side: the embedded server when it runs one, the client connection, its
// JetStream context and the transition publisher. The node only opens and closes it.
type Bus struct {
	url       string
	embedded  *Embedded
	keysFile  string
	local     Identity
	authMu    sync.Mutex // serialises Authorize (its file and the reload)
	nc        *nats.Conn
	js        jetstream.JetStream
	publisher *Publisher
}

// OpenBus starts the embedded server when cfg.URL is empty, connects to the server, and
// starts the transition publisher. ctx bounds the first connection attempt. On failure it
// closes whatever it opened; the error is RunEmbedded's, Connect's, or names the step.
func OpenBus(ctx context.Context, cfg BusConfig) (*Bus, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	b := &Bus{url: cfg.URL}
	if b.url == "" {
		// The node reaches its own server with a key made for this process and never written
		// anywhere: it holds no other before it is unsealed. The cluster's keys (node,
		// operator, watcher) come from the file Authorize keeps, so a node that starts sealed
		// admits them at once.
		local, err := NewIdentity(RoleNode)
		if err != nil {
			return nil, err
		}
		b.local = local
		b.keysFile = filepath.Join(cfg.EmbeddedDir, AuthorizedKeysFile)
		keys, err := ReadAuthorizedKeys(b.keysFile)
		if err != nil {
			return nil, err
		}
		e, err := RunEmbedded(EmbeddedConfig{DataDir: cfg.EmbeddedDir, Port: cfg.EmbeddedPort, Logger: log.Named("nats"),
			Cluster: cfg.Cluster, Keys: keys.Add(local), TLSCertFile: cfg.Client.CertFile, TLSKeyFile: cfg.Client.KeyFile,
			Host: cfg.EmbeddedHost})
		if err != nil {
			return nil, err
		}
		b.embedded = e
		b.url = reachableURL(e.ClientURL())
	}
	if err := b.open(ctx, cfg, log); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bus) open(ctx context.Context, cfg BusConfig, log hclog.Logger) error {
	cc := cfg.Client
	cc.URL = b.url
	cc.Logger = log.Named("nats-client")
	cc.InboxPrefix = NodeInboxPrefix
	if b.embedded != nil {
		cc.CredsFile, cc.NKeySeedFile, cc.User, cc.Password, cc.Identity = "", "", "", "", &b.local
		cc.CertFile, cc.KeyFile = "", ""
	}
	nc, err := Connect(ctx, cc)
	if err != nil {
		return err
	}
	b.nc = nc
	if b.js, err = jetstream.New(nc); err != nil {
		return fmt.Errorf("events: bus: JetStream: %w", err)
	}
	if b.publisher, err = NewPublisher(nc, cfg.Cluster, 0, log.Named("publisher")); err != nil {
		return fmt.Errorf("events: bus: transition publisher: %w", err)
	}
	return nil
}

// reachableURL turns a server URL on every address (tls://0.0.0.0:4222) into one a client
// can dial and verify a certificate for: the same port on loopback.
func reachableURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	ip := net.ParseIP(u.Hostname())
	switch {
	case ip == nil || !ip.IsUnspecified():
		return s
	case ip.To4() != nil:
		u.Host = net.JoinHostPort("127.0.0.1", u.Port())
	default:
		u.Host = net.JoinHostPort("::1", u.Port())
	}
	return u.String()
}

// Embedded reports whether the bus runs its own server.
func (b *Bus) Embedded() bool { return b.embedded != nil }

// Authorize makes the embedded server admit keys (besides the bus's own) and keeps them in its
// data directory for the next start. It does nothing for an external server, whose users its
// administrator manages.
func (b *Bus) Authorize(keys AuthorizedKeys) error {
	if b.embedded == nil {
		return nil
	}
	b.authMu.Lock()
	defer b.authMu.Unlock()
	if err := WriteAuthorizedKeys(b.keysFile, keys); err != nil {
		return err
	}
	return b.embedded.Authorize(keys.Add(b.local))
}

// ClientURL is the URL of the server the bus uses: the embedded server's or the external one.
func (b *Bus) ClientURL() string { return b.url }

// Conn is the client connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the connection's JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Publisher publishes the node's transitions.
func (b *Bus) Publisher() *Publisher { return b.publisher }

// Close flushes and stops the publisher, closes the connection and shuts the embedded server
// down, in that order (what is queued is published before the connection goes). An external
// server keeps running.
func (b *Bus) Close() {
	if b.publisher != nil {
		b.publisher.Close()
	}
	if b.nc != nil {
		b.nc.Close()
	}
	if b.embedded != nil {
		b.embedded.Shutdown()
	}
}
