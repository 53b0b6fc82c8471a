package config

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// The raw* structs give the file its shape for gohcl. Attributes stay *hcl.Attribute (nil when
// absent) so that each value is converted here, with OpenBao's leniency (tls_disable = 1,
// durations as seconds, octal modes) and an error that names file:line and what to write.

type rawRoot struct {
	UI                    *hcl.Attribute `hcl:"ui,optional"`
	DisableMlock          *hcl.Attribute `hcl:"disable_mlock,optional"`
	APIAddr               *hcl.Attribute `hcl:"api_addr,optional"`
	ClusterAddr           *hcl.Attribute `hcl:"cluster_addr,optional"`
	PluginDirectory       *hcl.Attribute `hcl:"plugin_directory,optional"`
	PluginFileUID         *hcl.Attribute `hcl:"plugin_file_uid,optional"`
	PluginFilePermissions *hcl.Attribute `hcl:"plugin_file_permissions,optional"`
	PluginStartTimeout    *hcl.Attribute `hcl:"plugin_start_timeout,optional"`
	LogLevel              *hcl.Attribute `hcl:"log_level,optional"`
	ClusterName           *hcl.Attribute `hcl:"cluster_name,optional"`
	DefaultLeaseTTL       *hcl.Attribute `hcl:"default_lease_ttl,optional"`
	MaxLeaseTTL           *hcl.Attribute `hcl:"max_lease_ttl,optional"`

	Listeners []rawListener  `hcl:"listener,block"`
	Storage   []rawStorage   `hcl:"storage,block"`
	NATS      []rawNATS      `hcl:"nats,block"`
	Seals     []rawSeal      `hcl:"seal,block"`
	Rollback  []rawRollback  `hcl:"rollback,block"`
	Telemetry []rawTelemetry `hcl:"telemetry,block"`

	UnsafeAllowAPIAuditCreation *hcl.Attribute `hcl:"unsafe_allow_api_audit_creation,optional"`
	AllowAuditLogPrefixing      *hcl.Attribute `hcl:"allow_audit_log_prefixing,optional"`
	Audits                      []rawAudit     `hcl:"audit,block"`

	Remain hcl.Body `hcl:",remain"`
}

type rawListener struct {
	Type           string         `hcl:"type,label"`
	Address        *hcl.Attribute `hcl:"address,optional"`
	ClusterAddress *hcl.Attribute `hcl:"cluster_address,optional"`
	TLSDisable     *hcl.Attribute `hcl:"tls_disable,optional"`

	TLSCertFile                   *hcl.Attribute `hcl:"tls_cert_file,optional"`
	TLSKeyFile                    *hcl.Attribute `hcl:"tls_key_file,optional"`
	TLSMinVersion                 *hcl.Attribute `hcl:"tls_min_version,optional"`
	TLSMaxVersion                 *hcl.Attribute `hcl:"tls_max_version,optional"`
	TLSCipherSuites               *hcl.Attribute `hcl:"tls_cipher_suites,optional"`
	TLSClientCAFile               *hcl.Attribute `hcl:"tls_client_ca_file,optional"`
	TLSRequireAndVerifyClientCert *hcl.Attribute `hcl:"tls_require_and_verify_client_cert,optional"`

	HTTPReadHeaderTimeout *hcl.Attribute `hcl:"http_read_header_timeout,optional"`
	HTTPReadTimeout       *hcl.Attribute `hcl:"http_read_timeout,optional"`
	HTTPWriteTimeout      *hcl.Attribute `hcl:"http_write_timeout,optional"`
	HTTPIdleTimeout       *hcl.Attribute `hcl:"http_idle_timeout,optional"`
	MaxRequestSize        *hcl.Attribute `hcl:"max_request_size,optional"`
	MaxRequestDuration    *hcl.Attribute `hcl:"max_request_duration,optional"`
	MaxConnections        *hcl.Attribute `hcl:"max_connections,optional"`

	Telemetry []rawListenerTelemetry `hcl:"telemetry,block"`

	DefRange hcl.Range `hcl:",def_range"`
	Remain   hcl.Body  `hcl:",remain"`
}

type rawStorage struct {
	Type                  string         `hcl:"type,label"`
	Path                  *hcl.Attribute `hcl:"path,optional"`
	NodeID                *hcl.Attribute `hcl:"node_id,optional"`
	PerformanceMultiplier *hcl.Attribute `hcl:"performance_multiplier,optional"`
	SnapshotThreshold     *hcl.Attribute `hcl:"snapshot_threshold,optional"`
	TrailingLogs          *hcl.Attribute `hcl:"trailing_logs,optional"`
	SnapshotInterval      *hcl.Attribute `hcl:"snapshot_interval,optional"`
	AutopilotReconcile    *hcl.Attribute `hcl:"autopilot_reconcile_interval,optional"`
	AutopilotUpdate       *hcl.Attribute `hcl:"autopilot_update_interval,optional"`
	RetryJoin             []rawRetryJoin `hcl:"retry_join,block"`
	DefRange              hcl.Range      `hcl:",def_range"`
	Remain                hcl.Body       `hcl:",remain"`
}

type rawRetryJoin struct {
	LeaderAPIAddr    *hcl.Attribute `hcl:"leader_api_addr,optional"`
	LeaderCACertFile *hcl.Attribute `hcl:"leader_ca_cert_file,optional"`
	DefRange         hcl.Range      `hcl:",def_range"`
	Remain           hcl.Body       `hcl:",remain"`
}

