package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls a node's HTTP API the way OpenBao's client does.
type Client struct {
	Addr  string
	Token string
	HTTP  *http.Client
}

// Reply is a decoded API answer.
type Reply struct {
	Status int
	Body   map[string]any
	Raw    string
	// Header holds the reply's headers (Retry-After, …).
	Header http.Header
}

// Data is the reply's "data" object (nil when absent).
func (r Reply) Data() map[string]any {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

// Errors is the reply's "errors" list joined.
func (r Reply) Errors() string {
	es, _ := r.Body["errors"].([]any)
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = fmt.Sprint(e)
	}
	return strings.Join(parts, "; ")
}

// Do sends one request; body may be nil.
func (c *Client) Do(ctx context.Context, method, path string, body any) (Reply, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Reply{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Addr, "/")+"/v1/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		return Reply{}, err
	}
	if c.Token != "" {
		req.Header.Set("X-Vault-Token", c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := Reply{Status: resp.StatusCode, Raw: string(raw), Header: resp.Header}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			return r, fmt.Errorf("%s %s: reply is not JSON: %q", method, path, raw)
		}
	}
	return r, nil
}

// Must sends a request and fails the test unless the status is one of ok (default 2xx).
func (c *Client) Must(tb interface {
	Helper()
	Fatalf(string, ...any)
}, ctx context.Context, method, path string, body any, ok ...int) Reply {
	tb.Helper()
	r, err := c.Do(ctx, method, path, body)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	good := r.Status >= 200 && r.Status < 300
	if len(ok) > 0 {
		good = false
		for _, s := range ok {
			good = good || r.Status == s
		}
	}
	if !good {
		tb.Fatalf("%s %s: status %d: %s", method, path, r.Status, r.Raw)
	}
	return r
}
