package events

import (
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
)

// TransitionKind names the machine a transition belongs to; it is the <kind> token of the
// transition subject.
type TransitionKind string

// Machine kinds.
const (
	TransitionPlugin     TransitionKind = "plugin"
	TransitionConnection TransitionKind = "connection"
	TransitionNode       TransitionKind = "node"
)

// Transition is one lifecycle transition as the replicated state records it, published as JSON
// on baton.<cluster>.transitions.<kind>.<id>.
type Transition struct {
	// Kind is the machine: plugin (instance), connection or node.
	Kind TransitionKind `json:"kind"`
	// ID identifies the machine (mount path, connection, node id); unescaped here.
	ID string `json:"id"`
	// Event is the machine event that fired.
	Event string `json:"event"`
	From  string `json:"from"`
	To    string `json:"to"`
	// EventID is the id of the event or command that caused the transition.
	EventID string `json:"event_id,omitempty"`
	// Source is where the change came from: api, nats or internal.
	Source string `json:"source,omitempty"`
	// Index is the Raft index of the command.
	Index uint64 `json:"index"`
	// Time is the command's leader-settled time.
	Time time.Time `json:"time"`
	// Reason explains a failure-driven transition (a crash, a failed rotation).
	Reason string `json:"reason,omitempty"`
}

// DefaultPublisherBuffer is how many transitions a Publisher queues.
const DefaultPublisherBuffer = 4096

// dropLogEvery bounds how often drops are logged.
const dropLogEvery = 10 * time.Second

// Publisher publishes transitions without ever blocking its caller, which runs right after a
// Raft Apply. Transitions wait in a bounded queue; one goroutine publishes them. During a NATS
// outage the client keeps publishing into its reconnect buffer and flushes it on reconnect.
// When the queue is full (or the client's reconnect buffer is), the transition is dropped,
// counted (Dropped) and logged at most every 10 s: transitions stay readable through the API,
// NATS is only a notification channel. Publishing is best effort and at most once.
type Publisher struct {
	nc        *nats.Conn
	cluster   string
	log       hclog.Logger
	ch        chan Transition
	quit      chan struct{}
	done      chan struct{}
	closed    atomic.Bool
	once      sync.Once
	dropped   atomic.Uint64
	published atomic.Uint64
	lastDrop  atomic.Int64
}

// NewPublisher starts a publisher queueing up to buffer transitions (DefaultPublisherBuffer
// when buffer <= 0). Close it to stop its goroutine.
func NewPublisher(nc *nats.Conn, cluster string, buffer int, logger hclog.Logger) (*Publisher, error) {
	if err := ValidateCluster(cluster); err != nil {
		return nil, err
	}
	if nc == nil {
		return nil, errors.New("events: publisher: nil connection")
	}
	if buffer <= 0 {
		buffer = DefaultPublisherBuffer
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	p := &Publisher{
		nc:      nc,
		cluster: cluster,
		log:     logger.Named("events-publisher"),
		ch:      make(chan Transition, buffer),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go p.run()
	return p, nil
}

// PublishTransition queues t and returns at once; see Publisher for what happens when the queue
// is full. After Close it drops.
func (p *Publisher) PublishTransition(t Transition) {
	if p.closed.Load() {
		p.drop(t, "publisher closed")
		return
	}
	select {
	case p.ch <- t:
	default:
		p.drop(t, "queue full")
	}
}

// Dropped counts transitions that were not handed to the NATS client.
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// Published counts transitions handed to the NATS client.
func (p *Publisher) Published() uint64 { return p.published.Load() }

// Close publishes what is queued, flushes the client (waiting at most 5 s) and stops.
func (p *Publisher) Close() {
	p.once.Do(func() {
		p.closed.Store(true)
		close(p.quit)
		<-p.done
		if err := p.nc.FlushTimeout(5 * time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			p.log.Warn("flushing transitions", "error", err)
		}
	})
}

func (p *Publisher) run() {
	defer close(p.done)
	for {
		select {
		case t := <-p.ch:
			p.publish(t)
		case <-p.quit:
			for {
				select {
				case t := <-p.ch:
					p.publish(t)
				default:
					return
				}
			}
		}
	}
}

func (p *Publisher) publish(t Transition) {
	b, err := json.Marshal(t)
	if err == nil {
		err = p.nc.Publish(TransitionSubject(p.cluster, t.Kind, t.ID), b)
	}
	if err != nil {
		p.drop(t, err.Error())
		return
	}
	p.published.Add(1)
}

func (p *Publisher) drop(t Transition, why string) {
	n := p.dropped.Add(1)
	now := time.Now().UnixNano()
	last := p.lastDrop.Load()
	if now-last >= int64(dropLogEvery) && p.lastDrop.CompareAndSwap(last, now) {
		p.log.Warn("dropping transitions", "why", why, "dropped_total", n, "kind", t.Kind, "id", t.ID, "index", t.Index)
	}
}
