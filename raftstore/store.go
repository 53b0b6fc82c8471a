// Package raftstore is Baton's Raft node: hashicorp/raft with a bbolt log and stable store, file
// snapshots and a transport over mutual TLS on the cluster port (see Config.TLS), plus a thin raft.FSM that decodes command envelopes and hands
// them to a Dispatcher (the replicated state). It knows nothing of what commands mean.
//
// Writes go through Store.Apply on the leader. Errors callers branch on are sentinels:
// ErrNotLeader (nothing was proposed; ask the leader), ErrIndeterminate (the entry may still
// commit; retry with the same command id, which the state applies once), ErrClosed.
package raftstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/baton-hq/baton/raftstore/command"
)

// Errors callers branch on.
var (
	// ErrNotLeader: this node is not the leader, so nothing was proposed. The error's text names
	// the leader's id and address when one is known (Store.Leader gives them as values).
	ErrNotLeader = errors.New("raftstore: not the leader")
	// ErrIndeterminate: the entry was handed to raft but its outcome is unknown (leadership was
	// lost, the node shut down, or the caller's context ended first); it may still commit.
	// Retry with the same command id.
	ErrIndeterminate = errors.New("raftstore: outcome unknown, the entry may still commit (retry with the same command id)")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("raftstore: store is closed")
	// ErrMalformedEntry: a committed log entry did not decode; it was refused on every node.
	ErrMalformedEntry = errors.New("raftstore: malformed log entry refused")
	// ErrDirInUse: another open Store (in this or another process) holds the data directory.
	ErrDirInUse = errors.New("raftstore: data directory is in use by another node")
)

const (
	// boltOpenTimeout bounds the wait for bbolt's file lock, so a second open of a directory
	// fails instead of blocking for ever.
	boltOpenTimeout = time.Second
	// shutdownTimeout bounds Close's wait for raft's goroutines (an FSM apply or snapshot in
	// progress delays them).
	shutdownTimeout = 15 * time.Second
	// transportTimeout is the TCP transport's I/O deadline, as in hraftd and rqlite.
	transportTimeout = 10 * time.Second
	// transportPool is how many idle connections the transport keeps per peer.
	transportPool = 3
	// logCacheSize is how many recent log entries stay in memory.
	logCacheSize = 1024
	// pollInterval paces WaitForLeader and WaitForAppliedIndex.
	pollInterval = 5 * time.Millisecond
	// observerBuffer holds raft observations until the watcher reads them; raft drops (never
	// blocks) when it is full, which the watcher tolerates because it reads raft's state itself.
	observerBuffer = 64
)

// Server is one member of the Raft configuration.
type Server struct {
	// ID is the node's Raft server id.
	ID string
	// Address is the Raft address other nodes dial.
	Address string
	// Voter is false for a non-voting member (which replicates but does not count for quorum).
	Voter bool
	// Leader is true for the member this node believes leads.
	Leader bool
}

