package main

import (
	"testing"
	"time"

	"github.com/baton-hq/baton/internal/config"
	"github.com/baton-hq/baton/internal/server"
	"github.com/baton-hq/baton/internal/telemetry"
)

// TestListenerLimitsFromFile checks that every HTTP limit key of a listener stanza reaches
// the server, and that a stanza without them gives the server's own defaults (the same
// values dev mode serves with).
func TestListenerLimitsFromFile(t *testing.T) {
	const base = `api_addr = "http://127.0.0.1:8200"
storage "raft" {
  path    = "/tmp/limits"
  node_id = "n1"
}
listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
`
	tests := []struct {
		name, keys string
		want       server.Limits
	}{
		{"absent", "", server.DefaultLimits()},
		{"set", `http_read_header_timeout = "1s"
  http_read_timeout = 2
  http_write_timeout = "3s"
  http_idle_timeout = "4s"
  max_request_size = 5000
  max_request_duration = "6s"
  max_connections = 7
`, server.Limits{
			ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second,
			IdleTimeout: 4 * time.Second, MaxRequestSize: 5000, MaxRequestDuration: 6 * time.Second, MaxConnections: 7,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := config.Parse([]byte(base+"  "+tt.keys+"}\n"), "node.hcl")
			if err != nil {
				t.Fatal(err)
			}
			if got := *listenerLimits(cfg.Listener); got != tt.want {
				t.Errorf("limits:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestTelemetryFromFile checks that the telemetry stanza and the listener's
// unauthenticated_metrics_access reach the server, and that an absent stanza gives OpenBao's
// defaults.
func TestTelemetryFromFile(t *testing.T) {
	const base = `api_addr = "http://127.0.0.1:8200"
storage "raft" {
  path    = "/tmp/telemetry"
  node_id = "n1"
}
`
	tests := []struct {
		name, src  string
		want       telemetry.Config
		wantUnauth bool
	}{
		{"absent", `listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
}
`, telemetry.DefaultConfig(), false},
		{"set", `listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
  telemetry {
    unauthenticated_metrics_access = true
  }
}
telemetry {
  prometheus_retention_time = "2h"
  disable_hostname          = true
  metrics_prefix            = "baton"
}
`, telemetry.Config{PrometheusRetention: 2 * time.Hour, DisableHostname: true, Prefix: "baton"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, err := config.Parse([]byte(base+tt.src), "node.hcl")
			if err != nil {
				t.Fatal(err)
			}
			if got := *telemetryConfig(cfg.Telemetry); got != tt.want {
				t.Errorf("telemetry:\n got %+v\nwant %+v", got, tt.want)
			}
			if cfg.Listener.UnauthenticatedMetricsAccess != tt.wantUnauth {
				t.Errorf("unauthenticated_metrics_access = %v, want %v", cfg.Listener.UnauthenticatedMetricsAccess, tt.wantUnauth)
			}
		})
	}
}
