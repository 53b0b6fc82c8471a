package testplugin

import (
	"fmt"
	"os"
	"time"

	"github.com/baton-hq/baton/plugins/dbplugin"
)

// versioned adds the version knob's answer to a database; a plugin reporting no version is
// served without it, so the host finds no version service at all.
type versioned struct {
	*DB
	version string
}

// PluginVersion implements dbplugin.PluginVersioner.
func (v versioned) PluginVersion() dbplugin.PluginVersion {
	return dbplugin.PluginVersion{Version: v.version}
}

// NewDatabase returns what the plugin serves for one connection: a new instance wrapped so
// that its errors never carry the root password, reporting the version the knobs ask for.
func NewDatabase(knobs Knobs) dbplugin.Database {
	d := New(knobs)
	var db dbplugin.Database = d
	if v := knobs.reportedVersion(); v != "" {
		db = versioned{DB: d, version: v}
	}
	return dbplugin.NewDatabaseErrorSanitizerMiddleware(db, d.secrets)
}

// Factory makes one NewDatabase per connection of a multiplexed process.
func Factory(knobs Knobs) dbplugin.Factory {
	return func() (interface{}, error) { return NewDatabase(knobs), nil }
}

// garbage is what GarbageStdout prints where go-plugin expects "1|5|unix|/path|grpc|...".
const garbage = "this is not a go-plugin handshake line\n"

// Main is the test plugin's main: it reads the knobs from the environment, applies the start
// faults and serves. It never returns.
func Main() {
	knobs, err := KnobsFromEnv(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "baton-test-plugin: %v\n", err)
		os.Exit(1)
	}
	if knobs.GarbageStdout {
		fmt.Fprint(os.Stdout, garbage)
	}
	if knobs.HangAtStart {
		for {
			time.Sleep(time.Hour) // a blocked select{} would be reported as a deadlock and exit
		}
	}
	if knobs.Multiplex {
		dbplugin.ServeMultiplex(Factory(knobs))
		return
	}
	dbplugin.Serve(NewDatabase(knobs))
}
