// Package state is Baton's replicated state and the stateless dispatcher that applies
// committed commands to it (rqlite's command processor, in spirit): catalog, mounts,
// connections, roles, leases, WAL entries, the lifecycle machines of every plugin instance and
// connection with their history, the ids of applied commands (so a redelivered event is
// applied once) and the cluster's nodes.
//
// Apply is deterministic: it reads no clock (the leader settles the time in the command), does
// no I/O and never sees a secret in clear (secrets arrive sealed by the active node's barrier).
// A business failure is Apply's returned error; the command is then not recorded as applied.
//
// Layout: state.go is the dispatcher (decode, deduplicate, look the handler up, run it under
// the undo log of txn.go, record); handlers.go is the table from command type to handler,
// built from one table per aggregate, each in its own file with its handlers and rules:
// cluster.go (nodes, seal, noop), catalog.go, mounts.go, connections.go (connections and the
// roles that use them), leases.go, rotation.go (root and static rotations, their WAL entries
// and rollbacks), lifecycle.go (direct lifecycle events, broadcasts, reloads) and policies.go
// (the ACL policy store: names and HCL texts, the built-ins' rules), tokens.go (the
// token store: entries keyed by salted hashes, parent links, uses, expiry) and autopilot.go
// (the autopilot's configuration). commands.go
// declares the command types and payloads, types.go the data.
//
// Imports: the standard library and Baton's leaves only: raftstore/command (the envelope),
// fsm (the lifecycle machines), wal (the WAL table), plugins/catalog (the catalog) and
// internal/acl (the built-in policies' names and rules; a leaf like the barrier). It
// never imports raftstore itself (raftstore takes the state as its Dispatcher), a node, an
// engine, the barrier or anything that does I/O.
package state
