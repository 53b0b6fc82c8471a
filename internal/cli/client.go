package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Bounds on one API call.
const (
	// requestTimeout matches OpenBao's client default.
	requestTimeout = 60 * time.Second
	// maxReply bounds a reply read into memory.
	maxReply = 32 << 20
)

// methodList is the LIST method of OpenBao's API.
const methodList = "LIST"

// client calls Baton's HTTP API.
type client struct {
	// base is the address without a trailing slash.
	base  string
	token string
	hc    *http.Client
}

// newClient checks the address and makes a client with its own transport, so that close
// leaves no idle connection (or goroutine) behind.
func newClient(addr, token string, tc *tls.Config) (*client, error) {
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("invalid address %q: want a URL such as %s", addr, defaultAddr)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	// Go's client follows a standby's 307 to the active node, replaying the method and body;
	// it keeps every header except Authorization and cookies across hosts, so X-Vault-Token
	// reaches the active node (a test holds this).
	return &client{base: strings.TrimRight(u.String(), "/"), token: token, hc: &http.Client{Transport: tr, Timeout: requestTimeout}}, nil
}

// close drops the client's idle connections.
func (c *client) close() { c.hc.CloseIdleConnections() }

// apiError is a reply outside 2xx.
type apiError struct {
	method string
	path   string
	status int
	// errors is the server's "errors" list.
	errors []string
}

func (e *apiError) Error() string {
	if len(e.errors) == 0 {
		return fmt.Sprintf("%s /v1/%s: HTTP %d %s", e.method, e.path, e.status, http.StatusText(e.status))
	}
	return strings.Join(e.errors, "; ")
}

// unreachableError is a call that got no HTTP reply.
type unreachableError struct {
	addr string
	err  error
}

func (e *unreachableError) Error() string {
	var ve *tls.CertificateVerificationError
	if errors.As(e.err, &ve) {
		return fmt.Sprintf("cannot reach Baton at %s: %v (set BATON_CACERT to the file of the CA that signed the node's certificate)", e.addr, e.err)
	}
	return fmt.Sprintf("cannot reach Baton at %s: %v", e.addr, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// printError writes err the way OpenBao's CLI does: the server's errors one per line.
func printError(w io.Writer, err error) {
	var ae *apiError
	if errors.As(err, &ae) && len(ae.errors) > 0 {
		for _, msg := range ae.errors {
			fmt.Fprintf(w, "Error: %s\n", msg)
		}
		return
	}
	fmt.Fprintf(w, "Error: %v\n", err)
}

// escapePath escapes each segment of an API path (relative to /v1/), keeping its slashes.
func escapePath(p string) string {
	segs := strings.Split(strings.TrimLeft(p, "/"), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// do calls METHOD /v1/path (path already escaped) with body as JSON when it is not nil, and
// returns the reply body of a 2xx answer.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
		// A *bytes.Reader gives the request a GetBody, so that a 307 replays the body.
		rd = bytes.NewReader(b)
	}
	target := c.base + "/v1/" + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("building the request: %w", err)
	}
	if c.token != "" {
		req.Header.Set("X-Vault-Token", c.token)
	}
	// OpenBao's client marks its API calls so; servers may require it.
	req.Header.Set("X-Vault-Request", "true")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s /v1/%s: %w", method, path, ctx.Err())
		}
		// url.Error repeats the method and URL; the address is said once instead.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &unreachableError{addr: c.base, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return nil, fmt.Errorf("%s /v1/%s: reading the reply: %w", method, path, err)
	}
	if len(data) > maxReply {
		return nil, fmt.Errorf("%s /v1/%s: reply larger than %d bytes", method, path, maxReply)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := &apiError{method: method, path: path, status: resp.StatusCode}
		var eb struct {
			Errors []string `json:"errors"`
		}
		if json.Unmarshal(data, &eb) == nil {
			ae.errors = eb.Errors
		}
		return nil, ae
	}
	return data, nil
}

// isNotFound reports whether err is a 404 reply.
func isNotFound(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.status == http.StatusNotFound
}

// call makes a client from the invocation, does one call and closes the client.
func (in *invocation) call(method, path string, query url.Values, body any) ([]byte, error) {
	c, err := in.client()
	if err != nil {
		return nil, err
	}
	defer c.close()
	return c.do(in.ctx, method, path, query, body)
}

// decode parses a reply keeping numbers as json.Number, so that large integers and durations
// print as the server sent them.
func decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("unexpected reply from Baton: %w", err)
	}
	return nil
}
