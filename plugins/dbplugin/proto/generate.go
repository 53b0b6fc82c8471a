// Package proto holds the generated protobuf and gRPC code of the version 5 database plugin
// service (proto package dbplugin.v5). Its subpackages logical and multiplexing hold the
// version and multiplexing-discovery services. Only package dbplugin should import these:
// plugin authors and hosts use dbplugin's Go types.
//
// Regenerate with protoc 3.21, protoc-gen-go v1.36.12 and protoc-gen-go-grpc v1.6.2 on PATH
// (PATH=$PATH:$HOME/go/bin go generate ./plugins/dbplugin/proto).
package proto

// The include root is the module root so the registered file names are distinctive
// (plugins/dbplugin/proto/...) and cannot clash in the global protobuf registry.
//go:generate protoc -I ../../.. --go_out=../../.. --go_opt=paths=source_relative --go-grpc_out=../../.. --go-grpc_opt=paths=source_relative plugins/dbplugin/proto/database.proto plugins/dbplugin/proto/logical/version.proto plugins/dbplugin/proto/multiplexing/multiplexing.proto
