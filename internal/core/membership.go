package core

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
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

	// umu guards the unseal progress: the key shares given so far to this sealed node, kept
	// in memory on this node only (never replicated), as OpenBao's; reset by ResetUnseal, on
	// a wrong combination and once unsealed.
	umu    sync.Mutex
	shares [][]byte
	nonce  string

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

// DecodeUnsealKey accepts a key share as hex (OpenBao's "keys") or base64 ("keys_base64")
// and returns it as base64.
func DecodeUnsealKey(k string) (string, error) {
	raw, err := barrier.DecodeShare(k)
	if err != nil {
		return "", refuse(ErrInvalidRequest, "key: %v (give an unseal key share printed by sys/init, hex or base64)", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// UnsealProgress is how many key shares this sealed node holds towards its threshold, and
// the nonce of that unseal attempt ("" when none).
func (m *Membership) UnsealProgress() (progress int, nonce string) {
	m.umu.Lock()
	defer m.umu.Unlock()
	return len(m.shares), m.nonce
}

// ResetUnseal forgets the key shares given so far (sys/unseal reset=true).
func (m *Membership) ResetUnseal() {
	m.umu.Lock()
	m.resetLocked()
	m.umu.Unlock()
}

func (m *Membership) resetLocked() {
	for _, s := range m.shares {
		clear(s)
	}
	m.shares, m.nonce = nil, ""
}

// SealCounts are this node's cluster's key shares and threshold (see Node.sealCounts).
func (m *Membership) SealCounts() (shares, threshold int) { return m.n.sealCounts() }

// Unseal gives one unseal key share (hex or base64) to this node. Shares accumulate in memory
// until the cluster's threshold is reached (a share given twice counts once); then they are
// recombined into the root key and the node unseals, or, when the combination does not open
// the cluster's keyring, the progress is reset and ErrWrongKey returned. A node that has no
// cluster yet then joins one through its join targets (retry_join or
// sys/storage/raft/join), and is sealed again if that fails.
func (m *Membership) Unseal(ctx context.Context, keyText string) error {
	share, err := barrier.DecodeShare(keyText)
	if err != nil {
		return refuse(ErrInvalidRequest, "key: %v (give an unseal key share printed by sys/init, hex or base64)", err)
	}
	if !m.n.Sealed() {
		return nil
	}
	joining := !m.n.InitializedLocally()
	if joining && len(m.joinTargets()) == 0 {
		return refuse(ErrInvalidRequest, "this node has no cluster yet: run sys/init on it, or sys/storage/raft/join (or retry_join in its config) before unsealing")
	}
	if joining && m.n.joinSeal.Load() == nil {
		m.probeOnce(ctx)
	}
	_, threshold := m.n.sealCounts()
	want := barrier.KeySize
	if threshold > 1 {
		want++
	}
	if len(share) != want {
		return refuse(ErrInvalidRequest, "key: a share of this cluster is %d bytes (threshold %d), this one is %d", want, threshold, len(share))
	}
	m.umu.Lock()
	for _, s := range m.shares {
		if hmac.Equal(s, share) {
			m.umu.Unlock()
			return nil // OpenBao ignores a share given twice
		}
	}
	if m.nonce == "" {
		m.nonce = newNonce()
	}
	m.shares = append(m.shares, share)
	if len(m.shares) < threshold {
		m.umu.Unlock()
		return nil
	}
	root, cerr := barrier.CombineShares(m.shares)
	m.resetLocked()
	m.umu.Unlock()
	if cerr != nil || len(root) != barrier.KeySize {
		return refuse(ErrWrongKey, "the unseal key does not match this cluster (the shares given do not make its key); unseal progress reset")
	}
	defer clear(root)
	if err := m.n.Unseal(ctx, barrier.EncodeKey(root)); err != nil {
		if errors.Is(err, barrier.ErrWrongKey) {
			return refuse(ErrWrongKey, "the unseal key does not match this cluster (the shares given do not make its key); unseal progress reset")
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

// newNonce is a random UUID-shaped nonce, as OpenBao's.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
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
	st := m.n.Store()
	if st == nil {
		return ErrSealed
	}
	if err := st.Remove(ctx, id); err != nil {
		return err
	}
	_, err := m.n.Propose(ctx, state.TypeNodeRemove, "", command.SourceAPI, state.NodeRemove{ID: id})
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
			st, err := probeTarget(m.ctx, hc, addr)
			if err != nil {
				m.log.Debug("join target not reached yet", "leader_api_addr", addr, "error", err)
				continue
			}
			if st.initialized {
				m.n.joinSeal.Store([2]int{st.shares, st.threshold})
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

// probeOnce asks the join targets once for their cluster's share counts (a node unsealed
// before the background probe reached one).
func (m *Membership) probeOnce(ctx context.Context) {
	hc := &http.Client{Timeout: probeTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, addr := range m.joinTargets() {
		if st, err := probeTarget(ctx, hc, addr); err == nil && st.initialized {
			m.n.joinSeal.Store([2]int{st.shares, st.threshold})
			return
		}
	}
}

// targetSeal is what a join target's sys/seal-status says of its cluster.
type targetSeal struct {
	initialized       bool
	shares, threshold int
}

// probeTarget reads the initialized flag and the key shares and threshold of the node at
// addr from its sys/seal-status, which every node answers, sealed or not, standby or active.
func probeTarget(ctx context.Context, hc *http.Client, addr string) (targetSeal, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(addr, "/")+"/v1/sys/seal-status", nil)
	if err != nil {
		return targetSeal{}, fmt.Errorf("leader_api_addr %q: %w", addr, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return targetSeal{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return targetSeal{}, fmt.Errorf("sys/seal-status answered %d", resp.StatusCode)
	}
	var st struct {
		Initialized *bool `json:"initialized"`
		N           int   `json:"n"`
		T           int   `json:"t"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReply)).Decode(&st); err != nil {
		return targetSeal{}, fmt.Errorf("sys/seal-status: %w", err)
	}
	if st.Initialized == nil {
		return targetSeal{}, errors.New("sys/seal-status has no initialized field")
	}
	return targetSeal{initialized: *st.Initialized, shares: st.N, threshold: st.T}, nil
}
