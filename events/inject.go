package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrUnavailable is wrapped by InjectSync's error when the active node could not apply the event
// for now (no active node serving, not the leader, a timeout): retrying may succeed.
var ErrUnavailable = errors.New("event not applied, retry")

// Reply codes of the synchronous injection subject, so that a caller can tell a bad event from
// a refused one from a passing failure.
const (
	ReplyInvalid     = "invalid"
	ReplyRejected    = "rejected"
	ReplyUnavailable = "unavailable"
	// ReplyDenied: the event's token is missing or does not allow its action.
	ReplyDenied = "permission_denied"
)

// InjectReply is the JSON answer on the synchronous injection subject: {"index": N} once the
// event is committed, or {"error": "...", "code": "..."}.
type InjectReply struct {
	Index *uint64 `json:"index,omitempty"`
	Error string  `json:"error,omitempty"`
	Code  string  `json:"code,omitempty"`
}

// injectQueue is the queue group of ServeInject, so that if two nodes serve for a moment during
// a hand-over, each request is still handled once.
const injectQueue = "baton-inject"

const (
	injectConcurrency    = 64
	injectHandlerTimeout = 20 * time.Second
	injectStopTimeout    = 5 * time.Second
)

// InjectOption tunes ServeInject.
type InjectOption func(*injectOptions)

type injectOptions struct {
	limiter *Limiter
	authz   Authorizer
}

// WithInjectAuthorizer authorises every request with a, as WithAuthorizer does for the
// consumer: a request whose X-Vault-Token header does not allow the event's action is
// answered ReplyDenied with "permission denied: …", reported on the rejected subject, and
// never reaches the handler. Without it every request is refused (fail closed).
func WithInjectAuthorizer(a Authorizer) InjectOption {
	return func(o *injectOptions) { o.authz = a }
}

// WithInjectLimiter answers requests above l's rate with ReplyUnavailable and the reason
// (retry later), reports them on the rejected subject and never calls the handler.
func WithInjectLimiter(l *Limiter) InjectOption {
	return func(o *injectOptions) { o.limiter = l }
}

// ServeInject answers synchronous injection requests on baton.<cluster>.inject until stop is
// called. Like the consumer, it validates first (an invalid event is answered with the error
// and reported on the rejected subject, the handler is not called), then replies with the
// committed index or the handler's error; a refusal (ErrRejected) is reported on the rejected
// subject too. Up to 64 requests are handled at once. Only the active node serves; stop waits
// up to 5 s for in-flight requests, then cancels them.
func ServeInject(nc *nats.Conn, cluster string, h Handler, logger hclog.Logger, opts ...InjectOption) (stop func(), err error) {
	if err := ValidateCluster(cluster); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("events: serve inject: nil handler")
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	log := logger.Named("events-inject")
	var o injectOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu      sync.Mutex
		stopped bool
		wg      sync.WaitGroup
		slots   = make(chan struct{}, injectConcurrency)
	)
	subject := InjectSubject(cluster)
	respond := func(m *nats.Msg, r InjectReply) {
		if m.Reply == "" {
			return
		}
		b, _ := json.Marshal(r)
		if err := m.Respond(b); err != nil {
			log.Warn("answering an injection", "error", err)
		}
	}
	sub, err := nc.QueueSubscribe(subject, injectQueue, func(m *nats.Msg) {
		ev, err := Decode(m.Data)
		if err != nil {
			id, kind := peek(m.Data)
			countEvent(eventRefused, pathInject, kind)
			log.Info("event rejected", "id", id, "subject", subject, "reason", err)
			publishRejected(nc, cluster, subject, id, kind, err, log)
			respond(m, InjectReply{Error: err.Error(), Code: ReplyInvalid})
			return
		}
		mu.Lock()
		if stopped {
			mu.Unlock()
			respond(m, InjectReply{Error: "injection service stopping", Code: ReplyUnavailable})
			return
		}
		wg.Add(1)
		mu.Unlock()
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			wg.Done()
			respond(m, InjectReply{Error: "injection service stopping", Code: ReplyUnavailable})
			return
		}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			hctx, hcancel := context.WithTimeout(ctx, injectHandlerTimeout)
			defer hcancel()
			// Authorised before the rate limit, as in the consumer.
			if err := authorizeEvent(hctx, o.authz, m.Header.Get(TokenHeader), ev); err != nil {
				code := ReplyUnavailable
				switch {
				case errors.Is(err, ErrPermissionDenied):
					code = ReplyDenied
				case errors.Is(err, ErrInvalid):
					code = ReplyInvalid
				}
				if code != ReplyUnavailable {
					countEvent(eventRefused, pathInject, ev.Kind)
					log.Info("event rejected", "id", ev.ID, "subject", subject, "reason", err)
					publishRejected(nc, cluster, subject, ev.ID, ev.Kind, err, log)
				}
				respond(m, InjectReply{Error: err.Error(), Code: code})
				return
			}
			if err := o.limiter.take(); err != nil {
				countEvent(eventRefused, pathInject, ev.Kind)
				log.Debug("event refused", "id", ev.ID, "subject", subject, "reason", err)
				publishRejected(nc, cluster, subject, ev.ID, ev.Kind, err, log)
				respond(m, InjectReply{Error: err.Error(), Code: ReplyUnavailable})
				return
			}
			index, err := h.HandleEvent(hctx, ev)
			switch {
			case err == nil:
				countEvent(eventTaken, pathInject, ev.Kind)
				respond(m, InjectReply{Index: &index})
			case errors.Is(err, ErrRejected):
				countEvent(eventRefused, pathInject, ev.Kind)
				log.Info("event rejected", "id", ev.ID, "subject", subject, "reason", err)
				publishRejected(nc, cluster, subject, ev.ID, ev.Kind, err, log)
				respond(m, InjectReply{Error: err.Error(), Code: ReplyRejected})
			default:
				log.Warn("event not applied", "id", ev.ID, "kind", ev.Kind, "error", err)
				respond(m, InjectReply{Error: err.Error(), Code: ReplyUnavailable})
			}
		}()
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("events: subscribe %s: %w", subject, err)
	}
	// The subscription reaches the server asynchronously; flush so that a request sent the
	// moment this returns finds its responder instead of "no responders".
	if err := nc.FlushTimeout(injectStopTimeout); err != nil {
		_ = sub.Unsubscribe()
		cancel()
		return nil, fmt.Errorf("events: subscribe %s: %w", subject, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			if err := sub.Unsubscribe(); err != nil {
				log.Debug("unsubscribing the injection subject", "error", err)
			}
			mu.Lock()
			stopped = true
			mu.Unlock()
			done := make(chan struct{})
			go func() {
				wg.Wait()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(injectStopTimeout):
				log.Warn("injections still in flight at stop; cancelling them", "waited", injectStopTimeout)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(injectStopTimeout):
				log.Error("injection handlers ignore cancellation; leaving them")
			}
		})
	}, nil
}

