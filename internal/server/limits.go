package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/api"
)

// Limits are the API listener's HTTP limits, OpenBao's listener keys of the same names plus
// MaxConnections. A zero timeout means no bound (as an explicit 0 in OpenBao's file does);
// zero MaxRequestSize, MaxRequestDuration and MaxConnections mean their defaults.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers (http_read_header_timeout).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (http_read_timeout): a
	// client trickling its body is cut when it runs out.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response (http_write_timeout).
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its next request
	// (http_idle_timeout).
	IdleTimeout time.Duration
	// MaxRequestSize is the largest body in bytes, <0 for none (max_request_size).
	MaxRequestSize int64
	// MaxRequestDuration bounds a request; past it its context ends (max_request_duration).
	MaxRequestDuration time.Duration
	// MaxConnections caps the connections held open at once (max_connections): when it is
	// reached the listener stops accepting, so a new client waits in the kernel's backlog
	// until a connection closes.
	MaxConnections int
}

// DefaultMaxConnections is the connection cap when Limits leaves it zero. OpenBao has no such
// key; 4096 stays well under a default 65536-descriptor limit with room for Raft, NATS and
// plugins.
const DefaultMaxConnections = 4096

// DefaultLimits are OpenBao's listener defaults (and Baton's connection cap): what a node
// built without a config file (dev mode, tests) serves with.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout:  10 * time.Second,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       0,
		IdleTimeout:        5 * time.Minute,
		MaxRequestSize:     api.DefaultMaxRequestSize,
		MaxRequestDuration: api.DefaultMaxRequestDuration,
		MaxConnections:     DefaultMaxConnections,
	}
}

// capWarnEvery rate-limits the "connection limit reached" log line: a flood would otherwise
// write one line per refused accept.
const capWarnEvery = 30 * time.Second

// capListener holds at most cap(slots) connections open: Accept takes a slot before it
// accepts and a connection's Close gives it back. When every slot is taken Accept waits,
// so a new client waits in the kernel's backlog (as golang.org/x/net/netutil.LimitListener
// does); unlike that one, it logs when the cap is reached.
type capListener struct {
	net.Listener
	slots chan struct{}
	log   hclog.Logger
	// lastWarn is when the cap was last logged (UnixNano), 0 never.
	lastWarn  atomic.Int64
	closed    chan struct{}
	closeOnce sync.Once
}

func newCapListener(ln net.Listener, max int, log hclog.Logger) *capListener {
	return &capListener{Listener: ln, slots: make(chan struct{}, max), log: log, closed: make(chan struct{})}
}

// Accept waits for a free slot, then for a connection.
func (l *capListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	default:
		l.warnFull()
		select {
		case l.slots <- struct{}{}:
		case <-l.closed:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &capConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *capListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// warnFull logs that the cap is reached, at most once per capWarnEvery.
func (l *capListener) warnFull() {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if last != 0 && now-last < int64(capWarnEvery) {
		return
	}
	if l.lastWarn.CompareAndSwap(last, now) {
		l.log.Warn("API listener connection limit reached: new connections wait until one closes (raise listener max_connections if this is legitimate load)",
			"max_connections", cap(l.slots), "addr", l.Addr().String())
	}
}

// capConn gives its slot back once, on the first Close.
type capConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
