package raftstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// ProtocolRaft is the ALPN protocol of Raft's RPCs on the cluster port.
const ProtocolRaft = "baton-raft"

// recheckInterval is how often every open cluster connection's peer is checked again with
// the caller's verifier: TLS checks a certificate once, at the handshake, so without this a
// peer removed from the cluster (or whose certificate expired) would keep the connections it
// already had.
const recheckInterval = time.Second

// handshakeTimeout bounds a TLS handshake on the cluster port, so a peer that connects and
// says nothing holds a goroutine for no longer than this.
const handshakeTimeout = 10 * time.Second

// errIsolated is what a dial answers while the node is isolated.
var errIsolated = errors.New("raftstore: node is isolated from its peers")

// streamLayer is raft's stream layer on the cluster port: TCP wrapped in mutual TLS (the
// caller's *tls.Config decides which certificates are good), with the connections sorted by
// ALPN protocol, Raft's to raft and the others (request forwarding) to their own listeners.
// It can also isolate the node from its peers (refuse dials, drop accepted and open
// connections), which is how the tests partition a node while everything else stays real
// TCP; isolation is a fault-injection seam nothing in the product turns on.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	tls       *tls.Config // nil only in plain mode (Config.PlainTCPForBenchmarks)
	log       hclog.Logger
	isolated  atomic.Bool

	raftCh chan net.Conn
	protos map[string]*protoListener
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}

	// ctx ends with Close; it cancels the background dials of spares.
	ctx    context.Context
	cancel context.CancelFunc

	// Warm spares (spare.go), TLS mode only.
	spareMu     sync.Mutex
	peers       func() []string
	peerSet     map[string]bool
	spares      map[string]*spare
	filling     map[string]chan struct{} // closed when the dial in progress ends
	spareClosed bool

	// clientHandshakes counts the TLS handshakes this node started as a client, sparesServed
	// the Raft dials a warm spare answered, coldDials those that had to handshake first. Read
	// by tests: a step-down hand-over must not wait for a handshake.
	clientHandshakes atomic.Int64
	sparesServed     atomic.Int64
	coldDials        atomic.Int64
}

func newStreamLayer(bind string, advertise net.Addr, tc *tls.Config, protocols []string, log hclog.Logger) (*streamLayer, error) {
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
	s := &streamLayer{
		ln: ln, advertise: advertise, log: log.Named("cluster-port"),
		raftCh: make(chan net.Conn), protos: map[string]*protoListener{},
		done: make(chan struct{}), conns: map[net.Conn]struct{}{},
		spares: map[string]*spare{}, filling: map[string]chan struct{}{}, peerSet: map[string]bool{},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if tc != nil {
		s.tls = tc.Clone()
		s.tls.MinVersion = tls.VersionTLS13
		if s.tls.ClientAuth != tls.RequireAndVerifyClientCert {
			// A client certificate is always required; the caller's verifier (checked by
			// Config.Validate) or its ClientCAs decide whether it is good.
			s.tls.ClientAuth = tls.RequireAnyClientCert
		}
		s.tls.NextProtos = append([]string{ProtocolRaft}, protocols...)
		for _, p := range protocols {
			s.protos[p] = &protoListener{s: s, ch: make(chan net.Conn), closed: make(chan struct{})}
		}
	}
	s.wg.Add(1)
	go s.acceptLoop()
	if s.tls != nil && s.tls.VerifyConnection != nil {
		s.wg.Add(1)
		go s.recheckLoop()
	}
	return s, nil
}

// recheckLoop runs recheck every recheckInterval until the stream closes.
func (s *streamLayer) recheckLoop() {
	defer s.wg.Done()
	t := time.NewTicker(recheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.recheck()
			s.sweepSpares()
		}
	}
}

// recheck closes every open connection whose peer the verifier no longer admits.
func (s *streamLayer) recheck() {
	if s.tls == nil || s.tls.VerifyConnection == nil {
		return
	}
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		tc, ok := c.(*tls.Conn)
		if !ok {
			continue
		}
		if err := s.tls.VerifyConnection(tc.ConnectionState()); err != nil {
			s.log.Warn("closed a cluster connection whose peer is no longer admitted", "remote", c.RemoteAddr().String(), "error", err)
			c.Close()
		}
	}
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

// Dial implements raft.StreamLayer: a TLS connection offering only the Raft protocol. A
// warm spare to the address is handed out first (and its replacement dialed in the
// background), so a new leader does not wait for handshakes.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.isolated.Load() {
		return nil, errIsolated
	}
	if s.tls != nil {
		start := time.Now()
		c := s.takeSpare(string(address))
		if c == nil {
			c = s.awaitSpare(string(address), timeout)
		}
		// A wait that ended without a spare counts against raft's timeout: never twice it.
		if timeout -= time.Since(start); timeout <= 0 && c == nil {
			return nil, fmt.Errorf("raftstore: dial %s: timed out waiting for a connection", address)
		}
		if c != nil {
			s.fillSpare(string(address))
			return c, nil
		}
		s.coldDials.Add(1)
		defer s.fillSpare(string(address))
	}
	return s.dial(string(address), ProtocolRaft, timeout)
}

