// Package server assembles one Baton node from its parts (the Raft-backed core, the plugin
// pool, the plugin runtime, the database engine and the HTTP API) and serves it. cmd/node fills a Config from
// flags or a config file; the in-process cluster tests fill it directly.
//
// It is the only place that knows the concrete types behind the HTTP API's two interfaces:
// the core node with its membership behind api.Node, the database engine behind
// api.Secrets.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/api"
	"github.com/baton-hq/baton/internal/apitls"
	"github.com/baton-hq/baton/internal/audit"
	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/internal/telemetry"
	"github.com/baton-hq/baton/plugins"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/database"
	"github.com/baton-hq/baton/plugins/runtime"
)

// Version is Baton's version, reported to plugins and by the API.
const Version = "v0.1.0"

// Config is one node.
type Config struct {
	Core core.Config
	// Listen is the HTTP listen address ("127.0.0.1:8200"); port 0 picks one, which then
	// also becomes Core.APIAddr when that is empty.
	Listen string
	// PluginDir, StartTimeout, Permissions and PassEnv configure the plugin pool.
	PluginDir    string
	StartTimeout time.Duration
	Permissions  catalog.PermissionPolicy
	PassEnv      []string
	// Rollback period and minimum age, and the lease expiry period.
	RollbackPeriod, RollbackMinAge, LeasePeriod time.Duration
	// RollbackWindow bounds how long an interrupted rotation whose new password is not in
	// force waits before it is rolled back (database.DefaultRollbackWindow).
	RollbackWindow time.Duration
	// TokenPeriod is how often the active node revokes expired tokens
	// (auth.DefaultExpiryPeriod).
	TokenPeriod time.Duration
	// DefaultLeaseTTL and MaxLeaseTTL are the system's lease TTLs (database.DefaultSystemTTL
	// when zero).
	DefaultLeaseTTL, MaxLeaseTTL time.Duration
	// RetryJoin lists leader API addresses to join through once unsealed.
	RetryJoin []string
	// Limits are the API listener's HTTP limits; nil means DefaultLimits (dev mode).
	Limits *Limits
	// Telemetry is the telemetry stanza; nil means telemetry.DefaultConfig() (OpenBao's).
	Telemetry *telemetry.Config
	// UnauthenticatedMetricsAccess lets sys/metrics answer without a token (the listener's
	// telemetry { unauthenticated_metrics_access }).
	UnauthenticatedMetricsAccess bool
	// TLS, when set, serves the API over TLS (api_addr https); nil serves plain HTTP.
	TLS *ListenerTLS
	// ServeLater binds the listener in New but serves nothing until Serve: a client that
	// connects in between waits in the listen backlog. The dev node sets itself up first
	// (through API.Handler, in process), so nobody sees it before it is ready.
	ServeLater bool
	// Audit are the node's audit devices and switches (its config's audit stanzas); every
	// node enables its own and records the requests it serves itself.
	Audit audit.Settings
}

// Server is a running node.
type Server struct {
	Node    *core.Node
	Runtime *runtime.Runtime
	Engine  *database.Engine
	Pool    *plugins.Pool
	API     *api.Server
	// Policies is the ACL policy store (the authoriser compiles tokens' policies from it).
	Policies *auth.PolicyStore
	// Tokens is the token store; RootGenerator serves sys/generate-root.
	Tokens        *auth.TokenStore
	RootGenerator *auth.RootGenerator
	stopTokens    context.CancelFunc
	// Audit holds the node's audit devices; cmd/node re-applies the config's on SIGHUP.
	Audit *audit.Broker
	// Authorizer is the one authoriser, in front of the HTTP API and the NATS event intake.
	Authorizer *auth.Authorizer
	// Membership joins this node to a cluster and adds and removes peers; its Unseal is the
	// one every entry point calls (the API, cmd/node's auto-unseal).
	Membership *core.Membership
	// Telemetry holds this node's metrics sinks (sys/metrics) and runs its gauge loop.
	Telemetry *telemetry.Telemetry

	log hclog.Logger
	ln  net.Listener
	// certs holds the listener's certificate (nil without TLS): ReloadTLS swaps it.
	certs *apitls.Reloader
	http  *http.Server
	done  chan struct{}
	// serve starts serving ln once; Close and Halt claim it too, so that a server closed
	// before it served never starts and done is closed either way.
	serve sync.Once
}

