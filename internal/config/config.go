// Package config reads a Baton node's HCL configuration file, written with the keys OpenBao
// operators already use (listener "tcp", api_addr, cluster_addr, storage "raft", retry_join,
// plugin_directory, disable_mlock, …), so that an OpenBao node's file starts a Baton node with
// few or no edits. Keys that mean nothing to Baton are reported as warnings, not refused, as
// OpenBao does with keys it has retired; what Baton cannot honour (storage other than raft,
// seals other than a key file or variable) is refused with a message that says what to write
// instead.
//
// The package is a leaf: it imports no other Baton package, and turns the file into plain values
// (durations, file modes, host:port addresses) that cmd/node hands to raftstore, events,
// plugins and rollback.
package config

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
)

// Defaults that apply when the file leaves a key out.
const (
	// DefaultClusterName names the cluster in NATS subjects when cluster_name is absent.
	DefaultClusterName = "baton"
	// DefaultSealVariable is the environment variable seal "env" reads when it names none.
	DefaultSealVariable = "BATON_UNSEAL_KEY"
	// MaxPerformanceMultiplier is the largest storage "raft" performance_multiplier, as in
	// OpenBao.
	MaxPerformanceMultiplier = 10
	// maxClusterNameLen mirrors events.MaxClusterLen.
	maxClusterNameLen = 64
	// eventDuplicateSeconds mirrors events.DuplicateWindow and maxAppliedIDs state.MaxApplied:
	// the intake rate must not let the state forget an event id before JetStream does
	// (events.Limit.Validate checks the same at start).
	eventDuplicateSeconds = 90
	maxAppliedIDs         = 100_000
	// DefaultEventRate mirrors events.DefaultRate: the intake limit when nats.event_rate is
	// absent.
	DefaultEventRate = 1000
)

// The listener's HTTP limits when the file leaves them out: OpenBao's defaults, and Baton's
// own for max_connections (OpenBao has no such key). server.DefaultLimits holds the same
// values for nodes built in code (dev mode, tests); this package is a leaf and cannot
// import it.
const (
	// DefaultHTTPReadHeaderTimeout bounds reading a request's headers.
	DefaultHTTPReadHeaderTimeout = 10 * time.Second
	// DefaultHTTPReadTimeout bounds reading a whole request, body included.
	DefaultHTTPReadTimeout = 30 * time.Second
	// DefaultHTTPWriteTimeout is 0: no bound on writing a response, as in OpenBao.
	DefaultHTTPWriteTimeout = 0
	// DefaultHTTPIdleTimeout bounds how long a keep-alive connection waits for its next
	// request.
	DefaultHTTPIdleTimeout = 5 * time.Minute
	// DefaultMaxRequestSize is the largest request body in bytes (32 MiB).
	DefaultMaxRequestSize = 32 << 20
	// DefaultMaxRequestDuration bounds how long a request may run before its context ends.
	DefaultMaxRequestDuration = 90 * time.Second
	// DefaultMaxConnections caps the connections a listener holds open at once.
	DefaultMaxConnections = 4096
	// DefaultPrometheusRetentionTime is OpenBao's telemetry { prometheus_retention_time }.
	DefaultPrometheusRetentionTime = 24 * time.Hour
)

// Seal types Baton accepts.
const (
	// SealFile reads the unseal key (base64) from a file.
	SealFile = "file"
	// SealEnv reads the unseal key (base64) from an environment variable.
	SealEnv = "env"
)

// fastHeartbeat, fastElection and fastLease are Baton's fast Raft profile (see LIBRARIES.md:
// a new leader about 0.4 s after a kill); performance_multiplier scales them.
const (
	fastHeartbeat = 200 * time.Millisecond
	fastElection  = 200 * time.Millisecond
	fastLease     = 100 * time.Millisecond
)

// ErrInvalid is wrapped by every FieldError, so that callers can tell a bad file from an
// unreadable one.
var ErrInvalid = errors.New("invalid configuration")

