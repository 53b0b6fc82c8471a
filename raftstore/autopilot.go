package raftstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	autopilot "github.com/hashicorp/raft-autopilot"

	"github.com/hashicorp/raft"
)

// The autopilot: hashicorp/raft-autopilot (Vault's and Consul's) running on the leader, with
// this file as its ApplicationIntegration. It promotes a node that joined as a non-voter once
// it has been healthy for server_stabilization_time, and, with cleanup_dead_servers, removes a
// server the leader has not reached for dead_server_last_contact_threshold, never below
// min_quorum voters nor more than a minority at once (the library's rules).
//
// What the leader knows of each follower comes from raft's own heartbeats: raft tells its
// observers when a heartbeat to a peer fails (with the time of the last contact) and when it
// succeeds again. A peer answering heartbeats is reported at the leader's term and last index;
// raft does not export a follower's match index, so max_trailing_logs cannot catch a follower
// that answers heartbeats but lags behind (raft itself sends such a follower the log or a
// snapshot).

// Autopilot's timings when Config leaves them zero: Vault's and OpenBao's defaults.
const (
	DefaultAutopilotReconcileInterval = 10 * time.Second
	DefaultAutopilotUpdateInterval    = 2 * time.Second
)

// AutopilotConfig is the cluster's autopilot configuration (replicated through Raft by the
// caller; raftstore only reads it).
type AutopilotConfig struct {
	// CleanupDeadServers removes dead servers (see DeadServerLastContactThreshold).
	CleanupDeadServers bool
	// LastContactThreshold: a server not heard from for longer is unhealthy.
	LastContactThreshold time.Duration
	// DeadServerLastContactThreshold: a server not heard from for longer is dead, and
	// removed when CleanupDeadServers is set.
	DeadServerLastContactThreshold time.Duration
	// MaxTrailingLogs: a server further behind the leader's log is unhealthy.
	MaxTrailingLogs uint64
	// MinQuorum: dead servers are never removed below this many voters.
	MinQuorum uint
	// ServerStabilizationTime: how long a non-voter must stay healthy before promotion.
	ServerStabilizationTime time.Duration
}

// AutopilotState is the autopilot's latest view; the zero value when it has none.
type AutopilotState struct {
	// Healthy: every server is healthy.
	Healthy bool
	// FailureTolerance is how many voters can fail with quorum kept.
	FailureTolerance int
	// Leader is the leader's id.
	Leader string
	// Voters are the voters' ids.
	Voters []string
	// Servers by id.
	Servers map[string]AutopilotServer
}

// AutopilotServer is one server in AutopilotState.
type AutopilotServer struct {
	ID, Name, Address string
	// NodeStatus: alive, left (dead past the threshold), failed or unknown.
	NodeStatus string
	// Status: leader, voter, non-voter or staging.
	Status      string
	LastContact time.Duration
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	StableSince time.Time
}

// peerHealth follows raft's heartbeat observations on the leader: the last contact of each
// peer whose heartbeats fail, from the first failure until one succeeds again.
type peerHealth struct {
	mu      sync.Mutex
	failing map[raft.ServerID]time.Time
}

func (p *peerHealth) observe(o raft.Observation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch d := o.Data.(type) {
	case raft.FailedHeartbeatObservation:
		last := d.LastContact
		if last.IsZero() {
			last = time.Now()
		}
		if prev, ok := p.failing[d.PeerID]; !ok || last.After(prev) {
			p.failing[d.PeerID] = last
		}
	case raft.ResumedHeartbeatObservation:
		delete(p.failing, d.PeerID)
	}
}

// lastContact is how long ago the leader last reached id: 0 for a peer answering heartbeats.
func (p *peerHealth) lastContact(id raft.ServerID, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.failing[id]; ok {
		return now.Sub(t)
	}
	return 0
}

// forget drops a peer that left the configuration.
func (p *peerHealth) forget(id raft.ServerID) {
	p.mu.Lock()
	delete(p.failing, id)
	p.mu.Unlock()
}

// apDelegate is the autopilot's ApplicationIntegration.
type apDelegate struct {
	s      *Store
	config func() AutopilotConfig
	// remove takes a dead server out of the cluster (the node's one remove-peer action).
	remove func(ctx context.Context, id string) error
	health *peerHealth

	mu    sync.Mutex
	state *autopilot.State
}

var _ autopilot.ApplicationIntegration = (*apDelegate)(nil)

func (d *apDelegate) AutopilotConfig() *autopilot.Config {
	c := d.config()
	return &autopilot.Config{
		CleanupDeadServers:      c.CleanupDeadServers,
		LastContactThreshold:    c.LastContactThreshold,
		MaxTrailingLogs:         c.MaxTrailingLogs,
		MinQuorum:               c.MinQuorum,
		ServerStabilizationTime: c.ServerStabilizationTime,
	}
}

func (d *apDelegate) NotifyState(st *autopilot.State) {
	d.mu.Lock()
	d.state = st
	d.mu.Unlock()
}

// FetchServerStats reports each server as the leader's heartbeats see it.
func (d *apDelegate) FetchServerStats(_ context.Context, servers map[raft.ServerID]*autopilot.Server) map[raft.ServerID]*autopilot.ServerStats {
	now := time.Now()
	term, index := d.s.raft.CurrentTerm(), d.s.raft.LastIndex()
	out := make(map[raft.ServerID]*autopilot.ServerStats, len(servers))
	for id := range servers {
		out[id] = &autopilot.ServerStats{LastContact: d.health.lastContact(id, now), LastTerm: term, LastIndex: index}
	}
	return out
}