type rawNATS struct {
	URL         *hcl.Attribute `hcl:"url,optional"`
	Port        *hcl.Attribute `hcl:"port,optional"`
	Host        *hcl.Attribute `hcl:"host,optional"`
	Credentials *hcl.Attribute `hcl:"credentials,optional"`
	NKeySeed    *hcl.Attribute `hcl:"nkey_seed,optional"`
	TLSCA       *hcl.Attribute `hcl:"tls_ca,optional"`
	TLSCert     *hcl.Attribute `hcl:"tls_cert,optional"`
	TLSKey      *hcl.Attribute `hcl:"tls_key,optional"`
	// OpenBao-style names of the same settings (the issue's): creds_file, nkey_seed_file,
	// and a tls block.
	CredsFile    *hcl.Attribute `hcl:"creds_file,optional"`
	NKeySeedFile *hcl.Attribute `hcl:"nkey_seed_file,optional"`
	User         *hcl.Attribute `hcl:"user,optional"`
	Password     *hcl.Attribute `hcl:"password,optional"`
	TLS          []rawNATSTLS   `hcl:"tls,block"`
	EventRate    *hcl.Attribute `hcl:"event_rate,optional"`
	EventBurst   *hcl.Attribute `hcl:"event_burst,optional"`
	DefRange     hcl.Range      `hcl:",def_range"`
	Remain       hcl.Body       `hcl:",remain"`
}

type rawNATSTLS struct {
	CAFile   *hcl.Attribute `hcl:"ca_file,optional"`
	CertFile *hcl.Attribute `hcl:"cert_file,optional"`
	KeyFile  *hcl.Attribute `hcl:"key_file,optional"`
	DefRange hcl.Range      `hcl:",def_range"`
	Remain   hcl.Body       `hcl:",remain"`
}

type rawSeal struct {
	Type     string         `hcl:"type,label"`
	Path     *hcl.Attribute `hcl:"path,optional"`
	Variable *hcl.Attribute `hcl:"variable,optional"`
	DefRange hcl.Range      `hcl:",def_range"`
	Remain   hcl.Body       `hcl:",remain"`
}

type rawRollback struct {
	Period   *hcl.Attribute `hcl:"period,optional"`
	MinAge   *hcl.Attribute `hcl:"min_age,optional"`
	Window   *hcl.Attribute `hcl:"window,optional"`
	DefRange hcl.Range      `hcl:",def_range"`
	Remain   hcl.Body       `hcl:",remain"`
}

// rawTelemetry is the top-level telemetry stanza. unauthenticated_metrics_access is OpenBao's
// listener key; it is accepted here too, where operators also write it.
type rawTelemetry struct {
	PrometheusRetentionTime      *hcl.Attribute `hcl:"prometheus_retention_time,optional"`
	DisableHostname              *hcl.Attribute `hcl:"disable_hostname,optional"`
	MetricsPrefix                *hcl.Attribute `hcl:"metrics_prefix,optional"`
	UnauthenticatedMetricsAccess *hcl.Attribute `hcl:"unauthenticated_metrics_access,optional"`
	DefRange                     hcl.Range      `hcl:",def_range"`
	Remain                       hcl.Body       `hcl:",remain"`
}

// rawListenerTelemetry is a listener's telemetry block, as in OpenBao.
type rawListenerTelemetry struct {
	UnauthenticatedMetricsAccess *hcl.Attribute `hcl:"unauthenticated_metrics_access,optional"`
	DefRange                     hcl.Range      `hcl:",def_range"`
	Remain                       hcl.Body       `hcl:",remain"`
}

// Load reads and parses the file at path (HCL, or JSON when the name ends in .json, as OpenBao
// accepts both).
func Load(path string) (*Config, []Warning, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	return Parse(src, path)
}

// Parse parses a configuration; filename names it in messages and picks the syntax (".json"
// means JSON). It fills derived values, then validates. Warnings list keys that were accepted
// but mean nothing to Baton, and values Baton derived; the error joins every problem found,
// each a *FieldError.
func Parse(src []byte, filename string) (*Config, []Warning, error) {
	p := hclparse.NewParser()
	var file *hcl.File
	var diags hcl.Diagnostics
	if strings.EqualFold(filepath.Ext(filename), ".json") {
		file, diags = p.ParseJSON(src, filename)
	} else {
		file, diags = p.ParseHCL(src, filename)
	}
	if diags.HasErrors() {
		return nil, nil, diagErrors(diags)
	}
	var raw rawRoot
	if diags := gohcl.DecodeBody(file.Body, nil, &raw); diags.HasErrors() {
		return nil, nil, diagErrors(diags)
	}

	d := &decoder{cfg: &Config{File: filename, pos: map[string]hcl.Range{}}}
	d.root(&raw)
	if len(d.errs) > 0 {
		// Derivation and validation would only repeat these problems in other words.
		return nil, d.sortedWarnings(), errors.Join(d.errs...)
	}
	d.derive()
	if err := d.cfg.Validate(); err != nil {
		return nil, d.sortedWarnings(), err
	}
	return d.cfg, d.sortedWarnings(), nil
}

// sortedWarnings orders warnings as they appear in the file, which is how an operator reads
// them.
func (d *decoder) sortedWarnings() []Warning {
	sort.SliceStable(d.warns, func(i, j int) bool { return d.warns[i].Line < d.warns[j].Line })
	return d.warns
}

