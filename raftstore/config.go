package raftstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// minTimeout is the smallest timing hashicorp/raft accepts for heartbeat, election, lease and
// snapshot interval; below it raft.NewRaft refuses the configuration, so Validate refuses first
// and names the field.
const minTimeout = 5 * time.Millisecond

// Config is what a node needs to open its Raft store. Timings follow hashicorp/raft's meaning.
type Config struct {
	// NodeID is this node's Raft server id; it must stay the same across restarts.
	NodeID string
	// Dir holds raft.db (log and stable store) and the snapshots directory.
	Dir string
	// BindAddr is the host:port the Raft TCP transport listens on. Port 0 picks a free port
	// (read it back with Store.Addr) and is only allowed when AdvertiseAddr is empty.
	BindAddr string
	// AdvertiseAddr is the host:port other nodes dial; empty means the listener's own address,
	// which then must not be a wildcard such as 0.0.0.0.
	AdvertiseAddr string

	// HeartbeatTimeout is how long a follower waits without contact before starting an election.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits for votes before trying again.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without reaching a quorum.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is how long the leader waits without new entries before it heartbeats, so
	// that followers learn the commit index promptly.
	CommitTimeout time.Duration

	// SnapshotThreshold is how many new log entries trigger a snapshot (checked every
	// SnapshotInterval).
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks whether a snapshot is due.
	SnapshotInterval time.Duration
	// SnapshotRetain is how many snapshots are kept on disk.
	SnapshotRetain int
	// TrailingLogs is how many log entries stay behind a snapshot, so that a slightly lagging
	// follower catches up from the log instead of receiving a whole snapshot.
	TrailingLogs uint64

	// ApplyTimeout bounds how long Apply, Join and Remove wait for raft to accept an entry (not
	// for it to commit: the caller's context bounds that).
	ApplyTimeout time.Duration
	// AutopilotUpdateInterval is how often the autopilot refreshes its view of the servers and
	// AutopilotReconcileInterval how often it acts on it (promotions, dead server removal);
	// OpenBao's storage autopilot_update_interval and autopilot_reconcile_interval. Zero means
	// 2 s and 10 s, OpenBao's defaults.
	AutopilotUpdateInterval, AutopilotReconcileInterval time.Duration
	// NoSync skips fsync on the log: only for tests that do not test durability.
	NoSync bool

	// TLS secures the cluster port: Raft's RPCs (and the Protocols beside them) run over TLS
	// 1.3 with client certificates required. The caller's config carries the node's
	// certificate (Certificates or GetCertificate and GetClientCertificate) and decides which
	// peers are good (ClientCAs and RootCAs, VerifyConnection); raftstore forces the version,
	// the client-certificate requirement and the ALPN list. Required unless
	// PlainTCPForBenchmarks.
	TLS *tls.Config
	// Protocols are more ALPN protocols served on the cluster port beside Raft's (request
	// forwarding): Store.Listener gives their connections and Store.DialProtocol opens them.
	Protocols []string
	// PlainTCPForBenchmarks runs Raft over plain TCP with no authentication at all, as the
	// same-run baseline of the TLS benchmarks and for this package's own tests. Nothing in the
	// product's configuration reaches it; it must never be set outside tests.
	PlainTCPForBenchmarks bool
	// Logger receives raft's logs under the name "raft"; nil means hclog.Default().
	Logger hclog.Logger
}

// DefaultConfig returns hashicorp/raft's own timings and snapshot policy (heartbeat 1 s,
// election 1 s, lease 500 ms, commit 50 ms, snapshot every 8192 entries checked every 120 s,
// 10240 trailing logs), keeps 2 snapshots and waits 10 s for raft to accept an entry.
// NodeID, Dir and BindAddr are left for the caller.
func DefaultConfig() Config {
	rc := raft.DefaultConfig()
	return Config{
		HeartbeatTimeout:   rc.HeartbeatTimeout,
		ElectionTimeout:    rc.ElectionTimeout,
		LeaderLeaseTimeout: rc.LeaderLeaseTimeout,
		CommitTimeout:      rc.CommitTimeout,
		SnapshotThreshold:  rc.SnapshotThreshold,
		SnapshotInterval:   rc.SnapshotInterval,
		SnapshotRetain:     2,
		TrailingLogs:       rc.TrailingLogs,
		ApplyTimeout:       10 * time.Second,
	}
}

// FastConfig is DefaultConfig with the fast failover profile Baton uses (OpenBao's
// performance_multiplier = 1 is comparable): heartbeat 200 ms, election 200 ms, leader lease
// 100 ms, and the autopilot acting every second. A follower notices a dead leader after 200–400 ms (raft randomises the timeout between
// one and two times the heartbeat) and a new leader was measured about 0.4 s after a kill.
//
// The order lease ≤ heartbeat ≤ election is required, not a taste: a leader must give up (lease)
// before followers may elect another one (heartbeat), otherwise two nodes could both act as
// leader for a moment; and a candidate must wait for votes (election) at least as long as
// followers wait for a leader (heartbeat), otherwise elections restart before the votes of a
// healthy cluster arrive. raft refuses configurations that break either rule.
func FastConfig() Config {
	c := DefaultConfig()
	c.HeartbeatTimeout = 200 * time.Millisecond
	c.ElectionTimeout = 200 * time.Millisecond
	c.LeaderLeaseTimeout = 100 * time.Millisecond
	// A node that joins is a non-voter until the autopilot promotes it: act every second so
	// that a cluster being formed has its voters soon after the joins.
	c.AutopilotUpdateInterval = 500 * time.Millisecond
	c.AutopilotReconcileInterval = time.Second
	return c
}