// DefaultLeaseTTL is OpenBao's default for default_lease_ttl and max_lease_ttl: 768h.
const DefaultLeaseTTL = 768 * time.Hour

// MaxLeaseTTLBound bounds the system lease TTLs a config may set: a hundred years, far below
// where a duration overflows.
const MaxLeaseTTLBound = 100 * 365 * 24 * time.Hour

// Config is one node's configuration. Parse fills every derived field (api_addr from the
// listener, the Raft bind address, defaults) so that callers read values, not absences.
type Config struct {
	// File is the path the configuration was read from ("" when built in code).
	File string

	// UI is accepted for OpenBao files; Baton has no UI.
	UI bool
	// DisableMlock is accepted for OpenBao files; Baton never locks memory.
	DisableMlock bool

	// APIAddr is the URL other nodes and clients use to reach this node's API, normalised to
	// "https://host:port" ("http://" when the listener has tls_disable = true; no trailing
	// slash). sys/leader reports it.
	APIAddr string
	// ClusterAddr is the address other nodes dial for Raft, as written ("http://host:port",
	// "https://host:port" or "host:port") or derived; RaftAdvertise returns its host:port.
	ClusterAddr string

	// PluginDirectory holds the plugin binaries the catalog may run; "" means only the
	// bundled plugins.
	PluginDirectory string
	// PluginFileUID is the owner plugin files must have when the permission check is on; nil
	// means this process's effective uid.
	PluginFileUID *int
	// PluginFilePermissions is the mode plugin files must have when the permission check is on;
	// nil means no mode check.
	PluginFilePermissions *os.FileMode
	// PluginStartTimeout bounds a plugin's handshake; 0 means the runner's default.
	PluginStartTimeout time.Duration

	// LogLevel is the node's log level; hclog.NoLevel means info.
	LogLevel hclog.Level
	// ClusterName is the cluster's name in NATS subjects (DefaultClusterName when absent).
	ClusterName string
	// DefaultLeaseTTL and MaxLeaseTTL are the system's lease TTLs (default_lease_ttl and
	// max_lease_ttl; DefaultLeaseTTL, 768h, each when absent, as in OpenBao): what a mount
	// that was not tuned gives and allows.
	DefaultLeaseTTL time.Duration
	MaxLeaseTTL     time.Duration

	// Listener is the first listener "tcp" block.
	Listener Listener
	// Storage is the storage "raft" block.
	Storage Storage
	// NATS says which NATS server carries lifecycle events.
	NATS NATS
	// Seal, when set, names where the node reads its unseal key at start (auto-unseal); nil
	// means an operator unseals through sys/unseal.
	Seal *Seal
	// Rollback tunes the WAL rollback manager; zeros mean its defaults.
	Rollback Rollback
	// Telemetry is the telemetry stanza; Parse fills OpenBao's defaults when it is absent.
	Telemetry Telemetry
	// Audit holds the audit stanzas and OpenBao 2.x's two audit switches (audit.go).
	Audit Audit

	// pos remembers where each field was written, so that Validate can name file:line.
	pos map[string]hcl.Range
}

