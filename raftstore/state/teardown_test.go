package state

import (
	"errors"
	"fmt"
	"testing"

	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/raftstore/command"
	"github.com/baton-hq/baton/wal"
)

// reachInstance drives database/db1's plugin instance to a state the runtime can leave it in.
// disabling and disabled are not here: only mount.delete fires disable, and it drops the
// machine in the same command.
var reachInstance = map[fsm.State][]fsm.Event{
	fsm.StateIdle:     nil,
	fsm.StateStarting: {fsm.EventRequest},
	fsm.StateRunning:  {fsm.EventRequest, fsm.EventStarted},
	fsm.StateStopping: {fsm.EventRequest, fsm.EventStarted, fsm.EventReload},
}

// reachConnection drives database/db1's connection machine to each of its live states.
func reachConnection(a *applier, st fsm.State) {
	a.t.Helper()
	if st == fsm.StateConfigured {
		return
	}
	a.must(TypeRotateBegin, RotateBegin{Mount: "database", Name: "db1", Entry: wal.Entry{ID: "w1", Data: []byte("sealed")}})
	if st == fsm.StateRotating {
		return
	}
	a.must(TypeRotateFail, RotateFail{Mount: "database", Name: "db1", Reason: "UpdateUser failed"})
	if st == fsm.StateRollbackPending {
		return
	}
	a.must(TypeRollbackStart, RollbackStart{WALID: "w1"})
}

// teardown is one way an operator or the node tears things down, as the node proposes it.
type teardown struct {
	name string
	cmds []func(a *applier) error
	// gone: after it, the mount (and so every machine) no longer exists.
	gone bool
}

func applyErr(typ command.Type, payload any) func(a *applier) error {
	return func(a *applier) error {
		_, err := a.apply(typ, payload)
		return err
	}
}

var teardowns = []teardown{
	{name: "mount disable", gone: true, cmds: []func(*applier) error{
		applyErr((TypeMountDisable), MountDelete{Path: "database/"}),
		applyErr((TypeMountDelete), MountDelete{Path: "database/"}),
	}},
	{name: "connection delete", gone: true, cmds: []func(*applier) error{
		applyErr((TypeConnDelete), ConnRef{Mount: "database", Name: "db1"}),
	}},
	{name: "seal", cmds: []func(*applier) error{
		applyErr((TypeLifecycleAll), LifecycleBroadcast{Kind: fsm.KindPlugin, Event: fsm.EventSeal}),
	}},
	{name: "step down", cmds: []func(*applier) error{
		applyErr((TypeLifecycleAll), LifecycleBroadcast{Kind: fsm.KindPlugin, Event: fsm.EventStepDown}),
	}},
	{name: "shutdown", cmds: []func(*applier) error{
		applyErr((TypeLifecycleAll), LifecycleBroadcast{Kind: fsm.KindPlugin, Event: fsm.EventShutdown}),
	}},
	{name: "failover", cmds: []func(*applier) error{
		applyErr((TypeLifecycleAll), LifecycleBroadcast{Kind: fsm.KindConnection, Event: fsm.EventFailover}),
	}},
}

// TestTeardownFromEveryState: disabling the mount, deleting the connection, sealing, stepping
// down, shutting down and a failover succeed whatever state the plugin instance and the
// connection are in, and again when repeated (a second mount or connection delete finds
// nothing, which its callers take as done). Issue 9 item 1: the dev node's mount, whose
// connection never started, could not be disabled.
func TestTeardownFromEveryState(t *testing.T) {
	for inst, evs := range reachInstance {
		for _, conn := range []fsm.State{fsm.StateConfigured, fsm.StateRotating, fsm.StateRollbackPending, fsm.StateRollingBack} {
			for _, td := range teardowns {
				t.Run(fmt.Sprintf("%s/%s/%s", inst, conn, td.name), func(t *testing.T) {
					a := base(t)
					reachConnection(a, conn)
					for _, ev := range evs {
						a.must(TypeLifecycleFire, LifecycleFire{Kind: fsm.KindPlugin, ID: "database/db1", Event: ev})
					}
					if got := a.machineState(fsm.KindPlugin, "database/db1"); got != inst {
						t.Fatalf("set-up: instance is %s, want %s", got, inst)
					}
					if got := a.machineState(fsm.KindConnection, "database/db1"); got != conn {
						t.Fatalf("set-up: connection is %s, want %s", got, conn)
					}
					for round := range 2 {
						for _, cmd := range td.cmds {
							err := cmd(a)
							if err != nil && !(round == 1 && td.gone && errors.Is(err, ErrNotFound)) {
								t.Fatalf("round %d: %v", round+1, err)
							}
						}
					}
					a.s.View(func(d *Data) {
						if td.gone && len(d.Machines) != 0 {
							t.Fatalf("machines left after %s: %v", td.name, d.Machines)
						}
						for k, m := range d.Machines {
							if m.Terminal() {
								t.Errorf("%s left in its terminal state %s", k, m.State())
							}
						}
					})
				})
			}
		}
	}
}

// TestConnectionDeletedMidRotation: a connection deleted while its root rotation is in its
// WAL (rotating, or waiting for the rollback manager after a failover) takes the entry with
// it. Left behind, the entry was taken for a rotation of the connection created next under the
// same name: its rollback events were refused by that connection's machine, for ever (found by
// TestReplicatedLifecycleProperties: rotate begin, conn delete, conn write, then no teardown
// could resolve the WAL).
func TestConnectionDeletedMidRotation(t *testing.T) {
	for _, conn := range []fsm.State{fsm.StateRotating, fsm.StateRollbackPending, fsm.StateRollingBack} {
		t.Run(string(conn), func(t *testing.T) {
			a := base(t)
			reachConnection(a, conn)
			a.must(TypeConnDelete, ConnRef{Mount: "database", Name: "db1"})
			a.s.View(func(d *Data) {
				if n := len(d.WAL.Entries); n != 0 {
					t.Fatalf("the deleted connection's rotation is still in the WAL: %v", d.WAL.List())
				}
			})
			// The same name again: its own rotation and rollback run as for any connection.
			a.must(TypeConnPut, ConnPut{Connection: Connection{Mount: "database/", Name: "db1", PluginName: "pg", Config: []byte("sealed")}})
			a.must(TypeRotateBegin, RotateBegin{Mount: "database", Name: "db1", Entry: wal.Entry{ID: "w2", Data: []byte("sealed")}})
			a.must(TypeLifecycleAll, LifecycleBroadcast{Kind: fsm.KindConnection, Event: fsm.EventFailover})
			a.must(TypeRollbackStart, RollbackStart{WALID: "w2"})
			a.must(TypeRollbackDone, RollbackDone{WALID: "w2"})
			if got := a.machineState(fsm.KindConnection, "database/db1"); got != fsm.StateConfigured {
				t.Fatalf("after its rollback the new connection is %s", got)
			}
		})
	}
}
