package events

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures an in-process NATS server with JetStream, for dev mode, a
// single-node deployment and tests.
type EmbeddedConfig struct {
	// DataDir holds the JetStream store (in DataDir/jetstream). Required: events must survive a
	// restart of the server.
	DataDir string
	// Name is the server name; it defaults to "baton".
	Name string
	// Host to listen on; it defaults to 127.0.0.1.
	Host string
	// Port to listen on; 0 picks a free port. The server always listens on TCP, because tools
	// and other processes inject events through it.
	Port int
	// ReadyTimeout bounds the wait for the server to accept clients; it defaults to 10 s.
	ReadyTimeout time.Duration
	// Logger receives the server's log; nil discards it.
	Logger hclog.Logger
	// Cluster names the cluster whose subjects the permissions cover. Required.
	Cluster string
	// Keys are the nkey users the server admits, with their role's permissions (see
	// Permissions). Required: the server admits no anonymous client, so at least one key.
	Keys AuthorizedKeys
	// TLSCertFile (the server's certificate, optionally followed by its issuers) and
	// TLSKeyFile turn TLS on: the server then admits TLS clients only (TLS 1.2 or newer) and
	// refuses a plain one at connect, whatever its key. Both or neither.
	TLSCertFile, TLSKeyFile string
}

// tlsTimeout bounds a client's TLS handshake, in seconds (nats-server's default is 2 s; a
// loaded host may need more, and the nkey still has to be proven after it).
const tlsTimeout = 5

// shutdownTimeout bounds Embedded.Shutdown.
const shutdownTimeout = 10 * time.Second

// Embedded is a running in-process NATS server.
type Embedded struct {
	srv *server.Server
	log hclog.Logger
	cfg EmbeddedConfig
	tls *tls.Config // nil without TLS; kept so that Authorize's reload leaves TLS as it is
	mu  sync.Mutex  // serialises Authorize
}

// RunEmbedded starts a NATS server with JetStream in this process and waits until it accepts
// clients. It never installs signal handlers (NoSigs): the node owns the process's signals.
func RunEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("events: embedded NATS: empty data dir")
	}
	if err := ValidateCluster(cfg.Cluster); err != nil {
		return nil, fmt.Errorf("events: embedded NATS: %w", err)
	}
	if err := checkKeys(cfg.Keys); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "baton"
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	tc, err := serverTLS(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "jetstream"), 0o700); err != nil {
		return nil, fmt.Errorf("events: embedded NATS: %w", err)
	}
	srv, err := server.NewServer(serverOptions(cfg, cfg.Port, tc))
	if err != nil {
		return nil, fmt.Errorf("events: embedded NATS: %w", err)
	}
	log := cfg.Logger.Named("nats")
	srv.SetLoggerV2(natsLogger{log}, log.IsDebug(), log.IsTrace(), false)
	srv.Start()
	if !srv.ReadyForConnections(cfg.ReadyTimeout) {
		// Start logs why (for example a port in use) through the logger.
		shutdown(srv, log)
		return nil, fmt.Errorf("events: embedded NATS on %s:%d not ready within %s", cfg.Host, cfg.Port, cfg.ReadyTimeout)
	}
	// Keep the port chosen, so that a reload does not ask for another free one.
	e := &Embedded{srv: srv, log: log, cfg: cfg, tls: tc}
	e.cfg.Port = e.Port()
	return e, nil
}

func checkKeys(k AuthorizedKeys) error {
	if k.Empty() {
		return errors.New("events: embedded NATS: no authorized nkeys: the server admits no anonymous client")
	}
	if err := k.Validate(); err != nil {
		return fmt.Errorf("events: embedded NATS: %w", err)
	}
	return nil
}

