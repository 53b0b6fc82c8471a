// Package api is Baton's HTTP API: OpenBao's paths, JSON shapes, status codes and token
// header for the endpoints the two share (sys/plugins/catalog, sys/mounts, sys/init, seal and
// unseal, step-down, leader, health, sys/storage/raft, sys/leases, auth/token,
// sys/generate-root and the database engine), plus Baton's own sys/lifecycle, and
// sys/metrics (each node's own, in OpenBao's JSON or Prometheus text). A standby forwards
// what needs the active node to it.
//
// It is plain HTTP: it parses requests, calls one method of one of the interfaces it owns
// (Node: status, init, seal, unseal, step-down, membership, lifecycle; Secrets: the catalog,
// mounts and the database engine; Policies; Tokens: the token store; RootGenerator; Auditor)
// and writes the reply, mapping their sentinel errors to status codes. Every authenticated
// route is decided first by the one authoriser, through the Authorizer interface it also
// owns (authz.go). It takes no domain action itself and may import only the packages of
// those interfaces' types (internal/core, internal/auth, internal/acl, internal/audit,
// plugins/database, plugins/catalog, fsm, and internal/telemetry for the metrics formats and
// sentinels) and the standard library: never raftstore, its command or state packages, the
// barrier or the plugin pool. internal/server wires the concrete types in.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/auth"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/plugins/database"
)

// TokenHeader carries the client token, as in OpenBao.
const TokenHeader = "X-Vault-Token"

// forwardedHeader marks a request a standby forwarded, so it is never forwarded twice.
const forwardedHeader = "X-Baton-Forwarded"

// OpenBao's request limits, which apply when Config leaves them zero.
const (
	// DefaultMaxRequestSize is the largest request body in bytes (OpenBao's 32 MiB).
	DefaultMaxRequestSize = 32 << 20
	// DefaultMaxRequestDuration bounds how long a request runs before its context ends.
	DefaultMaxRequestDuration = 90 * time.Second
)

// Server serves the API of one node.
type Server struct {
	node      Node
	secrets   Secrets
	policies  Policies
	tokens    Tokens
	rootGen   RootGenerator
	audit     Auditor
	authz     Authorizer
	log       hclog.Logger
	version   string
	forwarder Forwarder
	storage   Storage
	keys      SealKeys
	// maxSize is the body limit in bytes, <0 for none; maxDuration bounds a request.
	maxSize     int64
	maxDuration time.Duration
	// metrics renders sys/metrics; unauthMetrics lets it answer without a token.
	metrics       Metrics
	unauthMetrics bool
}

// Config configures a Server.
type Config struct {
	Node    Node
	Secrets Secrets
	// Policies is the ACL policy store; without it the policy endpoints answer 404.
	Policies Policies
	// Tokens is the token store: it resolves every request's token; without it every
	// authenticated request is refused.
	Tokens Tokens
	// RootGenerator serves sys/generate-root; without it that endpoint answers 404.
	RootGenerator RootGenerator
	// Audit is the node's audit broker; without it nothing is audited and sys/audit answers
	// 404.
	Audit Auditor
	// Authorizer decides every authenticated route's request (the one authoriser); nil
	// admits the root token only, checked by the node.
	Authorizer Authorizer
	// SealKeys serves Shamir init and unseal progress, sys/rekey, sys/rotate and
	// sys/key-status; without it sys/init issues a single key and those answer 404.
	SealKeys SealKeys
	Logger   hclog.Logger
	Version  string
	// MaxRequestSize is the largest request body in bytes, as OpenBao's listener key
	// max_request_size: 0 means DefaultMaxRequestSize, a negative value no limit. A larger
	// body is answered 413 before any handler acts on it.
	MaxRequestSize int64
	// Forwarder carries what a standby forwards to the active node; without one a standby
	// forwards nothing (503).
	Forwarder Forwarder
	// MaxRequestDuration bounds a request, as OpenBao's max_request_duration: past it the
	// request's context ends, so that what the handler waits on (a Raft apply, a plugin
	// call, the forwarded request) gives up; 0 means DefaultMaxRequestDuration.
	MaxRequestDuration time.Duration
	// Metrics renders sys/metrics; without it sys/metrics answers 404.
	Metrics Metrics
	// UnauthenticatedMetricsAccess is the listener's telemetry {
	// unauthenticated_metrics_access }: sys/metrics answers without a token.
	UnauthenticatedMetricsAccess bool
	// Storage serves Raft snapshots and the autopilot; without it those endpoints answer 404.
	Storage Storage
}