// Store is one Raft node. Its methods are safe for concurrent use.
type Store struct {
	cfg    Config
	logger hclog.Logger
	raft   *raft.Raft
	fsm    *fsm
	bolt   *raftboltdb.BoltStore
	trans  *raft.NetworkTransport
	stream *streamLayer

	observer   *raft.Observer
	obsCh      chan raft.Observation
	changes    chan bool // capacity 1, written only by the watcher goroutine (then by Close)
	queued     bool      // last value put on changes
	queuedTerm uint64    // term of the last true put on changes
	stop       chan struct{}
	watchWG    sync.WaitGroup

	apMu sync.Mutex
	ap   *autopilotRun // nil unless StartAutopilot runs

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the node's data directory and starts Raft. A fresh node has
// no configuration: call Bootstrap on the first node, and Join on the leader for the others.
func Open(cfg Config, d Dispatcher) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d == nil {
		return nil, errors.New("raftstore: open: nil Dispatcher")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.Default()
	}
	logger = logger.Named("raft")

	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftstore: open: create data directory: %w", err)
	}

	s := &Store{
		cfg:     cfg,
		logger:  logger,
		fsm:     &fsm{d: d, log: logger},
		changes: make(chan bool, 1),
		stop:    make(chan struct{}),
	}
	var cleanup []func()
	fail := func(err error) (*Store, error) {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
		return nil, err
	}

	dbPath := filepath.Join(cfg.Dir, "raft.db")
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path:        dbPath,
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
		NoSync:      cfg.NoSync,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return fail(fmt.Errorf("%w: %s stayed locked for %s; stop the other node or use another Dir", ErrDirInUse, dbPath, boltOpenTimeout))
	}
	if err != nil {
		return fail(fmt.Errorf("raftstore: open %s: %w", dbPath, err))
	}
	s.bolt = bolt
	cleanup = append(cleanup, func() { _ = bolt.Close() })

	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, cfg.SnapshotRetain, logger)
	if err != nil {
		return fail(fmt.Errorf("raftstore: open snapshot store in %s: %w", cfg.Dir, err))
	}

	var advertise net.Addr
	if cfg.AdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
		if err != nil {
			return fail(fmt.Errorf("raftstore: resolve AdvertiseAddr %q: %w", cfg.AdvertiseAddr, err))
		}
		advertise = a
	}
	tc := cfg.TLS
	if cfg.PlainTCPForBenchmarks {
		tc = nil
		logger.Warn("raft runs over plain TCP with no authentication (benchmark baseline only)")
	}
	stream, err := newStreamLayer(cfg.BindAddr, advertise, tc, cfg.Protocols, logger)
	if err != nil {
		return fail(fmt.Errorf("raftstore: listen on BindAddr %q: %w", cfg.BindAddr, err))
	}
	s.stream = stream
	cleanup = append(cleanup, func() { _ = stream.Close(); stream.wait() })
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: transportPool, Timeout: transportTimeout, Logger: logger,
	})
	s.trans = trans
	cleanup = append(cleanup, func() { trans.CloseStreams(); _ = trans.Close() })

	// A log cache keeps the newest entries in memory: raft reads back what it just wrote to
	// replicate and apply it, and without the cache every such read is a bolt lookup.
	logs, err := raft.NewLogCache(logCacheSize, bolt)
	if err != nil {
		return fail(fmt.Errorf("raftstore: log cache: %w", err))
	}
	r, err := raft.NewRaft(s.raftConfig(), s.fsm, logs, bolt, snaps, trans)
	if err != nil {
		return fail(fmt.Errorf("raftstore: start raft: %w", err))
	}
	s.raft = r
	stream.setPeers(s.peerAddrs)

	s.obsCh = make(chan raft.Observation, observerBuffer)
	s.observer = raft.NewObserver(s.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState:
			return true
		}
		return false
	})
	r.RegisterObserver(s.observer)
	s.watchWG.Add(1)
	go s.watch()
	return s, nil
}

// peerAddrs is the Raft addresses of the other members of the latest configuration (the
// stream layer keeps a warm connection to each).
func (s *Store) peerAddrs() []string {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	self := s.trans.LocalAddr()
	var out []string
	for _, srv := range f.Configuration().Servers {
		if srv.Address != self {
			out = append(out, string(srv.Address))
		}
	}
	return out
}

// raftConfig maps Config onto raft's. NotifyCh stays nil on purpose: raft blocks on it when it
// is unread (see LeadershipChanges for the replacement).
func (s *Store) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.NodeID)
	rc.HeartbeatTimeout = s.cfg.HeartbeatTimeout
	rc.ElectionTimeout = s.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = s.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = s.cfg.CommitTimeout
	rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	rc.SnapshotInterval = s.cfg.SnapshotInterval
	rc.TrailingLogs = s.cfg.TrailingLogs
	rc.Logger = s.logger
	return rc
}

// Addr is the address this node advertises to the others (with the real port when BindAddr
// asked for port 0).
func (s *Store) Addr() string { return string(s.trans.LocalAddr()) }

// ID is this node's Raft server id.
func (s *Store) ID() string { return s.cfg.NodeID }

// Bootstrap makes this node the single voter of a new cluster. On a node that already has Raft
// state it does nothing, so it is safe on every start of the first node.
func (s *Store) Bootstrap() error {
	if s.closed.Load() {
		return ErrClosed
	}
	err := s.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter,
		ID:       raft.ServerID(s.cfg.NodeID),
		Address:  s.trans.LocalAddr(),
	}}}).Error()
	if errors.Is(err, raft.ErrCantBootstrap) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("raftstore: bootstrap: %w", s.mapErr(err, false))
	}
	return nil
}