// serverTLS loads the server's certificate into nats-server's TLS configuration (TLS 1.2 or
// newer, its preferred suites); nil when neither file is given. The error names the file and
// what to fix, never the key's content.
func serverTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "":
		return nil, errors.New("events: embedded NATS: TLS: a key file without a certificate file: set both or neither")
	case keyFile == "":
		return nil, errors.New("events: embedded NATS: TLS: a certificate file without a key file: set both or neither")
	}
	for _, f := range []string{certFile, keyFile} {
		// Say which file is missing or unreadable; nats-server's message names neither.
		if _, err := os.ReadFile(f); err != nil {
			return nil, fmt.Errorf("events: embedded NATS: TLS: %w", err)
		}
	}
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: certFile, KeyFile: keyFile, Timeout: tlsTimeout})
	if err != nil {
		return nil, fmt.Errorf("events: embedded NATS: TLS: %s and %s: %w", certFile, keyFile, err)
	}
	return tc, nil
}

// serverOptions builds the server's options; Authorize rebuilds them with new keys.
func serverOptions(cfg EmbeddedConfig, port int, tc *tls.Config) *server.Options {
	if port == 0 {
		// For nats-server 0 means its default port 4222; RANDOM_PORT asks for a free one.
		port = server.RANDOM_PORT
	}
	o := &server.Options{
		ServerName: cfg.Name,
		Host:       cfg.Host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "jetstream"),
		NoSigs:     true,
		// No HTTP monitoring, cluster or leaf ports: only the client port is opened.
		HTTPPort: 0,
		// Every client authenticates with an nkey; nothing is anonymous.
		Nkeys: nkeyUsers(cfg.Cluster, cfg.Keys),
	}
	if tc != nil {
		// TLS is required of every client (the INFO says so and a plain CONNECT is refused);
		// client certificates are not asked for: the nkey authenticates the client.
		o.TLS, o.TLSConfig, o.TLSTimeout = true, tc, tlsTimeout
	}
	return o
}

// Authorize replaces the users the server admits (a live reload: clients whose key is no
// longer listed are disconnected, the others keep their connections).
func (e *Embedded) Authorize(keys AuthorizedKeys) error {
	if err := checkKeys(keys); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg := e.cfg
	cfg.Keys = keys
	if err := e.srv.ReloadOptions(serverOptions(cfg, cfg.Port, e.tls)); err != nil {
		return fmt.Errorf("events: embedded NATS: authorize: %w", err)
	}
	e.cfg = cfg
	return nil
}

// ClientURL is the URL clients connect to, for example nats://127.0.0.1:41234, or
// tls://127.0.0.1:41234 when the server serves TLS.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Port is the TCP port the server listens on; a restart on the same port and data dir keeps
// clients' reconnect URLs and the stored events.
func (e *Embedded) Port() int {
	if a, ok := e.srv.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Server is the underlying server, for what this package does not wrap.
func (e *Embedded) Server() *server.Server { return e.srv }

// Shutdown stops the server, closes client connections and flushes the store. It waits at most
// 10 s for the server's goroutines and logs if they have not ended by then.
func (e *Embedded) Shutdown() { shutdown(e.srv, e.log) }

func shutdown(srv *server.Server, log hclog.Logger) {
	srv.Shutdown()
	done := make(chan struct{})
	go func() {
		srv.WaitForShutdown()
		close(done)
	}()
	t := time.NewTimer(shutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Error("embedded NATS did not finish shutting down", "waited", shutdownTimeout)
	}
}

// natsLogger adapts hclog to nats-server's Logger. Fatalf is logged as an error and does not
// exit: the server returns after it and RunEmbedded reports the failure.
type natsLogger struct{ l hclog.Logger }

func (n natsLogger) Noticef(format string, v ...any) { n.l.Info(fmt.Sprintf(format, v...)) }
func (n natsLogger) Warnf(format string, v ...any)   { n.l.Warn(fmt.Sprintf(format, v...)) }
func (n natsLogger) Fatalf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLogger) Errorf(format string, v ...any)  { n.l.Error(fmt.Sprintf(format, v...)) }
func (n natsLogger) Debugf(format string, v ...any)  { n.l.Debug(fmt.Sprintf(format, v...)) }
func (n natsLogger) Tracef(format string, v ...any)  { n.l.Trace(fmt.Sprintf(format, v...)) }