// New builds a server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.MaxRequestSize == 0 {
		cfg.MaxRequestSize = DefaultMaxRequestSize
	}
	if cfg.MaxRequestDuration <= 0 {
		cfg.MaxRequestDuration = DefaultMaxRequestDuration
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = builtinOnly(cfg.Tokens)
	}
	return &Server{
		node: cfg.Node, secrets: cfg.Secrets, policies: cfg.Policies, tokens: cfg.Tokens, rootGen: cfg.RootGenerator,
		audit: cfg.Audit, storage: cfg.Storage, authz: cfg.Authorizer, keys: cfg.SealKeys, log: cfg.Logger, version: cfg.Version,
		maxSize: cfg.MaxRequestSize, maxDuration: cfg.MaxRequestDuration,
		metrics: cfg.Metrics, unauthMetrics: cfg.UnauthenticatedMetricsAccess,
		forwarder: cfg.Forwarder,
	}
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errStatus(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// statusOf maps errors to OpenBao's status codes.
func statusOf(err error) (int, string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ae.msg
	}
	var na *core.NotActiveError
	var pe *database.PendingError
	switch {
	case errors.As(err, &pe):
		return http.StatusServiceUnavailable, err.Error()
	case errors.As(err, &na):
		return http.StatusServiceUnavailable, "no active node is reachable: " + err.Error()
	case errors.Is(err, core.ErrSealed), errors.Is(err, core.ErrBarrierSealed):
		return http.StatusServiceUnavailable, "Baton is sealed"
	case errors.Is(err, core.ErrJoinTimedOut):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, core.ErrPermissionDenied), errors.Is(err, auth.ErrPermissionDenied):
		return http.StatusForbidden, "permission denied" // OpenBao's words, whatever the cause
	case errors.Is(err, core.ErrJoinRefused):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, core.ErrWrongKey), errors.Is(err, core.ErrInvalidRequest):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, auth.ErrInvalid), errors.Is(err, auth.ErrBadRequest):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, auth.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, database.ErrNotFound), errors.Is(err, catalog.ErrNotFound), errors.Is(err, core.ErrNoNATSIdentities):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, database.ErrInvalid), errors.Is(err, catalog.ErrInvalid), errors.Is(err, database.ErrExists):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, database.ErrConflict):
		return http.StatusConflict, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, err.Error()
	}
	return http.StatusInternalServerError, err.Error()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeErr(w http.ResponseWriter, err error) {
	status, msg := statusOf(err)
	// A rotation still being resolved: tell the client when to come back (RFC 9110 §10.2.3).
	var pe *database.PendingError
	if errors.As(err, &pe) {
		w.Header().Set("Retry-After", strconv.Itoa(pe.RetryAfterSeconds()))
	}
	writeJSON(w, status, map[string]any{"errors": []string{msg}})
}

// data wraps a reply in OpenBao's envelope.
func data(d any) map[string]any {
	return map[string]any{"request_id": newRequestID(), "lease_id": "", "renewable": false, "lease_duration": 0, "data": d, "wrap_info": nil, "warnings": nil, "auth": nil}
}

// newRequestID returns a request id in OpenBao's shape (a UUID's 8-4-4-4-12 hex groups).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	id := hex.EncodeToString(b[:])
	return id[:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:32]
}

// body decodes a JSON request body into a generic map; an empty body is an empty map.
func body(r *http.Request) (map[string]any, error) {
	m := map[string]any{}
	// Handler has capped r.Body at max_request_size (http.MaxBytesReader).
	b, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, tooLargeErr(tooLarge.Limit)
	}
	if err != nil {
		return nil, errStatus(http.StatusBadRequest, "reading the request body: %v", err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return m, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, errStatus(http.StatusBadRequest, "request body is not a JSON object: %v", err)
	}
	return m, nil
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.limit)
}

