package core

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// Errors of the membership actions that callers (the HTTP API) map to a status.
var (
	// ErrInvalidRequest: the request cannot be carried out as asked (a malformed unseal key,
	// a node without a cluster or join target, a join on a member, removing the active node).
	ErrInvalidRequest = errors.New("core: invalid request")
	// ErrJoinRefused: a joining node's proof does not match this cluster's unseal key.
	ErrJoinRefused = errors.New("core: join refused")
	// ErrJoinTimedOut: no join target added this node before the deadline.
	ErrJoinTimedOut = errors.New("core: joining the cluster timed out")
	// ErrPermissionDenied: the caller's token is not the root token.
	ErrPermissionDenied = errors.New("core: permission denied")
	// ErrWrongKey: the unseal key does not open this cluster's key check. It is the
	// barrier's own sentinel, so that callers above core need not import the barrier.
	ErrWrongKey = barrier.ErrWrongKey
	// ErrBarrierSealed: the barrier holds no key (a request raced a seal); the barrier's
	// sentinel, re-exported for the same reason.
	ErrBarrierSealed = barrier.ErrSealed
)

// refusal is an error of a given kind whose message is written for the caller as is (the
// kind's own text is not prepended: the API shows the message to clients unchanged).
type refusal struct {
	kind error
	msg  string
}

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return r.kind }

func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Pacing of the join-target probe: a quick first retry, then at most every probeMax; each
// call bounded by probeTimeout. The join client retries every joinRetry until joinTimeout.
const (
	probeFirst   = 250 * time.Millisecond
	probeMax     = 2 * time.Second
	probeTimeout = 2 * time.Second
	joinRetry    = 500 * time.Millisecond
	joinTimeout  = 60 * time.Second
	// maxReply bounds what is read of a join target's reply.
	maxReply = 1 << 20
)

// Membership is the node's side of cluster membership: the join client (the join targets
// from retry_join or sys/storage/raft/join, the probe that notices an initialised cluster
// behind one, the add-peer call with the proof of the unseal key), an Unseal that joins
// when the node has no cluster yet, and, on the active node, adding a peer after checking
// its proof, removing a peer and listing the Raft configuration. Every entry point (the
// HTTP API, cmd/node's auto-unseal) calls these.
type Membership struct {
	n   *Node
	log hclog.Logger

	mu      sync.Mutex
	targets []string // leader API addresses to join through
	probing bool     // a probeJoinTargets loop runs

	// ctx ends the background loops (the join-target probe); wg waits for them.
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// NewMembership builds the membership of node n. With join targets (retry_join) it starts
// probing them at once, so that the node reports itself initialised as soon as one answers
// that its cluster is; Close stops that.
func NewMembership(n *Node, retryJoin []string) *Membership {
	m := &Membership{n: n, log: n.log.Named("membership"), targets: slices.Clone(retryJoin)}
	m.ctx, m.stop = context.WithCancel(context.Background())
	m.startProbe()
	return m
}

// Close stops the background work (the join-target probe) and waits for it.
func (m *Membership) Close() {
	m.mu.Lock() // startProbe checks m.ctx under mu: no loop starts after this
	m.stop()
	m.mu.Unlock()
	m.wg.Wait()
}

// joinTargets is a copy of the join targets.
func (m *Membership) joinTargets() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.targets)
}

// Join adds a join target (sys/storage/raft/join) and starts probing it; the node joins
// through it at its next Unseal.
func (m *Membership) Join(leaderAPIAddr string) error {
	if leaderAPIAddr == "" {
		return refuse(ErrInvalidRequest, "leader_api_addr is required (the API address of a node of the cluster to join)")
	}
	if m.n.InitializedLocally() {
		return refuse(ErrInvalidRequest, "this node is already part of a cluster")
	}
	m.mu.Lock()
	if !slices.Contains(m.targets, leaderAPIAddr) {
		m.targets = append(m.targets, leaderAPIAddr)
	}
	m.mu.Unlock()
	m.startProbe()
	return nil
}

