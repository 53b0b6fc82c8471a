package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/events"
	"github.com/baton-hq/baton/internal/config"
	"github.com/baton-hq/baton/internal/core"
	"github.com/baton-hq/baton/internal/server"
	"github.com/baton-hq/baton/raftstore"
)

// runDev starts a throwaway single node: temp data dir, embedded NATS, a plugin directory
// (-dev-plugin-dir, used in place, or a temporary one) holding the bundled plugins as real
// standalone binaries (devplugins.go) and the operator's own, initialised, unsealed, with a database mount whose test-plugin connection issues
// credentials at once. It runs until ctx ends (SIGINT, SIGTERM) or a shutdown event.
//
// The API listener is bound at once but serves only once the setup is complete: a client
// that connects earlier waits in the backlog, so sys/health never answers 200 before the
// bundled plugins are registered and database/ is configured (as OpenBao's dev server
// starts its HTTP servers after its dev setup).
func runDev(ctx context.Context, f serverFlags, stdout, stderr io.Writer) int {
	log := newLogger(f.logLevel, hclog.Info, stderr)
	dataDir, err := os.MkdirTemp("", "baton-dev-")
	if err != nil {
		log.Error("dev data dir", "error", err)
		return 1
	}
	defer os.RemoveAll(dataDir)
	pluginDir, temp, err := devPluginDir(f.devPlugins)
	if err != nil {
		log.Error("dev plugin dir", "error", err)
		return 1
	}
	if temp {
		defer os.RemoveAll(pluginDir)
	}
	shown := cmp.Or(f.devPlugins, pluginDir)
	sums, err := provideBundled(ctx, pluginDir, shown, log)
	if err != nil {
		log.Error("dev plugin dir", "error", err)
		return 1
	}
	extra, err := extraPlugins(pluginDir)
	if err != nil {
		log.Error("reading the plugin directory", "dir", shown, "error", err)
		return 1
	}
	natsAddr, natsPort, err := freeAddr(f.devNATSPort)
	if err != nil {
		log.Error("NATS port", "error", err)
		return 1
	}
	raftAddr, _, err := freeAddr(0)
	if err != nil {
		log.Error("raft port", "error", err)
		return 1
	}
	auditCfg, err := config.LoadAudit(f.configs...)
	if err != nil {
		log.Error("reading the -config files' audit stanzas", "error", err)
		return 1
	}
	var devTLS *devCerts
	if f.devTLS {
		if devTLS, err = makeDevCerts(f.devTLSCertDir, f.devListen); err != nil {
			log.Error("-dev-tls", "error", err)
			return 1
		}
		defer devTLS.cleanup()
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	s, err := server.New(server.Config{
		Core: core.Config{
			NodeID: "dev", DataDir: dataDir, RaftBind: raftAddr,
			Raft: raftstore.FastConfig(), Cluster: "baton", EmbeddedNATSPort: natsPort, Logger: log, Shutdown: stop,
			EventLimit: events.DefaultLimit,
		},
		Listen: f.devListen, PluginDir: pluginDir, StartTimeout: 10 * time.Second,
		ServeLater: true, TLS: devTLS.listener(),
		Audit: auditSettings(auditCfg),
	})
	if err != nil {
		log.Error("starting the dev node", "error", err)
		return 1
	}
	if len(f.configs) > 0 {
		reloadAuditOnSIGHUP(ctx, s.Audit, log, f.configs)
	}
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	res, err := s.Node.Init(ictx, f.devToken)
	if err == nil {
		err = devSetup(ictx, handlerAPI(s.API.Handler(), res.RootToken), log, devSteps(res.RootToken, sums, dataDir))
	}
	cancel()
	seedFile := filepath.Join(dataDir, devOperatorSeed)
	if err == nil {
		err = writeOperatorSeed(s.Node, seedFile)
	}
	if err != nil {
		log.Error("setting up the dev node", "error", err)
		shutdown(s, log)
		return 1
	}
	s.Serve()
	printDev(stdout, f, s, res, natsAddr, seedFile, dataDir, pluginDir, extra, sums, devTLS.caFile())
	printAudit(stdout, s.Audit)
	<-ctx.Done()
	return shutdown(s, log)
}

// devAPI calls the node's API: method, path under /v1/, JSON body (nil: none); it returns
// the status and the body of the reply.
type devAPI func(ctx context.Context, method, path string, body any) (int, []byte, error)

// handlerAPI calls h in process with token, as an operator's client would over HTTP: the
// same handler, validation and replies, while the listener serves nobody yet.
func handlerAPI(h http.Handler, token string) devAPI {
	return func(ctx context.Context, method, path string, body any) (int, []byte, error) {
		var rd io.Reader = http.NoBody
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				return 0, nil, err
			}
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, "http://dev-node/v1/"+path, rd)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("X-Vault-Token", token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes(), nil
	}
}