// decoder turns raw blocks into a Config, collecting every problem and warning.
type decoder struct {
	cfg   *Config
	errs  []error
	warns []Warning
	// listenerSaysMetricsAccess: the listener's telemetry block wrote
	// unauthenticated_metrics_access, which then wins over the top-level stanza's.
	listenerSaysMetricsAccess bool
}

func (d *decoder) fail(r hcl.Range, field, problem string) {
	d.errs = append(d.errs, &FieldError{File: r.Filename, Line: r.Start.Line, Field: field, Problem: problem})
}

func (d *decoder) warn(r hcl.Range, level hclog.Level, key, reason string) {
	d.warns = append(d.warns, Warning{File: r.Filename, Line: r.Start.Line, Key: key, Reason: reason, Level: level})
}

// place records where field is written, or where its block starts when it is absent, so
// that Validate can point at it.
func (d *decoder) place(field string, a *hcl.Attribute, block hcl.Range) {
	if a != nil {
		d.cfg.pos[field] = a.Range
	} else if block.Filename != "" {
		d.cfg.pos[field] = block
	}
}

func (d *decoder) root(raw *rawRoot) {
	c := d.cfg
	d.unknown(raw.Remain, "", raw, rootReason)

	if d.boolean("ui", raw.UI, &c.UI) && c.UI {
		d.warn(raw.UI.Range, hclog.Warn, "ui", "Baton has no UI; ignored")
	}
	if d.boolean("disable_mlock", raw.DisableMlock, &c.DisableMlock) {
		d.warn(raw.DisableMlock.Range, hclog.Info, "disable_mlock", "Baton never locks memory (no mlock), so this changes nothing; accepted")
	}
	if d.str("api_addr", raw.APIAddr, &c.APIAddr) {
		c.APIAddr = strings.TrimSuffix(c.APIAddr, "/")
	}
	if d.str("cluster_addr", raw.ClusterAddr, &c.ClusterAddr) {
		c.ClusterAddr = strings.TrimSuffix(c.ClusterAddr, "/")
	}
	d.str("plugin_directory", raw.PluginDirectory, &c.PluginDirectory)
	var uid int
	if d.integer("plugin_file_uid", raw.PluginFileUID, &uid) {
		c.PluginFileUID = &uid
	}
	var mode os.FileMode
	if d.fileMode("plugin_file_permissions", raw.PluginFilePermissions, &mode) {
		c.PluginFilePermissions = &mode
	}
	d.duration("plugin_start_timeout", raw.PluginStartTimeout, &c.PluginStartTimeout)
	var level string
	if d.str("log_level", raw.LogLevel, &level) {
		c.LogLevel = parseLevel(level)
		if c.LogLevel == hclog.NoLevel {
			d.fail(raw.LogLevel.Range, "log_level", fmt.Sprintf("%q is not a log level: write trace, debug, info, warn or error", level))
		}
	}
	d.str("cluster_name", raw.ClusterName, &c.ClusterName)
	d.leaseTTL("default_lease_ttl", raw.DefaultLeaseTTL, &c.DefaultLeaseTTL)
	d.leaseTTL("max_lease_ttl", raw.MaxLeaseTTL, &c.MaxLeaseTTL)
	if maxTTL := cmp.Or(c.MaxLeaseTTL, DefaultLeaseTTL); c.DefaultLeaseTTL > maxTTL {
		d.fail(raw.DefaultLeaseTTL.Range, "default_lease_ttl", fmt.Sprintf("%s is longer than max_lease_ttl (%s): lower it or raise max_lease_ttl", c.DefaultLeaseTTL, maxTTL))
	}

	d.listeners(raw.Listeners)
	d.storage(raw.Storage)
	d.nats(raw.NATS)
	d.seal(raw.Seals)
	d.rollback(raw.Rollback)
	d.telemetry(raw.Telemetry)
	d.audit(raw.UnsafeAllowAPIAuditCreation, raw.AllowAuditLogPrefixing, raw.Audits)
}

