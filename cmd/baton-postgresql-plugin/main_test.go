package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"go.uber.org/goleak"

	"github.com/baton-hq/baton/plugins/dbplugin"
	"github.com/baton-hq/baton/test/pgtest"
)

// asPluginEnv makes the test binary run main, so the tests drive the real plugin main
// through go-plugin (gRPC, AutoMTLS, multiplexing) without a separate build.
const asPluginEnv = "BATON_PG_PLUGIN_TEST_RUN_MAIN"

// One server for the whole binary; each test works on roles of its own.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	if os.Getenv(asPluginEnv) == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(pgtest.Main(m, &pg))
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// startPlugin runs the plugin main under a go-plugin client and kills it at cleanup.
func startPlugin(t *testing.T) (*plugin.Client, *dbplugin.Client) {
	t.Helper()
	sockDir, err := os.MkdirTemp("", "bpp") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sockDir) })
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{asPluginEnv + "=1", "TMPDIR=" + sockDir, "PATH=" + os.Getenv("PATH")}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  dbplugin.HandshakeConfig,
		VersionedPlugins: dbplugin.PluginSets(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: sockDir},
		StartTimeout:     30 * time.Second,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Warn, Output: os.Stderr}),
	})
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { defer close(done); pc.Kill() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second): // Kill can hang in grpc's ClientConn.Close
			t.Errorf("plugin Kill did not return")
		}
	})
	rpc, err := pc.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	raw, err := rpc.Dispense(dbplugin.PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	return pc, raw.(*dbplugin.Client)
}

func createRoot(t *testing.T, ctx context.Context, i int) (name, password string) {
	t.Helper()
	name = fmt.Sprintf("plugin_root_%d_%d", os.Getpid(), i)
	password = fmt.Sprintf("root-pw-%d-%d", time.Now().UnixNano(), i)
	srv := pg.Server(t)
	if err := srv.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s WITH LOGIN SUPERUSER PASSWORD '%s'`, name, password)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Exec(context.Background(), `DROP ROLE IF EXISTS `+name) })
	return name, password
}

// TestPluginOverGRPC drives two connections of one multiplexed plugin process against a real
// PostgreSQL: versions, user life cycle, and secrets kept out of errors on the wire.
func TestPluginOverGRPC(t *testing.T) {
	srv := pg.Server(t)
	ctx := testContext(t)
	pc, c := startPlugin(t)
	if got := pc.NegotiatedVersion(); got != dbplugin.ProtocolMultiplexed || !c.Multiplexed() {
		t.Fatalf("protocol %d multiplexed %v; want 6, true", got, c.Multiplexed())
	}
	if v, err := c.Version(ctx); err != nil || v != "v0.1.0" {
		t.Fatalf("Version = %q, %v", v, err)
	}

	for i := range 2 {
		root, rootPW := createRoot(t, ctx, i)
		db := c.Database(rand.Text())
		cfg := map[string]interface{}{"connection_url": srv.URLTemplate(), "username": root, "password": rootPW}

		_, err := db.Initialize(ctx, dbplugin.InitializeRequest{Config: map[string]interface{}{
			"connection_url": srv.URLTemplate(), "username": root, "password": "wrong-" + rootPW,
		}, VerifyConnection: true})
		if err == nil || strings.Contains(err.Error(), rootPW) {
			t.Fatalf("Initialize with a wrong password: %v", err)
		}
		if _, err := db.Initialize(ctx, dbplugin.InitializeRequest{Config: cfg, VerifyConnection: true}); err != nil {
			t.Fatalf("Initialize: %v", err)
		}
		if typ, err := db.Type(); err != nil || typ != "postgresql" {
			t.Fatalf("Type = %q, %v", typ, err)
		}
		resp, err := db.NewUser(ctx, dbplugin.NewUserRequest{
			UsernameConfig: dbplugin.UsernameMetadata{DisplayName: "token", RoleName: fmt.Sprint("role", i)},
			Password:       "user-password-1",
			Expiration:     time.Now().Add(time.Hour),
		})
		if err != nil {
			t.Fatalf("NewUser: %v", err)
		}
		if err := srv.CanLogin(ctx, resp.Username, "user-password-1"); err != nil {
			t.Fatalf("new user cannot log in: %v", err)
		}
		if _, err := db.DeleteUser(ctx, dbplugin.DeleteUserRequest{Username: resp.Username}); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if ok, err := srv.RoleExists(ctx, resp.Username); err != nil || ok {
			t.Fatalf("role still there after DeleteUser: %v %v", ok, err)
		}

		_, err = db.NewUser(ctx, dbplugin.NewUserRequest{Password: "user-password-2", Statements: dbplugin.Statements{Commands: []string{
			`DO $$ BEGIN RAISE EXCEPTION 'leak <%>', '` + rootPW + `'; END $$`,
		}}})
		if err == nil || strings.Contains(err.Error(), rootPW) || !strings.Contains(err.Error(), "[password]") {
			t.Fatalf("error over gRPC = %v; want the root password masked", err)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}