// SubmitOption tunes Inject and InjectSync.
type SubmitOption func(*submitOptions)

type submitOptions struct{ token string }

// WithToken sends token in the X-Vault-Token header: the Baton token the node authorises the
// event with. Without it the node refuses the event.
func WithToken(token string) SubmitOption { return func(o *submitOptions) { o.token = token } }

// newMsg is an event's message on subject, with the token header when one is given.
func newMsg(subject string, data []byte, opts []SubmitOption) *nats.Msg {
	var o submitOptions
	for _, opt := range opts {
		opt(&o)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	if o.token != "" {
		m.Header.Set(TokenHeader, o.token)
	}
	return m
}

// Inject publishes an event to the cluster's stream with Nats-Msg-Id set to the event id and
// waits for JetStream to store it. A re-publish of the same id within the duplicate window is
// stored once and is not an error. It returns when the event is stored, not applied.
func Inject(ctx context.Context, nc *nats.Conn, cluster string, ev Event, opts ...SubmitOption) error {
	if err := ValidateCluster(cluster); err != nil {
		return err
	}
	data, err := Encode(ev)
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("events: inject %s: %w", ev.ID, err)
	}
	if _, err := js.PublishMsg(ctx, newMsg(EventSubject(cluster, ev.Kind), data, opts),
		jetstream.WithMsgID(ev.ID), jetstream.WithExpectStream(StreamName(cluster))); err != nil {
		return fmt.Errorf("events: inject %s: %w", ev.ID, err)
	}
	return nil
}

// InjectSync submits an event through the synchronous injection subject and returns the Raft
// index at which it was committed. Errors wrap ErrInvalid (a bad event), ErrRejected (refused;
// also ErrPermissionDenied when the token does not allow it) or ErrUnavailable (no active node
// answered, or it failed for now: retry). ctx bounds the wait.
func InjectSync(ctx context.Context, nc *nats.Conn, cluster string, ev Event, opts ...SubmitOption) (uint64, error) {
	if err := ValidateCluster(cluster); err != nil {
		return 0, err
	}
	data, err := Encode(ev)
	if err != nil {
		return 0, err
	}
	m, err := nc.RequestMsgWithContext(ctx, newMsg(InjectSubject(cluster), data, opts))
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
			return 0, fmt.Errorf("events: inject %s: %w: %w", ev.ID, ErrUnavailable, err)
		}
		return 0, fmt.Errorf("events: inject %s: %w", ev.ID, err)
	}
	var r InjectReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return 0, fmt.Errorf("events: inject %s: malformed reply: %w", ev.ID, err)
	}
	switch {
	case r.Error == "" && r.Index != nil:
		return *r.Index, nil
	case r.Code == ReplyInvalid:
		return 0, replyError(ev.ID, ErrInvalid, r.Error)
	case r.Code == ReplyRejected:
		return 0, replyError(ev.ID, ErrRejected, r.Error)
	case r.Code == ReplyDenied:
		return 0, fmt.Errorf("events: inject %s: %w: %w: %s", ev.ID, ErrRejected, ErrPermissionDenied, strings.TrimPrefix(r.Error, ErrPermissionDenied.Error()+": "))
	case r.Error != "":
		return 0, replyError(ev.ID, ErrUnavailable, r.Error)
	}
	return 0, fmt.Errorf("events: inject %s: reply has neither index nor error", ev.ID)
}

// replyError wraps sentinel around the server's message without repeating the sentinel's text.
func replyError(id string, sentinel error, msg string) error {
	return fmt.Errorf("events: inject %s: %w: %s", id, sentinel, strings.TrimPrefix(msg, sentinel.Error()+": "))
}