func (d *decoder) listeners(ls []rawListener) {
	chosen := -1
	for i := range ls {
		l := &ls[i]
		switch {
		case l.Type == "tcp" && chosen < 0:
			chosen = i
		case l.Type == "tcp":
			d.warn(l.DefRange, hclog.Warn, `listener "tcp"`, fmt.Sprintf("Baton serves only the first listener \"tcp\" (line %d); ignored", ls[chosen].DefRange.Start.Line))
		default:
			d.warn(l.DefRange, hclog.Warn, fmt.Sprintf("listener %q", l.Type), "Baton serves one listener \"tcp\"; ignored")
		}
	}
	if chosen < 0 {
		d.fail(d.fileStart(), "listener", `a listener "tcp" block is required: write listener "tcp" { address = "127.0.0.1:8200"  cluster_address = "127.0.0.1:8201"  tls_disable = true }`)
		return
	}
	l, out := &ls[chosen], &d.cfg.Listener
	d.unknown(l.Remain, "listener.", l, listenerReason)
	d.place("listener.address", l.Address, l.DefRange)
	d.place("listener.cluster_address", l.ClusterAddress, l.DefRange)
	d.place("listener.tls_disable", l.TLSDisable, l.DefRange)
	d.str("listener.address", l.Address, &out.Address)
	d.str("listener.cluster_address", l.ClusterAddress, &out.ClusterAddress)
	d.boolean("listener.tls_disable", l.TLSDisable, &out.TLSDisable)
	d.tls(l, out)

	// OpenBao's defaults apply to an absent key; a written 0 means no bound for the
	// timeouts, and the default for max_request_size and max_request_duration (as in
	// OpenBao).
	out.HTTPReadHeaderTimeout = DefaultHTTPReadHeaderTimeout
	out.HTTPReadTimeout = DefaultHTTPReadTimeout
	out.HTTPWriteTimeout = DefaultHTTPWriteTimeout
	out.HTTPIdleTimeout = DefaultHTTPIdleTimeout
	out.MaxConnections = DefaultMaxConnections
	d.duration("listener.http_read_header_timeout", l.HTTPReadHeaderTimeout, &out.HTTPReadHeaderTimeout)
	d.duration("listener.http_read_timeout", l.HTTPReadTimeout, &out.HTTPReadTimeout)
	d.duration("listener.http_write_timeout", l.HTTPWriteTimeout, &out.HTTPWriteTimeout)
	d.duration("listener.http_idle_timeout", l.HTTPIdleTimeout, &out.HTTPIdleTimeout)
	var size int64
	if d.int64("listener.max_request_size", l.MaxRequestSize, &size) && size != 0 {
		out.MaxRequestSize = size
	} else {
		out.MaxRequestSize = DefaultMaxRequestSize
	}
	if !d.duration("listener.max_request_duration", l.MaxRequestDuration, &out.MaxRequestDuration) || out.MaxRequestDuration == 0 {
		out.MaxRequestDuration = DefaultMaxRequestDuration
	}
	if d.integer("listener.max_connections", l.MaxConnections, &out.MaxConnections) && out.MaxConnections == 0 {
		out.MaxConnections = DefaultMaxConnections
	}
	for i := range l.Telemetry {
		lt := &l.Telemetry[i]
		if i > 0 {
			d.fail(lt.DefRange, "listener.telemetry", fmt.Sprintf("only one telemetry block is allowed in a listener: merge it into the one at line %d", l.Telemetry[0].DefRange.Start.Line))
			break
		}
		d.unknown(lt.Remain, "listener.telemetry.", lt, nil)
		d.listenerSaysMetricsAccess = d.boolean("listener.telemetry.unauthenticated_metrics_access", lt.UnauthenticatedMetricsAccess, &out.UnauthenticatedMetricsAccess)
	}
}

// tls reads the listener's TLS keys (OpenBao's names and values).
func (d *decoder) tls(l *rawListener, out *Listener) {
	for field, a := range map[string]*hcl.Attribute{
		"listener.tls_cert_file": l.TLSCertFile, "listener.tls_key_file": l.TLSKeyFile,
		"listener.tls_min_version": l.TLSMinVersion, "listener.tls_max_version": l.TLSMaxVersion,
		"listener.tls_client_ca_file": l.TLSClientCAFile, "listener.tls_require_and_verify_client_cert": l.TLSRequireAndVerifyClientCert,
	} {
		d.place(field, a, l.DefRange)
	}
	d.str("listener.tls_cert_file", l.TLSCertFile, &out.TLSCertFile)
	d.str("listener.tls_key_file", l.TLSKeyFile, &out.TLSKeyFile)
	d.str("listener.tls_client_ca_file", l.TLSClientCAFile, &out.TLSClientCAFile)
	d.boolean("listener.tls_require_and_verify_client_cert", l.TLSRequireAndVerifyClientCert, &out.TLSRequireAndVerifyClientCert)
	out.TLSMinVersion = TLSVersions["tls12"]
	for _, v := range []struct {
		field string
		a     *hcl.Attribute
		out   *uint16
	}{{"listener.tls_min_version", l.TLSMinVersion, &out.TLSMinVersion}, {"listener.tls_max_version", l.TLSMaxVersion, &out.TLSMaxVersion}} {
		var name string
		if !d.str(v.field, v.a, &name) {
			continue
		}
		ver, ok := TLSVersions[name]
		if !ok {
			d.fail(v.a.Range, v.field, fmt.Sprintf("%q is not a TLS version: write tls10, tls11, tls12 or tls13", name))
			continue
		}
		*v.out = ver
	}
	var suites string
	if d.str("listener.tls_cipher_suites", l.TLSCipherSuites, &suites) {
		ids, err := ParseCipherSuites(suites)
		if err != nil {
			d.fail(l.TLSCipherSuites.Range, "listener.tls_cipher_suites", err.Error())
		}
		out.TLSCipherSuites = ids
	}
	if !out.TLSDisable {
		return
	}
	// A plain listener reads none of them (as in OpenBao): say so, and keep none, so that
	// nothing downstream mistakes a leftover file name for TLS.
	for _, a := range []*hcl.Attribute{l.TLSCertFile, l.TLSKeyFile, l.TLSMinVersion, l.TLSMaxVersion, l.TLSCipherSuites, l.TLSClientCAFile} {
		if a != nil {
			d.warn(a.NameRange, hclog.Warn, "listener."+a.Name, "tls_disable = true: the listener serves plain HTTP; ignored")
		}
	}
	out.TLSCertFile, out.TLSKeyFile, out.TLSClientCAFile = "", "", ""
	out.TLSMinVersion, out.TLSMaxVersion, out.TLSCipherSuites = 0, 0, nil
}

