package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	metrics "github.com/hashicorp/go-metrics/compat"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrRejected is wrapped by a Handler's error when the event is valid but refused for good (for
// example a transition the lifecycle machine does not allow). The event is terminated and
// reported on the rejected subject instead of being redelivered.
var ErrRejected = errors.New("event rejected")

// Handler takes a decoded, validated event and returns once the change it asks for is
// committed (the Raft index), or an error. An error wrapping ErrRejected refuses the event for
// good; any other error (not the leader, a timeout) has it redelivered later, possibly to
// another node. The handler must be safe for concurrent use.
type Handler interface {
	HandleEvent(ctx context.Context, ev Event) (index uint64, err error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, ev Event) (uint64, error)

// HandleEvent calls f.
func (f HandlerFunc) HandleEvent(ctx context.Context, ev Event) (uint64, error) { return f(ctx, ev) }

// Stream defaults.
const (
	// StreamMaxAge is how long an injected event stays in the stream when no intake purges it.
	StreamMaxAge = 24 * time.Hour
	// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id (the event id) and drops a
	// re-publish of it. It is only a first line of defence: the state dedups by id for ever.
	// 90 s, so that at DefaultRate the state's applied ids outlast it (see Limit.Validate).
	DuplicateWindow = 90 * time.Second
)

// EnsureStream creates the cluster's event stream, or updates it to this configuration. It is
// idempotent and every node may call it. The active node's intake purges the events it has
// handled (their token headers with them, see Intake.purgeHandled); StreamMaxAge (limits
// retention) bounds how long an event no node handled stays.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cluster string, replicas int) (jetstream.Stream, error) {
	if err := ValidateCluster(cluster); err != nil {
		return nil, err
	}
	if replicas < 1 {
		replicas = 1
	}
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName(cluster),
		Description: "Baton lifecycle events injected for cluster " + cluster,
		Subjects:    []string{EventsWildcard(cluster)},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      StreamMaxAge,
		Duplicates:  DuplicateWindow,
		// The server refuses an oversize event at publish time, so the submitter sees it at once.
		MaxMsgSize: MaxEventSize + 1024,
		Replicas:   replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("events: ensure stream %s: %w", StreamName(cluster), err)
	}
	return s, nil
}

// Consumer defaults; see the ConsumerOption functions.
const (
	DefaultConcurrency    = 64
	DefaultMaxAckPending  = 1024
	DefaultAckWait        = 30 * time.Second
	DefaultHandlerTimeout = 20 * time.Second
	DefaultNakDelay       = time.Second
	DefaultStopTimeout    = 5 * time.Second
)

// pullExpiry bounds one pull request. Measured here (nats.go v1.55.0, nats-server v2.15.2): now
// and then an event stored around the moment the client renews its pull request is not
// delivered until that request expires (consumer sequence equals stream sequence: it is not a
// redelivery). With the client's default expiry of 30 s that was one event in about 100 000
// delayed 30 s with an 8-message client buffer; a short expiry bounds the stall, and a larger
// buffer (fewer renewals) made it vanish from 280 000 events. Idle cost: one pull request
// every 5 s.
const pullExpiry = 5 * time.Second

type consumerOptions struct {
	concurrency    int
	maxAckPending  int
	ackWait        time.Duration
	handlerTimeout time.Duration
	nakDelay       time.Duration
	stopTimeout    time.Duration
	limiter        *Limiter
	authz          Authorizer
}

// ConsumerOption tunes StartConsumer.
type ConsumerOption func(*consumerOptions)

// WithConcurrency sets how many events are handled at once (default 64). Order among them is not
// kept: the Raft log orders what is applied.
func WithConcurrency(n int) ConsumerOption { return func(o *consumerOptions) { o.concurrency = n } }

// WithMaxAckPending sets how many events the server hands out unacked (default 1024).
func WithMaxAckPending(n int) ConsumerOption {
	return func(o *consumerOptions) { o.maxAckPending = n }
}

// WithAckWait sets how long the server waits for an ack before redelivering (default 30 s).
func WithAckWait(d time.Duration) ConsumerOption { return func(o *consumerOptions) { o.ackWait = d } }

