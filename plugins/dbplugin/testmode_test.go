package dbplugin

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// TestServeConfigTestMode runs ServeConfig and ServeConfigMultiplex in go-plugin's in-process
// test mode and reattaches a host client, as a plugin's own tests may.
func TestServeConfigTestMode(t *testing.T) {
	tests := []struct {
		name            string
		hostVersions    string // what a host would offer, read by the plugin side
		config          func() (*plugin.ServeConfig, error)
		wantProtocol    int
		wantMultiplexed bool
	}{
		{"Serve", "5,6", func() (*plugin.ServeConfig, error) { return ServeConfig(&memDB{}), nil }, 5, false},
		{"ServeMultiplex", "5,6", func() (*plugin.ServeConfig, error) {
			return ServeConfigMultiplex((&memFactory{}).New)
		}, 6, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PLUGIN_PROTOCOL_VERSIONS", tt.hostVersions)
			cfg, err := tt.config()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			reattach := make(chan *plugin.ReattachConfig, 1)
			closed := make(chan struct{})
			cfg.Test = &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed}
			cfg.Logger = hclog.NewNullLogger()
			go plugin.Serve(cfg)
			// The client's Kill (a later cleanup, so it runs first) stops the server through
			// go-plugin's Shutdown RPC; cancelling the context as well would make Serve stop
			// it a second time, racing with the first inside go-plugin (GRPCServer.Stop).
			// So wait for that stop, and cancel only once Serve has returned.
			t.Cleanup(func() {
				defer cancel()
				select {
				case <-closed:
				case <-time.After(10 * time.Second):
					t.Error("in-process plugin did not stop within 10s of the client's Kill")
				}
			})

			var rc *plugin.ReattachConfig
			select {
			case rc = <-reattach:
			case <-time.After(10 * time.Second):
				t.Fatal("no reattach config within 10s")
			}
			pc := plugin.NewClient(&plugin.ClientConfig{
				HandshakeConfig: HandshakeConfig,
				// On reattach go-plugin dispenses from Plugins, not VersionedPlugins.
				Plugins:          PluginSets()[rc.ProtocolVersion],
				Reattach:         rc,
				AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
				Logger:           hclog.NewNullLogger(),
			})
			t.Cleanup(func() { killWithin(t, pc, killTimeout) })
			rpc, err := pc.Client()
			if err != nil {
				t.Fatal(err)
			}
			// In test mode Kill leaves the connection to the plugin open: close it here.
			t.Cleanup(func() { _ = rpc.Close() })
			raw, err := rpc.Dispense(PluginName)
			if err != nil {
				t.Fatal(err)
			}
			c := raw.(*Client)
			if pc.NegotiatedVersion() != tt.wantProtocol || c.Multiplexed() != tt.wantMultiplexed {
				t.Errorf("protocol %d multiplexed %v, want %d %v", pc.NegotiatedVersion(), c.Multiplexed(), tt.wantProtocol, tt.wantMultiplexed)
			}
			if typ, err := c.Database(rand.Text()).Type(); err != nil || typ != "memdb" {
				t.Errorf("Type() = %q, %v", typ, err)
			}
		})
	}
}
