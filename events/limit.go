package events

import (
	"errors"
	"fmt"
	"time"

	"github.com/baton-hq/baton/raftstore/state"
	"golang.org/x/time/rate"
)

// ErrRateLimited is wrapped by the refusal of an event that arrived above the intake rate.
var ErrRateLimited = errors.New("rate limit exceeded")

// Intake rate defaults. An event carries no sender identity that the node can trust (with
// nkeys the server does not stamp the publisher on the message), so the limit is one token
// bucket per active node, shared by the stream consumer and the inject subject.
const (
	// DefaultRate is the default number of events per second the active node takes.
	DefaultRate = 1000
	// DefaultBurst is the default number of events taken at once above the rate.
	DefaultBurst = 1000
)

// Limit is the intake rate: Rate events per second, Burst at once.
type Limit struct {
	Rate  float64
	Burst int
}

// DefaultLimit is the limit a node uses when its configuration names none.
var DefaultLimit = Limit{Rate: DefaultRate, Burst: DefaultBurst}

// Validate refuses a limit that is not positive, and one under which the state could forget an
// applied event id before JetStream forgets its Nats-Msg-Id: at Rate events/s, the
// state.MaxApplied remembered ids last MaxApplied/Rate seconds, which must cover
// DuplicateWindow (plus one burst). Beyond that a republish dropped by neither would apply twice.
func (l Limit) Validate() error {
	switch {
	case l.Rate <= 0:
		return fmt.Errorf("events: intake rate %v: must be above 0 events/s", l.Rate)
	case l.Burst < 1:
		return fmt.Errorf("events: intake burst %d: must be at least 1", l.Burst)
	}
	if need := l.Rate*DuplicateWindow.Seconds() + float64(l.Burst); need > state.MaxApplied {
		return fmt.Errorf("events: intake rate %v/s with burst %d: up to %.0f events in the %s duplicate window, above the %d applied ids the state remembers",
			l.Rate, l.Burst, need, DuplicateWindow, state.MaxApplied)
	}
	return nil
}

// Limiter is the active node's intake token bucket. It is safe for concurrent use.
type Limiter struct {
	lim    *rate.Limiter
	reason error
}

// NewLimiter returns a limiter for l, or l's Validate error.
func NewLimiter(l Limit) (*Limiter, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return &Limiter{
		lim:    rate.NewLimiter(rate.Limit(l.Rate), l.Burst),
		reason: fmt.Errorf("%w: %v events/s", ErrRateLimited, l.Rate),
	}, nil
}

// take spends one token now, or returns the refusal (wrapping ErrRateLimited). A nil Limiter
// takes everything.
func (l *Limiter) take() error {
	if l == nil || l.lim.AllowN(time.Now(), 1) {
		return nil
	}
	return l.reason
}
