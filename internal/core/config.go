package core

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/clusterpki"
	"github.com/baton-hq/baton/raftstore"
)

// Config is one node's configuration.
type Config struct {
	// NodeID names the node in Raft and in the API.
	NodeID string
	// DataDir holds the Raft log, snapshots, the local seal check and the embedded NATS store.
	DataDir string
	// RaftBind is the Raft TCP listen address; RaftAdvertise what peers dial (default RaftBind).
	RaftBind, RaftAdvertise string
	// APIAddr is this node's HTTP API address as clients reach it (OpenBao's api_addr).
	APIAddr string
	// APIClientTLS is how this node dials other nodes' https API (the join); nil means Go's
	// defaults (the system's roots).
	APIClientTLS *tls.Config
	// Raft holds the timeouts; NodeID, Dir and addresses are filled from the fields above.
	Raft raftstore.Config
	// Cluster names the cluster in NATS subjects (baton.<cluster>.…).
	Cluster string
	// NATSURL is an external NATS server; empty runs an embedded one (EmbeddedNATS).
	NATSURL string
	// NATSClient carries credentials, nkey and TLS options for an external server.
	NATSClient events.ClientConfig
	// EmbeddedNATSPort is the embedded server's client port (0: any free port).
	EmbeddedNATSPort int
	// EmbeddedNATSHost is the address the embedded server listens on ("": 127.0.0.1).
	EmbeddedNATSHost string
	// NoNATS runs the node without NATS (no injection, no transition stream): for tests of
	// the Raft side alone.
	NoNATS bool
	// ConsumerConcurrency is how many events the active node applies at once (default 1024,
	// the consumer's MaxAckPending). Concurrent events are committed together, many per Raft
	// entry, so throughput grows with it while a lone event still commits at once.
	ConsumerConcurrency int
	// EventLimit is the active node's intake rate, shared by the stream consumer and the
	// inject subject; a zero Rate means no limit. Burst defaults to Rate.
	EventLimit events.Limit
	// ClusterCertTTL is the lifetime of this node's cluster-port certificate; the node renews
	// it at two thirds of its life (0: clusterpki.DefaultCertTTL, a day).
	ClusterCertTTL time.Duration
	// Logger is the node's logger; every part logs through a named child.
	Logger hclog.Logger
	// Shutdown, when set, is called for a shutdown event: the process's graceful exit.
	Shutdown func()
}

// Validate checks the configuration; every refusal names the field. It changes nothing: the
// fields it does not require get their defaults from withDefaults, which New applies first.
func (c Config) Validate() error {
	var errs []error
	if c.NodeID == "" {
		errs = append(errs, errors.New("node_id is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data directory (storage \"raft\" path) is required"))
	}
	if c.RaftBind == "" {
		errs = append(errs, errors.New("raft bind address (cluster_address) is required"))
	}
	if c.APIAddr == "" {
		errs = append(errs, errors.New("api_addr is required"))
	}
	if c.EventLimit != (events.Limit{}) {
		if err := c.withDefaults().EventLimit.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("core: config: %w", errors.Join(errs...))
	}
	return nil
}

// withDefaults returns a copy of c with defaults in the fields left empty: cluster "baton",
// RaftAdvertise = RaftBind, raftstore.FastConfig's timeouts, ConsumerConcurrency 1024 and a
// logger that discards.
func (c Config) withDefaults() Config {
	if c.Cluster == "" {
		c.Cluster = "baton"
	}
	if c.RaftAdvertise == "" {
		c.RaftAdvertise = c.RaftBind
	}
	if c.Raft.HeartbeatTimeout == 0 {
		c.Raft = raftstore.FastConfig()
	}
	if c.ConsumerConcurrency <= 0 {
		c.ConsumerConcurrency = 1024
	}
	if c.EventLimit.Rate > 0 && c.EventLimit.Burst == 0 {
		c.EventLimit.Burst = int(max(c.EventLimit.Rate, 1))
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.ClusterCertTTL <= 0 {
		c.ClusterCertTTL = clusterpki.DefaultCertTTL
	}
	return c
}

// raftConfig gives the store its configuration.
func (c *Config) raftConfig() raftstore.Config {
	r := c.Raft
	r.NodeID = c.NodeID
	r.Dir = c.DataDir + "/raft"
	r.BindAddr = c.RaftBind
	r.AdvertiseAddr = c.RaftAdvertise
	r.Logger = c.Logger.Named("raft")
	if r.ApplyTimeout == 0 {
		r.ApplyTimeout = 10 * time.Second
	}
	return r
}