// limit applies the request limits, then serves: a body declared larger than
// max_request_size is refused before anything reads it, one that turns out larger (chunked)
// fails where it is read, and the request's context ends after max_request_duration.
func (s *Server) limit(w http.ResponseWriter, r *http.Request) {
	if s.maxSize >= 0 {
		if r.ContentLength > s.maxSize {
			writeErr(w, tooLargeErr(s.maxSize))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.maxSize)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.maxDuration)
	defer cancel()
	s.serve(w, r.WithContext(ctx))
}

// tooLargeErr is the 413 for a body over max_request_size.
func tooLargeErr(limit int64) error {
	return errStatus(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes (the listener's max_request_size)", limit)
}

// route is one endpoint.
type route struct {
	// auth: the request needs a token whose policies allow it (Server.authorize); the others
	// are OpenBao's unauthenticated paths.
	auth bool
	// local: served by this node even when standby or sealed.
	local bool
	// rawBody: the request body is not JSON (a snapshot archive): the authoriser checks the
	// path without parameters and leaves the body to the handler.
	rawBody bool
	// localOnAsk: served by this node, from its own replicated state, when the request says
	// ?local=true (a per-node read: the chaos suite compares what each node applied).
	localOnAsk bool
	h          func(w http.ResponseWriter, r *http.Request, rest string) error
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Query().Get("list") == "true" {
		r.Method = "LIST"
	}
	p := strings.TrimPrefix(r.URL.Path, "/v1/")
	if p == r.URL.Path {
		writeErr(w, errStatus(http.StatusNotFound, "no handler for %s: API paths start with /v1/", r.URL.Path))
		return
	}
	rt, rest := s.match(p)
	if rt == nil {
		writeErr(w, errStatus(http.StatusNotFound, "no handler for route %q", p))
		return
	}
	if !rt.local && !(rt.localOnAsk && r.URL.Query().Get("local") == "true") {
		if s.node.Sealed() {
			writeErr(w, core.ErrSealed)
			return
		}
		if !s.node.IsActive() {
			s.forward(w, r)
			return
		}
	}
	// A standby forwarded above without deciding: the active node authorises, so a standby
	// never acts on a request it did not check.
	if rt.auth {
		ctx, err := s.authorize(r, p, rt.rawBody)
		if err != nil {
			writeErr(w, s.auditRefused(r, err))
			return
		}
		r = r.WithContext(ctx)
	}
	s.runAudited(w, r, rt, rest) // audit.go: records the request and response when a device is on
}

// forward proxies a request to the active node through the Forwarder, which reaches the node
// Raft names as leader over the cluster port and checks its certificate: never the api_addr
// the state holds, which a joining node chose.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(forwardedHeader) != "" {
		writeErr(w, errStatus(http.StatusServiceUnavailable, "request was forwarded to a node that is not active; the cluster is changing leader: retry"))
		return
	}
	if s.forwarder == nil {
		writeErr(w, errStatus(http.StatusServiceUnavailable, "this node is a standby and cannot forward: send the request to the active node"))
		return
	}
	id, _ := s.node.LeaderAPIAddr()
	// Right after an unseal or an election the leader may not be known yet: wait a little
	// (bounded) rather than fail a request that would succeed a moment later.
	for deadline := time.Now().Add(3 * time.Second); id == "" && time.Now().Before(deadline) && r.Context().Err() == nil; {
		time.Sleep(20 * time.Millisecond)
		if s.node.IsActive() {
			s.serve(w, r)
			return
		}
		id, _ = s.node.LeaderAPIAddr()
	}
	if id == "" {
		writeErr(w, errStatus(http.StatusServiceUnavailable, "this node is a standby and no active node is known: retry shortly"))
		return
	}
	target := s.forwarder.Target(id)
	proxy := &httputil.ReverseProxy{
		Transport: s.forwarder,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header.Set(forwardedHeader, s.node.Config().NodeID)
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeErr(w, errStatus(http.StatusBadGateway, "forwarding to the active node %s: %v", id, err))
		},
	}
	proxy.ServeHTTP(w, r)
}