// devStep is one step of the dev setup: a write, and the read that tells whether its work is
// already in place (someone else, the operator's script, did it first).
type devStep struct {
	method, path string
	body         map[string]any
	// check is read first: 200 means the work is in place and the step is skipped, 404 that
	// the step must run.
	check string
	// accept, when set, says whether what check found (its reply's data) will do; an error
	// explains why not. Unset: anything found will do.
	accept func(data map[string]any) error
}

// devSteps registers the bundled plugins and configures database/ with a test-plugin
// connection and a role.
func devSteps(token string, sums map[string]string, dataDir string) []devStep {
	return []devStep{
		{method: "PUT", path: "sys/plugins/catalog/database/" + testPluginName, check: "sys/plugins/catalog/database/" + testPluginName,
			body: map[string]any{"sha256": sums[testPluginName], "command": testPluginName}},
		{method: "PUT", path: "sys/plugins/catalog/database/" + postgresPluginName, check: "sys/plugins/catalog/database/" + postgresPluginName,
			body: map[string]any{"sha256": sums[postgresPluginName], "command": postgresPluginName}},
		{method: "POST", path: "sys/mounts/database", check: "sys/mounts/database", body: map[string]any{"type": "database"},
			accept: func(d map[string]any) error {
				if t, _ := d["type"].(string); t != "database" {
					return fmt.Errorf("database/ is mounted with type %q; the dev node needs a database mount there", t)
				}
				return nil
			}},
		{method: "POST", path: "database/config/dev-test", check: "database/config/dev-test",
			body: map[string]any{"plugin_name": testPluginName, "allowed_roles": "dev",
				"username": "root", "password": "dev-root-" + token, "state_file": filepath.Join(dataDir, "test-db.json")}},
		{method: "POST", path: "database/roles/dev", check: "database/roles/dev",
			body: map[string]any{"db_name": "dev-test", "default_ttl": "1h", "max_ttl": "24h"}},
	}
}

// devSetup runs the steps through the node's own API, as an operator would. A step whose
// work is already in place is kept as it is and the setup carries on: the setup never fails
// because a script was quicker.
func devSetup(ctx context.Context, call devAPI, log hclog.Logger, steps []devStep) error {
	for _, st := range steps {
		done, err := st.done(ctx, call)
		if err != nil {
			return err
		}
		if done {
			log.Info("dev setup: already in place, kept as it is", "path", st.path)
			continue
		}
		status, msg, err := call(ctx, st.method, st.path, st.body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", st.method, st.path, err)
		}
		if status < 300 {
			continue
		}
		// Made by someone else between the check and the write?
		if done, derr := st.done(ctx, call); derr == nil && done {
			log.Info("dev setup: already in place, kept as it is", "path", st.path)
			continue
		}
		return fmt.Errorf("%s %s: %d %s", st.method, st.path, status, bytes.TrimSpace(msg))
	}
	return nil
}

