package core

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	metrics "github.com/hashicorp/go-metrics/compat"
	"github.com/nats-io/nats.go"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/internal/barrier"
	"github.com/baton-hq/baton/internal/clusterpki"
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
	// eventAuthz authorises every event taken from NATS (nil: every event is refused).
	eventAuthz events.Authorizer

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
	// joinSeal is the [shares, threshold] a join target's sys/seal-status answered, so that a
	// joining node knows how many key shares to wait for.
	joinSeal atomic.Value
	// keys serialises seal changes and holds the rekey attempt (keys.go).
	keys keyOps
	// watchers fans applied transitions out to sys/lifecycle streams.
	watchers WatchHub

	// ident is this node's cluster-port certificate (nil until init, unseal or join).
	ident atomic.Pointer[clusterpki.Identity]
	// raftPtr is the open store for the cluster port's verifier and the forwarder, which
	// must not take mu (a handshake runs while openRaft holds it).
	raftPtr atomic.Pointer[raftstore.Store]
	// joinPeers are the member ids a join answer named ([]string), admitted on the cluster
	// port until Raft has told this node its configuration.
	joinPeers atomic.Value
	// fwdHandler serves forwarded requests; fwdSrv and renewStop live with the store (mu).
	fwdHandler http.Handler
	fwdSrv     *http.Server
	renewStop  chan struct{}
	// reactivate asks the leadership loop to leave and re-enter the active role (after a
	// snapshot restore); the loop closes the channel it is sent once that is done.
	reactivate chan chan struct{}
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
	n := &Node{cfg: cfg, log: cfg.Logger, barrier: barrier.New(), state: state.New(), stopBatch: make(chan struct{}), reactivate: make(chan chan struct{})}
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
	n.state.SetSealObserver(n.syncSeal)
	return n, nil
}

// SetRuntime installs the plugin runtime; call it before Unseal or Init.
func (n *Node) SetRuntime(r Runtime) { n.runtime = r }

// SetEventAuthorizer installs the authoriser of the events taken from NATS (the JetStream
// consumer and the inject subject); call it before Unseal or Init. Without one the node
// refuses every event from NATS. Events raised inside the node do not pass through it: they
// call the action directly, as the node.
func (n *Node) SetEventAuthorizer(a events.Authorizer) { n.eventAuthz = a }

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
		EmbeddedHost: n.cfg.EmbeddedNATSHost,
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

// InitResult is what sys/init returns: shown once, never stored in clear. Keys are the
// unseal key shares, base64.
type InitResult struct {
	Keys      []string
	RootToken string
}

// Init initialises a new cluster with a single unseal key (one share, threshold 1).
func (n *Node) Init(ctx context.Context, rootToken string) (InitResult, error) {
	return n.InitShares(ctx, rootToken, 1, 1)
}

// InitShares initialises a new cluster on this node: a root key split into shares of which
// threshold unseal, a keyring of data keys sealed by the root key (the root key is never a
// data key, nor is any share), a root token, a single-voter Raft that this node leads. The
// node is left unsealed and active.
func (n *Node) InitShares(ctx context.Context, rootToken string, shares, threshold int) (InitResult, error) {
	if err := barrier.CheckShares(shares, threshold); err != nil {
		return InitResult{}, refuse(ErrInvalidRequest, "%v", err)
	}
	if n.InitializedLocally() {
		return InitResult{}, ErrAlreadyInitialized
	}
	if addr := n.ReachedCluster(); addr != "" {
		return InitResult{}, fmt.Errorf("%w at %s", ErrJoining, addr)
	}
	root, err := barrier.GenerateKey()
	if err != nil {
		return InitResult{}, err
	}
	parts, err := barrier.SplitKey(root, shares, threshold)
	if err != nil {
		return InitResult{}, err
	}
	ring, err := barrier.NewKeyring(root)
	if err != nil {
		return InitResult{}, err
	}
	if rootToken == "" {
		rootToken, err = barrier.NewToken()
		if err != nil {
			return InitResult{}, err
		}
	}
	if err := n.barrier.Unseal(root, ring); err != nil {
		return InitResult{}, err
	}
	clusterCA, err := n.newClusterCA()
	if err != nil {
		n.barrier.Seal()
		return InitResult{}, err
	}
	if err := n.openRaft(true); err != nil {
		n.barrier.Seal()
		return InitResult{}, err
	}
	if err := n.waitActive(ctx); err != nil {
		return InitResult{}, err
	}
	natsIDs, err := n.newNATSIdentities()
	if err != nil {
		return InitResult{}, err
	}
	salt, err := barrier.NewTokenSalt()
	if err != nil {
		return InitResult{}, err
	}
	sealedSalt, err := n.barrier.Encrypt(salt)
	if err != nil {
		return InitResult{}, err
	}
	rootEntry, err := n.rootTokenEntry(salt, rootToken)
	if err != nil {
		return InitResult{}, err
	}
	if _, err := n.Propose(ctx, state.TypeInit, "", command.SourceAPI, state.Init{Seal: state.Seal{
		KeyCheck: ring, Shares: shares, Threshold: threshold, TokenSalt: sealedSalt, NATS: natsIDs,
		ClusterCA: clusterCA,
	}, RootToken: &rootEntry}); err != nil {
		return InitResult{}, fmt.Errorf("core: init: %w", err)
	}
	n.authorizeNATS()
	if err := n.saveSeal(); err != nil {
		return InitResult{}, err
	}
	keys := make([]string, len(parts))
	for i, p := range parts {
		keys[i] = barrier.EncodeKey(p)
	}
	return InitResult{Keys: keys, RootToken: rootToken}, nil
}