// Apply proposes c on this node, which must be the leader, and waits until it is applied here.
// It returns the entry's Raft index and the Dispatcher's response. A response that is an error
// (a business refusal, committed like any entry) is also returned, wrapped, as err, so callers
// can errors.Is it. Errors: ErrNotLeader (not proposed), ErrIndeterminate (may still commit:
// retry with the same command id), ErrClosed. Safe for many goroutines at once: raft commits
// concurrent proposals together in one batch (up to 64 entries).
func (s *Store) Apply(ctx context.Context, c *command.Command) (index uint64, resp any, err error) {
	if s.closed.Load() {
		return 0, nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, fmt.Errorf("raftstore: apply %s %s: %w", c.Type, c.ID, err)
	}
	b, err := command.Marshal(c)
	if err != nil {
		return 0, nil, fmt.Errorf("raftstore: apply %s %s: encode: %w", c.Type, c.ID, err)
	}
	f := s.raft.Apply(b, s.enqueueTimeout(ctx))
	if err := wait(ctx, f); err != nil {
		return 0, nil, fmt.Errorf("raftstore: apply %s %s: %w", c.Type, c.ID, s.mapErr(err, true))
	}
	index, resp = f.Index(), f.Response()
	if e, ok := resp.(error); ok {
		return index, resp, fmt.Errorf("raftstore: apply %s %s at index %d: %w", c.Type, c.ID, index, e)
	}
	return index, resp, nil
}

// Join adds nodeID at raftAddr as a voter, or as a non-voter for the autopilot to promote when
// it runs (StartAutopilot); only the leader can. A member with the same id and
// address is left alone; a member with the same id or the same address but not both is removed
// first (a node that came back with a new address, or an address reused by a new node).
func (s *Store) Join(ctx context.Context, nodeID, raftAddr string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if nodeID == "" || raftAddr == "" {
		return fmt.Errorf("raftstore: join: node id %q and address %q must both be set", nodeID, raftAddr)
	}
	if !s.IsLeader() {
		return fmt.Errorf("raftstore: join %s: %w", nodeID, s.notLeader())
	}
	cf := s.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("raftstore: join %s: read configuration: %w", nodeID, s.mapErr(err, false))
	}
	for _, srv := range cf.Configuration().Servers {
		sameID, sameAddr := srv.ID == raft.ServerID(nodeID), srv.Address == raft.ServerAddress(raftAddr)
		if !sameID && !sameAddr {
			continue
		}
		if sameID && sameAddr && srv.Suffrage == raft.Voter {
			s.logger.Debug("join: already a voter", "node", nodeID, "address", raftAddr)
			return nil
		}
		if sameID && sameAddr {
			continue // a non-voter with the right address: AddVoter promotes it (the autopilot, when it runs)
		}
		s.logger.Info("join: removing member with a clashing id or address", "node", srv.ID, "address", srv.Address)
		if err := wait(ctx, s.raft.RemoveServer(srv.ID, 0, s.enqueueTimeout(ctx))); err != nil {
			return fmt.Errorf("raftstore: join %s: remove old member %s at %s: %w", nodeID, srv.ID, srv.Address, s.mapErr(err, true))
		}
	}
	// With the autopilot running, a new node joins as a non-voter and the autopilot promotes
	// it once it has been healthy for server_stabilization_time (as in OpenBao).
	add, as := s.raft.AddVoter, "voter"
	if s.AutopilotRunning() {
		add, as = s.raft.AddNonvoter, "non-voter"
	}
	if err := wait(ctx, add(raft.ServerID(nodeID), raft.ServerAddress(raftAddr), 0, s.enqueueTimeout(ctx))); err != nil {
		return fmt.Errorf("raftstore: join %s at %s: %w", nodeID, raftAddr, s.mapErr(err, true))
	}
	s.logger.Info("node joined", "node", nodeID, "address", raftAddr, "as", as)
	return nil
}

