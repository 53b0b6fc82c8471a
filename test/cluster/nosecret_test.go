package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/raftstore/state"
	"github.com/baton-hq/baton/test/pgtest"
	"github.com/baton-hq/baton/test/testutil"
)

// connUpdateRaw is a conn_update on database/pg with one param, as an attacker holding the
// operator identity would publish it (events.Encode refuses to build it).
func connUpdateRaw(id, key, value string) []byte {
	b, _ := json.Marshal(map[string]any{"v": 1, "id": id, "kind": "conn_update",
		"target": map[string]string{"type": "connection", "id": "database/pg"}, "params": map[string]string{key: value}})
	return b
}

// nextRejection waits (bounded) for the rejection of event id and returns it with its raw bytes.
func nextRejection(t *testing.T, sub *nats.Subscription, id string) (events.Rejection, []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var r events.Rejection
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatalf("rejection %s: %v", m.Data, err)
		}
		if r.ID == id {
			return r, m.Data
		}
	}
	t.Fatalf("no rejection for %s", id)
	return events.Rejection{}, nil
}

// storeHolds lists the files under dir that contain s.
func storeHolds(t *testing.T, dir, s string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // files come and go under a running server
		}
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s)) {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestEventsCarryNoSecret attacks the real embedded NATS with the operator identity and a real
// PostgreSQL connection: an event carrying a password is refused, its rejection does not carry
// it, the active node erases it from the stream so it is in no JetStream file, and a replay
// changes nothing; a conn_update pointing connection_url at a listener the test opens is
// refused, and nothing connects to that listener; over the request/reply path the secret is
// refused and never stored. The state is unchanged and the connection still issues creds.
func TestEventsCarryNoSecret(t *testing.T) {
	pg := pgtest.Start(t)
	c := New(t, 1, Options{})
	a := c.Active()
	setupPG(t, c, a, pg)
	ctx := testutil.Context(t, 3*time.Minute)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var dialled atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			dialled.Add(1)
			_ = conn.Close()
		}
	}()

	op := natsConn(t, c)
	opJS, err := jetstream.New(op)
	if err != nil {
		t.Fatal(err)
	}
	rejected, err := op.SubscribeSync(events.RejectedSubject(c.Name))
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Flush(); err != nil {
		t.Fatal(err)
	}
	nodeJS, err := jetstream.New(c.NATSConn(t, events.RoleNode))
	if err != nil {
		t.Fatal(err)
	}
	lastSeq := func() uint64 {
		s, err := nodeJS.Stream(ctx, events.StreamName(c.Name))
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.LastSeq
	}
	before, err := a.S.Node.State().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	storeDir := filepath.Join(c.Dir, "nats")
	subject := events.EventSubject(c.Name, events.KindConnUpdate)

	t.Run("password through the stream", func(t *testing.T) {
		password := "leak-" + hexID(12)
		raw := connUpdateRaw("secret-1", "password", password)
		ack, err := opJS.PublishMsg(ctx, tokenMsg(subject, raw, c.Token), jetstream.WithMsgID("secret-1"))
		if err != nil {
			t.Fatal(err)
		}
		r, data := nextRejection(t, rejected, "secret-1")
		if !strings.Contains(r.Reason, "secrets are not accepted in events: send them over the HTTP API") || r.Kind != events.KindConnUpdate {
			t.Errorf("rejection = %+v", r)
		}
		if bytes.Contains(data, []byte(password)) || bytes.Contains(data, []byte(`"params"`)) {
			t.Errorf("the rejection carries the params: %s", data)
		}
		testutil.Eventually(t, 20*time.Second, "the password gone from every JetStream file", func() bool {
			return len(storeHolds(t, storeDir, password)) == 0
		})
		// Replayed (same Nats-Msg-Id): JetStream drops it as a duplicate, nothing is stored.
		again, err := opJS.PublishMsg(ctx, tokenMsg(subject, raw, c.Token), jetstream.WithMsgID("secret-1"))
		if err != nil || !again.Duplicate || again.Sequence != ack.Sequence {
			t.Errorf("replay: %+v, %v; want a duplicate of %d", again, err, ack.Sequence)
		}
		if files := storeHolds(t, storeDir, password); len(files) != 0 {
			t.Errorf("after the replay the password is in %v", files)
		}
		if applied(a, "secret-1") {
			t.Error("the event was applied")
		}
	})

	t.Run("connection_url at another host", func(t *testing.T) {
		urls := map[string]string{
			"redirect-1": fmt.Sprintf("postgres://%s/postgres?sslmode=disable", ln.Addr()),
			"redirect-2": fmt.Sprintf("postgres://{{username}}:{{password}}@%s/postgres?sslmode=disable", ln.Addr()),
		}
		for id, url := range urls {
			if _, err := opJS.PublishMsg(ctx, tokenMsg(subject, connUpdateRaw(id, "connection_url", url), c.Token), jetstream.WithMsgID(id)); err != nil {
				t.Fatal(err)
			}
			r, _ := nextRejection(t, rejected, id)
			if !strings.Contains(r.Reason, "params.connection_url") {
				t.Errorf("%s: rejection does not name connection_url: %+v", id, r)
			}
			// Replayed with a new message id (past JetStream's dedup): refused again.
			if _, err := opJS.PublishMsg(ctx, tokenMsg(subject, connUpdateRaw(id, "connection_url", url), c.Token), jetstream.WithMsgID(id+"-again")); err != nil {
				t.Fatal(err)
			}
			nextRejection(t, rejected, id)
			if applied(a, id) {
				t.Errorf("%s applied", id)
			}
		}
		// Bounded wait: a plugin initialised with the new config would dial at once.
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) && dialled.Load() == 0 {
			time.Sleep(100 * time.Millisecond)
		}
		if n := dialled.Load(); n != 0 {
			t.Fatalf("%d connections reached the attacker's listener", n)
		}
	})

	t.Run("password through request/reply", func(t *testing.T) {
		password := "leak-" + hexID(12)
		seq := lastSeq()
		for range 2 { // the second is a replay
			m, err := op.RequestMsg(tokenMsg(events.InjectSubject(c.Name), connUpdateRaw("secret-2", "password", password), c.Token), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var reply events.InjectReply
			if err := json.Unmarshal(m.Data, &reply); err != nil {
				t.Fatal(err)
			}
			if reply.Code != events.ReplyInvalid || !strings.Contains(reply.Error, "secrets are not accepted in events") || bytes.Contains(m.Data, []byte(password)) {
				t.Errorf("reply = %s", m.Data)
			}
			_, data := nextRejection(t, rejected, "secret-2")
			if bytes.Contains(data, []byte(password)) {
				t.Errorf("the rejection carries the password: %s", data)
			}
		}
		if got := lastSeq(); got != seq {
			t.Errorf("the stream grew from %d to %d", seq, got)
		}
		if files := storeHolds(t, storeDir, password); len(files) != 0 {
			t.Errorf("the password is in %v", files)
		}
	})

	after, err := a.S.Node.State().Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("a refused event changed the state")
	}
	// The stored connection still reaches the real database.
	a.Client.Must(t, ctx, "GET", "database/creds/ro", nil)

	// An allowed conn_update through the stream is applied, and once: its replay under a new
	// message id (past JetStream's dedup), even with another value, changes nothing.
	maxOpen := func() string {
		var v any
		a.S.Node.State().View(func(d *state.Data) { v = d.Connections[state.Key("database", "pg")].Redacted["max_open_connections"] })
		return fmt.Sprint(v)
	}
	if _, err := opJS.PublishMsg(ctx, tokenMsg(subject, connUpdateRaw("allowed-1", "max_open_connections", "8"), c.Token), jetstream.WithMsgID("allowed-1")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the allowed conn_update applied", func() bool { return applied(a, "allowed-1") && maxOpen() == "8" })
	if _, err := opJS.PublishMsg(ctx, tokenMsg(subject, connUpdateRaw("allowed-1", "max_open_connections", "9"), c.Token), jetstream.WithMsgID("allowed-1-replay")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the replay consumed", func() bool {
		c, err := nodeJS.Consumer(ctx, events.StreamName(c.Name), events.ConsumerName(c.Name))
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	if got := maxOpen(); got != "8" {
		t.Errorf("after the replay max_open_connections = %s, want 8", got)
	}
	a.Client.Must(t, ctx, "GET", "database/creds/ro", nil)
	if n := dialled.Load(); n != 0 {
		t.Errorf("%d connections reached the attacker's listener", n)
	}
	// The listener does count: a dial of our own is seen.
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	testutil.Eventually(t, 10*time.Second, "the listener to see our own dial", func() bool { return dialled.Load() == 1 })
}

// tokenMsg is a message carrying the root token, so that what refuses it is the check under
// test and not the authoriser.
func tokenMsg(subject string, data []byte, token string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(events.TokenHeader, token)
	return m
}