// KnownServers is every server of the Raft configuration (one left out would be "stale" and
// removed at once), each alive unless the leader has not reached it for
// dead_server_last_contact_threshold: then it has left, and the cleanup may remove it.
func (d *apDelegate) KnownServers() map[raft.ServerID]*autopilot.Server {
	f := d.s.raft.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	dead := d.config().DeadServerLastContactThreshold
	_, leaderID := d.s.raft.LeaderWithID()
	now := time.Now()
	out := map[raft.ServerID]*autopilot.Server{}
	for _, srv := range f.Configuration().Servers {
		status := autopilot.NodeAlive
		if dead > 0 && d.health.lastContact(srv.ID, now) > dead {
			status = autopilot.NodeLeft
		}
		out[srv.ID] = &autopilot.Server{
			ID: srv.ID, Name: string(srv.ID), Address: srv.Address, NodeStatus: status,
			RaftVersion: raft.ProtocolVersionMax, IsLeader: srv.ID == leaderID, NodeType: autopilot.NodeVoter,
		}
	}
	return out
}

// RemoveFailedServer removes a dead server through the node's remove action (Raft, then the
// replicated list of nodes).
func (d *apDelegate) RemoveFailedServer(srv *autopilot.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d.s.logger.Warn("autopilot: removing a dead server", "node", srv.ID, "address", srv.Address)
	if err := d.remove(ctx, string(srv.ID)); err != nil {
		d.s.logger.Error("autopilot: removing a dead server", "node", srv.ID, "error", err)
		return
	}
	d.health.forget(srv.ID)
}

// autopilotRun is a running autopilot.
type autopilotRun struct {
	ap       *autopilot.Autopilot
	delegate *apDelegate
	observer *raft.Observer
	obsCh    chan raft.Observation
	stop     chan struct{}
	wg       sync.WaitGroup
}

// StartAutopilot runs the autopilot until the returned stop is called (which waits for it to
// end); call it on the leader when it becomes active, and stop when it stops being active.
// config is read on every round, so a configuration change applies without a restart. remove
// is the node's remove-peer action, for the dead servers the autopilot removes.
func (s *Store) StartAutopilot(config func() AutopilotConfig, remove func(ctx context.Context, id string) error) (stop func()) {
	update, reconcile := s.cfg.AutopilotUpdateInterval, s.cfg.AutopilotReconcileInterval
	if update <= 0 {
		update = DefaultAutopilotUpdateInterval
	}
	if reconcile <= 0 {
		reconcile = DefaultAutopilotReconcileInterval
	}
	run := &autopilotRun{
		delegate: &apDelegate{s: s, config: config, remove: remove, health: &peerHealth{failing: map[raft.ServerID]time.Time{}}},
		obsCh:    make(chan raft.Observation, observerBuffer),
		stop:     make(chan struct{}),
	}
	run.observer = raft.NewObserver(run.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	s.raft.RegisterObserver(run.observer)
	run.wg.Add(1)
	go func() {
		defer run.wg.Done()
		for {
			select {
			case o := <-run.obsCh:
				run.delegate.health.observe(o)
			case <-run.stop:
				return
			}
		}
	}()
	run.ap = autopilot.New(s.raft, run.delegate,
		autopilot.WithLogger(s.logger.Named("autopilot")),
		autopilot.WithUpdateInterval(update),
		autopilot.WithReconcileInterval(reconcile))
	run.ap.Start(context.Background())
	s.apMu.Lock()
	s.ap = run
	s.apMu.Unlock()

	var once sync.Once
	return func() {
		once.Do(func() {
			s.apMu.Lock()
			if s.ap == run {
				s.ap = nil
			}
			s.apMu.Unlock()
			<-run.ap.Stop()
			s.raft.DeregisterObserver(run.observer)
			close(run.stop)
			run.wg.Wait()
		})
	}
}

// AutopilotRunning reports whether the autopilot runs on this node.
func (s *Store) AutopilotRunning() bool {
	s.apMu.Lock()
	defer s.apMu.Unlock()
	return s.ap != nil
}

// AutopilotState is the running autopilot's latest view; false when it does not run here.
func (s *Store) AutopilotState() (AutopilotState, bool) {
	s.apMu.Lock()
	run := s.ap
	s.apMu.Unlock()
	if run == nil {
		return AutopilotState{}, false
	}
	st := run.ap.GetState()
	if st == nil {
		return AutopilotState{}, true
	}
	out := AutopilotState{Healthy: st.Healthy, FailureTolerance: st.FailureTolerance, Leader: string(st.Leader), Servers: map[string]AutopilotServer{}}
	for _, v := range st.Voters {
		out.Voters = append(out.Voters, string(v))
	}
	for id, ss := range st.Servers {
		out.Servers[string(id)] = AutopilotServer{
			ID: string(id), Name: ss.Server.Name, Address: string(ss.Server.Address), NodeStatus: string(ss.Server.NodeStatus),
			Status: string(ss.State), LastContact: ss.Stats.LastContact, LastTerm: ss.Stats.LastTerm, LastIndex: ss.Stats.LastIndex,
			Healthy: ss.Health.Healthy, StableSince: ss.Health.StableSince,
		}
	}
	return out, true
}

// String names the config in logs.
func (c AutopilotConfig) String() string {
	return fmt.Sprintf("cleanup_dead_servers=%t last_contact_threshold=%s dead_server_last_contact_threshold=%s max_trailing_logs=%d min_quorum=%d server_stabilization_time=%s",
		c.CleanupDeadServers, c.LastContactThreshold, c.DeadServerLastContactThreshold, c.MaxTrailingLogs, c.MinQuorum, c.ServerStabilizationTime)
}
