package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/apitls"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const testCluster = "cli-test"

// natsFixture is an embedded NATS with the cluster's event stream, and a client of it.
type natsFixture struct {
	url    string
	nc     *nats.Conn
	stream jetstream.Stream
	// opSeed, watchSeed and nodeSeed are seed files of the identities the server admits.
	opSeed, watchSeed, nodeSeed string
}

func newNATS(t *testing.T) *natsFixture {
	t.Helper()
	return newNATSTLS(t, "", "", "")
}

// newNATSTLS is newNATS with a server serving TLS with certFile and keyFile (plain when
// they are empty), verified with caFile.
func newNATSTLS(t *testing.T, caFile, certFile, keyFile string) *natsFixture {
	t.Helper()
	ids, err := events.NewIdentities()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := &natsFixture{opSeed: dir + "/operator.nk", watchSeed: dir + "/watcher.nk", nodeSeed: dir + "/node.nk"}
	for path, id := range map[string]events.Identity{f.opSeed: ids.Operator, f.watchSeed: ids.Watcher, f.nodeSeed: ids.Node} {
		if err := events.WriteSeedFile(path, id); err != nil {
			t.Fatal(err)
		}
	}
	emb, err := events.RunEmbedded(events.EmbeddedConfig{DataDir: t.TempDir(), Cluster: testCluster, Keys: ids.Keys(),
		TLSCertFile: certFile, TLSKeyFile: keyFile})
	if err != nil {
		t.Fatalf("RunEmbedded: %v", err)
	}
	// Registered after TempDir's cleanup, so it runs first: the store is closed before removal.
	t.Cleanup(emb.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	nc, err := events.Connect(ctx, events.ClientConfig{URL: emb.ClientURL(), Name: t.Name(), Identity: &ids.Node, InboxPrefix: events.NodeInboxPrefix, CAFile: caFile})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := events.EnsureStream(ctx, js, testCluster, 1)
	if err != nil {
		t.Fatalf("EnsureStream: %v", err)
	}
	f.url, f.nc, f.stream = emb.ClientURL(), nc, stream
	return f
}

// stored returns the events in the stream, in order.
func (f *natsFixture) stored(t *testing.T) []events.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	info, err := f.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := f.stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("GetMsg %d: %v", seq, err)
		}
		ev, err := events.Decode(m.Data)
		if err != nil {
			t.Fatalf("stored event %d: %v", seq, err)
		}
		if want := events.EventSubject(testCluster, ev.Kind); m.Subject != want {
			t.Errorf("event %s on %s, want %s", ev.ID, m.Subject, want)
		}
		if tok := m.Header.Get(events.TokenHeader); tok != cliToken {
			t.Errorf("event %s stored with X-Vault-Token %q, want the CLI's token", ev.ID, tok)
		}
		if m.Header.Get(jetstream.MsgIDHeader) != ev.ID {
			t.Errorf("event %s stored with Nats-Msg-Id %q", ev.ID, m.Header.Get(jetstream.MsgIDHeader))
		}
		out = append(out, ev)
	}
	return out
}

// cliToken is the Baton token the event tests give the CLI.
const cliToken = "s.cli-token"

// tokenAuthz admits one token for every event.
type tokenAuthz string

func (a tokenAuthz) AuthorizeEvent(_ context.Context, token string, _ events.Event) error {
	if token != string(a) {
		return events.ErrPermissionDenied
	}
	return nil
}

