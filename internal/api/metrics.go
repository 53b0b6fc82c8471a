package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/baton-hq/baton/internal/telemetry"
)

// Metrics renders the node's metrics; internal/server wires *telemetry.Telemetry in.
type Metrics interface {
	// Metrics renders them in format (telemetry.FormatPrometheus or telemetry.FormatJSON),
	// failing with telemetry.ErrUnknownFormat or telemetry.ErrPrometheusDisabled.
	Metrics(format string) (contentType string, body []byte, err error)
}

// The Accept headers that ask for the Prometheus format without ?format=, as in OpenBao.
const (
	openMetricsMIME      = "application/openmetrics-text"
	prometheusSchemaMIME = "prometheus/telemetry"
)

// sysMetrics is GET sys/metrics: this node's metrics (every node answers for itself, standbys
// and sealed nodes too, as in OpenBao), as Prometheus text with ?format=prometheus (or an
// OpenMetrics Accept header) and as the in-memory sink's JSON otherwise. A token is needed
// unless the listener's telemetry { unauthenticated_metrics_access = true }.
func (s *Server) sysMetrics(w http.ResponseWriter, r *http.Request, rest string) error {
	if rest != "" {
		return errStatus(http.StatusNotFound, "no handler for route %q", "sys/metrics/"+rest)
	}
	if err := requireMethod(r, http.MethodGet); err != nil {
		return err
	}
	if s.metrics == nil {
		return errStatus(http.StatusNotFound, "this node has no telemetry")
	}
	format := r.URL.Query().Get("format")
	if format == "" {
		for _, a := range r.Header.Values("Accept") {
			if strings.HasPrefix(a, openMetricsMIME) || strings.Contains(a, prometheusSchemaMIME) {
				format = telemetry.FormatPrometheus
			}
		}
	}
	ct, body, err := s.metrics.Metrics(format)
	switch {
	case errors.Is(err, telemetry.ErrUnknownFormat), errors.Is(err, telemetry.ErrPrometheusDisabled):
		return errStatus(http.StatusBadRequest, "%s", err.Error())
	case err != nil:
		return err
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}