// Listener is the API listener: TLS unless tls_disable = true, with OpenBao's keys.
type Listener struct {
	// Address is the host:port the HTTP API listens on.
	Address string
	// ClusterAddress is the host:port the Raft TCP transport binds; when absent it is the
	// API port + 1 on the same host, as in OpenBao.
	ClusterAddress string
	// TLSDisable serves plain HTTP; false (the default) needs TLSCertFile and TLSKeyFile.
	TLSDisable bool
	// TLSCertFile (the certificate, optionally followed by its issuers) and TLSKeyFile are
	// read at start and again on SIGHUP.
	TLSCertFile, TLSKeyFile string
	// TLSMinVersion and TLSMaxVersion are tls.VersionTLS1x: tls_min_version defaults to tls12,
	// tls_max_version to 0 (Go's newest).
	TLSMinVersion, TLSMaxVersion uint16
	// TLSCipherSuites restricts the TLS 1.0–1.2 suites (tls_cipher_suites, IANA names as Go
	// and OpenBao spell them, comma-separated); nil means Go's defaults.
	TLSCipherSuites []uint16
	// TLSClientCAFile verifies client certificates; TLSRequireAndVerifyClientCert refuses a
	// client without one.
	TLSClientCAFile               string
	TLSRequireAndVerifyClientCert bool
	// HTTPReadHeaderTimeout, HTTPReadTimeout, HTTPWriteTimeout and HTTPIdleTimeout are
	// OpenBao's http_read_header_timeout, http_read_timeout, http_write_timeout and
	// http_idle_timeout; 0 means no bound. Parse fills the Default* values when absent.
	HTTPReadHeaderTimeout time.Duration
	HTTPReadTimeout       time.Duration
	HTTPWriteTimeout      time.Duration
	HTTPIdleTimeout       time.Duration
	// MaxRequestSize is the largest request body in bytes; a negative value means no
	// limit (as OpenBao's max_request_size), 0 in the file means the default.
	MaxRequestSize int64
	// MaxRequestDuration bounds a request: past it, the handler's context ends. 0 in the
	// file means the default.
	MaxRequestDuration time.Duration
	// MaxConnections caps the connections the listener holds open at once; the next one
	// waits in the kernel's backlog until one closes. 0 in the file means the default.
	MaxConnections int
	// UnauthenticatedMetricsAccess is the listener's telemetry { unauthenticated_metrics_access }:
	// sys/metrics answers without a token.
	UnauthenticatedMetricsAccess bool
}

// Telemetry is the top-level telemetry stanza (OpenBao's keys Baton honours).
type Telemetry struct {
	// PrometheusRetentionTime is how long a metric nobody updates stays in the Prometheus
	// output; 0 turns the Prometheus format off. DefaultPrometheusRetentionTime when absent.
	PrometheusRetentionTime time.Duration
	// DisableHostname drops the host name OpenBao puts in front of gauge names.
	DisableHostname bool
	// MetricsPrefix is the service name every metric starts with; "" means "vault", as
	// OpenBao's.
	MetricsPrefix string
}

// Scheme is "https", or "http" when tls_disable = true.
func (l Listener) Scheme() string {
	if l.TLSDisable {
		return "http"
	}
	return "https"
}

// TLSVersions maps OpenBao's tls_min_version and tls_max_version names to Go's versions.
var TLSVersions = map[string]uint16{
	"tls10": tls.VersionTLS10, "tls11": tls.VersionTLS11, "tls12": tls.VersionTLS12, "tls13": tls.VersionTLS13,
}

// ParseCipherSuites reads tls_cipher_suites: comma-separated IANA names as Go spells them
// (OpenBao's names). An unknown name is an error that names it.
func ParseCipherSuites(s string) ([]uint16, error) {
	byName := map[string]uint16{}
	for _, c := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		byName[c.Name] = c.ID
	}
	var out []uint16
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		id, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("%q is not a cipher suite Go knows: write names such as TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, comma-separated", name)
		}
		out = append(out, id)
	}
	return out, nil
}

// Storage is the storage "raft" block.
type Storage struct {
	// Path is the node's data directory (Raft log, snapshots, embedded NATS store).
	Path string
	// NodeID is the node's Raft server id; it must not change across restarts.
	NodeID string
	// PerformanceMultiplier scales Raft's timings: see Timing.
	PerformanceMultiplier int
	// RetryJoin lists the nodes a new node keeps asking to join through, in order.
	RetryJoin []RetryJoin
	// SnapshotThreshold, TrailingLogs and SnapshotInterval are OpenBao's tuning keys of the
	// same names; zero means raftstore's default.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	SnapshotInterval  time.Duration
	// AutopilotReconcileInterval and AutopilotUpdateInterval are OpenBao's keys of the same
	// names: how often the autopilot acts and refreshes its view; zero means the profile's.
	AutopilotReconcileInterval, AutopilotUpdateInterval time.Duration
}

