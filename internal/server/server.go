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
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/api"
	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/internal/core"
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
	// RetryJoin lists leader API addresses to join through once unsealed.
	RetryJoin []string
	// Limits are the API listener's HTTP limits; nil means DefaultLimits (dev mode).
	Limits *Limits
	// ServeLater binds the listener in New but serves nothing until Serve: a client that
	// connects in between waits in the listen backlog. The dev node sets itself up first
	// (through API.Handler, in process), so nobody sees it before it is ready.
	ServeLater bool
}

// Server is a running node.
type Server struct {
	Node    *core.Node
	Runtime *runtime.Runtime
	Engine  *database.Engine
	Pool    *plugins.Pool
	API     *api.Server
	// Policies is the ACL policy store (the authoriser will compile tokens' policies from it).
	Policies *auth.PolicyStore
	// Tokens is the token store; RootGenerator serves sys/generate-root.
	Tokens        *auth.TokenStore
	RootGenerator *auth.RootGenerator
	stopTokens    context.CancelFunc
	// Membership joins this node to a cluster and adds and removes peers; its Unseal is the
	// one every entry point calls (the API, cmd/node's auto-unseal).
	Membership *core.Membership

	log  hclog.Logger
	ln   net.Listener
	http *http.Server
	done chan struct{}
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
	tcp, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("server: listen on %s: %w", cfg.Listen, err)
	}
	ln := newCapListener(tcp, lim.MaxConnections, log.Named("listener"))
	if cfg.Core.APIAddr == "" {
		cfg.Core.APIAddr = "http://" + ln.Addr().String()
	}
	s := &Server{log: log, ln: ln, done: make(chan struct{})}
	fail := func(err error) (*Server, error) {
		ln.Close()
		if s.Node != nil {
			_ = s.Node.Shutdown(context.Background())
		}
		return nil, err
	}
	node, err := core.New(cfg.Core)
	if err != nil {
		return fail(err)
	}
	s.Node = node
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
	})
	if err != nil {
		_ = rt.Close(context.Background())
		return fail(err)
	}
	s.Runtime = rt
	s.Engine = eng
	node.SetRuntime(rt)
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
	s.API = api.New(api.Config{
		Node: apiNode{node, s.Membership}, Secrets: eng, Policies: s.Policies, Tokens: s.Tokens,
		RootGenerator: s.RootGenerator, SealKeys: apiNode{node, s.Membership}, Logger: log.Named("api"), Version: Version,
		MaxRequestSize: lim.MaxRequestSize, MaxRequestDuration: lim.MaxRequestDuration,
	})
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
}

// apiNode is the node as the API sees it: the core node, with its membership's actions
// (Join, AddPeer, RemovePeer, Peers) and its Unseal, which joins a node that has no
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
