package core

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/raftstore/state"
)

// Errors callers branch on.
var (
	// ErrSealed: the node is sealed; it answers only status and unseal.
	ErrSealed = errors.New("core: node is sealed")
	// ErrNotInitialized: the cluster has not been initialised (sys/init) or joined.
	ErrNotInitialized = errors.New("core: node is not initialized")
	// ErrAlreadyInitialized: sys/init on a node that has state.
	ErrAlreadyInitialized = errors.New("core: node is already initialized")
	// ErrJoining: sys/init on a node that has a join target which answered that its cluster
	// is initialised; initialising here would start a second cluster.
	ErrJoining = errors.New("core: node is joining an initialized cluster")
	// ErrNotActive: this node is not the active node; NotActiveError names the one that is.
	ErrNotActive = errors.New("core: not the active node")
)

// NotActiveError says which node is active, so a standby can forward the request.
type NotActiveError struct {
	LeaderID      string
	LeaderAPIAddr string
}

func (e *NotActiveError) Error() string {
	if e.LeaderAPIAddr == "" {
		return "core: not the active node and no active node is known"
	}
	return fmt.Sprintf("core: not the active node; the active node is %s at %s", e.LeaderID, e.LeaderAPIAddr)
}

// Unwrap gives ErrNotActive.
func (e *NotActiveError) Unwrap() error { return ErrNotActive }

// Runtime is what the active node runs for plugins (the database engine). Core calls it on
// leadership changes and hands it the effects of committed transitions.
type Runtime interface {
	// Activate runs on the new active node after the Raft barrier: it reconciles the
	// lifecycle machines left by the previous leader and starts what was running.
	Activate(ctx context.Context) error
	// KillAll kills every plugin process at once (leadership lost, seal).
	KillAll()
	// Effects carries out what committed transitions ask for; active node only.
	Effects(ctx context.Context, ts []fsm.Transition)
	// HandleEvent applies a plugin- or connection-level lifecycle event.
	HandleEvent(ctx context.Context, ev events.Event) (uint64, error)
	// Shutdown stops every plugin gracefully.
	Shutdown(ctx context.Context) error
}

// Node is one Baton node.
type Node struct {
	cfg     Config
	log     hclog.Logger
	barrier *barrier.Barrier
	state   *state.State

	// batch groups concurrent proposals into one Raft entry.
	batch     *batcher
	stopBatch chan struct{}
	batchWG   sync.WaitGroup

	// runtime is set once by SetRuntime before the node is unsealed.
	runtime Runtime

	// bus is the node's NATS side (nil with NoNATS), opened by New and closed last.
	bus *events.Bus

	mu     sync.Mutex // guards the fields below
	store  *raftstore.Store
	active *activeRun
	closed bool
	wg     sync.WaitGroup // leadership loop

	// activeFlag is read on every request (lock-free); leadership changes write it.
	activeFlag atomic.Bool
	verified   time.Time
	verifyMu   sync.Mutex

	// joinReached is the API address of a join target that answered that its cluster is
	// initialised ("" until then); see ReachedCluster.
	joinReached atomic.Value
}

// activeRun is what runs while this node is active.
type activeRun struct {
	cancel   context.CancelFunc
	consumer *events.Consumer
	inject   func()
	done     chan struct{}
}

// localSeal is kept in the data directory so that a restarted node can check an unseal key
// before it starts Raft (the replicated key check is only readable once Raft runs).
type localSeal struct {
	KeyCheck []byte `json:"key_check"`
}

// New builds a node. It starts NATS (embedded or external) but not Raft: the node is sealed.
func New(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("core: data dir: %w", err)
	}
	n := &Node{cfg: cfg, log: cfg.Logger, barrier: barrier.New(), state: state.New(), stopBatch: make(chan struct{})}
	n.batch = newBatcher(n)
	n.batchWG.Add(1)
	go func() { defer n.batchWG.Done(); n.batch.run(n.stopBatch) }()
	if !cfg.NoNATS {
		if err := n.startNATS(); err != nil {
			n.stopBatcher()
			return nil, err
		}
	}
	n.state.SetObserver(n.observe)
	return n, nil
}

