package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/apitls"
	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/internal/config"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/internal/faults"
	"github.com/baton-hq/baton/internal/server"
	"github.com/baton-hq/baton/internal/telemetry"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore"
)

const (
	postgresPluginName = "baton-postgresql-plugin"
	testPluginName     = "baton-test-plugin"
)

// serverFlags are `node server`'s flags, OpenBao's names for the dev ones.
type serverFlags struct {
	// config is the config file; configs every -config given (dev mode takes several, for
	// their audit stanzas).
	config      string
	configs     configFiles
	dev         bool
	devToken    string
	devListen   string
	devPlugins  string
	devNATSPort int
	// devTLS serves the dev node over TLS with a CA and certificate made in devTLSCertDir
	// (a temp dir when empty), as OpenBao's -dev-tls.
	devTLS        bool
	devTLSCertDir string
	logLevel      string
}

func runServer(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("node server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serverFlags
	fs.Var(&f.configs, "config", "HCL config file (OpenBao's format); with -dev, extra files whose audit stanzas the dev node enables (repeatable)")
	fs.BoolVar(&f.dev, "dev", false, "run a throwaway, initialised and unsealed single node")
	fs.StringVar(&f.devToken, "dev-root-token-id", "", "root token of the dev node (default: random)")
	fs.StringVar(&f.devListen, "dev-listen-address", "127.0.0.1:8200", "API address of the dev node")
	fs.StringVar(&f.devPlugins, "dev-plugin-dir", "", "the dev node's plugin directory, used in place as OpenBao's: the bundled plugins are installed there when absent, and a binary put there later can be registered by its SHA-256")
	fs.IntVar(&f.devNATSPort, "dev-nats-port", 4222, "embedded NATS port of the dev node (0: any free port)")
	fs.BoolVar(&f.devTLS, "dev-tls", false, "serve the dev node over TLS with a CA and certificate made for 127.0.0.1 and localhost (implies -dev)")
	fs.StringVar(&f.devTLSCertDir, "dev-tls-cert-dir", "", "directory for -dev-tls's CA and certificate (default: a temporary one, removed at exit)")
	fs.StringVar(&f.logLevel, "log-level", "", "trace, debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "node server takes no arguments (got %q); use -config FILE or -dev\n", fs.Args())
		return 2
	}
	if err := faults.ArmFromEnv(); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if len(f.configs) > 0 {
		f.config = f.configs[0]
	}
	if f.devTLS || f.devTLSCertDir != "" {
		f.dev = true
	}
	if !f.dev && len(f.configs) != 1 {
		fmt.Fprintln(stderr, "node server needs exactly one -config FILE, or -dev (which takes extra -config files for audit stanzas)")
		return 2
	}
	if f.dev {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return runDev(ctx, f, stdout, stderr)
	}
	return runConfigured(f, stderr)
}

func newLogger(level string, def hclog.Level, out io.Writer) hclog.Logger {
	l := def
	if level != "" {
		l = hclog.LevelFromString(level)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "baton", Level: l, Output: out})
}