// WithHandlerTimeout bounds one HandleEvent call (default 20 s, below the ack wait so that the
// server does not redeliver an event that is still being handled).
func WithHandlerTimeout(d time.Duration) ConsumerOption {
	return func(o *consumerOptions) { o.handlerTimeout = d }
}

// WithNakDelay sets how long a transiently failed event waits before redelivery (default 1 s).
func WithNakDelay(d time.Duration) ConsumerOption { return func(o *consumerOptions) { o.nakDelay = d } }

// WithStopTimeout bounds how long Stop waits for in-flight handlers (default 5 s).
func WithStopTimeout(d time.Duration) ConsumerOption {
	return func(o *consumerOptions) { o.stopTimeout = d }
}

// WithLimiter refuses events taken above l's rate: each is terminated and reported on the
// rejected subject with the reason, never handed to the handler (default: no limit).
func WithLimiter(l *Limiter) ConsumerOption { return func(o *consumerOptions) { o.limiter = l } }

// WithAuthorizer authorises every event with a: its X-Vault-Token header must allow the
// event's action (ActionOf). Without it every event is refused: the consumer fails closed.
func WithAuthorizer(a Authorizer) ConsumerOption { return func(o *consumerOptions) { o.authz = a } }

// ConsumerStats counts what a consumer did with the messages it took.
type ConsumerStats struct {
	// Acked events were handled successfully.
	Acked uint64
	// Nacked events failed transiently and will be redelivered.
	Nacked uint64
	// Rejected events were invalid or refused, terminated and reported.
	Rejected uint64
	// Returned events were taken from the client buffer during Stop and handed back unhandled.
	Returned uint64
	// Erased events held a secret and were overwritten in the stream (secure delete).
	Erased uint64
}

// Consumer takes injected events from the cluster's durable pull consumer and hands them to a
// Handler. Only the active node runs one: a second consumer on the same durable would share the
// work rather than stand by.
type Consumer struct {
	log    hclog.Logger
	nc     *nats.Conn
	h      Handler
	opts   consumerOptions
	clust  string
	msgs   jetstream.MessagesContext
	cons   jetstream.Consumer
	slots  chan struct{}
	wg     sync.WaitGroup
	hctx   context.Context
	hstop  context.CancelFunc
	lctx   context.Context
	lstop  context.CancelFunc
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	acked  atomic.Uint64
	nacked atomic.Uint64
	rej    atomic.Uint64
	ret    atomic.Uint64
	erased atomic.Uint64
	js     jetstream.JetStream
}

