// Package postgresql is Baton's bundled PostgreSQL database plugin: it creates, changes and
// drops the PostgreSQL roles behind dynamic credentials, and changes the root user's own
// password, behaving as OpenBao's postgresql-database-plugin does for the version 5
// interface (same configuration keys, default statements, template names and expiration
// format), on a pgx connection pool.
//
// New is the plugin's dbplugin.Factory (the database wrapped in the error sanitizer); Run
// serves it, multiplexed, from a plugin main.
package postgresql

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baton-hq/baton/plugins/dbplugin"
)

// Version is the plugin's own version, reported through the version service.
const Version = "v0.1.0"

// TypeName is what Type reports.
const TypeName = "postgresql"

// Placeholders that replace secrets in error text.
const (
	passwordPlaceholder      = "[password]"
	connectionURLPlaceholder = "[connection_url]"
)

// ErrNotInitialized is returned by calls made before a successful Initialize or after Close.
var ErrNotInitialized = errors.New("postgresql: database not initialized")

// PostgreSQL is one configured connection to a PostgreSQL server. Calls may run
// concurrently, up to the pool's size at once; a change of the root password swaps the pool
// once the calls in flight have finished.
type PostgreSQL struct {
	// mu is held for reading for the whole of each call that uses the pool, and for writing
	// to replace the pool (Initialize, root rotation, Close), so that no call ever holds a
	// pool that is being closed.
	mu        sync.RWMutex
	cfg       config
	rootUser  string
	pool      *pgxpool.Pool
	usernames usernameTemplate

	// secrets holds every credential this instance has been given, old ones included, mapped
	// to its placeholder. It only grows, so a failed Initialize's password is masked too.
	secretsMu sync.Mutex
	secrets   map[string]string
}

var (
	_ dbplugin.Database        = (*PostgreSQL)(nil)
	_ dbplugin.PluginVersioner = (*PostgreSQL)(nil)
	_ dbplugin.Factory         = New
)

// New makes an unconfigured database wrapped in the error sanitizer middleware, which keeps
// the root password and the connection URL with credentials out of every error. It is the
// plugin's dbplugin.Factory.
func New() (interface{}, error) {
	db := NewDatabase()
	return dbplugin.NewDatabaseErrorSanitizerMiddleware(db, db.secretValues), nil
}

// NewDatabase makes an unconfigured database without the sanitizer, for callers that wrap it
// themselves or call it in-process.
func NewDatabase() *PostgreSQL {
	return &PostgreSQL{secrets: map[string]string{}}
}

// Run serves the plugin, multiplexed (one database per connection of the host), and never
// returns: it is all a plugin main does.
func Run() {
	dbplugin.ServeMultiplex(New)
}

// Initialize parses the configuration and builds the connection pool. The pool connects
// lazily; with VerifyConnection it connects now and fails if it cannot. The configuration is
// returned unchanged for the host to store. A failed Initialize leaves a previous
// configuration in place.
func (p *PostgreSQL) Initialize(ctx context.Context, req dbplugin.InitializeRequest) (dbplugin.InitializeResponse, error) {
	cfg, err := parseConfig(req.Config)
	if err != nil {
		return dbplugin.InitializeResponse{}, err
	}
	p.rememberPassword(cfg.password)
	usernames, err := newUsernameTemplate(cfg.usernameTemplate)
	if err != nil {
		return dbplugin.InitializeResponse{}, err
	}
	pool, rootUser, err := p.newPool(ctx, cfg)
	if err != nil {
		return dbplugin.InitializeResponse{}, err
	}
	if req.VerifyConnection {
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return dbplugin.InitializeResponse{}, fmt.Errorf("%w: %w", errVerify, err)
		}
	}

	p.mu.Lock()
	old := p.pool
	p.cfg, p.rootUser, p.pool, p.usernames = cfg, rootUser, pool, usernames
	p.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return dbplugin.InitializeResponse{Config: req.Config}, nil
}

// errVerify prefixes a failed verification; the cause (the driver's error) names the user
// and host, never the password.
var errVerify = errors.New("postgresql: cannot connect with the given configuration (verify_connection)")

// newPool builds a pool for cfg, recording the rendered URL and the password actually sent
// as secrets first, and reports the root user's name.
func (p *PostgreSQL) newPool(ctx context.Context, cfg config) (*pgxpool.Pool, string, error) {
	pc, rendered, err := cfg.poolConfig()
	p.rememberSecret(rendered, connectionURLPlaceholder)
	if err != nil {
		return nil, "", err
	}
	p.rememberPassword(pc.ConnConfig.Password)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, "", err
	}
	rootUser := cfg.username
	if rootUser == "" {
		rootUser = pc.ConnConfig.User
	}
	return pool, rootUser, nil
}

// Type reports "postgresql".
func (p *PostgreSQL) Type() (string, error) { return TypeName, nil }

// PluginVersion reports Version.
func (p *PostgreSQL) PluginVersion() dbplugin.PluginVersion {
	return dbplugin.PluginVersion{Version: Version}
}

// Close closes the pool, waiting for calls in flight. Later calls fail with
// ErrNotInitialized until the next Initialize.
func (p *PostgreSQL) Close() error {
	p.mu.Lock()
	pool := p.pool
	p.pool = nil
	p.mu.Unlock()
	if pool != nil {
		pool.Close()
	}
	return nil
}

// rememberPassword records a password, and the escaped forms it may take inside a
// connection URL, as secrets.
func (p *PostgreSQL) rememberPassword(pw string) {
	p.rememberSecret(pw, passwordPlaceholder)
	p.rememberSecret(escapePassword(pw), passwordPlaceholder)
	p.rememberSecret(url.PathEscape(pw), passwordPlaceholder)
	p.rememberSecret(url.QueryEscape(pw), passwordPlaceholder)
}

func (p *PostgreSQL) rememberSecret(secret, placeholder string) {
	if secret == "" {
		return
	}
	p.secretsMu.Lock()
	defer p.secretsMu.Unlock()
	p.secrets[secret] = placeholder
}

// secretValues is the sanitizer's view of the secrets: a copy, as the sanitizer may run while
// a rotation adds to them.
func (p *PostgreSQL) secretValues() map[string]string {
	p.secretsMu.Lock()
	defer p.secretsMu.Unlock()
	out := make(map[string]string, len(p.secrets))
	for k, v := range p.secrets {
		out[k] = v
	}
	return out
}
