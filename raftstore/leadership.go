package raftstore

// LeadershipChanges tells this node's leadership: true when it became the leader, false when it
// stopped being the leader. The channel holds one value and always ends on the latest state:
// changes the consumer has not read yet are coalesced, and raft never waits for the consumer
// (unlike raft.Config.NotifyCh, which stalls raft while unread).
//
// A true is sent for every new term this node leads, so a true received while the consumer
// already believes it leads means leadership was lost and regained before it looked (another
// node may have led in between): treat every true as a new term, re-check the node's duties, and
// call Barrier before serving reads from the state. Close sends a last false, then closes the
// channel. All callers share the one channel.
func (s *Store) LeadershipChanges() <-chan bool { return s.changes }

// watch turns raft's observations into LeadershipChanges. It reads raft's current state rather
// than the observation's payload, so an observation raft dropped (buffer full) loses nothing:
// a later one, already queued behind the change it reported, reconciles to the truth.
func (s *Store) watch() {
	defer s.watchWG.Done()
	s.sample()
	for {
		select {
		case <-s.stop:
			return
		case <-s.obsCh:
			s.sample()
		}
	}
}

// sample publishes the current leadership and term.
func (s *Store) sample() {
	leader := s.IsLeader()
	s.publish(leader, s.raft.CurrentTerm())
}

// publish puts the leadership on the changes channel, replacing an unread value, unless nothing
// changed since the last value put there (same state, and for true the same term). Only one
// goroutine at a time may call it (the watcher, then Close after the watcher has stopped).
func (s *Store) publish(leader bool, term uint64) {
	if leader == s.queued && (!leader || term == s.queuedTerm) {
		return
	}
	select {
	case <-s.changes: // drop the stale, unread value
	default:
	}
	s.changes <- leader // cannot block: capacity 1, just drained, single writer
	s.queued, s.queuedTerm = leader, term
}
