package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
)

// ClientConfig says how to reach a NATS server.
type ClientConfig struct {
	// URL is one or more comma-separated server URLs.
	URL string
	// Name is the connection name the server shows (for example "baton-node-1").
	Name string
	// CredsFile is a user credentials file (JWT and nkey seed).
	CredsFile string
	// NKeySeedFile is a file holding an nkey seed, for nkey authentication.
	NKeySeedFile string
	// Identity is an nkey held in memory, used instead of CredsFile or NKeySeedFile.
	Identity *Identity
	// User and Password authenticate by name (an external server's users); never log
	// Password.
	User, Password string
	// InboxPrefix replaces _INBOX as the prefix of reply subjects (see NodeInboxPrefix).
	InboxPrefix string
	// CAFile verifies the server's certificate; CertFile and KeyFile are the client's own
	// certificate for mutual TLS. Setting any of them turns TLS on.
	CAFile, CertFile, KeyFile string
	// ReconnectWait is the pause between reconnect attempts; it defaults to 1 s.
	ReconnectWait time.Duration
	// RetryOnFailedConnect returns a connection at once even when no server answers yet; it
	// connects in the background. Without it, Connect fails if the first attempt fails.
	RetryOnFailedConnect bool
	// Logger receives disconnect, reconnect and asynchronous error reports; nil discards them.
	Logger hclog.Logger
}

// Connect opens a client connection that reconnects for ever: a service must ride out a NATS
// outage, while the client buffers what it publishes meanwhile (8 MiB by default) and flushes
// it on reconnect. ctx bounds the first connection attempt only.
func Connect(ctx context.Context, cfg ClientConfig) (*nats.Conn, error) {
	if cfg.URL == "" {
		return nil, errors.New("events: connect: empty NATS URL")
	}
	opts, err := clientOptions(cfg)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(max(time.Until(dl), time.Millisecond)))
	}
	type result struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(cfg.URL, opts...)
		ch <- result{nc, err}
	}()
	select {
	case r := <-ch:
		if authRefused(r.err) {
			// Say which settings to check; never the secret itself.
			return nil, fmt.Errorf("events: connect to NATS: the server refused this client's credentials (check the user and password, creds file or nkey seed, and that the server admits them): %w", r.err)
		}
		if r.err != nil {
			return nil, fmt.Errorf("events: connect to NATS: %w", r.err)
		}
		return r.nc, nil
	case <-ctx.Done():
		// The attempt ends within its dial timeout; close what it may still produce.
		go func() {
			if r := <-ch; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("events: connect to NATS: %w", ctx.Err())
	}
}

// authRefused reports whether the server refused the client's credentials: nats.go returns
// the server's -ERR text ("nats: authorization violation") rather than ErrAuthorization
// when the first connection fails.
func authRefused(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "authorization violation") || strings.Contains(msg, "authentication")
}

func clientOptions(cfg ClientConfig) ([]nats.Option, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	log = log.Named("nats-client")
	wait := cfg.ReconnectWait
	if wait <= 0 {
		wait = time.Second
	}
	opts := []nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.RetryOnFailedConnect(cfg.RetryOnFailedConnect),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "error", err)
				return
			}
			log.Debug("disconnected from NATS")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			log.Debug("NATS connection closed")
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Error("NATS asynchronous error", "subject", sub.Subject, "error", err)
				return
			}
			log.Error("NATS asynchronous error", "error", err)
		}),
	}
	if cfg.Name != "" {
		opts = append(opts, nats.Name(cfg.Name))
	}
	set := 0
	for _, b := range []bool{cfg.CredsFile != "", cfg.NKeySeedFile != "", cfg.Identity != nil, cfg.User != ""} {
		if b {
			set++
		}
	}
	if set > 1 {
		return nil, errors.New("events: connect: set one of a credentials file, an nkey seed file, an identity or a user and password, not several")
	}
	if cfg.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(cfg.InboxPrefix))
	}
	if id := cfg.Identity; id != nil {
		if _, err := IdentityFromSeed(id.Role, id.Seed); err != nil {
			return nil, fmt.Errorf("events: connect: %w", err)
		}
		opts = append(opts, id.NATSOption())
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeySeedFile)
		if err != nil {
			// The error names the file, never the seed.
			return nil, fmt.Errorf("events: connect: nkey seed: %w", err)
		}
		opts = append(opts, o)
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("events: connect: a client certificate needs both a cert file and a key file")
	}
	if cfg.CAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.CAFile))
	}
	if cfg.CertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.CertFile, cfg.KeyFile))
	}
	return opts, nil
}