// SetRuntime installs the plugin runtime; call it before Unseal or Init.
func (n *Node) SetRuntime(r Runtime) { n.runtime = r }

// State is the node's replicated state (read-only use).
func (n *Node) State() *state.State { return n.state }

// Barrier is the node's barrier.
func (n *Node) Barrier() *barrier.Barrier { return n.barrier }

// Logger is the node's logger.
func (n *Node) Logger() hclog.Logger { return n.log }

// Config is the node's configuration.
func (n *Node) Config() Config { return n.cfg }

// NATS is the node's NATS connection (nil without NATS).
func (n *Node) NATS() *nats.Conn {
	if n.bus == nil {
		return nil
	}
	return n.bus.Conn()
}

// NATSURL is the URL of the NATS server the node uses.
func (n *Node) NATSURL() string {
	if n.bus != nil {
		return n.bus.ClientURL()
	}
	return n.cfg.NATSURL
}

// startNATS opens the node's NATS side (events.OpenBus: the embedded server unless NATSURL
// names one, the connection, JetStream and the transition publisher).
func (n *Node) startNATS() error {
	cc := n.cfg.NATSClient
	if cc.Name == "" {
		cc.Name = "baton-" + n.cfg.NodeID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := events.OpenBus(ctx, events.BusConfig{
		Cluster:      n.cfg.Cluster,
		URL:          n.cfg.NATSURL,
		EmbeddedDir:  filepath.Join(n.cfg.DataDir, "nats"),
		EmbeddedPort: n.cfg.EmbeddedNATSPort,
		Client:       cc,
		Logger:       n.log,
	})
	if err != nil {
		return fmt.Errorf("core: NATS: %w", err)
	}
	n.bus = b
	return nil
}

func (n *Node) stopNATS() {
	if n.bus != nil {
		n.bus.Close()
	}
}

func (n *Node) sealPath() string { return filepath.Join(n.cfg.DataDir, "seal.json") }

func (n *Node) readLocalSeal() (localSeal, bool, error) {
	b, err := os.ReadFile(n.sealPath())
	if errors.Is(err, os.ErrNotExist) {
		return localSeal{}, false, nil
	}
	if err != nil {
		return localSeal{}, false, fmt.Errorf("core: read %s: %w", n.sealPath(), err)
	}
	var s localSeal
	if err := json.Unmarshal(b, &s); err != nil {
		return localSeal{}, false, fmt.Errorf("core: %s is corrupt: %w", n.sealPath(), err)
	}
	return s, true, nil
}

func (n *Node) writeLocalSeal(s localSeal) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tmp := n.sealPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("core: write seal check: %w", err)
	}
	return os.Rename(tmp, n.sealPath())
}

// Initialized reports what sys/init, sys/seal-status and sys/health say: the node holds a
// seal check (InitializedLocally), or it is joining a cluster that a join target said is
// initialised (ReachedCluster). OpenBao's Core.Initialized is true while a raft join is in
// progress for the same reason: scripts run sys/init on every node that says it is not
// initialised, and on a joining node that would start a second cluster.
func (n *Node) Initialized() bool {
	return n.InitializedLocally() || n.ReachedCluster() != ""
}

// InitializedLocally reports whether this node itself belongs to an initialised cluster (it
// holds a seal check, written at init or after its first unseal as a member).
func (n *Node) InitializedLocally() bool {
	_, ok, _ := n.readLocalSeal()
	return ok
}

// MarkReachedCluster records that the join target at apiAddr answered that its cluster is
// initialised: from now on the node reports itself initialised (and sealed until it has
// joined) and refuses Init. The first address recorded is kept.
func (n *Node) MarkReachedCluster(apiAddr string) {
	if apiAddr == "" {
		return
	}
	if n.joinReached.CompareAndSwap(nil, apiAddr) {
		n.log.Info("reached an initialized cluster through a join target; this node now reports initialized", "leader_api_addr", apiAddr)
	}
}