// RetryJoin is one retry_join block.
type RetryJoin struct {
	// LeaderAPIAddr is a cluster member's API URL ("https://host:port").
	LeaderAPIAddr string
	// LeaderCACertFile is the CA that signed the leader's API certificate, when the node's
	// own certificate chain does not hold it (OpenBao's leader_ca_cert_file).
	LeaderCACertFile string
}

// NATS chooses the NATS server: an external one when URL is set, otherwise one embedded in
// the node.
type NATS struct {
	// URL is one or more comma-separated server URLs; "" starts the embedded server. It may
	// carry credentials: never log it.
	URL string
	// Port is the embedded server's client port; 0 picks a free one.
	Port int
	// Host is the address the embedded server listens on (host; "" is 127.0.0.1, loopback
	// only). Another address, such as 0.0.0.0, lets other hosts' nodes and tools reach it:
	// serve TLS then (the tls block's cert_file and key_file).
	Host string
	// Credentials is a user credentials file (JWT and nkey seed) for the external server
	// (creds_file; credentials is its older name).
	Credentials string
	// NKeySeed is a file holding an nkey seed for the external server (nkey_seed_file;
	// nkey_seed is its older name).
	NKeySeed string
	// User and Password authenticate to the external server by name; never log Password.
	User, Password string
	// TLSCA, TLSCert and TLSKey are the tls block's ca_file, cert_file and key_file (tls_ca,
	// tls_cert and tls_key are their older names). With an external server they are the
	// client's side of TLS; with the embedded one, TLSCert and TLSKey make it serve TLS only
	// and TLSCA (then required) is what the node verifies it with.
	TLSCA, TLSCert, TLSKey string
	// EventRate is how many events per second the active node takes (stream and inject
	// subject together): DefaultEventRate when absent, no limit when written 0. EventBurst is how many it takes at once above the
	// rate (EventRate when 0).
	EventRate, EventBurst int
}

// Embedded reports whether the node runs its own NATS server.
func (n NATS) Embedded() bool { return n.URL == "" }

// Seal names where the unseal key comes from at start.
type Seal struct {
	// Type is SealFile or SealEnv.
	Type string
	// Path is the key file (SealFile).
	Path string
	// Variable is the environment variable (SealEnv).
	Variable string
}

// Rollback tunes the WAL rollback manager.
type Rollback struct {
	// Period is how often the manager scans; 0 means its default.
	Period time.Duration
	// MinAge is how old an entry must be before it is rolled back; 0 means its default.
	MinAge time.Duration
	// Window is how long a new active node waits before it rolls back a root rotation the
	// old leader left with its new password not in force (one whose new password logs in is
	// rolled forward at once); 0 means its default (5 s).
	Window time.Duration
}

// RaftTiming holds the Raft timeouts a performance multiplier stands for.
type RaftTiming struct {
	// Heartbeat is raft.Config.HeartbeatTimeout.
	Heartbeat time.Duration
	// Election is raft.Config.ElectionTimeout.
	Election time.Duration
	// LeaderLease is raft.Config.LeaderLeaseTimeout.
	LeaderLease time.Duration
}

// Timing maps performance_multiplier onto Raft timeouts. OpenBao's multiplier scales its
// defaults, 1 being the fastest and 5 the default; Baton keeps that direction but starts from
// its fast profile (200/200/100 ms): multiplier m gives heartbeat and election m×200 ms and
// leader lease m×100 ms, and 0 (absent) means 1. So 5 gives hashicorp/raft's own defaults
// (1 s/1 s/500 ms), a sensible choice for a slow or distant network.
func (s Storage) Timing() RaftTiming {
	m := time.Duration(max(s.PerformanceMultiplier, 1))
	return RaftTiming{Heartbeat: m * fastHeartbeat, Election: m * fastElection, LeaderLease: m * fastLease}
}

// RaftAdvertise is the host:port other nodes dial for Raft, taken from ClusterAddr; "" when
// ClusterAddr is not a valid address (Validate says why).
func (c *Config) RaftAdvertise() string {
	hp, err := clusterHostPort(c.ClusterAddr)
	if err != nil {
		return ""
	}
	return hp
}