// Validate refuses a configuration raft would refuse or that could not work, naming the field
// and what to change. All problems are reported together.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("raftstore: config: "+format, args...))
	}

	if c.NodeID == "" {
		bad("NodeID is empty: give every node a unique, stable id")
	}
	if c.Dir == "" {
		bad("Dir is empty: give the directory for raft.db and snapshots")
	}
	if c.TLS == nil && !c.PlainTCPForBenchmarks {
		bad("TLS is nil: the cluster port runs only over mutual TLS (give the node's certificate and the cluster CA)")
	}
	if c.TLS != nil && !c.PlainTCPForBenchmarks && c.TLS.VerifyConnection == nil && (c.TLS.ClientCAs == nil || c.TLS.RootCAs == nil || c.TLS.InsecureSkipVerify) {
		bad("TLS verifies no peer: set VerifyConnection, or ClientCAs and RootCAs to the cluster CA")
	}
	for _, p := range c.Protocols {
		if p == "" || p == ProtocolRaft {
			bad("Protocols has %q: name each extra protocol, other than %q", p, ProtocolRaft)
		}
	}
	if err := checkAddrs(c.BindAddr, c.AdvertiseAddr); err != nil {
		errs = append(errs, err)
	}

	if c.HeartbeatTimeout < minTimeout {
		bad("HeartbeatTimeout %s is below %s: use FastConfig's 200ms or more", c.HeartbeatTimeout, minTimeout)
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		bad("ElectionTimeout %s is below HeartbeatTimeout %s: raise it to at least the heartbeat", c.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.LeaderLeaseTimeout < minTimeout {
		bad("LeaderLeaseTimeout %s is below %s: use half the heartbeat timeout", c.LeaderLeaseTimeout, minTimeout)
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		bad("LeaderLeaseTimeout %s exceeds HeartbeatTimeout %s: lower it to at most the heartbeat", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	}
	if c.CommitTimeout < time.Millisecond {
		bad("CommitTimeout %s is below 1ms: use raft's 50ms", c.CommitTimeout)
	}
	if c.SnapshotThreshold == 0 {
		bad("SnapshotThreshold is 0: use raft's 8192 entries")
	}
	if c.SnapshotInterval < minTimeout {
		bad("SnapshotInterval %s is below %s: use raft's 120s", c.SnapshotInterval, minTimeout)
	}
	if c.SnapshotRetain < 1 {
		bad("SnapshotRetain %d is below 1: keep at least one snapshot", c.SnapshotRetain)
	}
	if c.ApplyTimeout <= 0 {
		bad("ApplyTimeout %s is not positive: use 10s", c.ApplyTimeout)
	}
	return errors.Join(errs...)
}

// checkAddrs checks what the TCP transport needs: a listen address, and an address other nodes
// can dial (the advertised one, or else the listener's, which must then name a real interface).
func checkAddrs(bind, advertise string) error {
	bindHost, bindPort, err := net.SplitHostPort(bind)
	if err != nil {
		return fmt.Errorf("raftstore: config: BindAddr %q is not host:port (for example 127.0.0.1:8201): %v", bind, err)
	}
	if _, err := strconv.ParseUint(bindPort, 10, 16); err != nil {
		return fmt.Errorf("raftstore: config: BindAddr %q has no valid port: use 0-65535", bind)
	}
	if advertise == "" {
		if bindHost == "" {
			return fmt.Errorf("raftstore: config: BindAddr %q has no host and AdvertiseAddr is empty: set AdvertiseAddr to an address other nodes can dial", bind)
		}
		if ip := net.ParseIP(bindHost); ip != nil && ip.IsUnspecified() {
			return fmt.Errorf("raftstore: config: BindAddr %q is a wildcard and AdvertiseAddr is empty: set AdvertiseAddr to an address other nodes can dial", bind)
		}
		return nil
	}
	if bindPort == "0" {
		return fmt.Errorf("raftstore: config: BindAddr %q picks a random port but AdvertiseAddr %q is fixed: give BindAddr a fixed port", bind, advertise)
	}
	advHost, advPort, err := net.SplitHostPort(advertise)
	if err != nil {
		return fmt.Errorf("raftstore: config: AdvertiseAddr %q is not host:port (for example 10.0.0.5:8201): %v", advertise, err)
	}
	if p, err := strconv.ParseUint(advPort, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("raftstore: config: AdvertiseAddr %q needs a fixed port: other nodes dial it", advertise)
	}
	if ip := net.ParseIP(advHost); advHost == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("raftstore: config: AdvertiseAddr %q is not dialable: name this node's reachable address", advertise)
	}
	return nil
}
