package cluster

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/apitls"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/internal/server"
	"github.com/baton-hq/baton/test/testutil"
)

// ExternalNodePermissions are the permissions docs/EVENTS.md tells the administrator of an
// external NATS server to grant the nodes' user for cluster c: the test grants exactly
// these, so a node needing more fails it.
func externalNodePermissions(c string) *natsserver.Permissions {
	stream, consumer := events.StreamName(c), events.ConsumerName(c)
	return &natsserver.Permissions{
		Publish: &natsserver.SubjectPermission{Allow: []string{
			"baton." + c + ".transitions.>", "baton." + c + ".rejected",
			"$JS.API.INFO",
			"$JS.API.STREAM.CREATE." + stream, "$JS.API.STREAM.UPDATE." + stream, "$JS.API.STREAM.INFO." + stream,
			"$JS.API.CONSUMER.CREATE." + stream + ".>", "$JS.API.CONSUMER.DURABLE.CREATE." + stream + "." + consumer,
			"$JS.API.CONSUMER.INFO." + stream + "." + consumer, "$JS.API.CONSUMER.DELETE." + stream + "." + consumer,
			"$JS.API.CONSUMER.MSG.NEXT." + stream + "." + consumer,
			"$JS.ACK." + stream + ".>",
			"_INBOX.>",
		}},
		Subscribe: &natsserver.SubjectPermission{Allow: []string{"baton." + c + ".inject", events.NodeInboxPrefix + ".>"}},
	}
}

// externalOperatorPermissions are the operator identity's, as for the embedded server.
func externalOperatorPermissions(c string) *natsserver.Permissions {
	return &natsserver.Permissions{
		Publish:   &natsserver.SubjectPermission{Allow: []string{"baton." + c + ".events.>", "baton." + c + ".inject"}},
		Subscribe: &natsserver.SubjectPermission{Allow: []string{"baton." + c + ".transitions.>", "baton." + c + ".rejected", "_INBOX.>"}},
	}
}

// externalNATS is a real nats-server (not the embedded one's code path) with JetStream,
// TLS from its own CA, a password user for the nodes and the operator's nkey.
type externalNATS struct {
	srv    *natsserver.Server
	url    string
	caFile string
}