func (d *decoder) storage(ss []rawStorage) {
	const only = `Baton stores its state only in raft: use storage "raft"`
	switch {
	case len(ss) == 0:
		d.fail(d.fileStart(), "storage", `a storage "raft" block is required: write storage "raft" { path = "/var/lib/baton/node1"  node_id = "node1" }`)
		return
	case len(ss) > 1:
		d.fail(ss[1].DefRange, "storage", "only one storage block is allowed: "+only)
		return
	case ss[0].Type != "raft":
		d.fail(ss[0].DefRange, "storage", fmt.Sprintf("storage %q: %s", ss[0].Type, only))
		return
	}
	s, out := &ss[0], &d.cfg.Storage
	d.unknown(s.Remain, "storage.", s, storageReason)
	d.place("storage.path", s.Path, s.DefRange)
	d.place("storage.node_id", s.NodeID, s.DefRange)
	d.str("storage.path", s.Path, &out.Path)
	d.str("storage.node_id", s.NodeID, &out.NodeID)
	d.integer("storage.performance_multiplier", s.PerformanceMultiplier, &out.PerformanceMultiplier)
	d.count("storage.snapshot_threshold", s.SnapshotThreshold, &out.SnapshotThreshold)
	d.count("storage.trailing_logs", s.TrailingLogs, &out.TrailingLogs)
	d.duration("storage.snapshot_interval", s.SnapshotInterval, &out.SnapshotInterval)
	d.duration("storage.autopilot_reconcile_interval", s.AutopilotReconcile, &out.AutopilotReconcileInterval)
	d.duration("storage.autopilot_update_interval", s.AutopilotUpdate, &out.AutopilotUpdateInterval)
	for i := range s.RetryJoin {
		rj := &s.RetryJoin[i]
		d.unknown(rj.Remain, "storage.retry_join.", rj, retryJoinReason)
		const field = "storage.retry_join.leader_api_addr"
		d.place(fmt.Sprintf("%s#%d", field, i), rj.LeaderAPIAddr, rj.DefRange)
		var addr, ca string
		if d.str(field, rj.LeaderAPIAddr, &addr) {
			addr = strings.TrimSuffix(addr, "/")
		}
		d.str("storage.retry_join.leader_ca_cert_file", rj.LeaderCACertFile, &ca)
		out.RetryJoin = append(out.RetryJoin, RetryJoin{LeaderAPIAddr: addr, LeaderCACertFile: ca})
	}
}

func (d *decoder) nats(ns []rawNATS) {
	d.cfg.NATS.EventRate = DefaultEventRate
	if len(ns) == 0 {
		return
	}
	if len(ns) > 1 {
		d.fail(ns[1].DefRange, "nats", fmt.Sprintf("only one nats block is allowed: merge it into the one at line %d", ns[0].DefRange.Start.Line))
		return
	}
	n, out := &ns[0], &d.cfg.NATS
	d.unknown(n.Remain, "nats.", n, nil)
	for field, a := range map[string]*hcl.Attribute{
		"nats.url": n.URL, "nats.port": n.Port, "nats.nkey_seed": n.NKeySeed, "nats.tls_cert": n.TLSCert,
		"nats.tls.ca_file": n.TLSCA, "nats.host": n.Host,
	} {
		d.place(field, a, n.DefRange)
	}
	d.str("nats.url", n.URL, &out.URL)
	d.integer("nats.port", n.Port, &out.Port)
	d.str("nats.host", n.Host, &out.Host)
	d.str("nats.credentials", n.Credentials, &out.Credentials)
	d.str("nats.nkey_seed", n.NKeySeed, &out.NKeySeed)
	d.str("nats.tls_ca", n.TLSCA, &out.TLSCA)
	d.str("nats.tls_cert", n.TLSCert, &out.TLSCert)
	d.str("nats.tls_key", n.TLSKey, &out.TLSKey)
	d.str("nats.creds_file", n.CredsFile, &out.Credentials)
	d.str("nats.nkey_seed_file", n.NKeySeedFile, &out.NKeySeed)
	d.place("nats.user", n.User, n.DefRange)
	d.str("nats.user", n.User, &out.User)
	d.str("nats.password", n.Password, &out.Password)
	for _, pair := range [][2]*hcl.Attribute{{n.Credentials, n.CredsFile}, {n.NKeySeed, n.NKeySeedFile}} {
		if pair[0] != nil && pair[1] != nil {
			d.fail(pair[1].Range, "nats."+pair[1].Name, fmt.Sprintf("is set together with %s, its older name: keep one", pair[0].Name))
		}
	}
	switch {
	case len(n.TLS) > 1:
		d.fail(n.TLS[1].DefRange, "nats.tls", "only one tls block is allowed")
	case len(n.TLS) == 1:
		t := &n.TLS[0]
		d.unknown(t.Remain, "nats.tls.", t, nil)
		if n.TLSCA != nil || n.TLSCert != nil || n.TLSKey != nil {
			d.fail(t.DefRange, "nats.tls", "is set together with tls_ca, tls_cert or tls_key, their older names: keep the tls block")
		}
		d.str("nats.tls.ca_file", t.CAFile, &out.TLSCA)
		d.str("nats.tls.cert_file", t.CertFile, &out.TLSCert)
		d.str("nats.tls.key_file", t.KeyFile, &out.TLSKey)
		if t.CertFile != nil {
			d.place("nats.tls_cert", t.CertFile, t.DefRange)
		}
		d.place("nats.tls.ca_file", t.CAFile, t.DefRange)
	}
	d.place("nats.event_rate", n.EventRate, n.DefRange)
	d.place("nats.event_burst", n.EventBurst, n.DefRange)
	d.integer("nats.event_rate", n.EventRate, &out.EventRate)
	d.integer("nats.event_burst", n.EventBurst, &out.EventBurst)

	// Zero what the chosen mode ignores, so that callers need not know which keys go with
	// which server.
	if out.Embedded() {
		for _, k := range []struct {
			name string
			a    *hcl.Attribute
			v    *string
		}{
			{"credentials", n.Credentials, &out.Credentials}, {"nkey_seed", n.NKeySeed, &out.NKeySeed},
			{"creds_file", n.CredsFile, &out.Credentials}, {"nkey_seed_file", n.NKeySeedFile, &out.NKeySeed},
			{"user", n.User, &out.User}, {"password", n.Password, &out.Password},
		} {
			if k.a != nil && *k.v != "" {
				d.warn(k.a.Range, hclog.Warn, "nats."+k.name, "applies only to an external server (set nats.url); the embedded server needs none; ignored")
				*k.v = ""
			}
		}
		if ip := net.ParseIP(out.Host); ip != nil && !ip.IsLoopback() && out.TLSCert == "" {
			d.warn(n.Host.Range, hclog.Warn, "nats.host", "lets other hosts reach the embedded NATS in clear, and events carry Baton tokens: "+
				"set tls { cert_file, key_file, ca_file } in the nats block; accepted")
		}
		// With cert_file and key_file the embedded server serves TLS (validate checks the
		// rest); a CA alone verifies nothing there.
		if out.TLSCA != "" && out.TLSCert == "" && out.TLSKey == "" {
			r := n.DefRange
			switch {
			case n.TLSCA != nil:
				r = n.TLSCA.Range
			case len(n.TLS) > 0:
				r = n.TLS[0].DefRange
			}
			d.warn(r, hclog.Warn, "nats.tls.ca_file", "the embedded server serves TLS only with cert_file and key_file, and ca_file alone verifies nothing there (it is for an external server: set nats.url); ignored")
			out.TLSCA = ""
		}
	} else {
		if n.Port != nil {
			d.warn(n.Port.Range, hclog.Warn, "nats.port", "only the embedded server listens on it, and url names an external server; ignored")
			out.Port = 0
		}
		if n.Host != nil {
			d.warn(n.Host.Range, hclog.Warn, "nats.host", "only the embedded server listens on it, and url names an external server; ignored")
			out.Host = ""
		}
	}
}

