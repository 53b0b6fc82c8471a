// Package multiplexing holds the generated code of the multiplexing discovery service (proto
// package pluginutil.multiplexing, named as in OpenBao so the gRPC method is
// /pluginutil.multiplexing.PluginMultiplexing/MultiplexingSupport). Generated from
// multiplexing.proto by the go:generate line in the parent package.
package multiplexing
