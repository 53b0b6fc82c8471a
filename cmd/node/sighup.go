package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/baton-hq/baton/internal/server"
)

// onSIGHUP calls each reload in turn for every SIGHUP until ctx ends, as OpenBao reloads its
// listener certificates (and other reloadable parts) on SIGHUP. Other reloads (audit
// devices, …) join the list.
func onSIGHUP(ctx context.Context, log hclog.Logger, reloads ...func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			log.Info("SIGHUP: reloading")
			for _, r := range reloads {
				r()
			}
		}
	}
}

// reloadTLS reads the API listener's certificate and key files again; a pair that does not
// load leaves the one in use (and says why).
func reloadTLS(s *server.Server, log hclog.Logger) {
	err := s.ReloadTLS()
	switch {
	case errors.Is(err, server.ErrNoTLS):
	case err != nil:
		log.Error("reloading the API listener certificate; the one in use stays", "error", err)
	}
}