// StartConsumer creates or updates the durable consumer baton-<cluster>-active on the cluster's
// stream (which EnsureStream must have created) and starts handling events. ctx bounds the
// setup; handler contexts keep its values but not its cancellation: call Stop to end.
//
// What happens to a message:
//   - it does not decode or validate (or its subject does not match its kind): Term, reported
//     on the rejected subject, the handler is not called;
//   - its X-Vault-Token header is missing or does not allow the event's action (the
//     authoriser, WithAuthorizer): Term, reported with "permission denied: …", the handler is
//     not called; an authoriser that fails for now (sealed) has it redelivered;
//   - the handler succeeds: Ack, after HandleEvent returned (after the Raft commit);
//   - the handler's error wraps ErrRejected: Term, reported on the rejected subject;
//   - any other error: Nak with a delay, so it is redelivered, possibly to a new leader.
func StartConsumer(ctx context.Context, js jetstream.JetStream, cluster string, h Handler, logger hclog.Logger, opts ...ConsumerOption) (*Consumer, error) {
	if err := ValidateCluster(cluster); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("events: start consumer: nil handler")
	}
	o := consumerOptions{
		concurrency:    DefaultConcurrency,
		maxAckPending:  DefaultMaxAckPending,
		ackWait:        DefaultAckWait,
		handlerTimeout: DefaultHandlerTimeout,
		nakDelay:       DefaultNakDelay,
		stopTimeout:    DefaultStopTimeout,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.concurrency < 1 || o.maxAckPending < 1 || o.ackWait <= 0 || o.handlerTimeout <= 0 || o.nakDelay < 0 || o.stopTimeout <= 0 {
		return nil, errors.New("events: start consumer: concurrency, max ack pending, ack wait, handler and stop timeouts must be positive")
	}
	o.concurrency = min(o.concurrency, o.maxAckPending)
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	log := logger.Named("events-consumer")

	cons, err := js.CreateOrUpdateConsumer(ctx, StreamName(cluster), jetstream.ConsumerConfig{
		Durable:       ConsumerName(cluster),
		Description:   "Baton active node",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.ackWait,
		MaxDeliver:    -1,
		MaxAckPending: o.maxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("events: create consumer %s on %s: %w", ConsumerName(cluster), StreamName(cluster), err)
	}
	// The client buffer is bounded so that few events wait there while holding an ack timer
	// (Stop hands back what remains in it), but not small: see pullExpiry.
	buffered := min(max(2*o.concurrency, 64), o.maxAckPending)
	msgs, err := cons.Messages(
		jetstream.PullMaxMessages(buffered),
		jetstream.PullExpiry(pullExpiry),
		// Missing heartbeats (a NATS outage) are handled inside the iterator, which re-pulls
		// after reconnecting; Next keeps blocking meanwhile.
		jetstream.WithMessagesErrOnMissingHeartbeat(false),
	)
	if err != nil {
		return nil, fmt.Errorf("events: consume %s: %w", ConsumerName(cluster), err)
	}
	c := &Consumer{
		log:   log,
		nc:    js.Conn(),
		js:    js,
		h:     h,
		opts:  o,
		clust: cluster,
		msgs:  msgs,
		cons:  cons,
		slots: make(chan struct{}, o.concurrency),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	c.hctx, c.hstop = context.WithCancel(context.WithoutCancel(ctx))
	c.lctx, c.lstop = context.WithCancel(context.Background())
	go c.loop()
	log.Info("consuming events", "stream", StreamName(cluster), "consumer", ConsumerName(cluster), "concurrency", o.concurrency)
	return c, nil
}

// Info returns the durable consumer's server-side state (pending, unacked, redelivered).
func (c *Consumer) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	return c.cons.Info(ctx)
}

// Stats returns what this consumer did so far.
func (c *Consumer) Stats() ConsumerStats {
	return ConsumerStats{Acked: c.acked.Load(), Nacked: c.nacked.Load(), Rejected: c.rej.Load(), Returned: c.ret.Load(), Erased: c.erased.Load()}
}

// Done is closed when the consumer stopped fetching: after Stop, or when the server deleted the
// consumer or the connection was closed. The caller may then start a new one.
func (c *Consumer) Done() <-chan struct{} { return c.done }

// Stop stops fetching at once and hands back (Nak without delay) the events already buffered
// in the client, so that the next active node gets them without waiting for the ack timer
// (during a NATS outage it gives up on that after the stop timeout; they then come back after
// the ack wait). It then waits for in-flight handlers up to the stop timeout, cancels their
// context and waits as long again: at most three stop timeouts in all. A handler still running
// after that is logged and left; its event is acked or redelivered when it returns. The old
// leader calls Stop the moment it loses leadership. Stop is idempotent.
func (c *Consumer) Stop() {
	c.once.Do(func() {
		close(c.stop)
		c.msgs.Drain()
		select {
		case <-c.done:
		case <-time.After(c.opts.stopTimeout):
			// Draining needs the server (an outage): give up on the buffer, whose events are
			// redelivered after the ack wait.
			c.lstop()
			c.msgs.Stop()
			<-c.done
		}
		if !c.waitHandlers(c.opts.stopTimeout) {
			c.log.Warn("handlers still running at stop; cancelling them", "waited", c.opts.stopTimeout)
			c.hstop()
			if !c.waitHandlers(c.opts.stopTimeout) {
				c.log.Error("handlers ignore cancellation; leaving them", "waited", 2*c.opts.stopTimeout)
			}
		}
		c.hstop()
		c.lstop()
		c.log.Info("stopped consuming events")
	})
}

func (c *Consumer) waitHandlers(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func (c *Consumer) loop() {
	defer close(c.done)
	for {
		select {
		case c.slots <- struct{}{}:
		case <-c.stop:
			c.returnBuffered()
			return
		}
		msg, err := c.msgs.Next(jetstream.NextContext(c.lctx))
		if err != nil {
			<-c.slots
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || c.lctx.Err() != nil {
				select {
				case <-c.stop:
				default:
					c.log.Error("event consumer ended", "error", err)
				}
				return
			}
			c.log.Warn("fetching events", "error", err)
			select {
			case <-time.After(100 * time.Millisecond):
			case <-c.stop:
			}
			continue
		}
		select {
		case <-c.stop:
			<-c.slots
			c.returnBuffered(msg)
			return
		default:
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer func() { <-c.slots }()
			c.handle(msg)
		}()
	}
}

// returnBuffered hands back (Nak, no delay) taken, plus what the draining iterator still holds.
// The Naks are sent only once the iterator is closed, that is after the client unsubscribed:
// the server then sees no interest on this consumer's pull request and redelivers to the next
// consumer instead of straight back to this one.
func (c *Consumer) returnBuffered(taken ...jetstream.Msg) {
	for {
		msg, err := c.msgs.Next(jetstream.NextContext(c.lctx))
		if err != nil {
			break
		}
		taken = append(taken, msg)
	}
	for _, msg := range taken {
		c.ret.Add(1)
		if err := msg.Nak(); err != nil {
			c.log.Debug("handing back a buffered event", "error", err)
		}
	}
}

func (c *Consumer) handle(msg jetstream.Msg) {
	ev, err := decodeOn(c.clust, msg.Subject(), msg.Data())
	if err != nil {
		c.reject(msg, ev, err)
		return
	}
	ctx, cancel := context.WithTimeout(c.hctx, c.opts.handlerTimeout)
	defer cancel()
	// Authorised before the rate limit, so that refused events do not use up the rate of
	// those that are allowed.
	if err := authorizeEvent(ctx, c.opts.authz, msg.Headers().Get(TokenHeader), ev); err != nil {
		if errors.Is(err, ErrPermissionDenied) || errors.Is(err, ErrInvalid) {
			c.reject(msg, ev, err)
			return
		}
		c.nack(msg, ev, err)
		return
	}
	if err := c.opts.limiter.take(); err != nil {
		c.reject(msg, ev, err)
		return
	}
	index, err := c.h.HandleEvent(ctx, ev)
	switch {
	case err == nil:
		c.acked.Add(1)
		countEvent(eventTaken, pathStream, ev.Kind)
		if aerr := msg.Ack(); aerr != nil {
			// The ack is lost: the event comes back after the ack wait and the state, which
			// dedups by id, applies it once.
			c.log.Warn("acking an applied event", "id", ev.ID, "index", index, "error", aerr)
		}
	case errors.Is(err, ErrRejected):
		c.reject(msg, ev, err)
	default:
		c.nack(msg, ev, err)
	}
}

// nack hands an event that failed for now back for redelivery after the nak delay.
func (c *Consumer) nack(msg jetstream.Msg, ev Event, err error) {
	c.nacked.Add(1)
	c.log.Warn("event not applied, redelivering later", "id", ev.ID, "kind", ev.Kind, "delay", c.opts.nakDelay, "error", err)
	if nerr := msg.NakWithDelay(c.opts.nakDelay); nerr != nil {
		c.log.Warn("nak", "id", ev.ID, "error", nerr)
	}
}

// Outcomes and paths of the baton.events.<outcome> counters.
const (
	eventTaken   = "taken"
	eventRefused = "refused"
	pathStream   = "stream" // the JetStream durable consumer
	pathInject   = "inject" // request/reply on the inject subject
)

// countEvent counts an event taken (applied, or found applied already) or refused (invalid,
// over the intake limit, or rejected by its handler) by kind and path. An event that comes
// back later (handed back, not applied yet) is counted when it is finally taken or refused.
func countEvent(outcome, path string, kind Kind) {
	k := string(kind)
	if k == "" {
		k = "unknown"
	}
	metrics.IncrCounterWithLabels([]string{"baton", "events", outcome}, 1, []metrics.Label{{Name: "kind", Value: k}, {Name: "path", Value: path}})
}

// reject terminates a refused event and reports it. An event that holds a secret is erased
// first, so that once its rejection is seen the secret is no longer in the stream.
func (c *Consumer) reject(msg jetstream.Msg, ev Event, reason error) {
	countEvent(eventRefused, pathStream, ev.Kind)
	c.rej.Add(1)
	c.log.Info("event rejected", "id", ev.ID, "subject", msg.Subject(), "reason", reason)
	if errors.Is(reason, ErrSecret) {
		c.erase(msg, ev.ID)
	}
	if err := msg.TermWithReason(clip(reason.Error(), 256)); err != nil {
		c.log.Warn("terminating a rejected event", "id", ev.ID, "error", err)
	}
	publishRejected(c.nc, c.clust, msg.Subject(), ev.ID, ev.Kind, reason, c.log)
}

// erase overwrites a stored event that holds a secret (JetStream's secure delete), so that the
// secret is not left in the stream's files for StreamMaxAge. A failure is logged: the event is
// terminated anyway and ages out.
func (c *Consumer) erase(msg jetstream.Msg, id string) {
	md, err := msg.Metadata()
	if err == nil {
		ctx, cancel := context.WithTimeout(c.lctx, 5*time.Second)
		defer cancel()
		var s jetstream.Stream
		if s, err = c.js.Stream(ctx, StreamName(c.clust)); err == nil {
			err = s.SecureDeleteMsg(ctx, md.Sequence.Stream)
		}
	}
	if err != nil {
		c.log.Error("erasing an event that holds a secret from the stream", "id", id, "error", err)
		return
	}
	c.erased.Add(1)
	c.log.Info("erased an event that holds a secret from the stream", "id", id)
}

// decodeOn decodes an event received on subject and checks that the subject names its kind,
// so that subscribers filtering on a kind see only events of that kind. The returned event's
// ID is set when the payload had one, even on error, for the report.
func decodeOn(cluster, subject string, data []byte) (Event, error) {
	ev, err := Decode(data)
	if err != nil {
		id, kind := peek(data)
		return Event{ID: id, Kind: kind}, err
	}
	k, ok := kindFromSubject(cluster, subject)
	if !ok {
		return ev, invalid("", "subject %q is not an injection subject %s", clip(subject, 256), EventSubject(cluster, "<kind>"))
	}
	if k != ev.Kind {
		return ev, invalid("kind", "kind %s published on the subject of kind %q", ev.Kind, clip(string(k), 64))
	}
	return ev, nil
}

// peek recovers a well-formed id and a known kind from an invalid event, for reports and logs.
func peek(data []byte) (string, Kind) {
	if len(data) > MaxEventSize {
		return "", ""
	}
	var p struct {
		ID   string `json:"id"`
		Kind Kind   `json:"kind"`
	}
	if json.Unmarshal(data, &p) != nil {
		return "", ""
	}
	if validateID(p.ID) != nil {
		p.ID = ""
	}
	if !p.Kind.Valid() {
		p.Kind = ""
	}
	return p.ID, p.Kind
}

// Rejection is published on baton.<cluster>.rejected for every refused event. It never carries
// the event's params or payload, which may hold a secret: only why, where, which and what kind.
type Rejection struct {
	// Reason says why, as the validation error or the handler's refusal.
	Reason string `json:"reason"`
	// Subject is where the event was published.
	Subject string `json:"subject"`
	// ID is the event id when the payload had a well-formed one.
	ID string `json:"id,omitempty"`
	// Kind is the event's kind when the payload named a known one.
	Kind Kind `json:"kind,omitempty"`
	// Time is when the event was refused.
	Time time.Time `json:"time"`
}

func publishRejected(nc *nats.Conn, cluster, subject, id string, kind Kind, reason error, log hclog.Logger) {
	b, err := json.Marshal(Rejection{Reason: reason.Error(), Subject: subject, ID: id, Kind: kind, Time: time.Now().UTC()})
	if err == nil {
		err = nc.Publish(RejectedSubject(cluster), b)
	}
	if err != nil {
		log.Warn("publishing a rejection", "id", id, "error", err)
	}
}
