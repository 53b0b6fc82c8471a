package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-hq/baton/test/testutil"
)

// Every kind is authorised as an HTTP action: the table leaves none out, and each maps to the
// path and operation of the same action over HTTP.
func TestActionOf(t *testing.T) {
	conn := Target{Type: TargetConnection, ID: "team/db/pg"}
	cases := []struct {
		ev       Event
		op, path string
	}{
		{Event{Kind: KindSeal}, "update", "sys/seal"},
		{Event{Kind: KindSeal, Target: Target{Type: TargetNode, ID: "n2"}}, "update", "sys/seal"},
		{Event{Kind: KindStepDown}, "update", "sys/step-down"},
		{Event{Kind: KindShutdown}, "update", "sys/shutdown"},
		{Event{Kind: KindReload, Target: Target{Type: TargetPlugin, ID: "pg-plugin"}}, "update", "sys/plugins/reload/backend"},
		{Event{Kind: KindReload, Target: Target{Type: TargetMount, ID: "database/"}}, "update", "sys/plugins/reload/backend"},
		{Event{Kind: KindDisable, Target: Target{Type: TargetMount, ID: "database/"}}, "delete", "sys/mounts/database"},
		{Event{Kind: KindConnUpdate, Target: conn}, "update", "team/db/config/pg"},
		{Event{Kind: KindConnDelete, Target: conn}, "delete", "team/db/config/pg"},
		{Event{Kind: KindConnReset, Target: conn}, "update", "team/db/reset/pg"},
		{Event{Kind: KindRootRotate, Target: conn}, "update", "team/db/rotate-root/pg"},
		{Event{Kind: KindWALRollback, Target: conn}, "update", "team/db/rotate-root/pg"},
		{Event{Kind: KindCrashed, Target: conn}, "update", "team/db/reset/pg"},
		{Event{Kind: KindRequest, Target: conn}, "update", "team/db/reset/pg"},
		{Event{Kind: KindCrashed, Target: Target{Type: TargetPlugin, ID: "pg-plugin"}}, "update", "sys/plugins/reload/backend"},
	}
	seen := map[Kind]bool{}
	for _, tc := range cases {
		got, err := ActionOf(tc.ev)
		if err != nil || got.Operation != tc.op || got.Path != tc.path {
			t.Errorf("%s %v: %+v, %v; want %s %s", tc.ev.Kind, tc.ev.Target, got, err, tc.op, tc.path)
		}
		seen[tc.ev.Kind] = true
	}
	for _, k := range Kinds() {
		if _, ok := actions[k]; !ok {
			t.Errorf("kind %s has no action: nobody could be authorised to send it", k)
		}
		if !seen[k] {
			t.Errorf("kind %s: no case in this table", k)
		}
	}
	if _, err := ActionOf(Event{Kind: KindConnReset, Target: Target{Type: TargetConnection, ID: "pg"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("connection without a mount: %v, want invalid", err)
	}
}

// grantAuthz admits a token for the actions it lists ("update sys/seal"), as the one
// authoriser would for a token whose policies grant them (sudo included); it counts its
// calls. fail, when set, is returned instead (the node sealed).
type grantAuthz struct {
	mu     sync.Mutex
	grants map[string][]string
	fail   error
	calls  int
}

func (g *grantAuthz) AuthorizeEvent(_ context.Context, token string, ev Event) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if g.fail != nil {
		err := g.fail
		g.fail = nil
		return err
	}
	act, err := ActionOf(ev)
	if err != nil {
		return err
	}
	for _, a := range g.grants[token] {
		if a == act.Operation+" "+act.Path {
			return nil
		}
	}
	return ErrPermissionDenied
}

const (
	sudoTok     = "s.sudo-token-7f3a"
	readOnlyTok = "s.read-only-token-91c2"
	wrongTok    = "s.no-such-token-0000"
)

func newGrants() *grantAuthz {
	return &grantAuthz{grants: map[string][]string{
		sudoTok:     {"update sys/seal"},
		readOnlyTok: {"read database/creds/ro"},
	}}
}

func sealEvent(id string) Event { return Event{V: Version, ID: id, Kind: KindSeal, Source: "attacker"} }

// publishSeal stores a seal event in the stream with token in the header ("" for none).
func publishSeal(t *testing.T, js jetstream.JetStream, id, token string) *jetstream.PubAck {
	t.Helper()
	data, err := Encode(sealEvent(id))
	if err != nil {
		t.Fatal(err)
	}
	return publishRawToken(t, js, EventSubject(testCluster, KindSeal), data, id, token)
}

// A seal published to the stream without a token, with an unknown token and with a token
// that lacks the capability is refused on the rejected subject with "permission denied: …",
// never reaches the handler, and the rejection carries no token; a replay of a refused event
// under its Nats-Msg-Id (even with a good token) changes nothing; a token that allows it seals.
func TestConsumerAuthorisesEvents(t *testing.T) {
	f := newFixture(t)
	op := connectAs(t, f.emb.ClientURL(), testIDs.Operator)
	opJS := newJS(t, op)
	raw := subscribe(t, f.nc, RejectedSubject(testCluster))
	rec := newRecorder(nil)
	g := newGrants()
	c := startConsumer(t, f.js, rec, WithAuthorizer(g))

	attempts := []struct{ id, token string }{{"seal-none", ""}, {"seal-wrong", wrongTok}, {"seal-readonly", readOnlyTok}}
	for _, a := range attempts {
		publishSeal(t, opJS, a.id, a.token)
		m := receive(t, raw)
		var r Rejection
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.ID != a.id || r.Kind != KindSeal || !strings.HasPrefix(r.Reason, "permission denied: ") || !strings.Contains(r.Reason, "update on sys/seal") {
			t.Errorf("%s: rejection %+v", a.id, r)
		}
		for _, tok := range []string{sudoTok, readOnlyTok, wrongTok} {
			if bytes.Contains(m.Data, []byte(tok)) || m.Header.Get(TokenHeader) != "" {
				t.Errorf("%s: the rejection carries a token: %s %v", a.id, m.Data, m.Header)
			}
		}
	}
	settled(t, c)
	if rec.total() != 0 {
		t.Fatalf("the handler ran %d times for refused events", rec.total())
	}
	// Replays: the same Nats-Msg-Id is dropped by the duplicate window, whatever its token.
	for _, a := range attempts {
		if ack := publishSeal(t, opJS, a.id, a.token); !ack.Duplicate {
			t.Errorf("replay of %s stored again", a.id)
		}
	}
	if ack := publishSeal(t, opJS, "seal-none", sudoTok); !ack.Duplicate {
		t.Errorf("replay of a refused id with a good token stored again")
	}
	settled(t, c)
	if rec.total() != 0 {
		t.Fatalf("a replay reached the handler")
	}
	// The token that allows it.
	publishSeal(t, opJS, "seal-sudo", sudoTok)
	testutil.Eventually(t, waitTimeout, "the authorised seal handled", func() bool { return rec.count("seal-sudo") == 1 })
	settled(t, c)
	if st := c.Stats(); st.Rejected != 3 || st.Acked != 1 {
		t.Errorf("stats %+v, want 3 rejected and 1 acked", st)
	}
}

// An authoriser that fails for now (not a refusal) has the event redelivered, not refused.
func TestConsumerAuthoriserFailureRedelivers(t *testing.T) {
	f := newFixture(t)
	rec := newRecorder(nil)
	g := newGrants()
	g.fail = errors.New("barrier sealed")
	c := startConsumer(t, f.js, rec, WithAuthorizer(g), WithNakDelay(20*time.Millisecond))
	publishSeal(t, f.js, "seal-later", sudoTok)
	testutil.Eventually(t, waitTimeout, "the event handled after the authoriser recovered", func() bool { return rec.count("seal-later") == 1 })
	settled(t, c)
	if st := c.Stats(); st.Nacked != 1 || st.Rejected != 0 {
		t.Errorf("stats %+v, want one nak and no rejection", st)
	}
}

// A consumer or inject service without an authoriser refuses every event (fail closed).
func TestNoAuthoriserRefusesAll(t *testing.T) {
	f := newFixture(t)
	rej := watchRejections(t, f.nc)
	rec := newRecorder(nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := StartConsumer(ctx, f.js, testCluster, rec, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	publishSeal(t, f.js, "seal-open", sudoTok)
	testutil.Eventually(t, waitTimeout, "refused", func() bool {
		return rej.count("permission denied: this node authorises no events") == 1
	})
	stop, err := ServeInject(f.nc, testCluster, rec, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if _, err := InjectSync(ctx, f.nc, testCluster, sealEvent("seal-open-sync"), WithToken(sudoTok)); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("inject without an authoriser: %v", err)
	}
	if rec.total() != 0 {
		t.Fatal("an event reached the handler of a node without an authoriser")
	}
}

// The inject subject: no token, an unknown token and a token without the capability are
// answered "permission denied" (ErrPermissionDenied and ErrRejected), reported, and the
// handler never runs; the reply never echoes a token; the right token seals.
func TestInjectAuthorisesEvents(t *testing.T) {
	f := newFixture(t)
	op := connectAs(t, f.emb.ClientURL(), testIDs.Operator)
	rej := watchRejections(t, f.nc)
	rec := newRecorder(nil)
	stop, err := ServeInject(f.nc, testCluster, rec, testLogger(), WithInjectAuthorizer(newGrants()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i, tok := range []string{"", wrongTok, readOnlyTok} {
		_, err := InjectSync(ctx, op, testCluster, sealEvent(fmt.Sprint("sync-", i)), WithToken(tok))
		if !errors.Is(err, ErrPermissionDenied) || !errors.Is(err, ErrRejected) {
			t.Fatalf("token %q: %v, want permission denied", tok, err)
		}
		for _, secret := range []string{sudoTok, readOnlyTok, wrongTok} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("the reply echoes a token: %v", err)
			}
		}
	}
	// The raw reply's code, for clients that do not use InjectSync.
	data, _ := Encode(sealEvent("sync-raw"))
	m, err := op.RequestWithContext(ctx, InjectSubject(testCluster), data)
	if err != nil {
		t.Fatal(err)
	}
	var reply InjectReply
	if err := json.Unmarshal(m.Data, &reply); err != nil || reply.Code != ReplyDenied || reply.Index != nil {
		t.Fatalf("reply %s, want code %s", m.Data, ReplyDenied)
	}
	testutil.Eventually(t, waitTimeout, "4 refusals reported", func() bool { return rej.total() == 4 })
	if rec.total() != 0 {
		t.Fatalf("the handler ran for a refused event")
	}
	if _, err := InjectSync(ctx, op, testCluster, sealEvent("sync-sudo"), WithToken(sudoTok)); err != nil {
		t.Fatalf("with the sudo token: %v", err)
	}
	if rec.count("sync-sudo") != 1 {
		t.Fatal("the authorised seal did not reach the handler")
	}
}

// The token header does not outlive its event in the stream: once handled, the intake's purge
// removes it, and the token appears nowhere in the JetStream store's files.
func TestIntakePurgesHandledTokens(t *testing.T) {
	dir := t.TempDir()
	emb := startNATS(t, dir, 0)
	nc := connect(t, emb.ClientURL())
	js := newJS(t, nc)
	rec := newRecorder(nil)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	in, err := StartIntake(ctx, js, rec, IntakeConfig{Cluster: testCluster, CheckEvery: 100 * time.Millisecond, Logger: testLogger(),
		Consumer: []ConsumerOption{WithAuthorizer(newGrants())}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Stop)
	op := connectAs(t, emb.ClientURL(), testIDs.Operator)
	opJS := newJS(t, op)
	publishSeal(t, opJS, "purge-ok", sudoTok)
	publishSeal(t, opJS, "purge-refused", readOnlyTok)
	testutil.Eventually(t, waitTimeout, "the seal handled", func() bool { return rec.count("purge-ok") == 1 })
	stream, err := js.Stream(ctx, StreamName(testCluster))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, "handled events purged from the stream", func() bool {
		info, err := stream.Info(ctx)
		return err == nil && info.State.Msgs == 0 && info.State.LastSeq == 2
	})
	for _, tok := range []string{sudoTok, readOnlyTok} {
		if f := grepDir(t, dir, tok); f != "" {
			t.Errorf("token found in %s after the purge", f)
		}
	}
	// The duplicate window outlives the purge: a replay is still dropped.
	if ack := publishSeal(t, opJS, "purge-ok", sudoTok); !ack.Duplicate {
		t.Error("replay of a purged event stored again")
	}
}

// grepDir returns a file under dir that contains s, "" when none does.
func grepDir(t *testing.T, dir, s string) string {
	t.Helper()
	found := ""
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // removed meanwhile
		}
		if bytes.Contains(b, []byte(s)) {
			found = p
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// syncBuffer is a log sink safe for the consumer's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// No token reaches the node's logs, at the most verbose level, whether its event is refused,
// handed back (the authoriser failing for now) or handled, on either subject.
func TestTokensNeverLogged(t *testing.T) {
	f := newFixture(t)
	var buf syncBuffer
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &buf})
	rec := newRecorder(nil)
	g := newGrants()
	g.fail = errors.New("barrier sealed")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := StartConsumer(ctx, f.js, testCluster, rec, log, WithAuthorizer(g), WithNakDelay(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	stop, err := ServeInject(f.nc, testCluster, rec, log, WithInjectAuthorizer(g))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	publishSeal(t, f.js, "log-sudo", sudoTok)
	publishSeal(t, f.js, "log-readonly", readOnlyTok)
	publishSeal(t, f.js, "log-wrong", wrongTok)
	testutil.Eventually(t, waitTimeout, "the allowed event handled", func() bool { return rec.count("log-sudo") == 1 })
	settled(t, c)
	_, _ = InjectSync(ctx, f.nc, testCluster, sealEvent("log-sync-wrong"), WithToken(wrongTok))
	_, _ = InjectSync(ctx, f.nc, testCluster, sealEvent("log-sync-ok"), WithToken(sudoTok))
	out := buf.String()
	if !strings.Contains(out, "event rejected") {
		t.Fatalf("the refusals were not logged at all:\n%s", out)
	}
	for _, tok := range []string{sudoTok, readOnlyTok, wrongTok} {
		if strings.Contains(out, tok) {
			t.Fatalf("token %s in the log:\n%s", tok, out)
		}
	}
}
