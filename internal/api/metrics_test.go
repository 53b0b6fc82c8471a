package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/baton-hq/baton/internal/telemetry"
)

// fakeMetrics records the formats asked for and renders a fixed body.
type fakeMetrics struct {
	mu      sync.Mutex
	formats []string
	noProm  bool
}

func (f *fakeMetrics) Metrics(format string) (string, []byte, error) {
	f.mu.Lock()
	f.formats = append(f.formats, format)
	f.mu.Unlock()
	switch format {
	case telemetry.FormatPrometheus:
		if f.noProm {
			return "", nil, fmt.Errorf("%w: set it", telemetry.ErrPrometheusDisabled)
		}
		return "text/plain; version=0.0.4", []byte("vault_x 1\n"), nil
	case telemetry.FormatJSON:
		return "application/json", []byte(`{"Timestamp":"t","Gauges":[],"Counters":[],"Samples":[]}`), nil
	}
	return "", nil, fmt.Errorf("%w %q", telemetry.ErrUnknownFormat, format)
}

// doMetrics is do for replies that may be Prometheus text: the body is decoded as JSON only
// when the reply says it is JSON.
func doMetrics(t *testing.T, h http.Handler, method, path string, hdr ...string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(""))
	req.Header.Set(TokenHeader, "root-token")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := reply{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
			t.Fatalf("%s %s: JSON reply does not parse: %v: %q", method, path, err, r.raw)
		}
	}
	return r
}

func (f *fakeMetrics) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.formats...)
}

// TestMetricsAccess walks into sys/metrics as an attacker would: without a token, with a
// wrong one and with a replayed header of another request, and checks that nothing was
// rendered for any of them; then with the root token, and without one when the listener allows
// unauthenticated access.
func TestMetricsAccess(t *testing.T) {
	tests := []struct {
		name   string
		unauth bool
		sealed bool
		hdr    []string
		status int
	}{
		{"no token", false, false, []string{TokenHeader, ""}, http.StatusForbidden},
		{"wrong token", false, false, []string{TokenHeader, "not-the-root-token"}, http.StatusForbidden},
		{"bearer with a wrong token", false, false, []string{TokenHeader, "", "Authorization", "Bearer guess"}, http.StatusForbidden},
		{"forwarded header replayed without a token", false, false, []string{TokenHeader, "", forwardedHeader, "n2"}, http.StatusForbidden},
		{"root token", false, false, nil, http.StatusOK},
		{"no token, unauthenticated access on", true, false, []string{TokenHeader, ""}, http.StatusOK},
		{"sealed node, unauthenticated access on", true, true, []string{TokenHeader, ""}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, m := newFakeNode(), &fakeMetrics{}
			n.sealed = tt.sealed
			h := New(Config{Node: n, Secrets: &fakeSecrets{}, Tokens: newFakeTokens(n), Metrics: m, UnauthenticatedMetricsAccess: tt.unauth}).Handler()
			r := doMetrics(t, h, "GET", "/v1/sys/metrics?format=prometheus", tt.hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			got := m.calls()
			if tt.status != http.StatusOK {
				if len(got) != 0 || r.errs() != "permission denied" {
					t.Errorf("refused request rendered metrics %v or said %q", got, r.errs())
				}
				return
			}
			if len(got) != 1 || got[0] != telemetry.FormatPrometheus || r.raw != "vault_x 1\n" || r.header.Get("Content-Type") != "text/plain; version=0.0.4" {
				t.Errorf("calls %v, body %q, content type %q", got, r.raw, r.header.Get("Content-Type"))
			}
		})
	}
}

// TestMetricsFormats checks the format parameter, OpenBao's Accept headers, the errors and the
// methods; a standby answers for itself (no forwarding).
func TestMetricsFormats(t *testing.T) {
	tests := []struct {
		name, method, path string
		hdr                []string
		noProm             bool
		status             int
		format             string // what the renderer was asked, "-" for not at all
	}{
		{"JSON by default", "GET", "/v1/sys/metrics", nil, false, http.StatusOK, telemetry.FormatJSON},
		{"prometheus", "GET", "/v1/sys/metrics?format=prometheus", nil, false, http.StatusOK, telemetry.FormatPrometheus},
		{"openmetrics Accept", "GET", "/v1/sys/metrics", []string{"Accept", "application/openmetrics-text; version=1.0.0"}, false, http.StatusOK, telemetry.FormatPrometheus},
		{"prometheus/telemetry Accept", "GET", "/v1/sys/metrics", []string{"Accept", "text/plain, prometheus/telemetry"}, false, http.StatusOK, telemetry.FormatPrometheus},
		{"unknown format", "GET", "/v1/sys/metrics?format=xml", nil, false, http.StatusBadRequest, "xml"},
		{"prometheus off", "GET", "/v1/sys/metrics?format=prometheus", nil, true, http.StatusBadRequest, telemetry.FormatPrometheus},
		{"POST", "POST", "/v1/sys/metrics", nil, false, http.StatusMethodNotAllowed, "-"},
		{"sub-path", "GET", "/v1/sys/metrics/x", nil, false, http.StatusNotFound, "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, m := newFakeNode(), &fakeMetrics{noProm: tt.noProm}
			n.active = false // a standby: sys/metrics is this node's own, never forwarded
			h := New(Config{Node: n, Secrets: &fakeSecrets{}, Tokens: newFakeTokens(n), Metrics: m}).Handler()
			r := doMetrics(t, h, tt.method, tt.path, tt.hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			got := m.calls()
			if tt.format == "-" {
				if len(got) != 0 {
					t.Errorf("renderer called with %v", got)
				}
				return
			}
			if len(got) != 1 || got[0] != tt.format {
				t.Errorf("renderer asked %v, want [%q]", got, tt.format)
			}
		})
	}
}