func runConfigured(f serverFlags, stderr io.Writer) int {
	cfg, warnings, err := config.Load(f.config)
	if err != nil {
		fmt.Fprintln(stderr, "Error loading configuration:", err)
		return 1
	}
	log := newLogger(f.logLevel, cfg.LogLevel, stderr)
	config.LogWarnings(log, warnings)
	timing := cfg.Storage.Timing()
	rc := raftstore.FastConfig()
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = timing.Heartbeat, timing.Election, timing.LeaderLease
	if cfg.Storage.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.Storage.SnapshotThreshold
	}
	if cfg.Storage.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.Storage.TrailingLogs
	}
	if cfg.Storage.AutopilotReconcileInterval > 0 {
		rc.AutopilotReconcileInterval = cfg.Storage.AutopilotReconcileInterval
	}
	if cfg.Storage.AutopilotUpdateInterval > 0 {
		rc.AutopilotUpdateInterval = cfg.Storage.AutopilotUpdateInterval
	}
	if cfg.Storage.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.Storage.SnapshotInterval
	}
	check, err := catalog.PermissionCheckFromEnv()
	if err != nil {
		log.Error("plugin permission check", "error", err)
		return 1
	}
	perm := catalog.PermissionPolicy{Enabled: check, UID: cfg.PluginFileUID, Mode: cfg.PluginFilePermissions}
	var join []string
	for _, j := range cfg.Storage.RetryJoin {
		join = append(join, j.LeaderAPIAddr)
	}
	sc := server.Config{
		Core: core.Config{
			NodeID: cfg.Storage.NodeID, DataDir: cfg.Storage.Path,
			RaftBind: cfg.Listener.ClusterAddress, RaftAdvertise: cfg.RaftAdvertise(),
			APIAddr: cfg.APIAddr, Raft: rc, Cluster: cfg.ClusterName,
			NATSURL: cfg.NATS.URL, EmbeddedNATSPort: cfg.NATS.Port, Logger: log,
		},
		Listen: cfg.Listener.Address, PluginDir: cfg.PluginDirectory, StartTimeout: cfg.PluginStartTimeout,
		Permissions: perm, RollbackPeriod: cfg.Rollback.Period, RollbackMinAge: cfg.Rollback.MinAge,
		RollbackWindow:               cfg.Rollback.Window,
		RetryJoin:                    join,
		Limits:                       listenerLimits(cfg.Listener),
		Telemetry:                    telemetryConfig(cfg.Telemetry),
		UnauthenticatedMetricsAccess: cfg.Listener.UnauthenticatedMetricsAccess,
		Audit:                        auditSettings(cfg.Audit),
		DefaultLeaseTTL:              cfg.DefaultLeaseTTL, MaxLeaseTTL: cfg.MaxLeaseTTL,
	}
	sc.Core.NATSClient.CredsFile = cfg.NATS.Credentials
	sc.Core.EmbeddedNATSHost = cfg.NATS.Host
	sc.Core.EventLimit = events.Limit{Rate: float64(cfg.NATS.EventRate), Burst: cfg.NATS.EventBurst}
	sc.Core.NATSClient.NKeySeedFile = cfg.NATS.NKeySeed
	sc.Core.NATSClient.CAFile, sc.Core.NATSClient.CertFile, sc.Core.NATSClient.KeyFile = cfg.NATS.TLSCA, cfg.NATS.TLSCert, cfg.NATS.TLSKey
	sc.Core.NATSClient.User, sc.Core.NATSClient.Password = cfg.NATS.User, cfg.NATS.Password
	sc.TLS = listenerTLS(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sc.Core.Shutdown = stop
	s, err := server.New(sc)
	if err != nil {
		log.Error("starting the node", "error", err)
		return 1
	}
	reloadAuditOnSIGHUP(ctx, s.Audit, log, []string{f.config})
	go onSIGHUP(ctx, log, func() { reloadTLS(s, log) })
	if cfg.Seal != nil {
		key, err := cfg.Seal.ReadKey()
		if err != nil {
			log.Error("reading the unseal key", "error", err)
		} else if s.Node.Initialized() || len(join) > 0 {
			uctx, cancel := context.WithTimeout(ctx, 90*time.Second)
			if err := s.Membership.Unseal(uctx, barrier.EncodeKey(key)); err != nil {
				log.Error("auto-unseal", "error", err)
			}
			cancel()
		}
	}
	<-ctx.Done()
	return shutdown(s, log)
}

func shutdown(s *server.Server, log hclog.Logger) int {
	log.Info("shutting down: stopping plugins, handing leadership over")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		log.Error("shutdown", "error", err)
		return 1
	}
	return 0
}

// freeAddr returns 127.0.0.1:port when free, else a free port's address.
func freeAddr(port int) (string, int, error) {
	for _, p := range []int{port, 0} {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		got := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return "127.0.0.1:" + strconv.Itoa(got), got, nil
	}
	return "", 0, errors.New("no free port on 127.0.0.1")
}

// listenerTLS turns the listener stanza's TLS keys into the server's TLS settings; nil for
// tls_disable = true.
func listenerTLS(cfg *config.Config) *server.ListenerTLS {
	l := cfg.Listener
	if l.TLSDisable {
		return nil
	}
	t := &server.ListenerTLS{
		CertFile: l.TLSCertFile, KeyFile: l.TLSKeyFile,
		Options: apitls.ServerOptions{
			MinVersion: l.TLSMinVersion, MaxVersion: l.TLSMaxVersion, CipherSuites: l.TLSCipherSuites,
			ClientCAFile: l.TLSClientCAFile, RequireClientCert: l.TLSRequireAndVerifyClientCert,
		},
	}
	// Other nodes' certificates are trusted when the node's own chain holds their CA, or
	// one of these files does.
	if l.TLSClientCAFile != "" {
		t.PeerCAFiles = append(t.PeerCAFiles, l.TLSClientCAFile)
	}
	for _, j := range cfg.Storage.RetryJoin {
		if j.LeaderCACertFile != "" {
			t.PeerCAFiles = append(t.PeerCAFiles, j.LeaderCACertFile)
		}
	}
	return t
}

// listenerLimits turns the listener stanza's HTTP limit keys (defaults already filled by
// config.Parse) into the server's limits.
func listenerLimits(l config.Listener) *server.Limits {
	return &server.Limits{
		ReadHeaderTimeout: l.HTTPReadHeaderTimeout, ReadTimeout: l.HTTPReadTimeout,
		WriteTimeout: l.HTTPWriteTimeout, IdleTimeout: l.HTTPIdleTimeout,
		MaxRequestSize: l.MaxRequestSize, MaxRequestDuration: l.MaxRequestDuration,
		MaxConnections: l.MaxConnections,
	}
}

// telemetryConfig turns the telemetry stanza (defaults already filled by config.Parse) into
// the node's telemetry configuration.
func telemetryConfig(t config.Telemetry) *telemetry.Config {
	return &telemetry.Config{PrometheusRetention: t.PrometheusRetentionTime, DisableHostname: t.DisableHostname, Prefix: t.MetricsPrefix}
}