func startExternalNATS(t *testing.T, cluster, user, password string, operator events.Identity) *externalNATS {
	t.Helper()
	dir := testutil.ShortTempDir(t)
	ca, err := apitls.NewCA("nats test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue("nats", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "nats.pem"), filepath.Join(dir, "nats-key.pem")
	if err := is.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	tc, err := natsserver.GenTLSConfig(&natsserver.TLSConfigOpts{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	opts := &natsserver.Options{
		Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true, StoreDir: filepath.Join(dir, "js"),
		TLSConfig: tc, TLS: true, TLSTimeout: 5, NoSigs: true, NoLog: true,
		Users:      []*natsserver.User{{Username: user, Password: password, Permissions: externalNodePermissions(cluster)}},
		Nkeys:      []*natsserver.NkeyUser{{Nkey: operator.Public, Permissions: externalOperatorPermissions(cluster)}},
		MaxPayload: 1 << 20,
	}
	srv, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return &externalNATS{srv: srv, url: "tls://127.0.0.1:" + strconv.Itoa(srv.Addr().(*net.TCPAddr).Port), caFile: caFile}
}

// externalNode starts one node on the external server with the given client settings;
// the error is server.New's.
func externalNode(t *testing.T, dir, cluster string, x *externalNATS, cc events.ClientConfig) (*server.Server, error) {
	t.Helper()
	cc.CAFile = x.caFile
	return server.New(server.Config{
		Core: core.Config{
			NodeID: "ext", DataDir: filepath.Join(dir, "ext"), RaftBind: "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t)),
			Raft: TestRaftConfig(), Cluster: cluster, NATSURL: x.url, NATSClient: cc,
			Logger: hclog.New(&hclog.LoggerOptions{Name: "ext", Level: hclog.LevelFromString(envOr("BATON_TEST_LOG", "warn")), Output: os.Stderr}),
		},
		Listen: "127.0.0.1:0", PluginDir: filepath.Join(dir, "plugins"), StartTimeout: 10 * time.Second,
		RollbackPeriod: time.Second, RollbackMinAge: time.Second, LeasePeriod: 200 * time.Millisecond,
	})
}

// TestExternalNATSWithTLS: a node whose nats { url = "tls://…", user, password, tls { ca_file } }
// names a real nats-server (TLS, a password user with exactly the permissions
// docs/EVENTS.md lists, the operator's nkey) starts no embedded server, takes an event an
// operator publishes there (through the stream and through the inject subject), and a wrong
// password or an nkey seed the server does not know is refused with a clear error.
func TestExternalNATSWithTLS(t *testing.T) {
	const cluster, user, password = "ext", "baton-node", "node-password-9f2c"
	op, err := events.NewIdentity(events.RoleOperator)
	if err != nil {
		t.Fatal(err)
	}
	x := startExternalNATS(t, cluster, user, password, op)
	dir := testutil.ShortTempDir(t)
	bin, err := testutil.Build(filepath.Join(dir, "plugins"), "./cmd/baton-test-plugin", "baton-test-plugin")
	if err != nil {
		t.Fatal(err)
	}

	// Refused: a wrong password, an unknown nkey seed, no CA (the server's certificate does
	// not verify). None says the password.
	stranger, err := events.NewIdentity(events.RoleNode)
	if err != nil {
		t.Fatal(err)
	}
	seedFile := filepath.Join(dir, "stranger.nk")
	if err := events.WriteSeedFile(seedFile, stranger); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		name string
		cc   events.ClientConfig
		want string
	}{
		{"wrong password", events.ClientConfig{User: user, Password: "not-" + password}, "refused this client's credentials"},
		{"unknown nkey seed", events.ClientConfig{NKeySeedFile: seedFile}, "refused this client's credentials"},
	} {
		s, err := externalNode(t, dir, cluster, x, bad.cc)
		if err == nil {
			_ = s.Close(context.Background())
			t.Fatalf("%s: the node started", bad.name)
		}
		if !strings.Contains(err.Error(), bad.want) || strings.Contains(err.Error(), password) {
			t.Errorf("%s: error %q, want %q and no password", bad.name, err, bad.want)
		}
	}

	s, err := externalNode(t, dir, cluster, x, events.ClientConfig{User: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = s.Close(ctx)
	})
	if s.Node.NATSURL() != x.url {
		t.Fatalf("node uses NATS %q, want the external %q (no embedded server)", s.Node.NATSURL(), x.url)
	}
	ctx := testutil.Context(t, 2*time.Minute)
	cl := &testutil.Client{Addr: s.URL()}
	r := cl.Must(t, ctx, "PUT", "sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1})
	keys, _ := r.Body["keys_base64"].([]any)
	cl.Token, _ = r.Body["root_token"].(string)
	if len(keys) == 1 {
		cl.Must(t, ctx, "PUT", "sys/unseal", map[string]any{"key": keys[0]})
	}
	testutil.Eventually(t, 30*time.Second, "the node active", s.Node.IsActive)
	cl.Must(t, ctx, "PUT", "sys/plugins/catalog/database/baton-test-plugin", map[string]any{"sha256": bin.SHA256, "command": "baton-test-plugin"})

	// The operator, over TLS with its nkey.
	nc, err := events.Connect(ctx, events.ClientConfig{URL: x.url, Identity: &op, CAFile: x.caFile, Name: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(id string) {
		t.Helper()
		data, err := events.Encode(reloadEvent(id))
		if err != nil {
			t.Fatal(err)
		}
		msg := &nats.Msg{Subject: events.EventSubject(cluster, events.KindReload), Data: data, Header: nats.Header{}}
		msg.Header.Set(nats.MsgIdHdr, id)
		msg.Header.Set("X-Vault-Token", cl.Token)
		if _, err := js.PublishMsg(ctx, msg); err != nil {
			t.Fatalf("publishing %s: %v", id, err)
		}
	}
	publish("external-1")
	applied := func(id string) func() bool {
		return func() bool { return applied(&Member{S: s}, id) }
	}
	testutil.Eventually(t, 30*time.Second, "the event from the external server applied", applied("external-1"))
	// Request/reply on the inject subject: the node answers the operator's inbox.
	data, err := events.Encode(reloadEvent("external-sync"))
	if err != nil {
		t.Fatal(err)
	}
	req := &nats.Msg{Subject: events.InjectSubject(cluster), Data: data, Header: nats.Header{}}
	req.Header.Set("X-Vault-Token", cl.Token)
	reply, err := nc.RequestMsgWithContext(ctx, req)
	if err != nil {
		t.Fatalf("inject request: %v", err)
	}
	if !strings.Contains(string(reply.Data), `"index"`) {
		t.Fatalf("inject reply %s", reply.Data)
	}
	testutil.Eventually(t, 30*time.Second, "the synchronous event applied", applied("external-sync"))
}