func (d *decoder) seal(ss []rawSeal) {
	if len(ss) == 0 {
		return
	}
	if len(ss) > 1 {
		d.fail(ss[1].DefRange, "seal", fmt.Sprintf("only one seal block is allowed (Baton does not migrate seals): keep the one at line %d", ss[0].DefRange.Start.Line))
		return
	}
	s := &ss[0]
	if s.Type != SealFile && s.Type != SealEnv {
		d.fail(s.DefRange, "seal", fmt.Sprintf(`seal type %q is not supported: use seal "file" or "env"`, s.Type))
		return
	}
	d.unknown(s.Remain, "seal.", s, nil)
	out := &Seal{Type: s.Type}
	d.place("seal.path", s.Path, s.DefRange)
	d.place("seal.variable", s.Variable, s.DefRange)
	d.str("seal.path", s.Path, &out.Path)
	d.str("seal.variable", s.Variable, &out.Variable)
	switch s.Type {
	case SealFile:
		if s.Variable != nil {
			d.warn(s.Variable.Range, hclog.Warn, "seal.variable", `only seal "env" reads a variable; ignored`)
			out.Variable = ""
		}
	case SealEnv:
		if s.Path != nil {
			d.warn(s.Path.Range, hclog.Warn, "seal.path", `only seal "file" reads a path; ignored`)
			out.Path = ""
		}
		if out.Variable == "" && s.Variable == nil {
			out.Variable = DefaultSealVariable
		}
	}
	d.cfg.Seal = out
}

// telemetry reads the top-level telemetry stanza; OpenBao's defaults apply when it is absent.
// Its unauthenticated_metrics_access is the listener's unless the listener's own telemetry
// block says otherwise.
func (d *decoder) telemetry(ts []rawTelemetry) {
	out := &d.cfg.Telemetry
	out.PrometheusRetentionTime = DefaultPrometheusRetentionTime
	if len(ts) == 0 {
		return
	}
	if len(ts) > 1 {
		d.fail(ts[1].DefRange, "telemetry", fmt.Sprintf("only one telemetry block is allowed: merge it into the one at line %d", ts[0].DefRange.Start.Line))
		return
	}
	t := &ts[0]
	d.unknown(t.Remain, "telemetry.", t, telemetryReason)
	d.place("telemetry.prometheus_retention_time", t.PrometheusRetentionTime, t.DefRange)
	d.duration("telemetry.prometheus_retention_time", t.PrometheusRetentionTime, &out.PrometheusRetentionTime)
	d.boolean("telemetry.disable_hostname", t.DisableHostname, &out.DisableHostname)
	d.str("telemetry.metrics_prefix", t.MetricsPrefix, &out.MetricsPrefix)
	var unauth bool
	if d.boolean("telemetry.unauthenticated_metrics_access", t.UnauthenticatedMetricsAccess, &unauth) && !d.listenerSaysMetricsAccess {
		d.cfg.Listener.UnauthenticatedMetricsAccess = unauth
	}
}