// rootTokenEntry is the token store's entry for the root token made at init: policy root,
// no parent, no expiry, kept only as salted hashes (the accessor also sealed), as
// internal/auth's token store keeps every token. It is built here, in the init command, so
// that a cluster never exists without its root token.
func (n *Node) rootTokenEntry(salt []byte, token string) (state.Token, error) {
	acc, err := barrier.NewAccessor()
	if err != nil {
		return state.Token{}, err
	}
	sealedAcc, err := n.barrier.Encrypt([]byte(acc))
	if err != nil {
		return state.Token{}, err
	}
	return state.Token{
		ID:             barrier.SaltedHash(salt, barrier.DomainToken, token),
		Accessor:       barrier.SaltedHash(salt, barrier.DomainAccessor, acc),
		SealedAccessor: sealedAcc,
		Policies:       []string{"root"},
		DisplayName:    "root",
		Path:           "auth/token/root",
		Created:        time.Now().UTC(),
		Orphan:         true,
	}, nil
}

// Unseal installs the root key (base64; the shares recombined) and, on a member, opens its
// cluster certificate and starts Raft. A node with a local seal check refuses a key that does
// not open its keyring. A node that has none (it is joining) has no certificate yet, so it
// starts no Raft: join (Membership.Unseal) is the caller's next step, and starts Raft with the
// certificate the join answer gives.
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
	defer metrics.MeasureSince([]string{"core", "unseal"}, time.Now())
	if err := n.barrier.Unseal(key, ls.KeyCheck); err != nil {
		return err
	}
	if !ok {
		n.log.Info("unsealed a node with no cluster state; it joins through the challenge of an active node")
		return nil
	}
	if err := n.loadIdentity(ls); err != nil {
		n.barrier.Seal()
		return err
	}
	if err := n.openRaft(false); err != nil {
		n.barrier.Seal()
		return err
	}
	return nil
}

// AdoptSeal is called once a joined node has caught up: it opens the cluster's keyring with
// its root key and keeps it locally for its next restart.
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
	if _, err := n.barrier.Sync(check, nil); err != nil {
		n.Seal(ctx)
		return barrier.ErrWrongKey
	}
	n.authorizeNATS()
	return n.saveSeal()
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
	rc := n.cfg.raftConfig()
	tc, err := n.clusterTLS()
	if err != nil {
		return err
	}
	rc.TLS, rc.Protocols = tc, []string{ProtocolForward}
	st, err := raftstore.Open(rc, n.state)
	if err != nil {
		return fmt.Errorf("core: open raft: %w", err)
	}
	n.raftPtr.Store(st)
	if bootstrap {
		if err := st.Bootstrap(); err != nil {
			n.raftPtr.Store(nil)
			st.Close()
			return fmt.Errorf("core: bootstrap: %w", err)
		}
	}
	n.store = st
	n.fwdSrv = n.serveForwarded(st)
	n.renewStop = make(chan struct{})
	n.wg.Add(1)
	go func(stop chan struct{}) { defer n.wg.Done(); n.renewLoop(stop) }(n.renewStop)
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

func (n *Node) nodeByID(id string) (state.Node, bool) {
	var nd state.Node
	var ok bool
	n.state.View(func(d *state.Data) { nd, ok = d.Nodes[id] })
	return nd, ok
}