// ReadKey reads the unseal key the seal names and decodes it from base64 (the keys_base64
// that sys/init returned). Errors never quote the key or the file's content.
func (s *Seal) ReadKey() ([]byte, error) {
	var raw, from string
	switch s.Type {
	case SealFile:
		b, err := os.ReadFile(s.Path)
		if err != nil {
			return nil, fmt.Errorf("seal %q: read the unseal key: %w", s.Type, err)
		}
		raw, from = string(b), "file "+s.Path
	case SealEnv:
		v, ok := os.LookupEnv(s.Variable)
		if !ok {
			return nil, fmt.Errorf("seal %q: environment variable %s is not set: export the unseal key (base64) in it", s.Type, s.Variable)
		}
		raw, from = v, "environment variable "+s.Variable
	default:
		return nil, fmt.Errorf("%w: seal type %q is not supported: use seal \"file\" or \"env\"", ErrInvalid, s.Type)
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, fmt.Errorf("seal %q: %s is empty: write the unseal key (keys_base64 from operator init) in it", s.Type, from)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		// The decoder's error quotes an offset, not the content; still, say only what to fix.
		return nil, fmt.Errorf("seal %q: %s does not hold base64: write the keys_base64 value from operator init", s.Type, from)
	}
	return key, nil
}

// FieldError is one problem with the configuration, located in the file when the
// configuration came from one.
type FieldError struct {
	// File and Line locate the problem; empty and 0 for a Config built in code.
	File string
	Line int
	// Field names the key, dotted by block ("storage.node_id"); "" for syntax errors.
	Field string
	// Problem says what is wrong and what to write instead.
	Problem string
}

// Error renders "file:line: field: problem", leaving out what is unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// Unwrap makes every FieldError match ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Validate checks a filled configuration: Parse calls it after deriving defaults, and code
// that builds a Config (dev mode) calls it too. It reports every problem at once, joined.
func (c *Config) Validate() error {
	v := validator{c: c}

	// Parse derives api_addr and cluster_addr from the listener; when the listener itself is
	// wrong, its errors say what to fix and "required" here would only add noise.
	listenerOK := checkBindAddr(c.Listener.Address) == nil && checkBindAddr(c.Listener.ClusterAddress) == nil
	if c.APIAddr == "" {
		if listenerOK {
			v.bad("api_addr", `is required: write api_addr = "https://HOST:8200" with this node's own address`)
		}
	} else if err := checkHTTPURL(c.APIAddr); err != nil {
		v.bad("api_addr", err.Error())
	} else if want := c.Listener.Scheme(); !strings.HasPrefix(c.APIAddr, want+"://") {
		// Other nodes forward to api_addr and clients follow it: a scheme the listener does
		// not speak breaks both.
		v.bad("api_addr", fmt.Sprintf("%q does not match the listener, which serves %s: write %s://%s", c.APIAddr, want, want, strings.SplitN(c.APIAddr, "://", 2)[1]))
	}
	if c.ClusterAddr == "" {
		if listenerOK {
			v.bad("cluster_addr", `is required: write cluster_addr = "http://HOST:8201" with this node's own address`)
		}
	} else if _, err := clusterHostPort(c.ClusterAddr); err != nil {
		v.bad("cluster_addr", err.Error())
	}

	v.listener(c.Listener)
	v.storage(c.Storage)
	v.nats(c.NATS)
	v.seal(c.Seal)

	if err := checkClusterName(c.ClusterName); err != nil {
		v.bad("cluster_name", err.Error())
	}
	if c.LogLevel != hclog.NoLevel && (c.LogLevel < hclog.Trace || c.LogLevel > hclog.Off) {
		v.bad("log_level", "must be trace, debug, info, warn or error")
	}
	if c.PluginFileUID != nil && *c.PluginFileUID < 0 {
		v.bad("plugin_file_uid", "must be a uid of 0 or more")
	}
	if c.PluginFilePermissions != nil && *c.PluginFilePermissions&^os.ModePerm != 0 {
		v.bad("plugin_file_permissions", `must be permission bits only: write an octal string such as "0755"`)
	}
	v.nonNegative("plugin_start_timeout", c.PluginStartTimeout)
	v.nonNegative("rollback.period", c.Rollback.Period)
	v.nonNegative("rollback.min_age", c.Rollback.MinAge)
	v.nonNegative("rollback.window", c.Rollback.Window)
	v.nonNegative("telemetry.prometheus_retention_time", c.Telemetry.PrometheusRetentionTime)
	return errors.Join(v.errs...)
}

