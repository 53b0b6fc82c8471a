package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultCheckEvery is how often an Intake checks its stream and consumer.
const DefaultCheckEvery = 5 * time.Second

// IntakeConfig configures StartIntake.
type IntakeConfig struct {
	// Cluster names the cluster's stream and consumer.
	Cluster string
	// Replicas of the stream (1 when 0).
	Replicas int
	// CheckEvery is the period of the stream and consumer check (DefaultCheckEvery when 0).
	CheckEvery time.Duration
	// Consumer tunes the durable consumer.
	Consumer []ConsumerOption
	// Logger is the node's logger.
	Logger hclog.Logger
}

// Intake is the active node's asynchronous event intake: the cluster's stream, the durable
// consumer on it, and a watch that puts either back when it is gone or altered. An admin who
// deletes the stream by mistake (or anyone holding the node identity) otherwise stops
// asynchronous injection until the next leadership change.
type Intake struct {
	js    jetstream.JetStream
	h     Handler
	cfg   IntakeConfig
	log   hclog.Logger
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex // guards cons, heals and purged
	cons  *Consumer
	heals int
	// purged is the stream sequence up to which handled events were purged.
	purged uint64
}

// StartIntake ensures the stream, starts the consumer and the watch. ctx bounds the setup.
func StartIntake(ctx context.Context, js jetstream.JetStream, h Handler, cfg IntakeConfig) (*Intake, error) {
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = DefaultCheckEvery
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	in := &Intake{js: js, h: h, cfg: cfg, log: cfg.Logger.Named("intake"), stop: make(chan struct{}), done: make(chan struct{})}
	if _, err := EnsureStream(ctx, js, cfg.Cluster, cfg.Replicas); err != nil {
		return nil, err
	}
	c, err := StartConsumer(ctx, js, cfg.Cluster, h, cfg.Logger, cfg.Consumer...)
	if err != nil {
		return nil, err
	}
	in.cons = c
	go in.watch()
	return in, nil
}

// Consumer is the consumer running now (a heal replaces it).
func (in *Intake) Consumer() *Consumer {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.cons
}

// Heals counts the times the watch recreated the stream or the consumer.
func (in *Intake) Heals() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.heals
}

// Stop ends the watch, then stops the consumer (see Consumer.Stop). It is idempotent.
func (in *Intake) Stop() {
	in.once.Do(func() {
		close(in.stop)
		<-in.done
		in.Consumer().Stop()
	})
}

func (in *Intake) watch() {
	defer close(in.done)
	t := time.NewTicker(in.cfg.CheckEvery)
	defer t.Stop()
	watched := in.Consumer()
	ended := watched.Done()
	for {
		select {
		case <-in.stop:
			return
		case <-t.C:
		case <-ended:
			// The consumer ended on its own (its durable deleted, the stream with it): check
			// at once rather than at the next tick, once per consumer.
			ended = nil
		}
		select {
		case <-in.stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), in.cfg.CheckEvery)
		if err := in.check(ctx); err != nil {
			in.log.Error("checking the event stream and consumer", "error", err)
		} else if err := in.purgeHandled(ctx); err != nil {
			in.log.Warn("purging handled events from the stream", "error", err)
		}
		cancel()
		if c := in.Consumer(); c != watched {
			watched, ended = c, c.Done()
		}
	}
}

// check puts back a missing or altered stream, then a missing, ended or altered consumer.
func (in *Intake) check(ctx context.Context) error {
	name := StreamName(in.cfg.Cluster)
	s, err := in.js.Stream(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		in.log.Warn("the event stream is gone; recreating it", "stream", name)
		if _, err := EnsureStream(ctx, in.js, in.cfg.Cluster, in.cfg.Replicas); err != nil {
			return err
		}
		in.count()
	case err != nil:
		return err
	case !streamIntact(s.CachedInfo().Config, in.cfg.Cluster):
		in.log.Warn("the event stream was altered; restoring its configuration", "stream", name)
		if _, err := EnsureStream(ctx, in.js, in.cfg.Cluster, in.cfg.Replicas); err != nil {
			return err
		}
		in.count()
	}

	cur := in.Consumer()
	ended := false
	select {
	case <-cur.Done():
		ended = true
	default:
	}
	if !ended {
		info, err := in.js.Consumer(ctx, name, ConsumerName(in.cfg.Cluster))
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			ended = true
		case err != nil:
			return err
		default:
			ended = !consumerIntact(info.CachedInfo().Config)
		}
	}
	if !ended {
		return nil
	}
	in.log.Warn("the durable event consumer is gone, ended or altered; starting it again", "consumer", ConsumerName(in.cfg.Cluster))
	cur.Stop()
	c, err := StartConsumer(ctx, in.js, in.cfg.Cluster, in.h, in.cfg.Logger, in.cfg.Consumer...)
	if err != nil {
		return err
	}
	in.mu.Lock()
	in.cons = c
	in.heals++
	in.mu.Unlock()
	return nil
}

func (in *Intake) count() {
	in.mu.Lock()
	in.heals++
	in.mu.Unlock()
}

// streamIntact: the stream still captures the cluster's events and keeps them as EnsureStream
// asks (what an update can change).
func streamIntact(c jetstream.StreamConfig, cluster string) bool {
	return slices.Equal(c.Subjects, []string{EventsWildcard(cluster)}) &&
		c.Retention == jetstream.LimitsPolicy && c.MaxAge == StreamMaxAge &&
		c.Duplicates == DuplicateWindow && c.MaxMsgSize == MaxEventSize+1024 &&
		c.MaxMsgs <= 0 && c.MaxBytes <= 0 && !c.Sealed && !c.DenyDelete && !c.DenyPurge
}

// consumerIntact: the durable still hands every event to the active node for explicit acks.
func consumerIntact(c jetstream.ConsumerConfig) bool {
	return c.AckPolicy == jetstream.AckExplicitPolicy && c.MaxDeliver == -1 &&
		c.FilterSubject == "" && len(c.FilterSubjects) == 0
}

// purgeHandled removes from the stream every event the durable consumer has finished with
// (acked or terminated: at or below its ack floor). Each event's X-Vault-Token header is a
// bearer credential: purging bounds how long it stays in the stream's files to about one
// CheckEvery after the event was handled, instead of StreamMaxAge. A secure delete per event
// would overwrite it at once but costs a JetStream API round trip per event (measured: the
// consumer's throughput fell 15-fold); one purge per tick costs two. JetStream's duplicate
// window is kept across a purge, so a replay is still dropped. Events not yet handled, or
// handed back for redelivery, are above the floor and stay.
func (in *Intake) purgeHandled(ctx context.Context) error {
	name := StreamName(in.cfg.Cluster)
	info, err := in.js.Consumer(ctx, name, ConsumerName(in.cfg.Cluster))
	if err != nil {
		return err
	}
	floor := info.CachedInfo().AckFloor.Stream
	in.mu.Lock()
	if floor < in.purged {
		in.purged = 0 // the stream was recreated: its sequence started again
	}
	done := floor == 0 || floor <= in.purged
	in.mu.Unlock()
	if done {
		return nil
	}
	s, err := in.js.Stream(ctx, name)
	if err != nil {
		return err
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSequence(floor+1)); err != nil {
		return fmt.Errorf("events: purge %s below %d: %w", name, floor+1, err)
	}
	in.mu.Lock()
	in.purged = floor
	in.mu.Unlock()
	return nil
}
