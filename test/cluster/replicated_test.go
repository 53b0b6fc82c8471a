package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/fsm"
	"github.com/baton-hq/baton/plugins/catalog"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/testutil"
)

// natsConn is an operator's connection: what a tool injecting events holds.
func natsConn(t *testing.T, c *Cluster) *nats.Conn {
	t.Helper()
	return c.NATSConn(t, events.RoleOperator)
}

func pluginPIDs(m *Member) int {
	if m.S == nil {
		return 0
	}
	return len(m.S.Pool.Processes())
}

func localCatalogHas(m *Member, name string) bool {
	var ok bool
	m.S.Node.State().View(func(d *state.Data) {
		_, err := d.Catalog.Get(string(catalog.TypeDatabase), name, "")
		ok = err == nil
	})
	return ok
}

func TestCatalogSurvivesRestartOfEachNode(t *testing.T) {
	c := New(t, 3, Options{})
	setupDB(t, c, c.Active())
	for _, m := range c.Nodes {
		testutil.Eventually(t, 10*time.Second, m.ID+" has the catalog entry", func() bool { return localCatalogHas(m, "baton-test-plugin") })
	}
	for _, m := range c.Nodes {
		c.Stop(m)
		c.Restart(m)
		testutil.Eventually(t, 20*time.Second, m.ID+" reads the catalog after its restart", func() bool { return localCatalogHas(m, "baton-test-plugin") })
		c.WaitActive(nil, 20*time.Second)
	}
}

func TestKilledLeaderReplacedAndTakesEvents(t *testing.T) {
	c := New(t, 3, Options{})
	old := c.Active()
	setupDB(t, c, old)
	ctx := testutil.Context(t, 60*time.Second)
	old.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	c.Halt(old)
	nl := c.WaitActive(old, 20*time.Second)
	nc := natsConn(t, c)
	ev := events.Event{V: events.Version, ID: "reload-after-failover", Kind: events.KindReload,
		Target: events.Target{Type: events.TargetPlugin, ID: "baton-test-plugin"}, Source: "test"}
	// The new active node subscribes to the inject subject right after it takes over; a
	// client retries until a node answers, as a real tool does.
	var idx uint64
	var err error
	testutil.Eventually(t, 10*time.Second, "the new active node takes events", func() bool {
		idx, err = events.InjectSync(ctx, nc, c.Name, ev, events.WithToken(c.Token))
		return err == nil
	})
	if idx == 0 {
		t.Fatal("no commit index for the event")
	}
	var applied bool
	nl.S.Node.State().View(func(d *state.Data) { _, applied = d.Applied["reload-after-failover"] })
	if !applied {
		t.Fatal("the new active node did not apply the event")
	}
	nl.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
}

func TestPartitionedLeaderKillsItsPlugins(t *testing.T) {
	c := New(t, 3, Options{})
	old := c.Active()
	setupDB(t, c, old)
	ctx := testutil.Context(t, 60*time.Second)
	old.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	if pluginPIDs(old) == 0 {
		t.Fatal("no plugin process on the active node after a creds request")
	}
	start := time.Now()
	old.S.Node.Store().Isolate(true)
	testutil.Eventually(t, 5*time.Second, "the partitioned leader kills its plugins", func() bool {
		return pluginPIDs(old) == 0 && !old.S.Node.IsActive()
	})
	lease := old.Cfg.Core.Raft.LeaderLeaseTimeout
	t.Logf("plugins gone %s after the partition (leader lease %s)", time.Since(start).Round(time.Millisecond), lease)
	nl := c.WaitActive(old, 20*time.Second)
	nl.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	old.S.Node.Store().Isolate(false)
	testutil.Eventually(t, 20*time.Second, "the healed node is a standby again", func() bool {
		return !old.S.Node.IsActive() && c.Active() == nl
	})
	if n := pluginPIDs(old); n != 0 {
		t.Fatalf("healed standby runs %d plugin processes", n)
	}
}