// match finds the route for a path under /v1/.
func (s *Server) match(p string) (*route, string) {
	type pref struct {
		prefix string
		rt     route
	}
	table := []pref{
		{"sys/init", route{local: true, h: s.sysInit}},
		{"sys/seal-status", route{local: true, h: s.sysSealStatus}},
		{"sys/unseal", route{local: true, h: s.sysUnseal}},
		{"sys/health", route{local: true, h: s.sysHealth}},
		{"sys/leader", route{local: true, h: s.sysLeader}},
		{"sys/seal", route{auth: true, h: s.sysSeal}},
		{"sys/step-down", route{auth: true, h: s.sysStepDown}},
		{"sys/storage/raft/join", route{local: true, h: s.raftJoin}},
		{"sys/storage/raft/bootstrap/challenge", route{auth: false, h: s.raftBootstrapChallenge}},
		{"sys/storage/raft/bootstrap/answer", route{auth: false, h: s.raftBootstrapAnswer}},
		{"sys/storage/raft/configuration", route{auth: true, h: s.raftConfiguration}},
		{"sys/storage/raft/remove-peer", route{auth: true, h: s.raftRemovePeer}},
		{"sys/storage/raft/snapshot", route{auth: true, rawBody: true, h: s.raftSnapshot}},
		{"sys/storage/raft/snapshot-force", route{auth: true, rawBody: true, h: s.raftSnapshotForce}},
		{"sys/storage/raft/autopilot", route{auth: true, h: s.raftAutopilot}},
		{"sys/plugins/catalog", route{auth: true, h: s.catalog}},
		{"sys/plugins/reload/backend", route{auth: true, h: s.reload}},
		{"sys/mounts", route{auth: true, h: s.mounts}},
		{"sys/leases/", route{auth: true, h: s.leases}},
		{"sys/policies/acl", route{auth: true, h: s.policiesACL}},
		{"sys/policies/password", route{auth: true, h: s.passwordPolicies}},
		{"sys/policy", route{auth: true, h: s.policiesOld}},
		{"sys/lifecycle", route{auth: true, localOnAsk: true, h: s.lifecycle}},
		{"sys/nats/credentials", route{auth: true, h: s.natsCredentials}},
		{"sys/rekey/init", route{h: s.sysRekeyInit}},
		{"sys/rekey/update", route{h: s.sysRekeyUpdate}},
		{"sys/rekey/verify", route{h: s.sysRekeyVerify}},
		{"sys/rotate/keyring", route{auth: true, h: s.sysRotate}},
		{"sys/rotate", route{auth: true, h: s.sysRotate}},
		{"sys/key-status", route{auth: true, h: s.sysKeyStatus}},
		{"sys/generate-root/attempt", route{h: s.generateRootAttempt}},
		{"sys/generate-root/update", route{h: s.generateRootUpdate}},
		{"auth/token/lookup-self", route{auth: true, h: s.tokenSelf}},
		{"auth/token/renew-self", route{auth: true, h: s.tokenSelf}},
		{"auth/token/revoke-self", route{auth: true, h: s.tokenSelf}},
		{"auth/token", route{auth: true, h: s.token}},
		{"sys/metrics", route{auth: !s.unauthMetrics, local: true, h: s.sysMetrics}},
		{"sys/audit", route{auth: true, h: s.auditDevices}},
		{"sys/audit-hash", route{auth: true, h: s.auditHash}},
		{"sys/capabilities-self", route{auth: true, h: s.capabilitiesSelf}},
		{"sys/capabilities", route{auth: true, h: s.capabilitiesOther}},
	}
	for _, e := range table {
		if p == e.prefix || strings.HasPrefix(p, e.prefix+"/") || (strings.HasSuffix(e.prefix, "/") && strings.HasPrefix(p, e.prefix)) {
			rt := e.rt
			return &rt, strings.TrimPrefix(strings.TrimPrefix(p, e.prefix), "/")
		}
	}
	if strings.HasPrefix(p, "sys/") {
		return nil, ""
	}
	return &route{auth: true, h: s.database}, p
}

// ctxTimeout bounds a request's work.
func ctxTimeout(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 60*time.Second)
}