// ReachedCluster is the join target recorded by MarkReachedCluster, "" when none.
func (n *Node) ReachedCluster() string {
	v, _ := n.joinReached.Load().(string)
	return v
}

// Sealed reports whether the node is sealed.
func (n *Node) Sealed() bool { return n.barrier.Sealed() }

// InitResult is what sys/init returns: shown once, never stored in clear.
type InitResult struct {
	Keys      []string
	RootToken string
}

// Init initialises a new cluster on this node: a barrier key, a root token, a single-voter
// Raft that this node leads. The node is left unsealed and active.
func (n *Node) Init(ctx context.Context, rootToken string) (InitResult, error) {
	if n.InitializedLocally() {
		return InitResult{}, ErrAlreadyInitialized
	}
	if addr := n.ReachedCluster(); addr != "" {
		return InitResult{}, fmt.Errorf("%w at %s", ErrJoining, addr)
	}
	key, err := barrier.GenerateKey()
	if err != nil {
		return InitResult{}, err
	}
	check, err := barrier.KeyCheck(key)
	if err != nil {
		return InitResult{}, err
	}
	if rootToken == "" {
		rootToken, err = barrier.NewToken()
		if err != nil {
			return InitResult{}, err
		}
	}
	if err := n.barrier.Unseal(key, nil); err != nil {
		return InitResult{}, err
	}
	if err := n.openRaft(true); err != nil {
		n.barrier.Seal()
		return InitResult{}, err
	}
	if err := n.waitActive(ctx); err != nil {
		return InitResult{}, err
	}
	if _, err := n.Propose(ctx, state.TypeInit, "", command.SourceAPI, state.Init{Seal: state.Seal{
		KeyCheck: check, Shares: 1, Threshold: 1, RootTokenHash: barrier.HashToken(rootToken),
	}}); err != nil {
		return InitResult{}, fmt.Errorf("core: init: %w", err)
	}
	if err := n.writeLocalSeal(localSeal{KeyCheck: check}); err != nil {
		return InitResult{}, err
	}
	return InitResult{Keys: []string{barrier.EncodeKey(key)}, RootToken: rootToken}, nil
}

// Unseal installs the key and starts Raft. A node with a local seal check refuses a key that
// does not match it. A node that has none (it is joining) starts Raft empty and waits to be
// added by the active node: join is then the caller's next step.
func (n *Node) Unseal(ctx context.Context, keyText string) error {
	key, err := barrier.DecodeKey(keyText)
	if err != nil {
		return err
	}
	ls, ok, err := n.readLocalSeal()
	if err != nil {
		return err
	}
	if !n.barrier.Sealed() {
		return nil
	}
	if err := n.barrier.Unseal(key, ls.KeyCheck); err != nil {
		return err
	}
	if err := n.openRaft(false); err != nil {
		n.barrier.Seal()
		return err
	}
	if !ok {
		n.log.Info("unsealed a node with no cluster state; waiting to be joined")
	}
	return nil
}

// AdoptSeal is called once a joined node has caught up: it checks its key against the
// cluster's key check and keeps that check locally for its next restart.
func (n *Node) AdoptSeal(ctx context.Context) error {
	var check []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		n.state.View(func(d *state.Data) { check = d.Seal.KeyCheck })
		if len(check) > 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("core: joined but the cluster's seal never replicated")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	if _, err := n.barrier.Decrypt(check); err != nil {
		n.Seal(ctx)
		return barrier.ErrWrongKey
	}
	return n.writeLocalSeal(localSeal{KeyCheck: check})
}

func (n *Node) openRaft(bootstrap bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("core: node is shut down")
	}
	if n.store != nil {
		return nil
	}
	// What the state held before a seal is not replayed onto: Raft rebuilds it from scratch.
	n.state.Reset()
	st, err := raftstore.Open(n.cfg.raftConfig(), n.state)
	if err != nil {
		return fmt.Errorf("core: open raft: %w", err)
	}
	if bootstrap {
		if err := st.Bootstrap(); err != nil {
			st.Close()
			return fmt.Errorf("core: bootstrap: %w", err)
		}
	}
	n.store = st
	n.wg.Add(1)
	go n.leadershipLoop(st)
	return nil
}

