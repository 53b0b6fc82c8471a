package dbplugin

import (
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// killTimeout bounds go-plugin's Kill, which can hang in grpc's ClientConn.Close.
const killTimeout = 15 * time.Second

// startPlugin runs this test binary as a plugin (see TestMain) under a real go-plugin client
// with AutoMTLS, dispenses the database client and kills the process at cleanup.
func startPlugin(t testing.TB, mode string, sets map[int]plugin.PluginSet) (*plugin.Client, *Client) {
	t.Helper()
	sockDir, err := os.MkdirTemp("", "dbp") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sockDir) })

	cmd := exec.Command(os.Args[0])
	// go-plugin uses UnixSocketConfig.TempDir only with a RunnerFunc: with its default runner
	// the plugin makes its socket in its own TMPDIR, and a SIGKILLed plugin leaves it there.
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "TMPDIR="+sockDir)
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  HandshakeConfig,
		VersionedPlugins: sets,
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: sockDir},
		StartTimeout:     30 * time.Second,
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin-host", Level: hclog.Warn, Output: os.Stderr}),
	})
	t.Cleanup(func() { killWithin(t, pc, killTimeout) })

	rpc, err := pc.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	c, ok := raw.(*Client)
	if !ok {
		t.Fatalf("dispensed %T, want *Client", raw)
	}
	return pc, c
}

func killWithin(t testing.TB, pc *plugin.Client, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pc.Kill()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Errorf("plugin Kill did not return within %v", d)
	}
}

func TestProcessNegotiation(t *testing.T) {
	tests := []struct {
		name            string
		mode            string
		sets            map[int]plugin.PluginSet
		wantProtocol    int
		wantMultiplexed bool
		wantVersion     string
	}{
		{"Serve negotiates 5", "serve", PluginSets(), 5, false, ""},
		{"ServeMultiplex negotiates 6", "multiplex", PluginSets(), 6, true, testVersion},
		{"ServeMultiplex under a host offering only 5", "multiplex", map[int]plugin.PluginSet{5: PluginSets()[5]}, 5, false, testVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			pc, c := startPlugin(t, tt.mode, tt.sets)
			if got := pc.NegotiatedVersion(); got != tt.wantProtocol {
				t.Errorf("negotiated protocol %d, want %d", got, tt.wantProtocol)
			}
			if got := c.Multiplexed(); got != tt.wantMultiplexed {
				t.Errorf("Multiplexed() = %v, want %v", got, tt.wantMultiplexed)
			}
			if v, err := c.Version(ctx); err != nil || v != tt.wantVersion {
				t.Errorf("Version() = %q, %v; want %q", v, err, tt.wantVersion)
			}
			// Two connections' worth of calls through the real process.
			for _, id := range []string{rand.Text(), rand.Text()} {
				db := c.Database(id)
				resp, err := db.Initialize(ctx, InitializeRequest{Config: map[string]any{"id": id}})
				if err != nil || resp.Config["id"] != id {
					t.Fatalf("Initialize(%s) = %v, %v", id, resp.Config, err)
				}
				u, err := db.NewUser(ctx, NewUserRequest{UsernameConfig: UsernameMetadata{DisplayName: "d", RoleName: "r"}, Password: "p", Expiration: time.Now().Add(time.Hour)})
				if err != nil || u.Username != "v-r-d" {
					t.Fatalf("NewUser = %v, %v", u, err)
				}
				if typ, err := db.Type(); err != nil || typ != "memdb" {
					t.Fatalf("Type = %q, %v", typ, err)
				}
			}
			select {
			case <-c.Done():
				t.Fatal("Done closed while the plugin runs")
			default:
			}
		})
	}
}

func TestProcessKilled(t *testing.T) {
	for _, mode := range []string{"serve", "multiplex"} {
		t.Run(mode, func(t *testing.T) {
			ctx := testContext(t)
			pc, c := startPlugin(t, mode, PluginSets())
			db := c.Database(rand.Text())
			if _, err := db.Initialize(ctx, InitializeRequest{}); err != nil {
				t.Fatal(err)
			}
			pid := pc.ReattachConfig().Pid
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatalf("kill %d: %v", pid, err)
			}
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("Done not closed within 10s of SIGKILL")
			}
			_, err := db.NewUser(ctx, NewUserRequest{Password: "p"})
			if !IsUnavailable(err) || !errors.Is(err, ErrPluginUnavailable) {
				t.Errorf("call after kill: %v; want unavailable", err)
			}
			if _, err := db.Type(); !IsUnavailable(err) {
				t.Errorf("Type after kill: %v; want unavailable", err)
			}
		})
	}
}

func TestProcessKillClosesCalls(t *testing.T) {
	// After the host's own Kill, calls on the old client read as unavailable too.
	pc, c := startPlugin(t, "serve", PluginSets())
	killWithin(t, pc, killTimeout)
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed within 10s of Kill")
	}
	if _, err := c.Database("").Type(); !IsUnavailable(err) {
		t.Errorf("Type after Kill: %v; want unavailable", err)
	}
}

// BenchmarkProcessStart measures a cold plugin start (exec, handshake, AutoMTLS, dispense)
// and Kill.
func BenchmarkProcessStart(b *testing.B) {
	for b.Loop() {
		pc, _ := startPlugin(b, "serve", PluginSets())
		killWithin(b, pc, killTimeout)
	}
}

// BenchmarkNewUserProcess measures one NewUser round trip to a real plugin process.
func BenchmarkNewUserProcess(b *testing.B) {
	_, c := startPlugin(b, "multiplex", PluginSets())
	db := c.Database(rand.Text())
	ctx := b.Context()
	if _, err := db.Initialize(ctx, InitializeRequest{}); err != nil {
		b.Fatal(err)
	}
	req := NewUserRequest{Password: "p", UsernameConfig: UsernameMetadata{RoleName: "r"}}
	for b.Loop() {
		if _, err := db.NewUser(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