// New starts a node: NATS, the plugin pool and the HTTP listener; the node is sealed until
// Init or Unseal.
func New(cfg Config) (*Server, error) {
	if cfg.Core.Logger == nil {
		cfg.Core.Logger = hclog.NewNullLogger()
	}
	log := cfg.Core.Logger
	if cfg.Listen == "" {
		return nil, errors.New("server: listen address is required")
	}
	lim := DefaultLimits()
	if cfg.Limits != nil {
		lim = *cfg.Limits
	}
	if lim.MaxConnections == 0 {
		lim.MaxConnections = DefaultMaxConnections
	}
	if lim.MaxConnections < 0 {
		return nil, fmt.Errorf("server: max connections %d is negative", lim.MaxConnections)
	}
	var (
		certs              *apitls.Reloader
		serverTLS, peerTLS *tls.Config
	)
	if cfg.TLS != nil {
		var err error
		if certs, serverTLS, peerTLS, err = cfg.TLS.configs(); err != nil {
			return nil, err
		}
		cfg.Core.APIClientTLS = peerTLS
	}
	tcp, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("server: listen on %s: %w", cfg.Listen, err)
	}
	// The connection cap counts TCP connections, handshakes included.
	var ln net.Listener = newCapListener(tcp, lim.MaxConnections, log.Named("listener"))
	scheme := "http"
	if serverTLS != nil {
		ln, scheme = tls.NewListener(ln, serverTLS), "https"
	}
	if cfg.Core.APIAddr == "" {
		cfg.Core.APIAddr = scheme + "://" + ln.Addr().String()
	}
	s := &Server{log: log, ln: ln, certs: certs, done: make(chan struct{})}
	fail := func(err error) (*Server, error) {
		ln.Close()
		if s.Node != nil {
			_ = s.Node.Shutdown(context.Background())
		}
		if s.Telemetry != nil {
			s.Telemetry.Close()
		}
		return nil, err
	}
	tcfg := telemetry.DefaultConfig()
	if cfg.Telemetry != nil {
		tcfg = *cfg.Telemetry
	}
	// First, so that what the node emits while it starts (raft's own) is kept.
	if s.Telemetry, err = telemetry.New(tcfg); err != nil {
		return fail(err)
	}
	node, err := core.New(cfg.Core)
	if err != nil {
		return fail(err)
	}
	s.Node = node
	// A device the config points into the plugin directory or the data dir stops the node
	// here, before it serves anything.
	s.Audit = audit.NewBroker(audit.Config{Salts: audit.NewStateSalts(node), Forbidden: []string{cfg.PluginDir, cfg.Core.DataDir}, Logger: log.Named("audit")})
	if err := s.Audit.Apply(cfg.Audit); err != nil {
		return fail(fmt.Errorf("server: audit devices: %w", err))
	}
	var rt *runtime.Runtime
	pool, err := plugins.NewPool(plugins.Config{
		PluginDir: cfg.PluginDir, StartTimeout: cfg.StartTimeout, Permissions: cfg.Permissions,
		PassEnv: cfg.PassEnv, HostVersion: Version, Logger: log,
		Guard: node.VerifyActive,
		Observer: func(ev plugins.InstanceEvent) {
			if rt != nil {
				rt.Observe(ev)
			}
		},
	})
	if err != nil {
		return fail(err)
	}
	s.Pool = pool
	rt, err = runtime.New(runtime.Config{
		Cluster: node, Pool: runtime.FromPool(pool), Logger: log.Named("runtime"),
		RollbackPeriod: cfg.RollbackPeriod, RollbackMinAge: cfg.RollbackMinAge,
	})
	if err != nil {
		_ = pool.Shutdown(context.Background())
		return fail(err)
	}
	eng, err := database.New(database.Config{
		Cluster: node, Runtime: rt, Logger: log.Named("database"),
		RollbackWindow: cfg.RollbackWindow, LeasePeriod: cfg.LeasePeriod,
		DefaultLeaseTTL: cfg.DefaultLeaseTTL, MaxLeaseTTL: cfg.MaxLeaseTTL,
	})
	if err != nil {
		_ = rt.Close(context.Background())
		return fail(err)
	}
	s.Runtime = rt
	s.Engine = eng
	node.SetRuntime(rt)
	s.Telemetry.AddCollector(node.EmitMetrics)
	s.Telemetry.AddCollector(pool.EmitMetrics)
	s.Telemetry.AddCollector(rt.EmitMetrics)
	s.Membership = core.NewMembership(node, cfg.RetryJoin)
	s.Policies = auth.NewPolicyStore(node)
	s.Tokens = auth.NewTokenStore(auth.TokenStoreConfig{
		Cluster: node, Barrier: node.Barrier(), Policies: s.Policies, Leases: eng, Logger: log.Named("tokens"),
		ExpiryPeriod: cfg.TokenPeriod,
	})
	s.RootGenerator = auth.NewRootGenerator(node, s.Tokens)
	// The token store's expiry runs on whichever node is active, until the server closes.
	tctx, tcancel := context.WithCancel(context.Background())
	s.stopTokens = tcancel
	go s.Tokens.Run(tctx, node.IsActive)
	s.Authorizer = auth.NewAuthorizer(s.Tokens, s.Policies)
	node.SetEventAuthorizer(eventAuthorizer{s.Authorizer})
	s.API = api.New(api.Config{
		Node: apiNode{node, s.Membership}, Secrets: eng, Policies: s.Policies, Tokens: s.Tokens,
		RootGenerator: s.RootGenerator, SealKeys: apiNode{node, s.Membership}, Audit: s.Audit, Authorizer: s.Authorizer, Logger: log.Named("api"), Version: Version,
		Forwarder: node.Forwarder(), Storage: node,
		MaxRequestSize: lim.MaxRequestSize, MaxRequestDuration: lim.MaxRequestDuration,
		Metrics: s.Telemetry, UnauthenticatedMetricsAccess: cfg.UnauthenticatedMetricsAccess,
	})
	// Standbys forward to this node over the cluster port; it serves them the same API.
	node.SetForwardHandler(s.API.Handler())
	s.http = &http.Server{
		Handler:           s.API.Handler(),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		ErrorLog:          log.Named("http").StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	if !cfg.ServeLater {
		s.Serve()
	}
	log.Info("listening", "api_addr", cfg.Core.APIAddr, "raft", cfg.Core.RaftBind, "nats", node.NATSURL())
	return s, nil
}

