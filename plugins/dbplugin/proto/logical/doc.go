// Package logical holds the generated code of the plugin version service (proto package
// logical, named as in OpenBao so the gRPC method is /logical.PluginVersion/Version).
// Generated from version.proto by the go:generate line in the parent package.
package logical
