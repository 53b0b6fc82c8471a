package raftstore

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"time"
)

// Warm spares take the TLS handshake off a new leader's critical path. A follower never dials
// its peers, so when it wins an election (after a step-down or a halt) every RequestVote, the
// heartbeat and the pipelined replication each dialed a fresh connection and paid a mutual-TLS
// handshake (1.4–2.3 ms) before the new leader could commit. With spares, the stream layer
// holds one already-handshaked Raft connection per current peer: Dial hands it out and dials
// its replacement in the background. A spare is an ordinary tracked connection, so the
// membership re-check (recheck) and isolation close it like any other, and the peer's server
// re-checks it the same way; spares to addresses no longer in the configuration are closed at
// the next sweep. Plain mode (the benchmark baseline) keeps raft's own dialing.

// spare is one idle, handshaked connection to a peer, watched by a goroutine that blocks
// reading it: a Raft server never writes first, so the read returns only when the peer
// closes (the spare is then dropped) or when take interrupts it with a past deadline.
type spare struct {
	addr   string
	raw    *tls.Conn // read by the watcher
	conn   net.Conn  // the tracked wrapper handed to raft
	err    error     // why the watcher's read ended; set before exited closes
	exited chan struct{}
}

// setPeers gives the stream layer the addresses of the current configuration (this node's
// own address excluded by the caller); it is read at every sweep.
func (s *streamLayer) setPeers(peers func() []string) {
	s.spareMu.Lock()
	s.peers = peers
	s.spareMu.Unlock()
}

// sweepSpares closes the spares of addresses that left the configuration and starts a dial
// for every peer that has neither a spare nor a dial in progress.
func (s *streamLayer) sweepSpares() {
	s.spareMu.Lock()
	peers := s.peers
	s.spareMu.Unlock()
	if peers == nil || s.tls == nil {
		return
	}
	set := map[string]bool{}
	for _, a := range peers() {
		set[a] = true
	}
	var stale []*spare
	s.spareMu.Lock()
	s.peerSet = set
	for a, sp := range s.spares {
		if !set[a] {
			delete(s.spares, a)
			stale = append(stale, sp)
		}
	}
	s.spareMu.Unlock()
	for _, sp := range stale {
		sp.conn.Close()
	}
	for a := range set {
		s.fillSpare(a)
	}
}

// fillSpare dials a spare to addr in the background, unless addr is not a current peer, the
// node is isolated or closing, or addr already has a spare or a dial in progress.
func (s *streamLayer) fillSpare(addr string) {
	if s.tls == nil || s.isolated.Load() {
		return
	}
	s.spareMu.Lock()
	defer s.spareMu.Unlock()
	if s.spareClosed || !s.peerSet[addr] || s.spares[addr] != nil || s.filling[addr] != nil {
		return
	}
	filled := make(chan struct{})
	s.filling[addr] = filled
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(filled)
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		defer cancel()
		stop := context.AfterFunc(s.ctx, cancel)
		defer stop()
		c, raw, err := s.dialTLS(ctx, addr, ProtocolRaft)
		s.spareMu.Lock()
		delete(s.filling, addr)
		if err != nil {
			s.spareMu.Unlock()
			return
		}
		if s.spareClosed || !s.peerSet[addr] || s.spares[addr] != nil || s.isolated.Load() {
			s.spareMu.Unlock()
			c.Close()
			return
		}
		sp := &spare{addr: addr, raw: raw, conn: c, exited: make(chan struct{})}
		s.spares[addr] = sp
		s.wg.Add(1)
		s.spareMu.Unlock()
		go s.watchSpare(sp)
	}()
}

// watchSpare blocks reading the idle spare (TLS 1.3 session tickets are consumed here) and
// drops it when the read ends for any reason other than take's deadline.
func (s *streamLayer) watchSpare(sp *spare) {
	defer s.wg.Done()
	var b [1]byte
	n, err := sp.raw.Read(b[:])
	if err == nil && n > 0 {
		err = errors.New("raftstore: a peer wrote on an idle Raft connection")
	}
	sp.err = err
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		s.spareMu.Lock()
		if s.spares[sp.addr] == sp {
			delete(s.spares, sp.addr)
		}
		s.spareMu.Unlock()
		sp.conn.Close()
	}
	close(sp.exited)
}

// takeSpare hands out addr's spare if it has a live one (nil if not) and starts dialing the
// next.
func (s *streamLayer) takeSpare(addr string) net.Conn {
	s.spareMu.Lock()
	sp := s.spares[addr]
	delete(s.spares, addr)
	s.spareMu.Unlock()
	if sp == nil {
		return nil
	}
	_ = sp.raw.SetReadDeadline(time.Unix(1, 0)) // ends the watcher's read
	<-sp.exited
	if !errors.Is(sp.err, os.ErrDeadlineExceeded) {
		return nil // the peer closed it first; the watcher closed it
	}
	_ = sp.raw.SetReadDeadline(time.Time{})
	s.sparesServed.Add(1)
	return sp.conn
}

// awaitSpare waits (at most until timeout) for a spare dial to addr already in progress,
// and then takes its spare: it is no slower than a dial started now. Nil if there is none.
func (s *streamLayer) awaitSpare(addr string, timeout time.Duration) net.Conn {
	s.spareMu.Lock()
	filled := s.filling[addr]
	s.spareMu.Unlock()
	if filled == nil {
		return nil
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-filled:
	case <-t.C:
		return nil
	case <-s.done:
		return nil
	}
	return s.takeSpare(addr)
}

// closeSpares closes every spare and stops new ones (on Close).
func (s *streamLayer) closeSpares() {
	s.spareMu.Lock()
	s.spareClosed = true
	all := make([]*spare, 0, len(s.spares))
	for a, sp := range s.spares {
		all = append(all, sp)
		delete(s.spares, a)
	}
	s.spareMu.Unlock()
	for _, sp := range all {
		sp.conn.Close()
	}
}

// spareCount is how many spares are ready (for tests).
func (s *streamLayer) spareCount() int {
	s.spareMu.Lock()
	defer s.spareMu.Unlock()
	return len(s.spares)
}