// Store is the node's Raft store, nil while sealed.
func (n *Node) Store() *raftstore.Store {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.store
}

func (n *Node) waitActive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !n.IsActive() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("core: node did not become active: %w", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}

// IsActive reports whether this node is the active node: unsealed, Raft leader, runtime up.
func (n *Node) IsActive() bool {
	return n.activeFlag.Load() && !n.barrier.Sealed()
}

// leadershipLoop follows Raft leadership; it runs until the store closes.
func (n *Node) leadershipLoop(st *raftstore.Store) {
	defer n.wg.Done()
	for leader := range st.LeadershipChanges() {
		if leader {
			n.becomeActive(st)
		} else {
			n.becomeStandby("leadership lost")
		}
	}
	n.becomeStandby("raft closed")
}

func (n *Node) becomeActive(st *raftstore.Store) {
	n.mu.Lock()
	if n.active != nil || n.closed {
		n.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &activeRun{cancel: cancel, done: make(chan struct{})}
	n.active = run
	n.mu.Unlock()

	start := time.Now()
	bctx, bcancel := context.WithTimeout(ctx, 30*time.Second)
	err := st.Barrier(bctx)
	bcancel()
	if err != nil {
		n.log.Warn("barrier after gaining leadership failed; not activating", "error", err)
		close(run.done)
		return
	}
	n.activeFlag.Store(true)
	n.verifyMu.Lock()
	n.verified = time.Now()
	n.verifyMu.Unlock()
	n.log.Info("active node", "barrier", time.Since(start))

	// Everything below runs off the Raft goroutines; plugin starts run in parallel inside the
	// runtime and never hold leadership up.
	go func() {
		defer close(run.done)
		n.registerSelf(ctx)
		if n.runtime != nil {
			if err := n.runtime.Activate(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("activating the plugin runtime", "error", err)
			}
		}
		if n.bus != nil && ctx.Err() == nil {
			n.startEvents(ctx, run)
		}
	}()
}

func (n *Node) registerSelf(ctx context.Context) {
	var known state.Node
	n.state.View(func(d *state.Data) { known = d.Nodes[n.cfg.NodeID] })
	self := state.Node{ID: n.cfg.NodeID, APIAddr: n.cfg.APIAddr, RaftAddr: n.cfg.RaftAdvertise}
	if known == self {
		return
	}
	if _, err := n.Propose(ctx, state.TypeNodeJoin, "", command.SourceInternal, state.NodeJoin{Node: self}); err != nil && ctx.Err() == nil {
		n.log.Warn("recording this node's addresses", "error", err)
	}
}

func (n *Node) startEvents(ctx context.Context, run *activeRun) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := events.EnsureStream(sctx, n.bus.JetStream(), n.cfg.Cluster, 1); err != nil {
		n.log.Error("NATS stream", "error", err)
		return
	}
	c, err := events.StartConsumer(ctx, n.bus.JetStream(), n.cfg.Cluster, n, n.log.Named("consumer"),
		events.WithConcurrency(n.cfg.ConsumerConcurrency))
	if err != nil {
		n.log.Error("NATS consumer", "error", err)
		return
	}
	stop, err := events.ServeInject(n.bus.Conn(), n.cfg.Cluster, n, n.log.Named("inject"))
	if err != nil {
		n.log.Error("NATS inject subject", "error", err)
	}
	n.mu.Lock()
	if n.active == run {
		run.consumer = c
		run.inject = stop
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	// Leadership was lost while starting: undo.
	c.Stop()
	if stop != nil {
		stop()
	}
}

// becomeStandby kills plugins first, then stops taking events.
func (n *Node) becomeStandby(why string) {
	n.leaveActive(context.Background(), killPlugins)
	n.mu.Lock()
	run := n.active
	n.active = nil
	n.mu.Unlock()
	if run == nil {
		return
	}
	n.log.Info("no longer active", "why", why)
	run.cancel()
	select {
	case <-run.done:
	case <-time.After(30 * time.Second):
		n.log.Warn("activation did not stop within 30s")
	}
	n.mu.Lock()
	c, stop := run.consumer, run.inject
	n.mu.Unlock()
	if stop != nil {
		stop()
	}
	if c != nil {
		c.Stop()
	}
	// Anything started between the first kill and the cancellation dies here.
	n.killAll()
}

// pluginStop says how leaveActive ends the plugin processes.
type pluginStop int

const (
	// killPlugins kills them at once (Runtime.KillAll): leadership lost, step-down, seal, halt.
	killPlugins pluginStop = iota
	// stopPlugins stops them gracefully (Runtime.Shutdown): shutdown.
	stopPlugins
)

// leaveActive is the kill-first step every way out of the active role begins with (leadership
// lost, step-down, seal, shutdown, halt): the node stops claiming to be active, so it serves no
// further plugin request, and its plugin processes end, before anything else happens (no
// leadership transfer, no Raft close, no cancelled activation). Invariant 1 depends on it: a
// standby may win the next election at once and start its own plugins.
func (n *Node) leaveActive(ctx context.Context, how pluginStop) {
	n.activeFlag.Store(false)
	if how == stopPlugins && n.runtime != nil {
		if err := n.runtime.Shutdown(ctx); err != nil {
			n.log.Warn("stopping plugins", "error", err)
		}
		return
	}
	n.killAll()
}

// handOver is how an active node leaves on purpose (step-down, seal, shutdown): leaveActive,
// then leadership is transferred so a standby takes over without waiting for an election
// timeout. It returns the transfer's error (a single-node cluster has no one to hand over to).
func (n *Node) handOver(ctx context.Context, how pluginStop) error {
	n.leaveActive(ctx, how)
	st := n.Store()
	if st == nil {
		return ErrSealed
	}
	return st.TransferLeadership(ctx)
}

// killAll kills every plugin process, if the node has a runtime.
func (n *Node) killAll() {
	if n.runtime != nil {
		n.runtime.KillAll()
	}
}

// observe receives every applied transition; the active node publishes them and carries out
// their effects. It runs on Raft's apply goroutine, so it only hands work off.
func (n *Node) observe(ts []fsm.Transition) {
	if !n.IsActive() {
		return
	}
	if n.bus != nil {
		for _, t := range ts {
			n.bus.Publisher().PublishTransition(events.Transition{
				Kind: events.TransitionKind(t.Kind), ID: t.ID, Event: string(t.Event), From: string(t.From), To: string(t.To),
				EventID: t.EventID, Source: t.Source, Index: t.Index, Time: t.Time, Reason: t.Reason,
			})
		}
	}
	if n.runtime != nil {
		n.mu.Lock()
		run := n.active
		n.mu.Unlock()
		if run == nil {
			return
		}
		go n.runtime.Effects(context.WithoutCancel(context.Background()), ts)
	}
}

// Propose commits a command on the active node. An empty id gets a fresh one. A refused
// command (a business failure) returns the state's error; not being active returns a
// *NotActiveError naming the active node.
func (n *Node) Propose(ctx context.Context, typ command.Type, id string, source command.Source, payload any) (*state.Result, error) {
	st := n.Store()
	if st == nil {
		return nil, ErrSealed
	}
	if id == "" {
		id = rand.Text()
	}
	c, err := command.New(typ, id, source, time.Now(), payload)
	if err != nil {
		return nil, err
	}
	resp, err := n.batch.submit(ctx, c)
	if errors.Is(err, raftstore.ErrNotLeader) {
		return nil, n.notActive()
	}
	if err != nil {
		return nil, err
	}
	r, ok := resp.(*state.Result)
	if !ok {
		return nil, fmt.Errorf("core: unexpected apply response %T", resp)
	}
	return r, nil
}

func (n *Node) notActive() error {
	st := n.Store()
	if st == nil {
		return &NotActiveError{}
	}
	id, _ := st.Leader()
	var addr string
	n.state.View(func(d *state.Data) { addr = d.Nodes[id].APIAddr })
	return &NotActiveError{LeaderID: id, LeaderAPIAddr: addr}
}

// LeaderAPIAddr names the active node's API address, "" when unknown.
func (n *Node) LeaderAPIAddr() (id, addr string) {
	var e *NotActiveError
	if errors.As(n.notActive(), &e) {
		return e.LeaderID, e.LeaderAPIAddr
	}
	return "", ""
}

// VerifyActive checks, before a plugin request, that this node still leads. A frozen and
// resumed leader must not serve a single plugin request before it has checked: after a gap
// longer than the lease since the last check, it asks a quorum (one round trip).
func (n *Node) VerifyActive(ctx context.Context) error {
	if !n.IsActive() {
		return n.notActive()
	}
	st := n.Store()
	if st == nil {
		return ErrSealed
	}
	n.verifyMu.Lock()
	gap := time.Since(n.verified)
	n.verifyMu.Unlock()
	if gap < n.cfg.Raft.LeaderLeaseTimeout/2 {
		return nil
	}
	// After a gap long enough to have been frozen through an election, twice: a heartbeat
	// answered before a freeze, read only after it, can make one verification pass; the
	// second needs a round trip that starts after the first ended.
	rounds := 1
	if gap > n.cfg.Raft.ElectionTimeout {
		rounds = 2
	}
	for range rounds {
		if err := st.VerifyLeader(ctx); err != nil {
			return n.notActive()
		}
	}
	if !n.IsActive() {
		return n.notActive()
	}
	n.verifyMu.Lock()
	n.verified = time.Now()
	n.verifyMu.Unlock()
	return nil
}

// StepDown hands leadership over: the plugin instances record step_down (through Raft, with
// the event's id so a redelivered event is applied once), this node kills its plugins, then
// transfers leadership. It returns once the transfer is under way.
func (n *Node) StepDown(ctx context.Context, eventID string, source command.Source) (uint64, error) {
	if !n.IsActive() {
		return 0, n.notActive()
	}
	r, err := n.Propose(ctx, state.TypeLifecycleAll, eventID, source, state.LifecycleBroadcast{
		Kind: fsm.KindPlugin, Event: fsm.EventStepDown, Reason: "active node stepped down",
	})
	if err != nil {
		return 0, err
	}
	if r.Duplicate {
		return r.Index, nil
	}
	if err := n.handOver(ctx, killPlugins); err != nil {
		// A single-node cluster cannot hand over: it stays active.
		if st := n.Store(); st != nil {
			n.activeFlag.Store(st.IsLeader())
		}
		return r.Index, fmt.Errorf("core: step-down: %w", err)
	}
	return r.Index, nil
}

// Seal seals the node: the active node first records the seal on its plugin instances, kills
// its plugins and hands leadership over; then Raft stops and the key is forgotten.
func (n *Node) Seal(ctx context.Context) error {
	return n.sealWith(ctx, "", command.SourceAPI)
}

func (n *Node) sealWith(ctx context.Context, eventID string, source command.Source) error {
	if n.barrier.Sealed() {
		return nil
	}
	if n.IsActive() {
		if _, err := n.Propose(ctx, state.TypeLifecycleAll, eventID, source, state.LifecycleBroadcast{
			Kind: fsm.KindPlugin, Event: fsm.EventSeal, Reason: "active node sealed",
		}); err != nil {
			n.log.Warn("recording the seal on plugin instances", "error", err)
		}
		if err := n.handOver(ctx, killPlugins); err != nil {
			n.log.Info("no leadership transfer on seal", "error", err)
		}
	}
	n.closeRaft()
	n.barrier.Seal()
	n.log.Info("sealed")
	return nil
}

func (n *Node) closeRaft() {
	n.mu.Lock()
	st := n.store
	n.store = nil
	n.mu.Unlock()
	if st != nil {
		if err := st.Close(); err != nil {
			n.log.Warn("closing raft", "error", err)
		}
	}
	n.wg.Wait()
}

// Shutdown stops the node gracefully: plugins stopped, leadership handed over, Raft closed,
// NATS closed. It is idempotent.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	if n.IsActive() {
		if err := n.handOver(ctx, stopPlugins); err != nil {
			n.log.Info("no leadership transfer on shutdown", "error", err)
		}
	}
	n.closeRaft()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.killAll()
	n.stopBatcher()
	n.stopNATS()
	return nil
}