// done reads st.check: whether the step's work is in place and acceptable.
func (st devStep) done(ctx context.Context, call devAPI) (bool, error) {
	status, msg, err := call(ctx, "GET", st.check, nil)
	if err != nil {
		return false, fmt.Errorf("GET %s: %w", st.check, err)
	}
	switch status {
	case http.StatusNotFound:
		return false, nil
	case http.StatusOK:
	default:
		return false, fmt.Errorf("GET %s: %d %s", st.check, status, bytes.TrimSpace(msg))
	}
	if st.accept == nil {
		return true, nil
	}
	var reply struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(msg, &reply); err != nil {
		return false, fmt.Errorf("GET %s: %w", st.check, err)
	}
	if err := st.accept(reply.Data); err != nil {
		return false, fmt.Errorf("setting up %s: %w", st.path, err)
	}
	return true, nil
}

// selfCommand is how the user runs this binary again: `go run ./cmd/node` when it was built
// by go run, else its path.
func selfCommand() string {
	exe, _ := os.Executable()
	if strings.Contains(exe, "go-build") {
		return "go run ./cmd/node"
	}
	return exe
}

// devOperatorSeed is the file, in the dev node's data dir, holding the NATS operator's nkey seed.
const devOperatorSeed = "nats-operator.nk"

// writeOperatorSeed writes the cluster's NATS operator seed to path (0600), so that the dev
// banner's event command runs as printed.
func writeOperatorSeed(n *core.Node, path string) error {
	c, err := n.NATSCredentials(string(events.RoleOperator))
	if err != nil {
		return err
	}
	return events.WriteSeedFile(path, events.Identity{Role: events.RoleOperator, Public: c.PublicKey, Seed: []byte(c.Seed)})
}

func printDev(w io.Writer, f serverFlags, s *server.Server, res core.InitResult, natsAddr, seedFile, dataDir, pluginDir string, extra []string, sums map[string]string, caFile string) {
	node := selfCommand()
	caField, caExport, curlCA := "", "", ""
	if caFile != "" {
		caField = "\n    CA cert:      " + caFile
		caExport = fmt.Sprintf("\n    export BATON_CACERT=%s BAO_CACERT=%s", caFile, caFile)
		curlCA = "--cacert $BATON_CACERT "
	}
	fmt.Fprintf(w, `
Baton dev node: initialised, unsealed and active. Nothing here survives a restart.

    API address:  %s%s
    NATS:         nats://%s (operator nkey seed: %s)
    Unseal key:   %s
    Root token:   %s
    Data dir:     %s
    Plugin dir:   %s (bundled: %s, %s%s)

Issue a credential now (the bundled test plugin serves database/ at once):

    export BATON_ADDR=%s BATON_TOKEN=%s%s
    %s read database/creds/dev
    curl -s %s-H "X-Vault-Token: $BATON_TOKEN" $BATON_ADDR/v1/database/creds/dev

With PostgreSQL (the bundled plugin is registered as %s):

    %s write database/config/pg plugin_name=%s allowed_roles=readonly \
        connection_url='postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres?sslmode=disable' \
        username=postgres password=YOUR-PASSWORD
    %s write database/roles/readonly db_name=pg default_ttl=1h max_ttl=24h
    %s read database/creds/readonly
    %s write -f database/rotate-root/pg

An application token that may only read credentials, then revoked with its credentials:

    echo 'path "database/creds/dev" { capabilities = ["read"] }' | %s policy write app -
    %s token create -policy=app -ttl=1h -display-name=app
    %s token revoke -accessor TOKEN_ACCESSOR

Lifecycle of every plugin and connection: %s lifecycle
Events over NATS (as the operator identity; "operator nats-creds" prints its seed):

    %s event inject -nats nats://%s -nkey-seed %s -sync -target-type=plugin -target=%s reload
`, s.URL(), caField, natsAddr, seedFile, res.Keys[0], res.RootToken, dataDir, pluginDir, testPluginName, postgresPluginName, extraList(extra),
		s.URL(), res.RootToken, caExport, node, curlCA, postgresPluginName, node, postgresPluginName, node, node, node, node, node, node, node, node, natsAddr, seedFile, testPluginName)
}

func extraList(extra []string) string {
	if len(extra) == 0 {
		return ""
	}
	return "; from -dev-plugin-dir, to register by sha256: " + strings.Join(extra, ", ")
}
