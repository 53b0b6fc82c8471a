package core

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/internal/clusterpki"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// Errors of the membership actions that callers (the HTTP API) map to a status.
var (
	// ErrInvalidRequest: the request cannot be carried out as asked (a malformed unseal key,
	// a node without a cluster or join target, a join on a member, removing the active node).
	ErrInvalidRequest = errors.New("core: invalid request")
	// ErrJoinRefused: a joining node's answer is not good for a live challenge (used,
	// expired, another node's, or not made with this cluster's unseal key).
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
// behind one, the challenge answered with the unseal key), an Unseal that joins when the
// node has no cluster yet, and, on the active node, the join challenges and the check of
// their answers (which adds the node and grants its certificate), removing a peer and
// listing the Raft configuration. Every entry point (the
// HTTP API, cmd/node's auto-unseal) calls these.
type Membership struct {
	n   *Node
	log hclog.Logger

	mu      sync.Mutex
	targets []string // leader API addresses to join through
	probing bool     // a probeJoinTargets loop runs

	// challenges are the live join challenges by server id (active node); now is the clock
	// they expire by (tests move it).
	chMu       sync.Mutex
	challenges map[string]pendingChallenge
	now        func() time.Time

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
	m := &Membership{
		n: n, log: n.log.Named("membership"), targets: slices.Clone(retryJoin),
		challenges: map[string]pendingChallenge{}, now: time.Now,
	}
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

// join asks an active node, through each join target in turn until the deadline, for a
// join challenge, answers it with the unseal key (the barrier this node was just unsealed
// with), and with the certificate the answer earns opens its cluster port and Raft, then
// waits until it has caught up (AdoptSeal).
func (m *Membership) join(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	var last error
	for {
		for _, addr := range m.joinTargets() {
			grant, err := m.askToJoin(ctx, strings.TrimSuffix(addr, "/"))
			if errors.Is(err, ErrWrongKey) || errors.Is(err, ErrInvalidRequest) {
				return err
			}
			if err != nil {
				last = err
				m.log.Debug("join attempt failed", "leader_api_addr", addr, "error", err)
				continue
			}
			return m.startJoined(ctx, grant)
		}
		select {
		case <-ctx.Done():
			return refuse(ErrJoinTimedOut, "joining the cluster timed out: %v", last)
		case <-time.After(joinRetry):
		}
	}
}

// startJoined opens the cluster port and Raft with the material a join answer gave.
func (m *Membership) startJoined(ctx context.Context, g joinGrant) error {
	if err := m.n.installIdentity(g.material); err != nil {
		return err
	}
	m.n.joinPeers.Store(g.peers)
	if err := m.n.openRaft(false); err != nil {
		return err
	}
	return m.n.AdoptSeal(ctx)
}

// joinGrant is what a joining node keeps of an accepted answer.
type joinGrant struct {
	material clusterpki.Material
	peers    []string
}

// askToJoin runs one challenge and answer against the join target at addr.
func (m *Membership) askToJoin(ctx context.Context, addr string) (joinGrant, error) {
	cfg := m.n.Config()
	var ch struct {
		Challenge string `json:"challenge"`
	}
	if err := postJSON(ctx, m.httpClient(), addr+"/v1/sys/storage/raft/bootstrap/challenge", map[string]string{"server_id": cfg.NodeID}, &ch); err != nil {
		return joinGrant{}, err
	}
	ct, err := base64.StdEncoding.DecodeString(ch.Challenge)
	if err != nil {
		return joinGrant{}, fmt.Errorf("the challenge from %s is not base64: %w", addr, err)
	}
	nonce, err := m.n.Barrier().RootDecrypt(ct)
	if err != nil {
		return joinGrant{}, refuse(ErrWrongKey, "the unseal key does not open the cluster's join challenge: it is not this cluster's key")
	}
	key, err := clusterpki.NewNodeKey()
	if err != nil {
		return joinGrant{}, err
	}
	csr, err := clusterpki.NewCSR(key, cfg.NodeID)
	if err != nil {
		return joinGrant{}, err
	}
	a := JoinAnswer{ServerID: cfg.NodeID, ClusterAddr: cfg.RaftAdvertise, APIAddr: cfg.APIAddr, CSR: csr}
	mac, err := m.n.Barrier().MAC(answerMessage(nonce, a))
	if err != nil {
		return joinGrant{}, err
	}
	var out struct {
		Certificate   string `json:"certificate"`
		CACertificate string `json:"ca_certificate"`
		CAKeySealed   string `json:"ca_key_sealed"`
		Peers         []struct {
			NodeID string `json:"node_id"`
		} `json:"peers"`
		GrantMAC string `json:"grant_mac"`
	}
	if err := postJSON(ctx, m.httpClient(), addr+"/v1/sys/storage/raft/bootstrap/answer", map[string]string{
		"server_id": a.ServerID, "answer": hex.EncodeToString(mac), "cluster_addr": a.ClusterAddr,
		"api_addr": a.APIAddr, "csr": base64.StdEncoding.EncodeToString(csr),
	}, &out); err != nil {
		return joinGrant{}, err
	}
	var g JoinGrant
	for _, f := range []struct {
		dst *[]byte
		src string
	}{{&g.Cert, out.Certificate}, {&g.CACert, out.CACertificate}, {&g.CAKeySealed, out.CAKeySealed}, {&g.MAC, out.GrantMAC}} {
		if *f.dst, err = base64.StdEncoding.DecodeString(f.src); err != nil || len(*f.dst) == 0 {
			return joinGrant{}, fmt.Errorf("the join answer from %s is incomplete", addr)
		}
	}
	// The reply came over the API, perhaps in clear: trust it only if it is MAC'd with the
	// barrier key over the nonce this node alone could read.
	want, err := m.n.Barrier().MAC(grantMessage(nonce, g))
	if err != nil {
		return joinGrant{}, err
	}
	if !hmac.Equal(want, g.MAC) {
		return joinGrant{}, fmt.Errorf("the join answer from %s is not authenticated by the cluster: ignored", addr)
	}
	caKey, err := m.n.Barrier().RootDecrypt(g.CAKeySealed)
	if err != nil {
		return joinGrant{}, fmt.Errorf("the cluster CA key from %s does not open: %w", addr, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return joinGrant{}, err
	}
	peers := make([]string, 0, len(out.Peers))
	for _, p := range out.Peers {
		peers = append(peers, p.NodeID)
	}
	return joinGrant{material: clusterpki.Material{CACert: g.CACert, CAKey: caKey, Cert: g.Cert, NodeKey: keyDER}, peers: peers}, nil
}

// postJSON posts in with hc (the join target may be https) and decodes the reply into out;
// a non-2xx reply is an error naming the status and the errors the node gave.
func postJSON(ctx context.Context, hc *http.Client, url string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return refuse(ErrInvalidRequest, "leader_api_addr: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Errors []string `json:"errors"`
		}
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("%s answered %d: %s", url, resp.StatusCode, strings.Join(e.Errors, "; "))
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	return nil
}

// Join challenges are kept on the active node, in memory: single use, for challengeTTL, at
// most maxChallenges at once (the endpoint takes no token).
const (
	challengeTTL  = 60 * time.Second
	maxChallenges = 1024
	nonceSize     = 32
	maxServerID   = 128
)

type pendingChallenge struct {
	nonce   []byte
	expires time.Time
}

// JoinAnswer is a joining node's answer to its challenge: its id, Raft (cluster) address,
// API address and certificate request, and Answer, the hex MAC under the barrier key of the
// challenge's nonce and all of these, so that none can be changed or replayed.
type JoinAnswer struct {
	ServerID, Answer, ClusterAddr, APIAddr string
	CSR                                    []byte
}

// JoinGrant is what the active node gives a node whose answer it accepted: its certificate,
// the CA's certificate and sealed key (only a holder of the unseal key can open it), the
// members, and a MAC under the barrier key over the nonce and all of these.
type JoinGrant struct {
	Cert, CACert, CAKeySealed, MAC []byte
	Peers                          []RaftServer
}

// answerMessage is what a joining node MACs to answer a challenge.
func answerMessage(nonce []byte, a JoinAnswer) []byte {
	sum := sha256.Sum256(a.CSR)
	return slices.Concat([]byte("baton-join-answer\x00"), nonce, []byte("\x00"+a.ServerID+"\x00"+a.ClusterAddr+"\x00"+a.APIAddr+"\x00"), sum[:])
}

// grantMessage is what the active node MACs over its grant.
func grantMessage(nonce []byte, g JoinGrant) []byte {
	parts := [][]byte{[]byte("baton-join-grant\x00"), nonce}
	for _, b := range [][]byte{g.Cert, g.CACert, g.CAKeySealed} {
		sum := sha256.Sum256(b)
		parts = append(parts, sum[:])
	}
	return slices.Concat(parts...)
}

// Challenge makes a join challenge for serverID, on the active node: a fresh random nonce
// encrypted under the barrier key (only a node unsealed with this cluster's key reads it),
// kept for challengeTTL and good for one answer from serverID. A new challenge for the same
// id replaces the old one.
func (m *Membership) Challenge(serverID string) (string, error) {
	if err := checkServerID(serverID); err != nil {
		return "", err
	}
	if !m.n.IsActive() {
		return "", m.n.notActive()
	}
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	// Under the root key, not a keyring term: the joining node holds only the root key.
	ct, err := m.n.Barrier().RootEncrypt(nonce)
	if err != nil {
		return "", err
	}
	now := m.now()
	m.chMu.Lock()
	defer m.chMu.Unlock()
	for id, c := range m.challenges {
		if now.After(c.expires) {
			delete(m.challenges, id)
		}
	}
	if _, ok := m.challenges[serverID]; !ok && len(m.challenges) >= maxChallenges {
		return "", refuse(ErrInvalidRequest, "too many join challenges are pending: retry in %s", challengeTTL)
	}
	m.challenges[serverID] = pendingChallenge{nonce: nonce, expires: now.Add(challengeTTL)}
	return base64.StdEncoding.EncodeToString(ct), nil
}

func checkServerID(id string) error {
	if id == "" || len(id) > maxServerID || strings.ContainsAny(id, "\x00/") {
		return refuse(ErrInvalidRequest, "server_id is required: the joining node's id (at most %d characters, no NUL or /)", maxServerID)
	}
	return nil
}

// Answer checks a joining node's answer on the active node and, if it holds, adds the node
// as a voter (recording its addresses in the state) and grants it a certificate. The
// challenge is used up by the first answer, right or wrong: a replayed, expired, foreign
// (another server_id's) or forged answer is refused with ErrJoinRefused and changes nothing.
func (m *Membership) Answer(ctx context.Context, a JoinAnswer) (JoinGrant, error) {
	if err := checkServerID(a.ServerID); err != nil {
		return JoinGrant{}, err
	}
	if a.Answer == "" || a.ClusterAddr == "" || a.APIAddr == "" || len(a.CSR) == 0 {
		return JoinGrant{}, refuse(ErrInvalidRequest, "server_id, answer, cluster_addr, api_addr and csr are required")
	}
	if strings.ContainsRune(a.ClusterAddr+a.APIAddr, 0) {
		return JoinGrant{}, refuse(ErrInvalidRequest, "cluster_addr and api_addr must not contain NUL")
	}
	if _, _, err := net.SplitHostPort(a.ClusterAddr); err != nil {
		return JoinGrant{}, refuse(ErrInvalidRequest, "cluster_addr %q is not host:port (the joining node's Raft address)", a.ClusterAddr)
	}
	if !m.n.IsActive() {
		return JoinGrant{}, m.n.notActive()
	}
	if a.ServerID == m.n.Config().NodeID {
		return JoinGrant{}, refuse(ErrInvalidRequest, "server_id %q is the active node's own id", a.ServerID)
	}
	m.chMu.Lock()
	c, ok := m.challenges[a.ServerID]
	delete(m.challenges, a.ServerID)
	m.chMu.Unlock()
	if !ok || m.now().After(c.expires) {
		m.log.Warn("refused a join answer with no live challenge", "server_id", a.ServerID)
		return JoinGrant{}, refuse(ErrJoinRefused, "join refused: no live challenge for server_id %q (used, expired or never asked): ask for a new one", a.ServerID)
	}
	want, err := m.n.Barrier().MAC(answerMessage(c.nonce, a))
	if err != nil {
		return JoinGrant{}, err
	}
	got, err := hex.DecodeString(a.Answer)
	if err != nil || !hmac.Equal(got, want) {
		m.log.Warn("refused a join answer that does not match its challenge", "server_id", a.ServerID)
		return JoinGrant{}, refuse(ErrJoinRefused, "join refused: the answer does not match the challenge (a different unseal key, or fields changed since)")
	}
	pub, err := clusterpki.ParseCSR(a.CSR, a.ServerID)
	if err != nil {
		return JoinGrant{}, refuse(ErrInvalidRequest, "csr: %v", err)
	}
	var sca *state.ClusterCA
	m.n.state.View(func(d *state.Data) { sca = d.Seal.ClusterCA })
	if sca == nil {
		return JoinGrant{}, refuse(ErrInvalidRequest, "this cluster has no cluster CA (initialised before it existed): it cannot take new members")
	}
	caKey, err := m.n.Barrier().Decrypt(sca.SealedKey)
	if err != nil {
		return JoinGrant{}, fmt.Errorf("core: open the cluster CA key: %w", err)
	}
	ca, err := clusterpki.ParseCA(sca.Cert, caKey)
	if err != nil {
		return JoinGrant{}, err
	}
	cert, err := ca.Sign(a.ServerID, pub, m.n.cfg.ClusterCertTTL, time.Now())
	if err != nil {
		return JoinGrant{}, err
	}
	st := m.n.Store()
	if st == nil {
		return JoinGrant{}, ErrSealed
	}
	if _, err := m.n.Propose(ctx, state.TypeNodeJoin, "", command.SourceAPI, state.NodeJoin{Node: state.Node{ID: a.ServerID, APIAddr: a.APIAddr, RaftAddr: a.ClusterAddr}}); err != nil {
		return JoinGrant{}, err
	}
	if err := st.Join(ctx, a.ServerID, a.ClusterAddr); err != nil {
		return JoinGrant{}, err
	}
	peers, _, err := m.Peers()
	if err != nil {
		return JoinGrant{}, err
	}
	// The CA key travels sealed under the root key, which the joining node holds; the
	// keyring it is sealed by in the state reaches that node only once it has caught up.
	caKeySealed, err := m.n.Barrier().RootEncrypt(caKey)
	if err != nil {
		return JoinGrant{}, err
	}
	g := JoinGrant{Cert: cert, CACert: sca.Cert, CAKeySealed: caKeySealed, Peers: peers}
	if g.MAC, err = m.n.Barrier().MAC(grantMessage(c.nonce, g)); err != nil {
		return JoinGrant{}, err
	}
	m.log.Info("a node answered its join challenge and joined", "server_id", a.ServerID, "cluster_addr", a.ClusterAddr, "api_addr", a.APIAddr)
	return g, nil
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

// httpClient calls join targets, over https with the node's API client TLS settings. No
// keep-alive: a join is rare, and an idle connection would outlive it.
func (m *Membership) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: m.n.Config().APIClientTLS}}
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
	hc := &http.Client{Timeout: probeTimeout, Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: m.n.Config().APIClientTLS}}
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