// DecodeUnsealKey accepts the key as hex (OpenBao's "keys") or base64 ("keys_base64") and
// returns it as base64, the form Node.Unseal takes.
func DecodeUnsealKey(k string) (string, error) {
	k = strings.TrimSpace(k)
	if raw, err := hex.DecodeString(k); err == nil && len(raw) == barrier.KeySize {
		return base64.StdEncoding.EncodeToString(raw), nil
	}
	if _, err := barrier.DecodeKey(k); err != nil {
		return "", refuse(ErrInvalidRequest, "key: %v (give the unseal key printed by sys/init, hex or base64)", err)
	}
	return k, nil
}

// Unseal unseals the node with an unseal key (hex or base64); a node that has no cluster yet
// then joins one through its join targets (retry_join or sys/storage/raft/join), and is
// sealed again if that fails.
func (m *Membership) Unseal(ctx context.Context, keyText string) error {
	key, err := DecodeUnsealKey(keyText)
	if err != nil {
		return err
	}
	joining := !m.n.InitializedLocally()
	if joining && len(m.joinTargets()) == 0 {
		return refuse(ErrInvalidRequest, "this node has no cluster yet: run sys/init on it, or sys/storage/raft/join (or retry_join in its config) before unsealing")
	}
	if err := m.n.Unseal(ctx, key); err != nil {
		if errors.Is(err, barrier.ErrWrongKey) {
			return refuse(ErrWrongKey, "the unseal key does not match this cluster")
		}
		return err
	}
	if joining {
		if err := m.join(ctx); err != nil {
			_ = m.n.Seal(context.WithoutCancel(ctx))
			return err
		}
	}
	return nil
}

// joinProof is the message a joining node MACs with the barrier key to prove that it holds
// the cluster's unseal key; the active node recomputes it in AddPeer.
func joinProof(nodeID, raftAddr string) []byte {
	return []byte("baton-join\x00" + nodeID + "\x00" + raftAddr)
}

// join asks an active node to add this one as a voter, proving with the barrier MAC that it
// holds the unseal key, retrying each join target until the deadline.
func (m *Membership) join(ctx context.Context) error {
	cfg := m.n.Config()
	proof, err := m.n.Barrier().MAC(joinProof(cfg.NodeID, cfg.RaftAdvertise))
	if err != nil {
		return err
	}
	req, err := json.Marshal(map[string]string{"node_id": cfg.NodeID, "raft_addr": cfg.RaftAdvertise, "api_addr": cfg.APIAddr, "proof": hex.EncodeToString(proof)})
	if err != nil {
		return fmt.Errorf("core: join request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	var last error
	for {
		for _, addr := range m.joinTargets() {
			hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(addr, "/")+"/v1/sys/storage/raft/add-peer", bytes.NewReader(req))
			if err != nil {
				return refuse(ErrInvalidRequest, "leader_api_addr %q: %v", addr, err)
			}
			resp, err := http.DefaultClient.Do(hreq)
			if err != nil {
				last = err
				continue
			}
			var out struct {
				Errors []string `json:"errors"`
			}
			_ = json.NewDecoder(io.LimitReader(resp.Body, maxReply)).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent {
				return m.n.AdoptSeal(ctx)
			}
			last = fmt.Errorf("%s answered %d: %s", addr, resp.StatusCode, strings.Join(out.Errors, "; "))
			if resp.StatusCode == http.StatusForbidden {
				return refuse(ErrInvalidRequest, "joining the cluster: %v", last)
			}
		}
		select {
		case <-ctx.Done():
			return refuse(ErrJoinTimedOut, "joining the cluster timed out: %v", last)
		case <-time.After(joinRetry):
		}
	}
}

// Peer is a node asking to join: its id, Raft address, API address and the hex MAC of its
// join proof.
type Peer struct {
	ID, RaftAddr, APIAddr, Proof string
}

// AddPeer adds a joining node as a voter, on the active node: it checks the node's proof
// that it holds the unseal key, records the node in the state, then adds it to Raft.
func (m *Membership) AddPeer(ctx context.Context, p Peer) error {
	if p.ID == "" || p.RaftAddr == "" || p.APIAddr == "" || p.Proof == "" {
		return refuse(ErrInvalidRequest, "node_id, raft_addr, api_addr and proof are required")
	}
	want, err := m.n.Barrier().MAC(joinProof(p.ID, p.RaftAddr))
	if err != nil {
		return err
	}
	got, err := hex.DecodeString(p.Proof)
	if err != nil || !hmac.Equal(got, want) {
		return refuse(ErrJoinRefused, "join refused: the joining node's unseal key does not match this cluster")
	}
	st := m.n.Store()
	if st == nil {
		return ErrSealed
	}
	if _, err := m.n.Propose(ctx, state.TypeNodeJoin, "", command.SourceAPI, state.NodeJoin{Node: state.Node{ID: p.ID, APIAddr: p.APIAddr, RaftAddr: p.RaftAddr}}); err != nil {
		return err
	}
	return st.Join(ctx, p.ID, p.RaftAddr)
}

// RemovePeer removes a node from Raft, then from the state; the active node cannot remove
// itself (it steps down first).
func (m *Membership) RemovePeer(ctx context.Context, id string) error {
	if id == "" {
		return refuse(ErrInvalidRequest, "server_id is required")
	}
	if id == m.n.Config().NodeID {
		return refuse(ErrInvalidRequest, "cannot remove the active node %q: step it down first", id)
	}
	return m.n.removePeer(ctx, id, command.SourceAPI)
}

// removePeer is the one remove action (remove-peer and the autopilot's dead server cleanup):
// out of Raft, then out of the replicated list of nodes.
func (n *Node) removePeer(ctx context.Context, id string, src command.Source) error {
	st := n.Store()
	if st == nil {
		return ErrSealed
	}
	if err := st.Remove(ctx, id); err != nil {
		return err
	}
	_, err := n.Propose(ctx, state.TypeNodeRemove, "", src, state.NodeRemove{ID: id})
	return err
}

// RaftServer is one server of the Raft configuration.
type RaftServer struct {
	ID, Address   string
	Leader, Voter bool
}

// Peers is the Raft configuration and the index this node has applied.
func (m *Membership) Peers() ([]RaftServer, uint64, error) {
	st := m.n.Store()
	if st == nil {
		return nil, 0, ErrSealed
	}
	servers, err := st.Configuration()
	if err != nil {
		return nil, 0, err
	}
	out := make([]RaftServer, 0, len(servers))
	for _, sv := range servers {
		out = append(out, RaftServer{ID: sv.ID, Address: sv.Address, Leader: sv.Leader, Voter: sv.Voter})
	}
	return out, st.AppliedIndex(), nil
}

// startProbe starts probeJoinTargets unless it already runs, the node has no join target,
// or the membership is closed.
func (m *Membership) startProbe() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.probing || len(m.targets) == 0 || m.ctx.Err() != nil {
		return
	}
	m.probing = true
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.probeJoinTargets()
	}()
}