type validator struct {
	c    *Config
	errs []error
}

func (v *validator) bad(field, problem string) { v.badAt(field, field, problem) }

// badAt reports a problem with field, located where posKey was written (repeated blocks keep
// one position per block: "storage.retry_join#2").
func (v *validator) badAt(posKey, field, problem string) {
	e := &FieldError{Field: field, Problem: problem}
	if r, ok := v.c.pos[posKey]; ok {
		e.File, e.Line = r.Filename, r.Start.Line
	} else if v.c.File != "" {
		e.File = v.c.File
	}
	v.errs = append(v.errs, e)
}

func (v *validator) nonNegative(field string, d time.Duration) {
	if d < 0 {
		v.bad(field, fmt.Sprintf("%s is negative: write a duration such as \"30s\"", d))
	}
}

func (v *validator) listener(l Listener) {
	if l.Address == "" {
		v.bad("listener.address", `is required: write listener "tcp" { address = "127.0.0.1:8200" }`)
	} else if err := checkBindAddr(l.Address); err != nil {
		v.bad("listener.address", err.Error())
	}
	if l.ClusterAddress == "" {
		v.bad("listener.cluster_address", `is required: write cluster_address = "127.0.0.1:8201"`)
	} else if err := checkBindAddr(l.ClusterAddress); err != nil {
		v.bad("listener.cluster_address", err.Error())
	} else if l.ClusterAddress == l.Address {
		v.bad("listener.cluster_address", "is the API address too: give Raft its own port")
	}
	if l.TLSDisable {
		if l.TLSRequireAndVerifyClientCert {
			v.bad("listener.tls_require_and_verify_client_cert", "is set while tls_disable = true: a plain HTTP listener verifies no certificate")
		}
	} else {
		if l.TLSCertFile == "" || l.TLSKeyFile == "" {
			v.bad("listener.tls_disable", "the listener serves TLS unless tls_disable = true, and tls_cert_file and tls_key_file are not both set: "+
				`set them (node operator tls-cert makes a CA and certificates), or write tls_disable = true for plain HTTP`)
		}
		if l.TLSMaxVersion != 0 && l.TLSMaxVersion < l.TLSMinVersion {
			v.bad("listener.tls_max_version", "is below tls_min_version: raise it or leave it out")
		}
		if l.TLSRequireAndVerifyClientCert && l.TLSClientCAFile == "" {
			v.bad("listener.tls_require_and_verify_client_cert", "needs tls_client_ca_file, the CA that signs client certificates")
		}
	}
	v.nonNegative("listener.http_read_header_timeout", l.HTTPReadHeaderTimeout)
	v.nonNegative("listener.http_read_timeout", l.HTTPReadTimeout)
	v.nonNegative("listener.http_write_timeout", l.HTTPWriteTimeout)
	v.nonNegative("listener.http_idle_timeout", l.HTTPIdleTimeout)
	v.nonNegative("listener.max_request_duration", l.MaxRequestDuration)
	if l.MaxConnections < 0 {
		v.bad("listener.max_connections", fmt.Sprintf("%d is negative: write max_connections = %d", l.MaxConnections, DefaultMaxConnections))
	}
}

