// Command node is Baton's single binary: `node server` runs a node (from a config file, or
// -dev for a throwaway single node with everything set up); every other subcommand is the
// operator CLI. Installed under the names baton-postgresql-plugin or baton-test-plugin (dev
// mode copies itself so), it serves that bundled plugin instead.
package main

import (
	"context"
	"os"
	"path/filepath"

	"github.com/baton-hq/baton/internal/cli"
	"github.com/baton-hq/baton/plugins/postgresql"
	"github.com/baton-hq/baton/plugins/testplugin"
)

func main() {
	switch filepath.Base(os.Args[0]) {
	case postgresPluginName:
		postgresql.Run()
		return
	case testPluginName:
		testplugin.Main()
		return
	}
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "server" {
		os.Exit(runServer(args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(cli.Run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr))
}
