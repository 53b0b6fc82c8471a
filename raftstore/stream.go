package raftstore

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// errIsolated is what a dial answers while the node is isolated.
var errIsolated = errors.New("raftstore: node is isolated from its peers")

// streamLayer is raft's TCP stream layer with one addition: it can isolate the node from its
// peers (refuse dials, drop accepted and open connections), which is how the tests partition
// a node while everything else stays real TCP. Isolation is a fault-injection seam; nothing
// in the product turns it on.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	isolated  atomic.Bool

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newStreamLayer(bind string, advertise net.Addr) (*streamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if a, ok := advertise.(*net.TCPAddr); ok && a.IP.IsUnspecified() {
		ln.Close()
		return nil, errors.New("raftstore: advertise address is unspecified (0.0.0.0): set AdvertiseAddr")
	}
	return &streamLayer{ln: ln, advertise: advertise, conns: map[net.Conn]struct{}{}}, nil
}

func (s *streamLayer) track(c net.Conn) net.Conn {
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return &trackedConn{Conn: c, s: s}
}

func (s *streamLayer) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Dial implements raft.StreamLayer.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.isolated.Load() {
		return nil, errIsolated
	}
	c, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	return s.track(c), nil
}

// Accept implements net.Listener; while isolated, incoming connections are dropped.
func (s *streamLayer) Accept() (net.Conn, error) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return nil, err
		}
		if s.isolated.Load() {
			c.Close()
			continue
		}
		return s.track(c), nil
	}
}

// Close implements net.Listener.
func (s *streamLayer) Close() error { return s.ln.Close() }

// Addr implements net.Listener: the advertised address.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// isolate cuts (or restores) every connection to and from peers.
func (s *streamLayer) isolate(on bool) {
	s.isolated.Store(on)
	if !on {
		return
	}
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	s    *streamLayer
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.s.untrack(c.Conn) })
	return c.Conn.Close()
}

func (c *trackedConn) Read(b []byte) (int, error) {
	if c.s.isolated.Load() {
		return 0, errIsolated
	}
	return c.Conn.Read(b)
}

func (c *trackedConn) Write(b []byte) (int, error) {
	if c.s.isolated.Load() {
		return 0, errIsolated
	}
	return c.Conn.Write(b)
}
