package events

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// connectReporting connects as id and hands back the server's asynchronous errors (permission
// violations arrive that way, the connection staying up).
func connectReporting(t *testing.T, url string, id Identity) (*nats.Conn, chan error) {
	t.Helper()
	errs := make(chan error, 64)
	nc, err := nats.Connect(url, nats.Name(t.Name()+"-"+string(id.Role)), nats.Nkey(id.Public, signer(id)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatalf("connect as %s: %v", id.Role, err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

// violation waits for a permission violation naming subject.
func violation(t *testing.T, errs chan error, what, subject string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), what) && strings.Contains(err.Error(), subject) {
				return
			}
		case <-deadline:
			t.Fatalf("no permission violation for %s %q within %s", what, subject, waitTimeout)
		}
	}
}

func streamMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := js.Stream(ctx, StreamName(testCluster))
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	return s.CachedInfo().State.Msgs
}

// TestEmbeddedRefusesUnknownClients: no credentials, a user and password, a seed the server
// does not know, a known public key signed with another seed and a replayed signature are all
// refused at connect time.
func TestEmbeddedRefusesUnknownClients(t *testing.T) {
	e := startNATS(t, t.TempDir(), 0)
	stranger, err := NewIdentity(RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	forged := testIDs.Operator
	forged.Seed = stranger.Seed // claims the operator's public key, signs with another seed
	for _, tt := range []struct {
		name string
		opts []nats.Option
	}{
		{"anonymous", nil},
		{"user and password", []nats.Option{nats.UserInfo("baton", "baton")}},
		{"unknown seed", []nats.Option{nats.Nkey(stranger.Public, signer(stranger))}},
		{"wrong seed for a known key", []nats.Option{nats.Nkey(forged.Public, signer(forged))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := nats.Connect(e.ClientURL(), append(tt.opts, nats.NoReconnect())...)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
			if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
				t.Fatalf("connect: %v, want an authorization violation", err)
			}
		})
	}
	// A replayed handshake: the operator's signature of one connection's nonce, captured and
	// offered on a second connection (which gets another nonce), is refused.
	var captured []byte
	nc, err := nats.Connect(e.ClientURL(), nats.Nkey(testIDs.Operator.Public, func(nonce []byte) ([]byte, error) {
		sig, err := signer(testIDs.Operator)(nonce)
		captured = sig
		return sig, err
	}))
	if err != nil {
		t.Fatalf("operator connect: %v", err)
	}
	nc.Close()
	if nc, err := nats.Connect(e.ClientURL(), nats.NoReconnect(), nats.Nkey(testIDs.Operator.Public, func([]byte) ([]byte, error) { return captured, nil })); err == nil {
		nc.Close()
		t.Fatal("a replayed signature connected")
	}
	// A seed file the server does not know is refused too, through the client config.
	seed := filepath.Join(t.TempDir(), "stranger.nk")
	if err := WriteSeedFile(seed, stranger); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if nc, err := Connect(ctx, ClientConfig{URL: e.ClientURL(), NKeySeedFile: seed}); err == nil {
		nc.Close()
		t.Fatal("unknown seed file connected")
	}
}

