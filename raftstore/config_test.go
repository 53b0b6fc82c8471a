package raftstore

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestValidate(t *testing.T) {
	valid := func() Config {
		c := FastConfig()
		c.NodeID, c.Dir, c.BindAddr = "n0", "/tmp/n0", "127.0.0.1:8201"
		c.TLS = &tls.Config{VerifyConnection: func(tls.ConnectionState) error { return nil }}
		return c
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string // empty: valid; otherwise a fragment of the refusal
	}{
		{"fast profile", func(*Config) {}, ""},
		{"default profile", func(c *Config) {
			d := DefaultConfig()
			d.NodeID, d.Dir, d.BindAddr, d.TLS = c.NodeID, c.Dir, c.BindAddr, c.TLS
			*c = d
		}, ""},
		{"wildcard bind with advertise", func(c *Config) { c.BindAddr, c.AdvertiseAddr = "0.0.0.0:8201", "10.0.0.5:8201" }, ""},
		{"random port", func(c *Config) { c.BindAddr = "127.0.0.1:0" }, ""},
		{"no node id", func(c *Config) { c.NodeID = "" }, "NodeID is empty"},
		{"no dir", func(c *Config) { c.Dir = "" }, "Dir is empty"},
		{"bind not host:port", func(c *Config) { c.BindAddr = "localhost" }, "BindAddr \"localhost\" is not host:port"},
		{"bind bad port", func(c *Config) { c.BindAddr = "127.0.0.1:http" }, "BindAddr \"127.0.0.1:http\" has no valid port"},
		{"wildcard bind alone", func(c *Config) { c.BindAddr = "0.0.0.0:8201" }, "set AdvertiseAddr"},
		{"empty host alone", func(c *Config) { c.BindAddr = ":8201" }, "set AdvertiseAddr"},
		{"advertise port 0", func(c *Config) { c.AdvertiseAddr = "10.0.0.5:0" }, "AdvertiseAddr \"10.0.0.5:0\" needs a fixed port"},
		{"advertise wildcard", func(c *Config) { c.AdvertiseAddr = "0.0.0.0:8201" }, "AdvertiseAddr \"0.0.0.0:8201\" is not dialable"},
		{"random bind with advertise", func(c *Config) { c.BindAddr, c.AdvertiseAddr = "127.0.0.1:0", "10.0.0.5:8201" }, "give BindAddr a fixed port"},
		{"heartbeat too low", func(c *Config) { c.HeartbeatTimeout = time.Millisecond; c.LeaderLeaseTimeout = time.Millisecond }, "HeartbeatTimeout 1ms is below 5ms"},
		{"election below heartbeat", func(c *Config) { c.ElectionTimeout = 100 * time.Millisecond }, "ElectionTimeout 100ms is below HeartbeatTimeout 200ms"},
		{"lease above heartbeat", func(c *Config) { c.LeaderLeaseTimeout = 300 * time.Millisecond }, "LeaderLeaseTimeout 300ms exceeds HeartbeatTimeout 200ms"},
		{"lease zero", func(c *Config) { c.LeaderLeaseTimeout = 0 }, "LeaderLeaseTimeout 0s is below 5ms"},
		{"commit zero", func(c *Config) { c.CommitTimeout = 0 }, "CommitTimeout 0s is below 1ms"},
		{"snapshot threshold zero", func(c *Config) { c.SnapshotThreshold = 0 }, "SnapshotThreshold is 0"},
		{"snapshot interval zero", func(c *Config) { c.SnapshotInterval = 0 }, "SnapshotInterval 0s is below 5ms"},
		{"retain zero", func(c *Config) { c.SnapshotRetain = 0 }, "SnapshotRetain 0 is below 1"},
		{"no TLS", func(c *Config) { c.TLS = nil }, "TLS is nil: the cluster port runs only over mutual TLS"},
		{"TLS without a verifier", func(c *Config) { c.TLS = &tls.Config{InsecureSkipVerify: true} }, "TLS verifies no peer"},
		{"plain baseline", func(c *Config) { c.TLS, c.PlainTCPForBenchmarks = nil, true }, ""},
		{"protocol clash", func(c *Config) { c.Protocols = []string{ProtocolRaft} }, "Protocols has \"baton-raft\""},
		{"apply timeout zero", func(c *Config) { c.ApplyTimeout = 0 }, "ApplyTimeout 0s is not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate: %v, want a refusal containing %q", err, tt.want)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := Config{}.Validate()
	for _, field := range []string{"NodeID", "Dir", "BindAddr", "HeartbeatTimeout", "SnapshotRetain", "ApplyTimeout", "TLS"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate of a zero Config: %v, want it to name %s", err, field)
		}
	}
}

// TestProfilesSatisfyRaft checks that what Validate accepts, raft accepts too.
func TestProfilesSatisfyRaft(t *testing.T) {
	for name, c := range map[string]Config{"default": DefaultConfig(), "fast": FastConfig()} {
		c.NodeID = "n0"
		s := &Store{cfg: c}
		if err := raft.ValidateConfig(s.raftConfig()); err != nil {
			t.Errorf("%s profile: raft refuses it: %v", name, err)
		}
	}
}

func TestOpenRefusesInvalidConfig(t *testing.T) {
	c := FastConfig()
	c.Dir = t.TempDir()
	if _, err := Open(c, newTestDispatcher()); err == nil || !strings.Contains(err.Error(), "NodeID") {
		t.Fatalf("Open with no NodeID: %v, want a refusal naming NodeID", err)
	}
}