func (n *Node) stopBatcher() {
	select {
	case <-n.stopBatch:
	default:
		close(n.stopBatch)
	}
	n.batchWG.Wait()
}

// Halt stops the node the way a crash looks to its peers: plugins killed, Raft closed without
// handing leadership over, NATS closed. Tests use it to kill an active node in-process.
func (n *Node) Halt() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.mu.Unlock()
	n.leaveActive(context.Background(), killPlugins)
	n.mu.Lock()
	st := n.store
	n.store = nil
	n.mu.Unlock()
	if st != nil {
		_ = st.Close()
	}
	n.wg.Wait()
	n.stopBatcher()
	n.stopNATS()
}

// HandleEvent applies an injected event; it satisfies events.Handler. Node-level events are
// the node's; plugin and connection events go to the runtime.
func (n *Node) HandleEvent(ctx context.Context, ev events.Event) (uint64, error) {
	if !n.IsActive() {
		return 0, n.notActive()
	}
	if ev.Target.Type == events.TargetNode && ev.Target.ID != "" && ev.Target.ID != n.cfg.NodeID {
		if _, known := n.nodeByID(ev.Target.ID); !known {
			return 0, fmt.Errorf("%w: no node %q in this cluster", events.ErrRejected, ev.Target.ID)
		}
	}
	source := command.SourceNATS
	switch ev.Kind {
	case events.KindStepDown:
		if ev.Target.ID != "" && ev.Target.ID != n.cfg.NodeID {
			// Only the active node steps down: stepping down a standby is a no-op, recorded.
			r, err := n.Propose(ctx, state.TypeNoop, ev.ID, source, nil)
			return indexOf(r), err
		}
		return n.StepDown(ctx, ev.ID, source)
	case events.KindSeal:
		r, err := n.Propose(ctx, state.TypeLifecycleAll, ev.ID, source, state.LifecycleBroadcast{
			Kind: fsm.KindPlugin, Event: fsm.EventSeal, Reason: "seal event",
		})
		if err != nil || r.Duplicate {
			return indexOf(r), err
		}
		go func() {
			if err := n.sealWith(context.Background(), "", command.SourceInternal); err != nil {
				n.log.Error("seal", "error", err)
			}
		}()
		return r.Index, nil
	case events.KindShutdown:
		if n.cfg.Shutdown == nil {
			return 0, fmt.Errorf("%w: this node cannot be shut down by event", events.ErrRejected)
		}
		r, err := n.Propose(ctx, state.TypeLifecycleAll, ev.ID, source, state.LifecycleBroadcast{
			Kind: fsm.KindPlugin, Event: fsm.EventShutdown, Reason: "shutdown event",
		})
		if err != nil || r.Duplicate {
			return indexOf(r), err
		}
		go n.cfg.Shutdown()
		return r.Index, nil
	}
	if n.runtime == nil {
		return 0, fmt.Errorf("%w: no plugin runtime on this node", events.ErrRejected)
	}
	return n.runtime.HandleEvent(ctx, ev)
}

func indexOf(r *state.Result) uint64 {
	if r == nil {
		return 0
	}
	return r.Index
}

func (n *Node) nodeByID(id string) (state.Node, bool) {
	var nd state.Node
	var ok bool
	n.state.View(func(d *state.Data) { nd, ok = d.Nodes[id] })
	return nd, ok
}