func (v *validator) storage(s Storage) {
	if s.Path == "" {
		v.bad("storage.path", `is required: write storage "raft" { path = "/var/lib/baton/NODE" }`)
	}
	if s.NodeID == "" {
		v.bad("storage.node_id", `is required: write storage "raft" { node_id = "node1" }, unique in the cluster`)
	} else if strings.ContainsFunc(s.NodeID, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		v.bad("storage.node_id", "must not contain spaces or control characters")
	}
	if s.PerformanceMultiplier < 0 || s.PerformanceMultiplier > MaxPerformanceMultiplier {
		v.bad("storage.performance_multiplier", fmt.Sprintf("%d is out of range: write 0 (Baton's fast profile) or 1 to %d", s.PerformanceMultiplier, MaxPerformanceMultiplier))
	}
	v.nonNegative("storage.snapshot_interval", s.SnapshotInterval)
	for i, rj := range s.RetryJoin {
		const field = "storage.retry_join.leader_api_addr"
		at := fmt.Sprintf("%s#%d", field, i)
		if rj.LeaderAPIAddr == "" {
			v.badAt(at, field, `is required in each retry_join block: write leader_api_addr = "http://HOST:8200"`)
		} else if err := checkHTTPURL(rj.LeaderAPIAddr); err != nil {
			v.badAt(at, field, err.Error())
		}
	}
}

func (v *validator) nats(n NATS) {
	if n.URL != "" {
		for i, u := range strings.Split(n.URL, ",") {
			// The URL may carry a user and password: name the entry, never quote it.
			if err := checkNATSURL(strings.TrimSpace(u)); err != nil {
				v.bad("nats.url", fmt.Sprintf("entry %d %s", i+1, err))
			}
		}
	}
	if n.Host != "" && net.ParseIP(n.Host) == nil {
		v.bad("nats.host", fmt.Sprintf("%q is not an IP address: write one the host has, such as 0.0.0.0 (every address) or 10.0.0.5, or leave it out (127.0.0.1)", n.Host))
	}
	if n.Port < 0 || n.Port > 65535 {
		v.bad("nats.port", fmt.Sprintf("%d is not a port: write 0 (any free port) to 65535", n.Port))
	}
	if n.Credentials != "" && n.NKeySeed != "" {
		v.bad("nats.nkey_seed", "is set together with credentials: keep one of them")
	}
	if (n.TLSCert == "") != (n.TLSKey == "") {
		v.bad("nats.tls_cert", "tls_cert and tls_key go together: set both or neither")
	} else if n.Embedded() && n.TLSCert != "" && n.TLSCA == "" {
		v.bad("nats.tls.ca_file", "is needed when the embedded server serves TLS (cert_file and key_file): the node and other clients verify the server with it; set it to the CA that signed cert_file")
	}
	if (n.User == "") != (n.Password == "") {
		v.bad("nats.user", "user and password go together: set both or neither")
	}
	if n.User != "" && (n.Credentials != "" || n.NKeySeed != "") {
		v.bad("nats.user", "is set together with a creds_file or nkey_seed_file: keep one way to authenticate")
	}
	switch {
	case n.EventRate < 0:
		v.bad("nats.event_rate", fmt.Sprintf("%d: write a number of events per second (0: no limit), or leave it out (1000)", n.EventRate))
	case n.EventBurst < 0:
		v.bad("nats.event_burst", fmt.Sprintf("%d: write a positive number of events", n.EventBurst))
	case n.EventBurst > 0 && n.EventRate == 0:
		v.bad("nats.event_burst", "is set while event_rate is 0 (no limit): set a rate or drop the burst")
	case n.EventRate*eventDuplicateSeconds+max(n.EventBurst, n.EventRate) > maxAppliedIDs:
		v.bad("nats.event_rate", fmt.Sprintf("%d events/s admits more events in the %d s duplicate window than the %d event ids the state remembers: use at most %d (with burst %d)",
			n.EventRate, eventDuplicateSeconds, maxAppliedIDs, (maxAppliedIDs-max(n.EventBurst, n.EventRate))/eventDuplicateSeconds, max(n.EventBurst, n.EventRate)))
	}
}

