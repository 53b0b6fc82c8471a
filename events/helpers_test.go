package events

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"go.uber.org/goleak"

	"github.com/baton-hq/baton/test/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger writes to stderr when BATON_TEST_LOG names a level (debug, info, warn); it is
// silent otherwise, so expected warnings (naks) do not clutter test output. It does not go
// through t.Log, which panics when a client goroutine logs after the test ended.
func testLogger() hclog.Logger {
	lvl := os.Getenv("BATON_TEST_LOG")
	if lvl == "" {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.LevelFromString(lvl), Output: os.Stderr})
}

const testCluster = "test-1"

// waitTimeout bounds every wait in these tests.
const waitTimeout = 15 * time.Second

// startNATS runs an embedded server on dir and port (0: random), shut down at cleanup before
// dir is removed.
func startNATS(t testing.TB, dir string, port int) *Embedded {
	t.Helper()
	e, err := RunEmbedded(EmbeddedConfig{DataDir: dir, Port: port, Logger: testLogger(), Cluster: testCluster, Keys: testIDs.Keys()})
	if err != nil {
		t.Fatalf("RunEmbedded: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// testIDs are the identities every test server admits.
var testIDs = func() Identities {
	ids, err := NewIdentities()
	if err != nil {
		panic(err)
	}
	return ids
}()

// connect opens a reconnect-for-ever client closed at cleanup, as a node.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	return connectAs(t, url, testIDs.Node)
}

// connectAs opens a reconnect-for-ever client closed at cleanup, as id (a node's connection
// uses the node inbox prefix, as the bus's does).
func connectAs(t testing.TB, url string, id Identity) *nats.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cc := ClientConfig{URL: url, Name: t.Name(), ReconnectWait: 50 * time.Millisecond, Logger: testLogger(), Identity: &id}
	if id.Role == RoleNode {
		cc.InboxPrefix = NodeInboxPrefix
	}
	nc, err := Connect(ctx, cc)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// signer signs a server nonce with id's seed, for nats.Nkey.
func signer(id Identity) nats.SignatureHandler {
	return func(nonce []byte) ([]byte, error) {
		kp, err := nkeys.FromSeed(slices.Clone(id.Seed))
		if err != nil {
			return nil, err
		}
		return kp.Sign(nonce)
	}
}

func newJS(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	return js
}

// fixture is a server with the cluster's stream and one client.
type fixture struct {
	emb *Embedded
	nc  *nats.Conn
	js  jetstream.JetStream
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	emb := startNATS(t, t.TempDir(), 0)
	nc := connect(t, emb.ClientURL())
	js := newJS(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := EnsureStream(ctx, js, testCluster, 1); err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	return &fixture{emb: emb, nc: nc, js: js}
}

func startConsumer(t testing.TB, js jetstream.JetStream, h Handler, opts ...ConsumerOption) *Consumer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := StartConsumer(ctx, js, testCluster, h, testLogger(), append([]ConsumerOption{WithAuthorizer(testAuthz)}, opts...)...)
	if err != nil {
		t.Fatalf("StartConsumer: %v", err)
	}
	t.Cleanup(c.Stop)
	return c
}

// recorder is a Handler that records every call. fail, when set, decides the result of a call
// given the event and how many times that id was seen before it (0 on the first call).
type recorder struct {
	mu    sync.Mutex
	calls []Event
	seen  map[string]int
	next  uint64
	fail  func(ev Event, attempt int) error
}

func newRecorder(fail func(ev Event, attempt int) error) *recorder {
	return &recorder{seen: map[string]int{}, fail: fail}
}

func (r *recorder) HandleEvent(ctx context.Context, ev Event) (uint64, error) {
	r.mu.Lock()
	attempt := r.seen[ev.ID]
	r.seen[ev.ID]++
	r.calls = append(r.calls, ev)
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(ev, attempt); err != nil {
			return 0, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	return r.next, nil
}

// count is how many times id reached the handler.
func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// settled waits until the consumer has nothing pending and nothing unacked.
func settled(t testing.TB, c *Consumer) *jetstream.ConsumerInfo {
	t.Helper()
	var info *jetstream.ConsumerInfo
	testutil.Eventually(t, waitTimeout, "consumer to settle (no pending, no ack pending)", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		i, err := c.Info(ctx)
		if err != nil {
			return false
		}
		info = i
		return i.NumPending == 0 && i.NumAckPending == 0
	})
	return info
}

// subscribe collects messages on subject until cleanup.
func subscribe(t testing.TB, nc *nats.Conn, subject string) chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 256)
	sub, err := nc.ChanSubscribe(subject, ch)
	if err != nil {
		t.Fatalf("subscribe %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}

func receive(t testing.TB, ch chan *nats.Msg) *nats.Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(waitTimeout):
		t.Fatalf("no message within %s", waitTimeout)
		return nil
	}
}

func inject(t testing.TB, nc *nats.Conn, ev Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := Inject(ctx, nc, testCluster, ev, WithToken(testToken)); err != nil {
		t.Fatalf("Inject %s: %v", ev.ID, err)
	}
}

// publishRaw stores arbitrary bytes in the stream, bypassing Encode's validation, without a
// token.
func publishRaw(t testing.TB, js jetstream.JetStream, subject string, data []byte, msgID string) *jetstream.PubAck {
	t.Helper()
	return publishRawToken(t, js, subject, data, msgID, "")
}

// publishRawToken is publishRaw with token in the X-Vault-Token header ("" for none).
func publishRawToken(t testing.TB, js jetstream.JetStream, subject string, data []byte, msgID, token string) *jetstream.PubAck {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	m := nats.NewMsg(subject)
	m.Data = data
	if token != "" {
		m.Header.Set(TokenHeader, token)
	}
	ack, err := js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID))
	if err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	return ack
}

func reloadEvent(id string) Event {
	return Event{V: Version, ID: id, Kind: KindReload, Target: Target{Type: TargetPlugin, ID: "postgresql-database-plugin"}, Source: "test"}
}

var errNotLeader = errors.New("not the leader")

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// testToken is the token the package's tests send; testAuthz admits it alone, for every event.
const testToken = "test-token"

var testAuthz = tokenAuthz{testToken: true}

// tokenAuthz admits the tokens it holds (true) for every event, as a root token is admitted;
// a token it holds as false, or does not hold, is refused.
type tokenAuthz map[string]bool

func (a tokenAuthz) AuthorizeEvent(_ context.Context, token string, _ Event) error {
	if !a[token] {
		return fmt.Errorf("test authoriser: %w", ErrPermissionDenied)
	}
	return nil
}
