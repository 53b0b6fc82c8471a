package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/audit"
	"github.com/baton-hq/baton/internal/config"
)

// configFiles collects -config, which dev mode takes several times (as `bao server -dev
// -config=…`) for audit stanzas.
type configFiles []string

func (c *configFiles) String() string { return strings.Join(*c, ",") }

func (c *configFiles) Set(v string) error {
	*c = append(*c, v)
	return nil
}

// auditSettings turns the config's audit part into the broker's settings.
func auditSettings(a config.Audit) audit.Settings {
	s := audit.Settings{AllowAPICreation: a.UnsafeAllowAPIAuditCreation, AllowPrefix: a.AllowAuditLogPrefixing}
	for _, d := range a.Devices {
		s.Devices = append(s.Devices, audit.Device{Path: d.Path, Type: d.Type, Description: d.Description, Local: d.Local, Options: d.Options})
	}
	return s
}

// printAudit lists the enabled audit devices under the dev banner (nothing when none is).
func printAudit(w io.Writer, b *audit.Broker) {
	for _, d := range b.List() {
		fmt.Fprintf(w, "Audit device %s (%s, from -config; SIGHUP re-reads it): %s\n", d.Path, d.Type, d.Options["file_path"])
	}
}

// reloadAuditOnSIGHUP re-reads the audit stanzas of files on each SIGHUP and applies them, as
// OpenBao does: a stanza added is enabled, one removed is disabled. A file that does not parse,
// or a device that is refused (a path inside the plugin directory or the data dir), leaves the
// devices as they were and is logged. It stops when ctx ends.
func reloadAuditOnSIGHUP(ctx context.Context, b *audit.Broker, log hclog.Logger, files []string) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			a, err := config.LoadAudit(files...)
			if err == nil {
				err = b.Apply(auditSettings(a))
			}
			if err != nil {
				log.Error("SIGHUP: audit devices kept as they were", "error", err)
				continue
			}
			paths := make([]string, 0, len(a.Devices))
			for _, d := range b.List() {
				paths = append(paths, d.Path)
			}
			log.Info("SIGHUP: audit devices reloaded", "devices", strings.Join(paths, ","))
		}
	}()
}