// Remove takes nodeID out of the cluster; only the leader can. Removing an id that is not a
// member does nothing. A removed node shuts its Raft down (it still needs Close).
func (s *Store) Remove(ctx context.Context, nodeID string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if !s.IsLeader() {
		return fmt.Errorf("raftstore: remove %s: %w", nodeID, s.notLeader())
	}
	servers, err := s.Configuration()
	if err != nil {
		return fmt.Errorf("raftstore: remove %s: %w", nodeID, err)
	}
	member := false
	for _, srv := range servers {
		member = member || srv.ID == nodeID
	}
	if !member {
		return nil
	}
	if err := wait(ctx, s.raft.RemoveServer(raft.ServerID(nodeID), 0, s.enqueueTimeout(ctx))); err != nil {
		return fmt.Errorf("raftstore: remove %s: %w", nodeID, s.mapErr(err, true))
	}
	s.logger.Info("node removed", "node", nodeID)
	s.stream.recheck() // the removed node's open connections go now, not at the next sweep
	return nil
}

// Configuration lists the cluster's members as this node knows them.
func (s *Store) Configuration() ([]Server, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("raftstore: configuration: %w", s.mapErr(err, false))
	}
	_, leaderID := s.raft.LeaderWithID()
	var out []Server
	for _, srv := range f.Configuration().Servers {
		out = append(out, Server{
			ID:      string(srv.ID),
			Address: string(srv.Address),
			Voter:   srv.Suffrage == raft.Voter,
			Leader:  leaderID != "" && srv.ID == leaderID,
		})
	}
	return out, nil
}

// IsMember reports whether id is a server of the latest Raft configuration this node knows
// (committed or not): the cluster port's verifier asks it of every peer's certificate.
func (s *Store) IsMember(id string) bool {
	if s.closed.Load() {
		return false
	}
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == id {
			return true
		}
	}
	return false
}

// HasConfiguration reports whether this node knows any Raft configuration yet (a node that
// joined but has not heard from the leader has none).
func (s *Store) HasConfiguration() bool {
	f := s.raft.GetConfiguration()
	return f.Error() == nil && len(f.Configuration().Servers) > 0
}

// Listener accepts the cluster port's connections of an extra protocol (Config.Protocols);
// it ends when the store closes. Nil for a protocol not configured.
func (s *Store) Listener(proto string) net.Listener {
	if pl, ok := s.stream.protos[proto]; ok {
		return pl
	}
	return nil
}

// DialProtocol opens a connection to a peer's cluster port for an extra protocol, with this
// node's certificate and the configured verification.
func (s *Store) DialProtocol(address, proto string, timeout time.Duration) (net.Conn, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	return s.stream.dial(address, proto, timeout)
}

// IsLeader reports whether this node is the leader now.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// Leader returns the leader's id and address as this node knows them; empty when unknown.
func (s *Store) Leader() (id, addr string) {
	a, i := s.raft.LeaderWithID()
	return string(i), string(a)
}

// State is raft's state name: Follower, Candidate, Leader or Shutdown.
func (s *Store) State() string { return s.raft.State().String() }

// AppliedIndex is the Raft index of the last command the Dispatcher applied (or the last one a
// restored snapshot contained). Unlike raft's own counter it never runs ahead of the
// Dispatcher, so WaitForAppliedIndex(i) with an index from Apply means "the state has it".
func (s *Store) AppliedIndex() uint64 { return s.fsm.applied.Load() }

// Barrier waits until every entry committed before it is applied here; only the leader can.
// A new leader calls it before serving reads from the state.
func (s *Store) Barrier(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := wait(ctx, s.raft.Barrier(s.enqueueTimeout(ctx))); err != nil {
		return fmt.Errorf("raftstore: barrier: %w", s.mapErr(err, false))
	}
	return nil
}

// TransferLeadership hands leadership to the most up-to-date follower and waits for this node
// to step down; ErrNotLeader if it is not the leader.
func (s *Store) TransferLeadership(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := wait(ctx, s.raft.LeadershipTransfer()); err != nil {
		return fmt.Errorf("raftstore: transfer leadership: %w", s.mapErr(err, false))
	}
	return nil
}

// Isolate cuts this node off from its peers (true) or reconnects it (false), as a network
// partition would, while its process runs on. It exists for fault-injection tests.
func (s *Store) Isolate(on bool) { s.stream.isolate(on) }

// VerifyLeader asks a quorum whether this node still leads (one round of heartbeats). A node
// that was frozen and resumed calls it before serving anything a leader alone may serve.
func (s *Store) VerifyLeader(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := wait(ctx, s.raft.VerifyLeader()); err != nil {
		return fmt.Errorf("raftstore: verify leader: %w", s.mapErr(err, false))
	}
	return nil
}

