package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/core"
	"github.com/baton-hq/baton/raftstore"
	"github.com/baton-hq/baton/server"
)

// runDev starts a throwaway single node: temp data dir, embedded NATS, a plugin directory
// holding the bundled plugins (this binary under their names) and the operator's extra
// plugins, initialised, unsealed, with a database mount whose test-plugin connection issues
// credentials at once.
func runDev(f serverFlags, stdout, stderr io.Writer) int {
	log := newLogger(f.logLevel, hclog.Info, stderr)
	dataDir, err := os.MkdirTemp("", "baton-dev-")
	if err != nil {
		log.Error("dev data dir", "error", err)
		return 1
	}
	defer os.RemoveAll(dataDir)
	pluginDir, err := os.MkdirTemp("/tmp", "baton-plugins-")
	if err != nil {
		log.Error("dev plugin dir", "error", err)
		return 1
	}
	defer os.RemoveAll(pluginDir)
	sums := map[string]string{}
	for _, name := range []string{postgresPluginName, testPluginName} {
		sum, err := installSelf(pluginDir, name)
		if err != nil {
			log.Error("installing the bundled plugin", "plugin", name, "error", err)
			return 1
		}
		sums[name] = sum
	}
	extra, err := copyPlugins(f.devPlugins, pluginDir)
	if err != nil {
		log.Error("reading -dev-plugin-dir", "error", err)
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s, err := server.New(server.Config{
		Core: core.Config{
			NodeID: "dev", DataDir: dataDir, RaftBind: raftAddr,
			Raft: raftstore.FastConfig(), Cluster: "baton", EmbeddedNATSPort: natsPort, Logger: log, Shutdown: stop,
		},
		Listen: f.devListen, PluginDir: pluginDir, StartTimeout: 10 * time.Second,
	})
	if err != nil {
		log.Error("starting the dev node", "error", err)
		return 1
	}
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	res, err := s.Node.Init(ictx, f.devToken)
	if err == nil {
		err = devSetup(ictx, s, res.RootToken, sums, dataDir)
	}
	cancel()
	if err != nil {
		log.Error("setting up the dev node", "error", err)
		shutdown(s, log)
		return 1
	}
	printDev(stdout, f, s, res, natsAddr, dataDir, pluginDir, extra, sums)
	<-ctx.Done()
	return shutdown(s, log)
}

// copyPlugins copies the executables of src (the operator's -dev-plugin-dir) into dst.
func copyPlugins(src, dst string) ([]string, error) {
	if src == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode()&0o111 == 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o755); err != nil {
			return nil, err
		}
		names = append(names, e.Name())
	}
	return names, nil
}

// devSetup registers the bundled plugins and configures database/ with a test-plugin
// connection and a role, through the node's own API as an operator would.
func devSetup(ctx context.Context, s *server.Server, token string, sums map[string]string, dataDir string) error {
	hc := &http.Client{Timeout: 30 * time.Second}
	steps := []struct {
		method, path string
		body         map[string]any
	}{
		{"PUT", "sys/plugins/catalog/database/" + testPluginName, map[string]any{"sha256": sums[testPluginName], "command": testPluginName}},
		{"PUT", "sys/plugins/catalog/database/" + postgresPluginName, map[string]any{"sha256": sums[postgresPluginName], "command": postgresPluginName}},
		{"POST", "sys/mounts/database", map[string]any{"type": "database"}},
		{"POST", "database/config/dev-test", map[string]any{"plugin_name": testPluginName, "allowed_roles": "dev",
			"username": "root", "password": "dev-root-" + token, "state_file": filepath.Join(dataDir, "test-db.json")}},
		{"POST", "database/roles/dev", map[string]any{"db_name": "dev-test", "default_ttl": "1h", "max_ttl": "24h"}},
	}
	for _, st := range steps {
		b, _ := json.Marshal(st.body)
		req, err := http.NewRequestWithContext(ctx, st.method, s.URL()+"/v1/"+st.path, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("X-Vault-Token", token)
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", st.method, st.path, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: %d %s", st.method, st.path, resp.StatusCode, msg)
		}
	}
	return nil
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

func printDev(w io.Writer, f serverFlags, s *server.Server, res core.InitResult, natsAddr, dataDir, pluginDir string, extra []string, sums map[string]string) {
	node := selfCommand()
	fmt.Fprintf(w, `
Baton dev node: initialised, unsealed and active. Nothing here survives a restart.

    API address:  %s
    NATS:         nats://%s
    Unseal key:   %s
    Root token:   %s
    Data dir:     %s
    Plugin dir:   %s (bundled: %s, %s%s)

Issue a credential now (the bundled test plugin serves database/ at once):

    export BATON_ADDR=%s BATON_TOKEN=%s
    %s read database/creds/dev
    curl -s -H "X-Vault-Token: $BATON_TOKEN" $BATON_ADDR/v1/database/creds/dev

With PostgreSQL (the bundled plugin is registered as %s):

    %s write database/config/pg plugin_name=%s allowed_roles=readonly \
        connection_url='postgresql://{{username}}:{{password}}@127.0.0.1:5432/postgres?sslmode=disable' \
        username=postgres password=YOUR-PASSWORD
    %s write database/roles/readonly db_name=pg default_ttl=1h max_ttl=24h
    %s read database/creds/readonly
    %s write -f database/rotate-root/pg

Lifecycle of every plugin and connection: %s lifecycle   (events: %s event inject -nats nats://%s -target-type=plugin -target=%s reload)
`, s.URL(), natsAddr, res.Keys[0], res.RootToken, dataDir, pluginDir, testPluginName, postgresPluginName, extraList(extra),
		s.URL(), res.RootToken, node, postgresPluginName, node, postgresPluginName, node, node, node, node, node, natsAddr, testPluginName)
}

func extraList(extra []string) string {
	if len(extra) == 0 {
		return ""
	}
	return "; from -dev-plugin-dir, to register by sha256: " + strings.Join(extra, ", ")
}