func (v *validator) seal(s *Seal) {
	if s == nil {
		return
	}
	switch s.Type {
	case SealFile:
		if s.Path == "" {
			v.bad("seal.path", `is required: write seal "file" { path = "/run/baton/unseal-key" }`)
		}
	case SealEnv:
		if s.Variable == "" {
			v.bad("seal.variable", fmt.Sprintf(`is required: write seal "env" { variable = %q }`, DefaultSealVariable))
		}
	default:
		v.bad("seal", fmt.Sprintf(`seal type %q is not supported: use seal "file" or "env"`, s.Type))
	}
}

// checkHTTPURL accepts "http://host:port" with a host other nodes can reach.
func checkHTTPURL(s string) error {
	if !strings.Contains(s, "://") {
		return fmt.Errorf(`%q has no scheme: write "http://%s"`, s, s)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf(`%q is not a URL: write "http://HOST:PORT"`, s)
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return fmt.Errorf(`%q has scheme %q: write "https://%s"`, s, u.Scheme, u.Host)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf(`%q must be scheme, host and port only: write "%s://%s"`, s, u.Scheme, u.Host)
	}
	if u.Port() == "" {
		return fmt.Errorf(`%q has no port: write "%s://%s:8200"`, s, u.Scheme, u.Hostname())
	}
	return checkAdvertisable(u.Host)
}

// clusterHostPort takes cluster_addr as OpenBao writes it (a URL, usually https://, since
// OpenBao's cluster port speaks TLS) or as a bare host:port, and returns host:port.
func clusterHostPort(s string) (string, error) {
	hp := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf(`%q is not a URL: write "http://HOST:8201" or "HOST:8201"`, s)
		}
		switch u.Scheme {
		case "http", "https", "tcp":
		default:
			return "", fmt.Errorf(`%q has scheme %q: write "http://%s" or "%s"`, s, u.Scheme, u.Host, u.Host)
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return "", fmt.Errorf(`%q must be scheme, host and port only: write "http://%s"`, s, u.Host)
		}
		hp = u.Host
	}
	if err := checkAdvertisable(hp); err != nil {
		return "", err
	}
	return hp, nil
}

// checkAdvertisable accepts a host:port with a real port and a host that is not a wildcard.
func checkAdvertisable(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf(`%q is not host:port: write "HOST:PORT"`, hp)
	}
	if err := checkPort(port); err != nil {
		return fmt.Errorf("%q: %w", hp, err)
	}
	if host == "" {
		return fmt.Errorf("%q has no host: write this node's own address, which other nodes can reach", hp)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%q names %s, which other nodes cannot reach: write this node's own address", hp, host)
	}
	return nil
}

// checkBindAddr accepts a listening host:port; an empty or wildcard host listens everywhere.
func checkBindAddr(hp string) error {
	_, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf(`%q is not host:port: write "127.0.0.1:8200"`, hp)
	}
	if err := checkPort(port); err != nil {
		return fmt.Errorf("%q: %w", hp, err)
	}
	return nil
}

func checkPort(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not a port from 1 to 65535: pick a fixed port", port)
	}
	return nil
}

// checkNATSURL accepts what nats.go dials: nats://, tls://, ws:// or wss://, with a host.
func checkNATSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return errors.New(`is not a URL: write "nats://HOST:4222"`)
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
		return nil
	default:
		return fmt.Errorf(`has scheme %q: write "nats://HOST:4222" (or tls://, ws://, wss://)`, u.Scheme)
	}
}

// checkClusterName mirrors events.ValidateCluster (the events package checks it again when
// it starts): the name appears in NATS subjects, stream and consumer names.
func checkClusterName(s string) error {
	if s == "" {
		return fmt.Errorf("is required: write cluster_name = %q", DefaultClusterName)
	}
	if len(s) > maxClusterNameLen {
		return fmt.Errorf("is %d bytes long: use at most %d", len(s), maxClusterNameLen)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("%q: use only letters, digits, '-' and '_'", s)
		}
	}
	return nil
}