// Snapshot takes a snapshot now (raft also takes them by SnapshotThreshold/SnapshotInterval).
func (s *Store) Snapshot() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("raftstore: snapshot: %w", s.mapErr(err, false))
	}
	return nil
}

// WaitForLeader polls until a leader is known and returns its id, or the context's error.
func (s *Store) WaitForLeader(ctx context.Context) (string, error) {
	var id string
	err := poll(ctx, func() bool {
		id, _ = s.Leader()
		return id != "" || s.closed.Load()
	})
	if err != nil {
		return "", fmt.Errorf("raftstore: wait for leader: %w", err)
	}
	if id == "" {
		return "", ErrClosed
	}
	return id, nil
}

// WaitForAppliedIndex polls until AppliedIndex reaches idx, or the context ends.
func (s *Store) WaitForAppliedIndex(ctx context.Context, idx uint64) error {
	err := poll(ctx, func() bool { return s.AppliedIndex() >= idx || s.closed.Load() })
	if err != nil {
		return fmt.Errorf("raftstore: wait for applied index %d (at %d): %w", idx, s.AppliedIndex(), err)
	}
	if s.AppliedIndex() < idx {
		return ErrClosed
	}
	return nil
}

// Close shuts raft down (waiting at most shutdownTimeout), then closes the transport and the
// bolt store, and the LeadershipChanges channel after a last false. Later calls return the
// first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Store) close() error {
	s.closed.Store(true)
	done := make(chan struct{})
	go func() {
		_ = s.raft.Shutdown().Error() // also closes the transport's listener
		close(done)
	}()
	timer := time.NewTimer(shutdownTimeout)
	defer timer.Stop()
	var shutdownErr error
	select {
	case <-done:
	case <-timer.C:
		shutdownErr = fmt.Errorf("raftstore: close: raft did not shut down within %s; raft.db left open", shutdownTimeout)
	}

	s.raft.DeregisterObserver(s.observer)
	close(s.stop)
	s.watchWG.Wait()
	s.publish(false, 0)
	close(s.changes)

	// Pooled connections to peers would keep the peers' reader goroutines alive.
	s.trans.CloseStreams()
	_ = s.trans.Close()
	_ = s.stream.Close()
	s.stream.wait()
	if shutdownErr != nil {
		return shutdownErr
	}
	if err := s.bolt.Close(); err != nil {
		return fmt.Errorf("raftstore: close raft.db: %w", err)
	}
	return nil
}

// enqueueTimeout is how long raft may take to accept an entry: ApplyTimeout, or less if the
// context ends sooner.
func (s *Store) enqueueTimeout(ctx context.Context) time.Duration {
	t := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < t {
			t = max(left, time.Millisecond)
		}
	}
	return t
}

// notLeader builds ErrNotLeader naming the leader when this node knows it.
func (s *Store) notLeader() error {
	id, addr := s.Leader()
	if id == "" {
		return fmt.Errorf("%w (no leader known)", ErrNotLeader)
	}
	return fmt.Errorf("%w: leader is %s at %s", ErrNotLeader, id, addr)
}

// mapErr turns raft's errors into this package's sentinels, keeping raft's error in the chain.
// proposal says whether err answers an entry handed to raft (Apply, Join, Remove): then losing
// leadership, shutting down or giving up waiting leave its fate unknown.
func (s *Store) mapErr(err error, proposal bool) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w (%w)", s.notLeader(), err)
	case proposal && (errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrRaftShutdown) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		if errors.Is(err, raft.ErrRaftShutdown) {
			return fmt.Errorf("%w: %w: %w", ErrIndeterminate, ErrClosed, err)
		}
		return fmt.Errorf("%w: %w", ErrIndeterminate, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w (%w)", s.notLeader(), err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// wait waits for a raft future, or for the context: raft's futures take no context, so the
// wait moves to a goroutine that ends when raft answers (always, at the latest at shutdown).
func wait(ctx context.Context, f raft.Future) error {
	if ctx.Done() == nil {
		return f.Error()
	}
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// poll checks cond every pollInterval until it holds or ctx ends.
func poll(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