func (d *decoder) rollback(rs []rawRollback) {
	if len(rs) == 0 {
		return
	}
	if len(rs) > 1 {
		d.fail(rs[1].DefRange, "rollback", fmt.Sprintf("only one rollback block is allowed: merge it into the one at line %d", rs[0].DefRange.Start.Line))
		return
	}
	r := &rs[0]
	d.unknown(r.Remain, "rollback.", r, nil)
	d.duration("rollback.period", r.Period, &d.cfg.Rollback.Period)
	d.duration("rollback.min_age", r.MinAge, &d.cfg.Rollback.MinAge)
	d.duration("rollback.window", r.Window, &d.cfg.Rollback.Window)
}

// derive fills what the file may leave out, as OpenBao does: the Raft bind port is the API
// port + 1, api_addr comes from the listener, cluster_addr from the Raft bind address.
// leaseTTL reads a system lease TTL: a duration, neither negative nor above MaxLeaseTTLBound.
func (d *decoder) leaseTTL(field string, a *hcl.Attribute, out *time.Duration) {
	var v time.Duration
	if !d.duration(field, a, &v) {
		return
	}
	if v < 0 || v > MaxLeaseTTLBound {
		d.fail(a.Range, field, fmt.Sprintf("must be a duration from 0 to %s (OpenBao's default is 768h), not %s", MaxLeaseTTLBound, v))
		return
	}
	*out = v
}

func (d *decoder) derive() {
	c := d.cfg
	if c.MaxLeaseTTL == 0 {
		c.MaxLeaseTTL = DefaultLeaseTTL
	}
	if c.DefaultLeaseTTL == 0 {
		c.DefaultLeaseTTL = min(DefaultLeaseTTL, c.MaxLeaseTTL)
	}
	if c.ClusterName == "" {
		c.ClusterName = DefaultClusterName
	}
	if c.LogLevel == hclog.NoLevel {
		c.LogLevel = hclog.Info
	}
	at := func(field string) hcl.Range { return c.pos[field] }

	l := &c.Listener
	host, port, err := splitPort(l.Address)
	if err != nil {
		return // Validate reports the address.
	}
	if l.ClusterAddress == "" && port < 65535 {
		l.ClusterAddress = net.JoinHostPort(host, strconv.Itoa(port+1))
		d.warn(at("listener.cluster_address"), hclog.Info, "listener.cluster_address",
			fmt.Sprintf("not set; Raft binds to %s (the API port + 1, as OpenBao does)", l.ClusterAddress))
	}
	if c.APIAddr == "" {
		level, why := hclog.Info, "set api_addr to the address other nodes and clients reach"
		if unspecified(host) {
			level, why = hclog.Warn, "the listener listens on every interface, so 127.0.0.1 stands in: set api_addr to the address other nodes reach"
			host = "127.0.0.1"
		}
		c.APIAddr = l.Scheme() + "://" + net.JoinHostPort(host, strconv.Itoa(port))
		d.warn(at("listener.address"), level, "api_addr", fmt.Sprintf("not set; derived %s from listener.address: %s", c.APIAddr, why))
	}
	if c.ClusterAddr == "" {
		chost, cport, err := splitPort(l.ClusterAddress)
		if err != nil {
			return
		}
		if unspecified(chost) {
			if u, err := splitURLHost(c.APIAddr); err == nil {
				chost = u
			}
		}
		c.ClusterAddr = net.JoinHostPort(chost, strconv.Itoa(cport))
		d.warn(at("listener.cluster_address"), hclog.Info, "cluster_addr",
			fmt.Sprintf("not set; other nodes reach Raft at %s: set cluster_addr if they need another address", c.ClusterAddr))
	}
}

func (d *decoder) fileStart() hcl.Range {
	return hcl.Range{Filename: d.cfg.File, Start: hcl.InitialPos, End: hcl.InitialPos}
}

// value evaluates an attribute without variables or functions; false when it is absent, null
// or broken (the problem is recorded).
func (d *decoder) value(field string, a *hcl.Attribute) (cty.Value, bool) {
	if a == nil {
		return cty.NilVal, false
	}
	d.cfg.pos[field] = a.Range
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		for _, diag := range diags {
			d.fail(a.Range, field, strings.TrimSuffix(diag.Summary+": "+diag.Detail, ": "))
		}
		return cty.NilVal, false
	}
	if v.IsNull() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

func (d *decoder) str(field string, a *hcl.Attribute, out *string) bool {
	v, ok := d.value(field, a)
	if !ok {
		return false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		d.fail(a.Range, field, fmt.Sprintf(`must be a string, not %s: write %s = "…"`, v.Type().FriendlyName(), leaf(field)))
		return false
	}
	*out = s.AsString()
	return true
}

