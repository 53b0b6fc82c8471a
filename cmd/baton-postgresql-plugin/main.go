// Command baton-postgresql-plugin is the bundled PostgreSQL database plugin as an executable:
// a host (Baton or OpenBao) runs it and talks to it over go-plugin's gRPC, multiplexed.
package main

import "github.com/baton-hq/baton/plugins/postgresql"

func main() {
	postgresql.Run()
}