func TestStepDownByAPIAndByNATS(t *testing.T) {
	c := New(t, 3, Options{})
	first := c.Active()
	setupDB(t, c, first)
	ctx := testutil.Context(t, 60*time.Second)
	first.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	first.Client.Must(t, ctx, "PUT", "sys/step-down", nil, 204)
	second := c.WaitActive(first, 10*time.Second)
	if n := pluginPIDs(first); n != 0 {
		t.Fatalf("stepped-down node still runs %d plugin processes", n)
	}
	second.Client.Must(t, ctx, "GET", "database/creds/ro", nil)

	nc := natsConn(t, c)
	ev := events.Event{V: events.Version, ID: "step-down-by-nats", Kind: events.KindStepDown, Source: "test"}
	if err := events.Inject(ctx, nc, c.Name, ev, events.WithToken(c.Token)); err != nil {
		t.Fatal(err)
	}
	third := c.WaitActive(second, 10*time.Second)
	testutil.Eventually(t, 10*time.Second, "the step-down recorded on every node", func() bool {
		for _, m := range c.Nodes {
			var ok bool
			m.S.Node.State().View(func(d *state.Data) { _, ok = d.Applied["step-down-by-nats"] })
			if !ok {
				return false
			}
		}
		return true
	})
	third.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	if n := pluginPIDs(second); n != 0 {
		t.Fatalf("node stepped down by NATS still runs %d plugin processes", n)
	}
}

func TestEventDeliveredTwiceAppliedOnce(t *testing.T) {
	c := New(t, 3, Options{})
	a := c.Active()
	setupDB(t, c, a)
	ctx := testutil.Context(t, 60*time.Second)
	a.Client.Must(t, ctx, "GET", "database/creds/ro", nil) // the instance runs: reload moves it
	nc := natsConn(t, c)
	ev := events.Event{V: events.Version, ID: "reload-once", Kind: events.KindReload,
		Target: events.Target{Type: events.TargetPlugin, ID: "baton-test-plugin"}, Source: "test"}
	i1, err := events.InjectSync(ctx, nc, c.Name, ev, events.WithToken(c.Token))
	if err != nil {
		t.Fatal(err)
	}
	i2, err := events.InjectSync(ctx, nc, c.Name, ev, events.WithToken(c.Token))
	if err != nil {
		t.Fatal(err)
	}
	// And once more through JetStream with another message id, so the stream's duplicate
	// window does not hide it: the state must.
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	m := nats.NewMsg(events.EventSubject(c.Name, ev.Kind))
	m.Data = b
	m.Header.Set(events.TokenHeader, c.Token)
	if _, err := js.PublishMsg(ctx, m, jetstream.WithMsgID("another-msg-id")); err != nil {
		t.Fatal(err)
	}
	if i1 != i2 {
		t.Fatalf("second delivery answered index %d, first %d", i2, i1)
	}
	count := func(m *Member) int {
		n := 0
		m.S.Node.State().View(func(d *state.Data) {
			for _, h := range d.Machines[state.MachineKey(fsm.KindPlugin, "database/db1")].History() {
				if h.EventID == "reload-once" {
					n++
				}
			}
		})
		return n
	}
	// Wait until the JetStream copy has been consumed (acked), then count on every node. The
	// consumer's state is read as a node (an operator may not use $JS.API).
	nodeJS, err := jetstream.New(c.NATSConn(t, events.RoleNode))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the JetStream copy consumed", func() bool {
		cons, err := nodeJS.Consumer(ctx, "BATON_"+strings.ToUpper(c.Name)+"_EVENTS", "baton-"+c.Name+"-active")
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	for _, m := range c.Nodes {
		testutil.Eventually(t, 10*time.Second, m.ID+" applied the event", func() bool { return count(m) >= 1 })
		if n := count(m); n != 1 {
			t.Fatalf("%s applied the event %d times", m.ID, n)
		}
	}
	// The reload stopped the instance (running → stopping → idle); the next request starts it.
	machine := func() fsm.State {
		var st fsm.State
		a.S.Node.State().View(func(d *state.Data) { st = d.Machines[state.MachineKey(fsm.KindPlugin, "database/db1")].State() })
		return st
	}
	testutil.Eventually(t, 10*time.Second, "the reloaded instance idle", func() bool { return machine() == fsm.StateIdle })
	a.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	if st := machine(); st != fsm.StateRunning {
		t.Fatalf("after a request the instance is %s", st)
	}
}

