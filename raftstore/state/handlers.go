package state

import (
	"fmt"

	"github.com/baton-hq/baton/raftstore/command"
)

// handler applies one command inside its transaction. It validates before it changes
// anything, or records an undo for each change it makes, so that a refused command changes
// nothing (txn.rollback).
type handler func(t *txn) error

// on makes the handler of a command whose payload is a P: it decodes the payload (a payload
// that does not decode is ErrInvalid) and hands it to f, a method of txn in an aggregate's file.
func on[P any](f func(*txn, P) error) handler {
	return func(t *txn) error {
		var p P
		if err := t.c.Decode(&p); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return f(t, p)
	}
}

// aggregate is one part of the state with the commands that change it; each has its own file,
// which opens with this table.
type aggregate struct {
	name     string
	handlers map[command.Type]handler
}

// aggregates is every part of the state. Batch has no handler: Apply unwraps it and applies
// each of its commands as if it had its own entry.
var aggregates = []aggregate{
	{"cluster", clusterHandlers},
	{"catalog", catalogHandlers},
	{"mounts", mountHandlers},
	{"connections", connectionHandlers},
	{"leases", leaseHandlers},
	{"rotation", rotationHandlers},
	{"lifecycle", lifecycleHandlers},
	{"policies", policyHandlers},
	{"tokens", tokenHandlers},
	{"audit", auditHandlers},
	{"password_policies", passwordPolicyHandlers},
	{"autopilot", autopilotHandlers},
}

// handlers is the dispatcher's table: each command type to the one handler that applies it.
var handlers = mustTable(aggregates)

// table merges the aggregates' tables, refusing a command type claimed twice (which handler
// won would depend on the order of the list) and a handler for Batch (Apply never calls it).
func table(aggs []aggregate) (map[command.Type]handler, error) {
	out := map[command.Type]handler{}
	owner := map[command.Type]string{}
	for _, a := range aggs {
		for typ, h := range a.handlers {
			if typ == TypeBatch {
				return nil, fmt.Errorf("state: aggregate %s has a handler for %s, which Apply unwraps itself", a.name, typ)
			}
			if h == nil {
				return nil, fmt.Errorf("state: aggregate %s has a nil handler for %s", a.name, typ)
			}
			if prev, dup := owner[typ]; dup {
				return nil, fmt.Errorf("state: command type %s has a handler in both %s and %s", typ, prev, a.name)
			}
			owner[typ] = a.name
			out[typ] = h
		}
	}
	return out, nil
}

// mustTable is table for the package's own aggregates: a clash there is a programming error
// that every test of the package would meet at once, so it stops the program at start-up
// rather than let one aggregate's handler silently shadow another's.
func mustTable(aggs []aggregate) map[command.Type]handler {
	t, err := table(aggs)
	if err != nil {
		panic(err)
	}
	return t
}
