package dbplugin

import (
	"context"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/baton-hq/baton/plugins/dbplugin/proto"
	"github.com/baton-hq/baton/plugins/dbplugin/proto/logical"
	"github.com/baton-hq/baton/plugins/dbplugin/proto/multiplexing"
)

// HandshakeConfig is the go-plugin handshake of database plugins. The cookie is OpenBao's, so
// plugins and hosts of either project recognise each other; it is a guard against running a
// plugin by hand, not a secret.
var HandshakeConfig = plugin.HandshakeConfig{
	ProtocolVersion:  5,
	MagicCookieKey:   "VAULT_DATABASE_PLUGIN",
	MagicCookieValue: "926a0820-aea2-be28-51d6-83cdf00e8edb",
}

// Protocol versions offered in PluginSets and served by Serve and ServeMultiplex.
const (
	// ProtocolSingle serves one database per plugin process.
	ProtocolSingle = 5
	// ProtocolMultiplexed serves one database per multiplex id.
	ProtocolMultiplexed = 6
)

// PluginName is the name a host dispenses in both protocol versions.
const PluginName = "database"

// databasePlugin is the go-plugin glue of both sides. On the plugin side it holds the database
// (or factory) to serve; on the host side only whether its set is the multiplexed one.
type databasePlugin struct {
	plugin.NetRPCUnsupportedPlugin

	impl      Database        // plugin side, protocol 5
	factory   Factory         // plugin side, protocol 6
	versioner PluginVersioner // plugin side; nil: no version service

	multiplexed bool // host side: this set is protocol 6
}

var _ plugin.GRPCPlugin = (*databasePlugin)(nil)

// GRPCServer implements plugin.GRPCPlugin (plugin side).
func (p *databasePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.factory != nil {
		pb.RegisterDatabaseServer(s, newMultiplexServer(p.factory))
		multiplexing.RegisterPluginMultiplexingServer(s, multiplexingServer{})
	} else {
		pb.RegisterDatabaseServer(s, newSingleServer(p.impl))
	}
	if p.versioner != nil {
		logical.RegisterPluginVersionServer(s, versionServer{v: p.versioner})
	}
	return nil
}

// GRPCClient implements plugin.GRPCPlugin (host side). doneCtx is cancelled by go-plugin when
// the plugin process exits; the Client keeps it as its Done channel.
func (p *databasePlugin) GRPCClient(doneCtx context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (interface{}, error) {
	return newClient(doneCtx, cc, p.multiplexed || p.factory != nil)
}

func singlePlugin(db Database) *databasePlugin {
	v, _ := db.(PluginVersioner)
	return &databasePlugin{impl: db, versioner: v}
}

// NewLogger returns the logger a plugin process logs through: hclog JSON on stderr, the only
// form the host's go-plugin client parses back into log entries. The host filters by level.
func NewLogger(name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      hclog.Debug,
		Output:     os.Stderr,
		JSONFormat: true,
	})
}

// Serve serves db as a protocol 5 database plugin and never returns: call it from main.
// The version service is served only when db implements PluginVersioner.
func Serve(db Database) {
	plugin.Serve(ServeConfig(db))
}

// ServeConfig is Serve's configuration, for tests that run the plugin in-process (set Test)
// or mains that adjust it.
func ServeConfig(db Database) *plugin.ServeConfig {
	return &plugin.ServeConfig{
		HandshakeConfig:  HandshakeConfig,
		VersionedPlugins: map[int]plugin.PluginSet{ProtocolSingle: {PluginName: singlePlugin(db)}},
		GRPCServer:       plugin.DefaultGRPCServer,
		Logger:           NewLogger("database-plugin"),
	}
}

// ServeMultiplex serves a multiplexed database plugin and never returns: call it from main.
// A host offering protocol 6 gets one database per connection (multiplex id), made by factory
// on the connection's first Initialize or Type; a host offering only 5 gets the factory's
// first product as its one database. The version service is served when that first product
// implements PluginVersioner. The process exits with status 1 when factory fails at start.
func ServeMultiplex(factory Factory) {
	cfg, err := ServeConfigMultiplex(factory)
	if err != nil {
		NewLogger("database-plugin").Error("cannot serve the database plugin", "error", err)
		os.Exit(1)
	}
	plugin.Serve(cfg)
}

// ServeConfigMultiplex is ServeMultiplex's configuration. It calls factory once, to serve
// protocol 5 hosts and to learn whether the plugin reports a version.
func ServeConfigMultiplex(factory Factory) (*plugin.ServeConfig, error) {
	first, err := newDatabase(factory)
	if err != nil {
		return nil, err
	}
	single := singlePlugin(first)
	return &plugin.ServeConfig{
		HandshakeConfig: HandshakeConfig,
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolSingle:      {PluginName: single},
			ProtocolMultiplexed: {PluginName: &databasePlugin{factory: factory, versioner: single.versioner}},
		},
		GRPCServer: plugin.DefaultGRPCServer,
		Logger:     NewLogger("database-plugin"),
	}, nil
}
