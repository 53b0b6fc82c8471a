// Package core is one Baton node: it ties the Raft store, the replicated state, the barrier,
// the NATS side and the database engine's plugin runtime together, and owns what changes with
// leadership and seal status.
//
// Only the active node (the Raft leader, unsealed) runs plugin processes, takes NATS events
// and runs the rollback manager. On losing leadership a node kills its plugins before it does
// anything else; on gaining it, it first waits on a Raft barrier (so its state holds every
// committed entry), then reconciles the lifecycle machines of the previous leader's plugins
// and starts its own runtime, off the Raft goroutines.
//
// A sealed node does not run Raft at all: it holds no key, so it could serve nothing, and a
// node that cannot serve must never win an election.
package core