// dial opens a connection to a peer's cluster port for one ALPN protocol.
func (s *streamLayer) dial(address, proto string, timeout time.Duration) (net.Conn, error) {
	if s.isolated.Load() {
		return nil, errIsolated
	}
	if s.tls == nil {
		d := &net.Dialer{Timeout: timeout}
		c, err := d.Dial("tcp", address)
		if err != nil {
			return nil, err
		}
		return s.track(c), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, _, err := s.dialTLS(ctx, address, proto)
	return c, err
}

// dialTLS dials address and completes the mutual-TLS handshake for proto within ctx,
// returning the tracked connection and the TLS connection under it.
func (s *streamLayer) dialTLS(ctx context.Context, address, proto string) (net.Conn, *tls.Conn, error) {
	cfg := s.tls.Clone()
	cfg.NextProtos = []string{proto}
	cfg.ServerName = "" // peers are named by their certificate's node id, checked by the caller's verifier
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, nil, err
	}
	c := tls.Client(raw, cfg)
	s.clientHandshakes.Add(1)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		s.log.Warn("TLS handshake with a peer's cluster port failed (refused by either end)", "address", address, "protocol", proto, "error", err)
		return nil, nil, err
	}
	if got := c.ConnectionState().NegotiatedProtocol; got != proto {
		c.Close()
		return nil, nil, fmt.Errorf("raftstore: dial %s: the peer did not agree to protocol %q (got %q)", address, proto, got)
	}
	return s.track(c), c, nil
}

// acceptLoop takes every TCP connection and hands it to a handshake goroutine, so a slow or
// silent client never delays the others.
func (s *streamLayer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-s.done:
				return
			case <-time.After(10 * time.Millisecond): // a transient accept error (EMFILE…)
			}
			continue
		}
		if s.isolated.Load() {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handshake(c)
		}()
	}
}

// handshake completes the TLS handshake of an accepted connection (refusing, and logging,
// a peer without a good certificate) and routes it by its ALPN protocol.
func (s *streamLayer) handshake(c net.Conn) {
	ch := s.raftCh
	var closed chan struct{}
	if s.tls != nil {
		tc := tls.Server(c, s.tls)
		_ = tc.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.Handshake(); err != nil {
			s.log.Warn("refused a cluster connection at the TLS handshake", "remote", c.RemoteAddr().String(), "error", err)
			c.Close()
			return
		}
		_ = tc.SetDeadline(time.Time{})
		proto := tc.ConnectionState().NegotiatedProtocol
		if pl, ok := s.protos[proto]; ok {
			ch, closed = pl.ch, pl.closed
		} else if proto != ProtocolRaft {
			s.log.Warn("refused a cluster connection with no known protocol", "remote", c.RemoteAddr().String(), "protocol", proto)
			c.Close()
			return
		}
		c = tc
	}
	tc := s.track(c)
	select {
	case ch <- tc:
	case <-closed: // nil for raft: never ready
		tc.Close()
	case <-s.done:
		tc.Close()
	}
}

// Accept implements net.Listener for raft: the next connection that negotiated Raft.
func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.raftCh:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener: it stops accepting, for raft and every other protocol.
func (s *streamLayer) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		s.cancel()
		err = s.ln.Close()
		s.closeSpares()
		// Open connections end with the node, as they would with its process: a peer's
		// spare to this node must see the end rather than wait on a silent socket. A TLS
		// close_notify tells the peer (its reads see EOF and it closes its end), without
		// failing the reads raft's transport still has in progress here.
		s.mu.Lock()
		conns := make([]net.Conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			if tc, ok := c.(*tls.Conn); ok {
				_ = tc.CloseWrite()
			}
		}
	})
	return err
}

// wait waits for the accept loop and the handshakes in progress (after Close).
func (s *streamLayer) wait() { s.wg.Wait() }

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

// protoListener is the net.Listener of one extra protocol on the cluster port.
type protoListener struct {
	s      *streamLayer
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *protoListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-l.s.done:
		return nil, net.ErrClosed
	}
}

// Close ends Accept; the connections of this protocol that arrive later are closed. The
// cluster port itself closes with the store.
func (l *protoListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *protoListener) Addr() net.Addr { return l.s.advertise }

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

// ConnectionState gives the TLS state of the connection (nil in plain mode), so the user of
// an extra protocol can read the peer's certificate.
func (c *trackedConn) ConnectionState() *tls.ConnectionState {
	if tc, ok := c.Conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		return &st
	}
	return nil
}