func TestEventInject(t *testing.T) {
	t.Parallel()
	f := newNATS(t)
	env := map[string]string{envNATS: f.url, envNATSSeed: f.opSeed, envToken: cliToken}

	res := runCLI(t, env, "", "event", "inject", "-cluster="+testCluster, "-id=ev-1", "-target-type=connection", "-target=database/pg",
		"conn_update", "max_open_connections=4", "password_policy=a=b")
	if res.code != ExitOK || res.stdout != "Event ev-1 accepted\n" {
		t.Fatalf("exit code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	// The same id again is the same event: accepted, stored once.
	res = runCLI(t, env, "", "event", "inject", "-cluster="+testCluster, "-id=ev-1", "-target-type=connection", "-target=database/pg",
		"conn_update", "max_open_connections=4", "password_policy=a=b")
	if res.code != ExitOK {
		t.Fatalf("re-inject: exit code %d, stderr %q", res.code, res.stderr)
	}
	// No id: a random one, printed; JSON output names it.
	res = runCLI(t, env, "", "event", "inject", "-cluster="+testCluster, "-format=json", "step_down")
	if res.code != ExitOK {
		t.Fatalf("exit code %d, stderr %q", res.code, res.stderr)
	}
	got := f.stored(t)
	if len(got) != 2 {
		t.Fatalf("%d events stored, want 2: %+v", len(got), got)
	}
	first := got[0]
	if first.ID != "ev-1" || first.Kind != events.KindConnUpdate || first.Target != (events.Target{Type: events.TargetConnection, ID: "database/pg"}) ||
		len(first.Params) != 2 || first.Params["max_open_connections"] != "4" || first.Params["password_policy"] != "a=b" ||
		first.Source != defaultSource || first.Time.IsZero() {
		t.Errorf("stored event %+v", first)
	}
	second := got[1]
	if second.Kind != events.KindStepDown || !second.Target.IsZero() || second.Params != nil || len(second.ID) < 16 {
		t.Errorf("stored event %+v", second)
	}
	if want := fmt.Sprintf("{\n  \"id\": %q\n}\n", second.ID); res.stdout != want {
		t.Errorf("stdout %q, want %q", res.stdout, want)
	}
}

// TestEventInjectTLS: against a NATS server that serves TLS, event inject verifies it with
// -nats-ca-cert or $BATON_NATS_CACERT and injects; without the CA it says the certificate is
// not trusted and nothing is stored.
func TestEventInjectTLS(t *testing.T) {
	t.Parallel()
	ca, err := apitls.NewCA("nats CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue("nats", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "nats.pem"), filepath.Join(dir, "nats-key.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := is.WriteFiles(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	f := newNATSTLS(t, caFile, certFile, keyFile)
	if !strings.HasPrefix(f.url, "tls://") {
		t.Fatalf("server URL %q", f.url)
	}
	env := map[string]string{envNATS: f.url, envNATSSeed: f.opSeed, envToken: cliToken}

	res := runCLI(t, env, "", "event", "inject", "-cluster="+testCluster, "-id=tls-no-ca", "step_down")
	if res.code == ExitOK || !strings.Contains(res.stderr, "certificate signed by unknown authority") {
		t.Fatalf("without the CA: exit code %d, stderr %q", res.code, res.stderr)
	}
	if got := f.stored(t); len(got) != 0 {
		t.Fatalf("%d events stored without the CA", len(got))
	}
	res = runCLI(t, env, "", "event", "inject", "-cluster="+testCluster, "-id=tls-flag", "-nats-ca-cert="+caFile, "step_down")
	if res.code != ExitOK || res.stdout != "Event tls-flag accepted\n" {
		t.Fatalf("-nats-ca-cert: exit code %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	env[envNATSCA] = caFile
	res = runCLI(t, env, "", "event", "inject", "-cluster="+testCluster, "-id=tls-env", "step_down")
	if res.code != ExitOK {
		t.Fatalf("$%s: exit code %d, stderr %q", envNATSCA, res.code, res.stderr)
	}
	got := f.stored(t)
	if len(got) != 2 || got[0].ID != "tls-flag" || got[1].ID != "tls-env" {
		t.Fatalf("stored %+v, want tls-flag and tls-env", got)
	}
}

// A secret, or a conn_update field that could redirect the root credential, is refused before
// anything is sent, and the error does not echo the value.
func TestEventInjectRefusesSecrets(t *testing.T) {
	t.Parallel()
	f := newNATS(t)
	env := map[string]string{envNATS: f.url, envNATSSeed: f.opSeed}
	for _, tc := range []struct{ param, want string }{
		{"password=s3cr3t-cli", "secrets are not accepted in events: send them over the HTTP API"},
		{"connection_url=postgres://127.0.0.1:1/x", "conn_update cannot change connection_url over NATS"},
	} {
		res := runCLI(t, env, "", "event", "inject", "-cluster="+testCluster, "-id=ev-secret", "-target-type=connection", "-target=database/pg",
			"conn_update", tc.param)
		if res.code == ExitOK || !strings.Contains(res.stderr, tc.want) || strings.Contains(res.stderr+res.stdout, "s3cr3t-cli") {
			t.Errorf("%s: exit code %d, stdout %q, stderr %q", tc.param, res.code, res.stdout, res.stderr)
		}
	}
	if got := f.stored(t); len(got) != 0 {
		t.Errorf("%d events stored, want none", len(got))
	}
}

func TestEventInjectSync(t *testing.T) {
	t.Parallel()
	f := newNATS(t)
	stop, err := events.ServeInject(f.nc, testCluster, events.HandlerFunc(func(ctx context.Context, ev events.Event) (uint64, error) {
		if ev.Kind == events.KindDisable {
			return 0, fmt.Errorf("%w: mount database/ is already disabled", events.ErrRejected)
		}
		if ev.Params["max_open_connections"] != "4" {
			return 0, fmt.Errorf("%w: params %v", events.ErrRejected, ev.Params)
		}
		return 42, nil
	}), nil, events.WithInjectAuthorizer(tokenAuthz(cliToken)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	env := map[string]string{envNATS: f.url, envNATSSeed: f.opSeed, "VAULT_TOKEN": cliToken}

	tests := []struct {
		name   string
		args   []string
		code   int
		out    string
		errHas string
	}{
		{name: "committed", args: []string{"-id=s-1", "-target-type=connection", "-target=database/pg", "conn_update", "max_open_connections=4"}, out: "Event s-1 committed at index 42\n"},
		{name: "committed, JSON", args: []string{"-id=s-2", "-format=json", "-target-type=connection", "-target=database/pg", "conn_update", "max_open_connections=4"}, out: "{\n  \"id\": \"s-2\",\n  \"index\": 42\n}\n"},
		{name: "rejected", args: []string{"-id=s-3", "-target-type=mount", "-target=database/", "disable"}, code: ExitError, errHas: "event rejected: mount database/ is already disabled"},
		{name: "the -token flag wins over the environment", args: []string{"-id=s-4", "-token=wrong", "-target-type=connection", "-target=database/pg", "conn_update", "max_open_connections=4"},
			code: ExitError, errHas: "permission denied: the X-Vault-Token token does not allow update on database/config/pg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"event", "inject", "-sync", "-cluster=" + testCluster}, tc.args...)
			res := runCLI(t, env, "", args...)
			if res.code != tc.code {
				t.Errorf("exit code %d, want %d; stderr %q", res.code, tc.code, res.stderr)
			}
			if tc.out != "" && res.stdout != tc.out {
				t.Errorf("stdout %q, want %q", res.stdout, tc.out)
			}
			if !strings.Contains(res.stderr, tc.errHas) {
				t.Errorf("stderr %q lacks %q", res.stderr, tc.errHas)
			}
		})
	}
	// The synchronous path does not go through the stream.
	if got := f.stored(t); len(got) != 0 {
		t.Errorf("%d events in the stream after synchronous injections", len(got))
	}
}

func TestEventInjectFailures(t *testing.T) {
	t.Parallel()
	f := newNATS(t)
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		errHas []string
	}{
		{
			name:   "NATS unreachable, password redacted",
			env:    map[string]string{envNATS: "nats://ops:hunter2@" + closedAddr(t)},
			args:   []string{"step_down"},
			errHas: []string{"Error: cannot reach NATS at nats://ops:xxxxx@127.0.0.1:"},
		},
		{
			name:   "no stream for the cluster",
			env:    map[string]string{envNATS: f.url},
			args:   []string{"-nkey-seed=" + f.nodeSeed, "-cluster=other", "step_down"},
			errHas: []string{"Error: events: inject", "(does NATS at " + f.url + " hold the stream BATON_OTHER_EVENTS of cluster \"other\"?)"},
		},
		{
			name:   "sync without an active node",
			env:    map[string]string{envNATS: f.url, envNATSSeed: f.opSeed},
			args:   []string{"-sync", "-cluster=" + testCluster, "step_down"},
			errHas: []string{"event not applied, retry", "(is an active node of cluster \"" + testCluster + "\" serving NATS at"},
		},
		{
			name:   "the -nats flag wins over the environment",
			env:    map[string]string{envNATS: f.url, envNATSSeed: f.opSeed},
			args:   []string{"-nats=nats://" + closedAddr(t), "-timeout=5s", "step_down"},
			errHas: []string{"Error: cannot reach NATS at nats://127.0.0.1:"},
		},
		{
			name:   "no seed: the server refuses the connection",
			env:    map[string]string{envNATS: f.url},
			args:   []string{"-cluster=" + testCluster, "-timeout=5s", "step_down"},
			errHas: []string{"Error: cannot reach NATS at " + f.url, "Authorization Violation"},
		},
		{
			name:   "the -nkey-seed flag wins over the environment",
			env:    map[string]string{envNATS: f.url, envNATSSeed: f.opSeed},
			args:   []string{"-nkey-seed=" + f.opSeed + ".missing", "-cluster=" + testCluster, "step_down"},
			errHas: []string{"cannot reach NATS", "operator.nk.missing"},
		},
		{
			name:   "a watcher cannot inject",
			env:    map[string]string{envNATS: f.url, envNATSSeed: f.watchSeed},
			args:   []string{"-cluster=" + testCluster, "-timeout=3s", "step_down"},
			errHas: []string{"Error: events: inject"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runCLI(t, tc.env, "", append([]string{"event", "inject"}, tc.args...)...)
			if res.code != ExitError {
				t.Errorf("exit code %d, want 1; stdout %q stderr %q", res.code, res.stdout, res.stderr)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr %q lacks %q", res.stderr, s)
				}
			}
			if strings.Contains(res.stderr, "hunter2") {
				t.Errorf("the NATS password appears in %q", res.stderr)
			}
		})
	}
	t.Cleanup(func() {
		// Whatever failed above stored nothing (the parallel subtests end before cleanups).
		if got := f.stored(t); len(got) != 0 {
			t.Errorf("%d events stored by failed injections", len(got))
		}
	})
}

// TestEventInjectBothCredentials: a seed file and a credentials file together are a usage
// error, before NATS is touched (a -nats-creds flag alone wins over $BATON_NATS_NKEY_SEED).
func TestEventInjectBothCredentials(t *testing.T) {
	res := runCLI(t, nil, "", "event", "inject", "-nkey-seed=/x/seed.nk", "-nats-creds=/x/user.creds", "step_down")
	if res.code != ExitUsage || !strings.Contains(res.stderr, "-nkey-seed and -nats-creds") {
		t.Fatalf("exit code %d, stderr %q", res.code, res.stderr)
	}
}