// Serve starts serving the API on the listener (New does it unless Config.ServeLater);
// calling it again, or after Close or Halt, does nothing.
func (s *Server) Serve() {
	s.serve.Do(func() {
		go func() {
			defer close(s.done)
			if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("HTTP server", "error", err)
			}
		}()
	})
}

// neverServe makes a later Serve a no-op and, if the API was never served, closes the
// listener (http.Server.Shutdown only closes the listeners it serves) and done.
func (s *Server) neverServe() {
	s.serve.Do(func() {
		_ = s.ln.Close()
		close(s.done)
	})
}

// Addr is the HTTP listen address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the node's API URL.
func (s *Server) URL() string { return s.Node.Config().APIAddr }

// Close shuts the node down gracefully: plugins stopped, leadership handed over, Raft closed,
// NATS and HTTP closed.
func (s *Server) Close(ctx context.Context) error {
	s.stopTokens()
	s.neverServe()
	s.Membership.Close()
	err := s.Node.Shutdown(ctx)
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = s.http.Shutdown(hctx)
	<-s.done
	if cerr := s.Runtime.Close(ctx); cerr != nil && err == nil {
		err = cerr
	}
	s.Telemetry.Close()
	_ = s.Audit.Close()
	return err
}

// Halt stops the node as a crash would (no leadership hand-over), then closes its listener.
func (s *Server) Halt() {
	s.stopTokens()
	s.neverServe()
	s.Membership.Close()
	s.Node.Halt()
	_ = s.http.Close()
	<-s.done
	_ = s.Runtime.Close(context.Background())
	s.Telemetry.Close()
	_ = s.Audit.Close()
}

// apiNode is the node as the API sees it: the core node, with its membership's actions
// (Join, Challenge, Answer, RemovePeer, Peers) and its Unseal, which joins a node that has no
// cluster yet.
type apiNode struct {
	*core.Node
	*core.Membership
}

// Unseal is the membership's: it joins when the node has no cluster yet.
func (n apiNode) Unseal(ctx context.Context, key string) error {
	return n.Membership.Unseal(ctx, key)
}

// The concrete types behind the API's two interfaces.
var (
	_ api.Node    = apiNode{}
	_ api.Secrets = (*database.Engine)(nil)
	_ api.Tokens  = (*auth.TokenStore)(nil)
)
