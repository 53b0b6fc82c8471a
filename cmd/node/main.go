// Command node is Baton's single binary: `node server` runs a node (from a config file, or
// -dev for a throwaway single node with everything set up); every other subcommand is the
// operator CLI. The bundled plugins are binaries of their own (./cmd/baton-postgresql-plugin,
// ./cmd/baton-test-plugin), never this one under another name.
package main

import (
	"context"
	"os"

	"github.com/baton-hq/baton/internal/cli"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "server" {
		os.Exit(runServer(args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(cli.Run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr))
}