func TestMalformedEventRejected(t *testing.T) {
	c := New(t, 3, Options{})
	a := c.Active()
	setupDB(t, c, a)
	nc := natsConn(t, c)
	sub, err := nc.SubscribeSync(events.RejectedSubject(c.Name))
	if err != nil {
		t.Fatal(err)
	}
	before, err := a.S.Node.State().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t, 30*time.Second)
	js, _ := jetstream.New(nc)
	if _, err := js.Publish(ctx, events.EventSubject(c.Name, events.KindReload), []byte(`{"v":1,"id":"bad-1","kind":"reload","target":{"type":"node","id":"x"}}`)); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no rejection published: %v", err)
	}
	var rej events.Rejection
	if err := json.Unmarshal(msg.Data, &rej); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rej.Reason, "target") {
		t.Fatalf("rejection reason does not say what is wrong: %+v", rej)
	}
	after, _ := a.S.Node.State().Snapshot()
	if !bytes.Equal(before, after) {
		t.Fatal("a rejected event changed the state")
	}
}

func TestSealKillsPluginsAndRefusesUnsealRestores(t *testing.T) {
	c := New(t, 3, Options{})
	a := c.Active()
	setupDB(t, c, a)
	ctx := testutil.Context(t, 60*time.Second)
	a.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	a.Client.Must(t, ctx, "PUT", "sys/seal", nil, 204)
	if n := pluginPIDs(a); n != 0 {
		t.Fatalf("sealed node runs %d plugin processes", n)
	}
	r, err := a.Client.Do(ctx, "GET", "database/creds/ro", nil)
	if err != nil || r.Status != 503 {
		t.Fatalf("sealed node answered %d (%v): %s", r.Status, err, r.Raw)
	}
	nl := c.WaitActive(a, 10*time.Second)
	nl.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	a.Client.Must(t, ctx, "PUT", "sys/unseal", map[string]any{"key": c.Key})
	testutil.Eventually(t, 10*time.Second, "the unsealed node is a standby", func() bool { return !a.S.Node.Sealed() && !a.S.Node.IsActive() })
	a.Client.Must(t, ctx, "GET", "database/creds/ro", nil) // forwarded
}

func TestNoSecretInClearInDataDir(t *testing.T) {
	c := New(t, 3, Options{})
	a := c.Active()
	ctx := testutil.Context(t, 60*time.Second)
	secret := "rootpw-SECRET-7f3a9c"
	a.Client.Must(t, ctx, "PUT", "sys/plugins/catalog/database/baton-test-plugin", map[string]any{
		"sha256": c.Plugin.SHA256, "command": "baton-test-plugin", "env": []string{"BATON_TEST_TOKEN=env-SECRET-55aa"}})
	a.Client.Must(t, ctx, "POST", "sys/mounts/database", map[string]any{"type": "database"})
	a.Client.Must(t, ctx, "POST", "database/config/db1", map[string]any{
		"plugin_name": "baton-test-plugin", "allowed_roles": "ro", "username": "root", "password": secret,
		"connection_url": "test://root:" + secret + "@localhost/db", "state_file": filepath.Join(c.Dir, "db.json")})
	a.Client.Must(t, ctx, "POST", "database/roles/ro", map[string]any{"db_name": "db1"})
	creds := a.Client.Must(t, ctx, "GET", "database/creds/ro", nil).Data()["password"].(string)
	r := a.Client.Must(t, ctx, "GET", "database/config/db1", nil)
	if strings.Contains(r.Raw, secret) {
		t.Fatalf("config read shows the root password: %s", r.Raw)
	}
	for _, m := range c.Nodes {
		if err := m.S.Node.Store().Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range c.Nodes {
		c.Stop(m)
	}
	for _, needle := range []string{secret, creds, "env-SECRET-55aa"} {
		err := filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasPrefix(p, c.PluginDir) || strings.HasPrefix(filepath.Base(p), "db.json") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			if bytes.Contains(b, []byte(needle)) {
				t.Errorf("%s holds a secret in clear", p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	_ = context.Background
}