// TestOperatorPermissions: an operator injects (stream and request/reply), sees transitions and
// rejections, and cannot join the inject queue, consume the stream, publish transitions or
// delete the stream; each refused attempt changes nothing.
func TestOperatorPermissions(t *testing.T) {
	f := newFixture(t)
	h := newRecorder(nil)
	serveInject(t, f, h)
	op, errs := connectReporting(t, f.emb.ClientURL(), testIDs.Operator)

	// Allowed: asynchronous and synchronous injection; a replayed event is stored once.
	inject(t, op, reloadEvent("op-async"))
	inject(t, op, reloadEvent("op-async"))
	if n := streamMsgs(t, f.js); n != 1 {
		t.Fatalf("stream holds %d events after an event and its replay, want 1", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := InjectSync(ctx, op, testCluster, reloadEvent("op-sync"), WithToken(testToken)); err != nil {
		t.Fatalf("operator InjectSync: %v", err)
	}
	// Allowed: watching transitions and rejections.
	trs := subscribe(t, op, TransitionsWildcard(testCluster))
	subscribe(t, op, RejectedSubject(testCluster))

	// Refused: joining the inject queue. Every later injection still reaches the node.
	stolen := make(chan *nats.Msg, 16)
	if _, err := op.ChanQueueSubscribe(InjectSubject(testCluster), injectQueue, stolen); err != nil {
		t.Fatal(err)
	}
	violation(t, errs, "Subscription", InjectSubject(testCluster))
	for _, id := range []string{"q1", "q2", "q3", "q4"} {
		if _, err := InjectSync(ctx, op, testCluster, reloadEvent(id), WithToken(testToken)); err != nil {
			t.Fatalf("InjectSync %s with a would-be thief: %v", id, err)
		}
		if h.count(id) != 1 {
			t.Fatalf("event %s reached the handler %d times, want 1", id, h.count(id))
		}
	}
	if len(stolen) != 0 {
		t.Fatalf("the operator's queue subscription received %d injections", len(stolen))
	}

	// Refused: reading the stream through a plain subscription, and through $JS.API.
	if _, err := op.SubscribeSync(EventsWildcard(testCluster)); err != nil {
		t.Fatal(err)
	}
	violation(t, errs, "Subscription", EventsWildcard(testCluster))
	opJS := newJS(t, op)
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	_, err := opJS.CreateOrUpdateConsumer(short, StreamName(testCluster), jetstream.ConsumerConfig{Durable: "thief"})
	cancelShort()
	if err == nil {
		t.Fatal("operator created a consumer on the events stream")
	}
	violation(t, errs, "Publish", "$JS.API.CONSUMER")

	// Refused: faking a transition. A node's transition published after the refusal is the
	// first one the operator's own subscription sees.
	if err := op.Publish(TransitionSubject(testCluster, TransitionPlugin, "database/"), []byte(`{"to":"fake"}`)); err != nil {
		t.Fatal(err)
	}
	violation(t, errs, "Publish", TransitionSubject(testCluster, TransitionPlugin, "database/"))
	if err := f.nc.Publish(TransitionSubject(testCluster, TransitionPlugin, "marker"), []byte(`{"to":"real"}`)); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, trs); !strings.Contains(string(m.Data), "real") {
		t.Fatalf("first transition seen is %s, want the node's", m.Data)
	}

	// Refused: deleting the stream. It is still there with its event.
	short, cancelShort = context.WithTimeout(ctx, 2*time.Second)
	err = opJS.DeleteStream(short, StreamName(testCluster))
	cancelShort()
	if err == nil {
		t.Fatal("operator deleted the events stream")
	}
	violation(t, errs, "Publish", "$JS.API.STREAM.DELETE")
	if n := streamMsgs(t, f.js); n != 1 {
		t.Fatalf("stream holds %d events after a refused delete, want 1", n)
	}
	if !op.IsConnected() {
		t.Fatal("operator connection dropped; refusals should leave it up")
	}
}

// TestWatcherPermissions: a watcher subscribes to transitions and can do nothing else.
func TestWatcherPermissions(t *testing.T) {
	f := newFixture(t)
	h := newRecorder(nil)
	serveInject(t, f, h)
	w, errs := connectReporting(t, f.emb.ClientURL(), testIDs.Watcher)
	trs := subscribe(t, w, TransitionsWildcard(testCluster))

	// Refused: publishing an event, to the stream or to the inject subject.
	if err := w.Publish(EventSubject(testCluster, KindReload), mustEncode(t, reloadEvent("w1"))); err != nil {
		t.Fatal(err)
	}
	violation(t, errs, "Publish", EventSubject(testCluster, KindReload))
	if err := w.Publish(InjectSubject(testCluster), mustEncode(t, reloadEvent("w2"))); err != nil {
		t.Fatal(err)
	}
	violation(t, errs, "Publish", InjectSubject(testCluster))
	// Refused: the rejected subject.
	if _, err := w.SubscribeSync(RejectedSubject(testCluster)); err != nil {
		t.Fatal(err)
	}
	violation(t, errs, "Subscription", RejectedSubject(testCluster))

	if n := streamMsgs(t, f.js); n != 0 {
		t.Fatalf("stream holds %d events a watcher published, want 0", n)
	}
	if h.total() != 0 {
		t.Fatalf("the handler saw %d events a watcher sent", h.total())
	}
	// Allowed: transitions arrive.
	if err := f.nc.Publish(TransitionSubject(testCluster, TransitionNode, "n1"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	receive(t, trs)
}

func mustEncode(t *testing.T, ev Event) []byte {
	t.Helper()
	b, err := Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuthorizedKeysFile: the keys survive a write and a read, a missing file is no keys, and a
// damaged one is an error, never an open server.
func TestAuthorizedKeysFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nats", AuthorizedKeysFile)
	if k, err := ReadAuthorizedKeys(path); err != nil || !k.Empty() {
		t.Fatalf("missing file: %+v, %v", k, err)
	}
	if err := WriteAuthorizedKeys(path, testIDs.Keys()); err != nil {
		t.Fatal(err)
	}
	k, err := ReadAuthorizedKeys(path)
	if err != nil || len(k.Node) != 1 || k.Operator[0] != testIDs.Operator.Public || k.Watcher[0] != testIDs.Watcher.Public {
		t.Fatalf("read back: %+v, %v", k, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file mode: %v, %v", fi, err)
	}
	if err := os.WriteFile(path, []byte(`{"operator":["SUAXXX"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadAuthorizedKeys(path); err == nil || strings.Contains(err.Error(), "SUAXXX") {
		t.Fatalf("a seed where a public key belongs: %v", err)
	}
	if err := WriteAuthorizedKeys(path, AuthorizedKeys{Node: []string{testIDs.Node.Public, testIDs.Node.Public}}); err == nil {
		t.Fatal("a duplicate key written")
	}
	if _, err := ParseRole("admin"); !errors.Is(err, ErrUnknownRole) {
		t.Fatalf("ParseRole(admin): %v", err)
	}
}

// TestIdentityFromSeed rebuilds a key and refuses what is not a user seed, without quoting it.
func TestIdentityFromSeed(t *testing.T) {
	id, err := IdentityFromSeed(RoleOperator, testIDs.Operator.Seed)
	if err != nil || id.Public != testIDs.Operator.Public {
		t.Fatalf("IdentityFromSeed: %v, %v", id, err)
	}
	if strings.Contains(id.String(), string(id.Seed)) {
		t.Fatal("String shows the seed")
	}
	bad := []byte("SUAnotaseed")
	if _, err := IdentityFromSeed(RoleOperator, bad); err == nil || strings.Contains(err.Error(), string(bad)) {
		t.Fatalf("bad seed: %v", err)
	}
}