// probeJoinTargets asks the join targets whether their cluster is initialised until one says
// so, then records it on the node (Node.MarkReachedCluster): from then on this node reports
// initialized=true and sealed, and refuses sys/init, as OpenBao's does while a raft join is
// in progress. It ends once recorded, once the node is a member itself, or on Close.
func (m *Membership) probeJoinTargets() {
	defer func() {
		m.mu.Lock()
		m.probing = false
		m.mu.Unlock()
	}()
	// No keep-alive: a probe is rare, and an idle connection would outlive the node.
	hc := &http.Client{Timeout: probeTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	wait := probeFirst
	for {
		if m.n.InitializedLocally() || m.n.ReachedCluster() != "" {
			return
		}
		for _, addr := range m.joinTargets() {
			init, err := probeTarget(m.ctx, hc, addr)
			if err != nil {
				m.log.Debug("join target not reached yet", "leader_api_addr", addr, "error", err)
				continue
			}
			if init {
				m.n.MarkReachedCluster(addr)
				return
			}
		}
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, probeMax)
	}
}

// probeTarget reads the initialized flag of the node at addr from its sys/seal-status,
// which every node answers, sealed or not, standby or active.
func probeTarget(ctx context.Context, hc *http.Client, addr string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(addr, "/")+"/v1/sys/seal-status", nil)
	if err != nil {
		return false, fmt.Errorf("leader_api_addr %q: %w", addr, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("sys/seal-status answered %d", resp.StatusCode)
	}
	var st struct {
		Initialized *bool `json:"initialized"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReply)).Decode(&st); err != nil {
		return false, fmt.Errorf("sys/seal-status: %w", err)
	}
	if st.Initialized == nil {
		return false, errors.New("sys/seal-status has no initialized field")
	}
	return *st.Initialized, nil
}