// boolean takes true/false, "true"/"false" and, as OpenBao's documentation often writes
// tls_disable = 1, the numbers 0 and 1.
func (d *decoder) boolean(field string, a *hcl.Attribute, out *bool) bool {
	v, ok := d.value(field, a)
	if !ok {
		return false
	}
	switch v.Type() {
	case cty.Bool:
		*out = v.True()
		return true
	case cty.String:
		if b, err := strconv.ParseBool(v.AsString()); err == nil {
			*out = b
			return true
		}
	case cty.Number:
		switch {
		case v.Equals(cty.NumberIntVal(1)).True():
			*out = true
			return true
		case v.Equals(cty.NumberIntVal(0)).True():
			*out = false
			return true
		}
	}
	d.fail(a.Range, field, fmt.Sprintf("must be true or false: write %s = true", leaf(field)))
	return false
}

func (d *decoder) number(field string, a *hcl.Attribute) (*big.Float, bool) {
	v, ok := d.value(field, a)
	if !ok {
		return nil, false
	}
	n, err := convert.Convert(v, cty.Number)
	if err != nil || !n.AsBigFloat().IsInt() {
		d.fail(a.Range, field, fmt.Sprintf("must be a whole number: write %s = 1", leaf(field)))
		return nil, false
	}
	return n.AsBigFloat(), true
}

func (d *decoder) integer(field string, a *hcl.Attribute, out *int) bool {
	f, ok := d.number(field, a)
	if !ok {
		return false
	}
	n, acc := f.Int64()
	if acc != big.Exact || n != int64(int32(n)) {
		d.fail(a.Range, field, "is out of range")
		return false
	}
	*out = int(n)
	return true
}

// int64 takes a whole number (max_request_size is a byte count that may pass 2 GiB).
func (d *decoder) int64(field string, a *hcl.Attribute, out *int64) bool {
	f, ok := d.number(field, a)
	if !ok {
		return false
	}
	n, acc := f.Int64()
	if acc != big.Exact {
		d.fail(a.Range, field, "is out of range")
		return false
	}
	*out = n
	return true
}

func (d *decoder) count(field string, a *hcl.Attribute, out *uint64) bool {
	f, ok := d.number(field, a)
	if !ok {
		return false
	}
	n, acc := f.Uint64()
	if acc != big.Exact || f.Sign() < 0 {
		d.fail(a.Range, field, "must be a count of 0 or more")
		return false
	}
	*out = n
	return true
}

// duration takes "90s", "1m", "1h30m", or a number of seconds (90 or "90"), as OpenBao does.
func (d *decoder) duration(field string, a *hcl.Attribute, out *time.Duration) bool {
	v, ok := d.value(field, a)
	if !ok {
		return false
	}
	bad := func() bool {
		d.fail(a.Range, field, fmt.Sprintf(`must be a duration: write %s = "30s" (or "1m", "1h", or a number of seconds)`, leaf(field)))
		return false
	}
	// A number of seconds must fit a time.Duration: past that it would wrap to a negative.
	const maxSecs = float64(math.MaxInt64 / int64(time.Second))
	tooLarge := func() bool {
		d.fail(a.Range, field, fmt.Sprintf("is out of range: at most %d seconds", int64(maxSecs)))
		return false
	}
	switch v.Type() {
	case cty.Number:
		secs, _ := v.AsBigFloat().Float64()
		if secs > maxSecs || secs < -maxSecs {
			return tooLarge()
		}
		*out = time.Duration(secs * float64(time.Second))
		return true
	case cty.String:
		s := strings.TrimSpace(v.AsString())
		if n, err := strconv.ParseInt(s, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
			if err != nil || float64(n) > maxSecs || float64(n) < -maxSecs {
				return tooLarge()
			}
			*out = time.Duration(n) * time.Second
			return true
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			return bad()
		}
		*out = dur
		return true
	}
	return bad()
}

// fileMode takes an octal string ("0755", "755", "0o755") or a number. HCL reads 0755 as the
// decimal 755, so a number's digits are read as octal: what the operator meant.
func (d *decoder) fileMode(field string, a *hcl.Attribute, out *os.FileMode) bool {
	v, ok := d.value(field, a)
	if !ok {
		return false
	}
	var digits string
	switch v.Type() {
	case cty.String:
		digits = strings.TrimPrefix(strings.TrimSpace(v.AsString()), "0o")
	case cty.Number:
		if f := v.AsBigFloat(); f.IsInt() && f.Sign() >= 0 {
			digits = f.Text('f', 0)
		}
	}
	m, err := strconv.ParseUint(digits, 8, 32)
	if err != nil {
		d.fail(a.Range, field, fmt.Sprintf(`must be an octal mode: write %s = "0755"`, leaf(field)))
		return false
	}
	*out = os.FileMode(m)
	return true
}

func parseLevel(s string) hclog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "warning":
		return hclog.Warn
	case "err":
		return hclog.Error
	}
	return hclog.LevelFromString(s)
}

func leaf(field string) string { return field[strings.LastIndexByte(field, '.')+1:] }

func splitPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, port, nil
}

func splitURLHost(s string) (string, error) {
	_, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", errors.New("not a URL")
	}
	host, _, err := net.SplitHostPort(rest)
	return host, err
}

func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// diagErrors turns HCL's syntax and shape diagnostics into FieldErrors.
func diagErrors(diags hcl.Diagnostics) error {
	var errs []error
	for _, diag := range diags {
		if diag.Severity != hcl.DiagError {
			continue
		}
		e := &FieldError{Problem: strings.TrimSuffix(diag.Summary+": "+diag.Detail, ": ")}
		if diag.Subject != nil {
			e.File, e.Line = diag.Subject.Filename, diag.Subject.Start.Line
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}
